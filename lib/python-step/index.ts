/**
 * The bridge to the Python steps: the event protocol, how a step's processes start, the runner,
 * and the skeleton of a Python-backed activity. Importers use this folder, not the files.
 */
export * from './protocol';
export { freePort, pythonExecutable, type Launch } from './launch';
export { runPythonStep, type PythonStepOptions } from './runner';
export { runStepActivity, runStepInTempDir, type StepActivity } from './activity';
