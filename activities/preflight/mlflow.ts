/**
 * The `mlflow` check: the tracking server answers and the experiment exists or can be created.
 * A server still starting is waited for up to `mlflow.preflightRetrySeconds`; past that the run
 * fails naming the URI, instead of train retrying against it for hours.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { PipelineConfig } from '../../lib/config';
import { MlflowApiError, MlflowUnavailableError, nonRetryable } from '../../lib/failures';
import { MlflowClient } from '../../lib/mlflow';

export async function checkMlflow(config: PipelineConfig, heartbeat: () => void): Promise<string> {
  const { trackingUri, experiment, preflightRetrySeconds } = config.mlflow;
  // One attempt per call: this loop owns the waiting, so its budget is the configured one.
  const mlflow = new MlflowClient(trackingUri, { attempts: 1 });
  const deadline = Date.now() + preflightRetrySeconds * 1000;
  for (let waitMs = 1000; ; waitMs = Math.min(waitMs * 2, 15_000)) {
    try {
      const experimentId = await mlflow.ensureExperiment(experiment);
      return `${trackingUri} answers; experiment "${experiment}" (id ${experimentId})`;
    } catch (error) {
      if (error instanceof MlflowApiError) {
        throw nonRetryable(
          'InvalidConfig',
          `mlflow.trackingUri ${trackingUri} does not work as an MLflow tracking server: ${error.message}. ` +
            'Check the URI (scheme, host, port, no path beyond the server root)',
          error,
        );
      }
      if (!(error instanceof MlflowUnavailableError)) throw error;
      if (Date.now() + waitMs > deadline) {
        throw nonRetryable(
          'MlflowUnavailable',
          `MLflow at ${trackingUri} (mlflow.trackingUri) did not answer for ${preflightRetrySeconds} s (last: ${error.reason}). ` +
            'Start the tracking server (locally: `bash scripts/services.sh start`), or fix mlflow.trackingUri',
          error,
        );
      }
    }
    heartbeat();
    await sleep(waitMs);
  }
}
