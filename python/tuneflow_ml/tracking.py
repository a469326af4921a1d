"""MLflow logging for the steps that add to a run without owning it (evaluate, summarize): the
TypeScript side created the run; these steps only append metrics to it."""

import time

from mlflow import MlflowClient
from mlflow.entities import Metric


def log_metrics(tracking_uri: str, run_id: str, values: dict[str, float], step: int = 0) -> None:
    timestamp = int(time.time() * 1000)
    MlflowClient(tracking_uri=tracking_uri).log_batch(
        run_id, metrics=[Metric(name, float(value), timestamp, step) for name, value in values.items()]
    )
