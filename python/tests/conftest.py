"""Shared fixtures: a synthetic review data set, a tiny T5 built from it, a local MLflow store,
and a runner that starts a step the way the TypeScript activity does (events on a Unix socket)."""

import json
import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import mlflow
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PYTHON_DIR))

ADJECTIVES = ["great", "poor", "sharp", "blurry", "cheap", "solid", "light", "heavy", "fast", "slow"]
THINGS = ["lens", "battery", "camera", "strap", "tripod", "flash", "screen", "zoom", "case", "charger"]
FILLER = ["the", "is", "and", "it", "very", "works", "broke", "after", "a", "week", "photos", "price"]
# Products P00-P04 reach minReviews (10, P04 exactly); P05-P14 have 5 reviews each: no summary.
REVIEWS_PER_PRODUCT = {f"P{i:02d}": n for i, n in enumerate([32, 28, 36, 44, 10] + [5] * 10)}
MIN_REVIEWS = 10


def make_reviews(seed: int = 0) -> dict[str, list[str]]:
    rng = random.Random(seed)
    products = [p for p, n in REVIEWS_PER_PRODUCT.items() for _ in range(n)]
    rng.shuffle(products)
    rows: dict[str, list[str]] = {"review_id": [], "product_id": [], "text": [], "summary": []}
    for i, product in enumerate(products):
        adjective, thing = rng.choice(ADJECTIVES), rng.choice(THINGS)
        filler = " ".join(rng.choice(FILLER + ADJECTIVES + THINGS) for _ in range(rng.randint(5, 30)))
        rows["review_id"].append(f"R{i:04d}")
        rows["product_id"].append(product)
        text = f"The {thing} is {adjective}. {filler.capitalize()}. I would say the {thing} is {adjective}!"
        rows["text"].append(text)
        rows["summary"].append(f"{adjective.capitalize()} {thing}")
    return rows


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> dict[str, str]:
    """cleaned.parquet (200 reviews) and its 180/20 train/validation split."""
    root = tmp_path_factory.mktemp("data")
    rows = make_reviews()
    paths = {name: str(root / f"{name}.parquet") for name in ("cleaned", "train", "validation")}
    pq.write_table(pa.table(rows), paths["cleaned"])
    pq.write_table(pa.table({k: rows[k][:180] for k in ("text", "summary")}), paths["train"])
    pq.write_table(pa.table({k: rows[k][180:] for k in ("text", "summary")}), paths["validation"])
    return paths


