/**
 * The bridge to the Python steps: the event protocol, how a step's processes start, the runner,
 * and the skeleton of a Python-backed activity. Importers use this folder, not the files, except
 * code that needs the protocol's schemas alone (the client's status views): `./protocol` does not
 * load execa or the activity context.
 */
export * from './protocol';
export { freePort, pythonExecutable, type Launch } from './launch';
export { runPythonStep, type PythonStepOptions } from './runner';
export { runStepActivity, runStepInTempDir, type StepActivity } from './activity';
