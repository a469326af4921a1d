/**
 * report: the run report of a finished pipeline (`python -m tuneflow_ml.report`): PNG plots of
 * the loss curve, ROUGE against the champion and throughput; sample summaries beside their
 * reviews and headlines; the seed's summary table. Written to `<storage.root>/<pipeline>/report/`
 * and logged to the pipeline's MLflow run under `report/`.
 */
import * as path from 'node:path';
import { ReportInput, ReportResult, ReportStepResult, type ReportSpec } from '../lib/steps';
import { MlflowClient } from '../lib/mlflow';
import { trainingShape } from '../lib/hostfile';
import { runStepActivity } from '../lib/python-step';

export async function report(rawInput: ReportInput): Promise<ReportResult> {
  return runStepActivity(rawInput, {
    step: 'report',
    input: ReportInput,
    result: ReportStepResult,
    spec: async (input, outputDir): Promise<ReportSpec> => ({ ...input, outputDir, gpus: await gpusHeld(input) }),
    finish: linkLoggedReport,
  });
}

/** train reports the GPU's name, or `cpu`: a CPU run held no GPU, so it cost no GPU-hours. */
async function gpusHeld(input: ReportInput): Promise<number> {
  if (input.train.device === 'cpu') return 0;
  const { nodes, gpusPerNode } = await trainingShape(input.config.train);
  return nodes * gpusPerNode;
}

/** The link must lead somewhere: checks that MLflow really holds every file the step logged. */
async function linkLoggedReport(written: ReportStepResult, input: ReportInput): Promise<ReportResult> {
  const mlflow = new MlflowClient(input.config.mlflow.trackingUri);
  const logged = new Set((await mlflow.listArtifacts(input.mlflowRunId, written.artifactPath)).map((f) => f.path));
  const missing = [written.htmlPath, ...written.plots]
    .map((file) => `${written.artifactPath}/${path.basename(file)}`)
    .filter((artifact) => !logged.has(artifact));
  if (missing.length > 0) {
    throw new Error(
      `MLflow run ${input.mlflowRunId} lacks report artifact(s) ${missing.join(', ')} after tuneflow_ml.report logged them; ` +
        `check the MLflow server's artifact store (${input.config.mlflow.trackingUri}); a retry logs them again`,
    );
  }
  const run = await mlflow.getRun(input.mlflowRunId);
  const html = `${written.artifactPath}/${path.basename(written.htmlPath)}`;
  return ReportResult.parse({
    ...written,
    artifactUri: `runs:/${input.mlflowRunId}/${html}`,
    mlflowUrl: mlflow.runArtifactUrl(run.info.experiment_id, input.mlflowRunId, html),
  });
}