@pytest.fixture(scope="session")
def tiny_model(dataset, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("models") / "tiny-t5")
    subprocess.run(
        [sys.executable, "-m", "tuneflow_ml.tiny_model", "--data", dataset["cleaned"], "--out", out],
        check=True,
        cwd=PYTHON_DIR,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory) -> str:
    """A SQLite tracking store standing in for the MLflow server; the experiment keeps its
    artifacts in the temporary directory too."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    mlflow.MlflowClient(uri).create_experiment("tuneflow", artifact_location=str(root / "artifacts"))
    return uri


def new_run(mlflow_uri: str) -> str:
    """Creates the run as the TypeScript side does before starting train."""
    client = mlflow.MlflowClient(mlflow_uri)
    experiment = client.get_experiment_by_name("tuneflow")
    return client.create_run(experiment.experiment_id).info.run_id


def default_config() -> dict[str, Any]:
    """The fully defaulted config, from the JSON Schema generated from lib/config.ts."""
    schema = json.loads((PYTHON_DIR / "tuneflow_ml" / "config.schema.json").read_text())
    return {name: prop["default"] for name, prop in schema["properties"].items()}


def small_config(model_dir: str, mlflow_uri: str) -> dict[str, Any]:
    """Small and fast: enough steps (seconds) that headlines depend on the review, frequent
    checkpoints, short generation."""
    config = default_config()
    config["model"]["nameOrPath"] = model_dir
    config["train"] |= {
        "maxSteps": 150,
        "perDeviceTrainBatchSize": 8,
        "learningRate": 3e-3,
        "checkpointEverySteps": 50,
        "keepCheckpoints": 2,
        "loggingSteps": 25,
    }
    config["evaluate"] |= {"maxSamples": 16, "numBeams": 2, "maxNewTokens": 12, "batchSize": 8}
    config["summarize"] |= {"minReviews": MIN_REVIEWS, "numBeams": 2, "minNewTokens": 4, "maxNewTokens": 12}
    config["mlflow"]["trackingUri"] = mlflow_uri
    return config


def train_spec(pipeline_id: str, config: dict[str, Any], dataset: dict[str, str], output_dir: Path, run_id: str) -> dict[str, Any]:
    """The spec the train activity writes, for a fresh start (no checkpoint, no DeepSpeed, base model)."""
    return {
        "pipelineId": pipeline_id,
        "config": config,
        "trainPath": dataset["train"],
        "validationPath": dataset["validation"],
        "outputDir": str(output_dir),
        "mlflowRunId": run_id,
        "resumeFromCheckpoint": None,
        "deepspeedConfig": None,
        "startFrom": None,
    }


@dataclass
class StepRun:
    returncode: int
    events: list[dict[str, Any]]
    stderr: str

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]

    def result(self) -> dict[str, Any]:
        results = self.of_kind("result")
        assert self.returncode == 0 and len(results) == 1, f"step failed (rc {self.returncode}):\n{self.stderr[-3000:]}"
        return results[0]["result"]


def run_step(
    module: str,
    spec: dict[str, Any],
    workdir: Path,
    stop_when: Callable[[dict[str, Any]], bool] | None = None,
    stop_signal: int = signal.SIGKILL,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> StepRun:
    """Runs `python -m tuneflow_ml.<module> --spec` (or `command` + `--spec`, such as a launcher)
    with an events socket, as the activity does; every connection's lines are collected.
    `stop_when(event)` true sends `stop_signal` to the step's process group once."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / f"{module}-spec.json"
    spec_path.write_text(json.dumps(spec))
    stderr_path = workdir / f"{module}.stderr"
    socket_path = workdir / f"{module}.sock"
    socket_path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(socket_path))
    server.listen()
    server.setblocking(False)
    argv = (command or [sys.executable, "-m", f"tuneflow_ml.{module}"]) + ["--spec", str(spec_path)]
    step_env = {**os.environ, "TUNEFLOW_EVENTS_SOCKET": str(socket_path), "PYTHONPATH": str(PYTHON_DIR)}
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            argv, cwd=PYTHON_DIR, env=step_env | (env or {}), stdout=stderr, stderr=stderr, start_new_session=True
        )
    selector = selectors.DefaultSelector()
    selector.register(server, selectors.EVENT_READ)
    events, stopped, buffers = [], False, {}
    deadline = time.monotonic() + 600
    # Until the step has exited and every rank's connection is drained.
    while process.poll() is None or len(selector.get_map()) > 1:
        assert time.monotonic() < deadline, f"{module} still running after 600 s:\n{stderr_path.read_text()[-3000:]}"
        for key, _ in selector.select(timeout=0.2):
            if key.fileobj is server:
                connection, _ = server.accept()
                selector.register(connection, selectors.EVENT_READ)
                buffers[connection] = b""
                continue
            connection = key.fileobj
            data = connection.recv(65536)
            if not data:
                selector.unregister(connection)
                connection.close()
                continue
            buffers[connection] += data
            *lines, buffers[connection] = buffers[connection].split(b"\n")
            for line in lines:
                event = json.loads(line)
                events.append(event)
                if stop_when is not None and not stopped and stop_when(event):
                    os.killpg(process.pid, stop_signal)
                    stopped = True
    server.close()
    return StepRun(process.returncode, events, stderr_path.read_text())


class Engine:
    """`python -m tuneflow_ml.engine` as a GPU worker runs it (lib/python-step/engine.ts): it
    connects to our socket, says ready, then answers one request at a time on the same socket."""

    def __init__(self, workdir: Path, *args: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = workdir / "engine.stderr"
        socket_path = workdir / "engine.sock"
        socket_path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(socket_path))
        server.listen()
        server.settimeout(120)
        env = {**os.environ, "TUNEFLOW_EVENTS_SOCKET": str(socket_path), "PYTHONPATH": str(PYTHON_DIR)}
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tuneflow_ml.engine", *args], cwd=PYTHON_DIR, env=env,
                stdout=stderr, stderr=stderr, start_new_session=True,
            )  # fmt: skip
        self.connection, _ = server.accept()
        server.close()
        self.connection.settimeout(600)
        self.pending = b""
        *_, self.ready = self._events_until(lambda e: e["event"] == "ready")  # after its `rank joined`

    def _events_until(self, last: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        events = []
        while True:
            while b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                events.append(json.loads(line))
                if last(events[-1]):
                    return events
            data = self.connection.recv(65536)
            assert data, f"the engine closed its socket:\n{self.stderr_path.read_text()[-3000:]}"
            self.pending += data

    def request(self, request: dict[str, Any]) -> StepRun:
        """Sends one request; its events up to its result or error (returncode 0 while the engine lives)."""
        self.connection.sendall((json.dumps(request) + "\n").encode())
        events = self._events_until(lambda e: e["event"] in ("result", "error"))
        return StepRun(0 if self.process.poll() is None else self.process.returncode, events, self.stderr_path.read_text())

    def close(self) -> int:
        """Closes the socket, as a worker that goes away does; the engine's exit status."""
        self.connection.close()
        return self.process.wait(timeout=60)


@pytest.fixture(scope="session")
def trained(dataset, tiny_model, mlflow_uri, tmp_path_factory) -> tuple[dict[str, Any], StepRun]:
    """One complete training run (150 steps), shared by the train, evaluate, summarize and
    pyfunc tests."""
    workdir = tmp_path_factory.mktemp("train")
    spec = train_spec("test", small_config(tiny_model, mlflow_uri), dataset, workdir / "out", new_run(mlflow_uri))
    return spec, run_step("train", spec, workdir)
