/**
 * register: a model version in the MLflow registry from the run's logged model.
 *
 * Idempotent: the version carries the workflow id as a tag, and a retried attempt (a crash after
 * MLflow answered but before the activity returned) finds that version instead of making another.
 */
import { RegisterInput, RegisterResult } from '../lib/steps';
import { MlflowClient } from '../lib/mlflow';

const WORKFLOW_TAG = 'tuneflow.workflow_id';

export async function register(rawInput: RegisterInput): Promise<RegisterResult> {
  const input = RegisterInput.parse(rawInput);
  const mlflow = new MlflowClient(input.config.mlflow.trackingUri);
  const modelName = input.config.register.modelName;

  await mlflow.ensureRegisteredModel(
    modelName,
    `T5 review-headline summarizer fine-tuned by tuneflow (config "${input.config.name}").`,
  );
  const [existing] = await mlflow.searchModelVersions(
    `name = '${modelName}' and tags.\`${WORKFLOW_TAG}\` = '${input.workflowId}'`,
  );
  if (existing) return { modelName, version: existing.version, created: false };

  const modelId = input.modelUri.replace(/^models:\//, '');
  const loggedModel = await mlflow.getLoggedModel(modelId);
  const version = await mlflow.createModelVersion({
    name: modelName,
    source: loggedModel.info.artifact_uri,
    runId: input.mlflowRunId,
    modelId,
    tags: {
      [WORKFLOW_TAG]: input.workflowId,
      'tuneflow.base_model': input.config.model.nameOrPath,
      'tuneflow.rougeL': input.rouge.rougeL.toFixed(4),
      'tuneflow.rouge1': input.rouge.rouge1.toFixed(4),
    },
  });
  return { modelName, version: version.version, created: true };
}
