/**
 * The bridge to the Python steps: the event protocol, how a step's processes start, the runner,
 * the skeleton of a Python-backed activity, and the long-lived generation engines. Importers use this folder, not the files, except
 * code that needs the protocol's schemas alone (the client's status views): `./protocol` does not
 * load execa or the activity context.
 */
export * from './protocol';
export { freePort, pythonExecutable, type Launch } from './launch';
export { runPythonStep, type PythonStepOptions, type StepSidecar } from './runner';
export { runStepActivity, runStepInTempDir, type StepActivity } from './activity';
export { GenerationEngine } from './engine';
export { EnginePool, generationEngines, startGenerationEngines, stopGenerationEngines } from './engine-pool';
