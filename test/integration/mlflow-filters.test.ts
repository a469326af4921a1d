/**
 * Ids and names in MLflow search filters (lib/mlflow.ts filterString), on the real MLflow server:
 * a pipeline id with a quote still finds its own run (train) and its own version (register).
 */
import { ensurePipelineRun } from '../../activities/train';
import { register } from '../../activities/register';
import { PipelineConfig } from '../../lib/config';
import { InvalidConfigError } from '../../lib/failures';
import { filterString, MlflowClient } from '../../lib/mlflow';
import { TrainInput } from '../../lib/steps';
import { MLFLOW_URI } from '../helpers/environment';
import { registerInput, uniqueName } from '../helpers/register-input';

const mlflow = new MlflowClient(MLFLOW_URI);

function trainInput(pipelineId: string): TrainInput {
  return TrainInput.parse({
    pipelineId,
    config: PipelineConfig.parse({ mlflow: { trackingUri: MLFLOW_URI, experiment: 'tuneflow-tests' } }),
    trainPath: '/unused/train.parquet',
    validationPath: '/unused/validation.parquet',
  });
}

test("train finds the run of a pipeline id with a ' again, and only that one", async () => {
  const quoted = uniqueName("o'brien");
  const first = await ensurePipelineRun(trainInput(quoted), null);
  expect(await ensurePipelineRun(trainInput(quoted), null)).toBe(first);
  const run = await mlflow.getRun(first);
  expect(run.data.tags).toEqual(expect.arrayContaining([{ key: 'tuneflow.pipeline_id', value: quoted }]));
  // A pipeline whose id differs by the quote alone has a run of its own.
  expect(await ensurePipelineRun(trainInput(quoted.replace("'", '')), null)).not.toBe(first);

  const doubleQuoted = uniqueName('say-"hi"');
  const other = await ensurePipelineRun(trainInput(doubleQuoted), null);
  expect(await ensurePipelineRun(trainInput(doubleQuoted), null)).toBe(other);
});

test("register run twice for a workflow id with a ' makes one version", async () => {
  const modelName = uniqueName('filters');
  const input = await registerInput({ trackingUri: MLFLOW_URI, modelName, workflowId: uniqueName("nightly-o'brien") });
  const first = await register(input);
  const retried = await register(input);
  expect([first.created, retried.created]).toEqual([true, false]);
  expect(retried.version).toBe(first.version);
  expect(await mlflow.searchModelVersions(`name = ${filterString(modelName)}`)).toHaveLength(1);
});

test('a value the filter grammar cannot quote fails as a config fault instead of matching something else', () => {
  expect(filterString('plain')).toBe("'plain'");
  expect(filterString("it's")).toBe('"it\'s"');
  expect(() => filterString(`both ' and "`)).toThrow(InvalidConfigError);
  expect(() => filterString('trailing\\')).toThrow(/backslash/);
});
