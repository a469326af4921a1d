"""MLflow logging besides the run's owner: metrics appended to a run the TypeScript side created
(evaluate, summarize), and train's per-step metrics, queued so that a slow or briefly unreachable
server stalls no step."""

import time

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.utils.async_logging.run_operations import RunOperations

# Set on the run when some per-step points never reached MLflow: its value is how many.
METRICS_NOT_LOGGED_TAG = "tuneflow.metrics_not_logged"


def log_metrics(tracking_uri: str, run_id: str, values: dict[str, float], step: int = 0) -> None:
    timestamp = int(time.time() * 1000)
    MlflowClient(tracking_uri=tracking_uri).log_batch(
        run_id, metrics=[Metric(name, float(value), timestamp, step) for name, value in values.items()]
    )


def set_tag(tracking_uri: str, run_id: str, key: str, value: str) -> None:
    MlflowClient(tracking_uri=tracking_uri).set_tag(run_id, key, value)


class QueuedMetrics:
    """Per-step metrics of the active run, sent by MLflow's background queue. The queue's sender
    retries with MLflow's HTTP backoff and then drops a batch with only a log line, so every send is
    kept until `flush`, which counts the points that never arrived. (With
    MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS set, MLflow merges sends and reports the merged ones as
    delivered even when they failed: leave it unset.)"""

    def __init__(self) -> None:
        self._sent: list[tuple[int, RunOperations]] = []

    def log(self, values: dict[str, float], step: int) -> None:
        self._sent.append((len(values), mlflow.log_metrics(values, step=step, synchronous=False)))

    def flush(self) -> int:
        """Waits until the queue is empty; returns how many points MLflow did not confirm (a send
        cut off after the server stored it counts too, so this can exceed the points missing)."""
        mlflow.flush_async_logging()
        missing = 0
        for points, operations in self._sent:
            try:
                operations.wait()
            except MlflowException:
                missing += points
        self._sent.clear()
        return missing


def tag_metrics_not_logged(missing: int) -> str | None:
    """Says on the active run that `missing` per-step points are absent from its curves. Best
    effort: MLflow may still be down. Returns why the tag could not be set, or None."""
    if missing == 0:
        return None
    try:
        mlflow.set_tag(METRICS_NOT_LOGGED_TAG, str(missing))
    except MlflowException as exc:
        return str(exc)
    return None
