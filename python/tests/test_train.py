"""train: events on the socket, checkpoints and their pointer, MLflow logging, resume after a kill,
a last checkpoint on SIGTERM."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import mlflow
import pytest
import torch

from conftest import new_run, run_step, small_config, train_spec
from tuneflow_ml import checkpoints
from tuneflow_ml.events import StepError
from tuneflow_ml.pyfunc_model import download_model_dir
from tuneflow_ml.train import resolve_bf16

# What this host has: the same tests pass on a CPU host and on a CUDA host.
HOST_DEVICE = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
HOST_BF16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def test_training_run_reports_on_the_events_socket(trained):
    spec, run = trained
    result = run.result()
    assert result["globalStep"] == 150
    assert result["modelDir"] == os.path.join(spec["outputDir"], "model")
    assert result["mlflowRunId"] == spec["mlflowRunId"]
    assert result["modelUri"].startswith("models:/m-")
    assert result["device"] == HOST_DEVICE and result["bf16"] is HOST_BF16 and result["resumedFrom"] is None
    assert isinstance(result["trainLoss"], float) and result["trainLoss"] > 0
    assert '"event"' not in run.stderr  # events go to the socket only

    progress = run.of_kind("progress")
    assert {p["unit"] for p in progress} == {"steps"}
    assert all(p["totalSteps"] == 150 for p in progress)
    # One at each logging step (loggingSteps 25); a slow host adds timed ones in between.
    logged = {p["step"]: p for p in progress if p["step"] % 25 == 0 and p["loss"] is not None}
    assert sorted(logged) == [25, 50, 75, 100, 125, 150]
    assert logged[150]["loss"] < logged[25]["loss"]  # it learns
    assert all(p["samplesPerSec"] > 0 and 0 < p["epoch"] for p in logged.values())


def test_checkpoints_are_announced_after_they_are_complete(trained):
    spec, run = trained
    checkpoints = run.of_kind("checkpoint")
    assert [c["step"] for c in checkpoints] == [50, 100, 150]
    for c in checkpoints[-2:]:  # keepCheckpoints: 2 rotates the first one out
        assert os.path.isfile(os.path.join(c["path"], "trainer_state.json"))
    assert not os.path.exists(checkpoints[0]["path"])
    with open(os.path.join(spec["outputDir"], "latest-checkpoint.json")) as f:
        assert json.load(f) == {"checkpoint": checkpoints[-1]["path"], "globalStep": 150}
    model_dir = run.result()["modelDir"]
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert os.path.isfile(os.path.join(model_dir, name))


def test_mlflow_run_has_params_curve_and_model(trained, mlflow_uri):
    spec, run = trained
    client = mlflow.MlflowClient(mlflow_uri)
    logged = client.get_run(spec["mlflowRunId"])
    assert logged.data.params["model.nameOrPath"] == spec["config"]["model"]["nameOrPath"]
    assert logged.data.params["train.optim"] == "adafactor"
    assert logged.data.params["data.trainRows"] == "180"
    history = client.get_metric_history(spec["mlflowRunId"], "train_loss")
    assert [m.step for m in history] == [25, 50, 75, 100, 125, 150]
    assert "learning_rate" in logged.data.metrics and "train_runtime" in logged.data.metrics
    model = client.get_logged_model(run.result()["modelUri"].removeprefix("models:/"))
    assert model.source_run_id == spec["mlflowRunId"]


def test_resume_after_kill_continues_the_step_count(dataset, tiny_model, mlflow_uri, tmp_path):
    config = small_config(tiny_model, mlflow_uri)
    config["train"] |= {"maxSteps": 40, "perDeviceTrainBatchSize": 4, "checkpointEverySteps": 4, "loggingSteps": 2}
    spec = train_spec("resume", config, dataset, tmp_path / "out", new_run(mlflow_uri))
    pointer_path = tmp_path / "out" / "latest-checkpoint.json"

    # 1. The worker dies (SIGKILL) right after the first checkpoint.
    killed = run_step("train", spec, tmp_path / "a", stop_when=lambda e: e["event"] == "checkpoint")
    assert killed.returncode == -signal.SIGKILL and not killed.of_kind("result")
    pointer = json.loads(pointer_path.read_text())
    assert pointer["globalStep"] >= 4 and pointer["globalStep"] % 4 == 0

    # 2. The retry resumes from the pointer; the worker shuts down (SIGTERM) after its first
    # checkpoint: the step ends its current step, checkpoints it, and fails retryably.
    spec["resumeFromCheckpoint"] = pointer["checkpoint"]
    stopped = run_step(
        "train", spec, tmp_path / "b", stop_when=lambda e: e["event"] == "checkpoint", stop_signal=signal.SIGTERM
    )
    assert any("resuming from" in e["message"] for e in stopped.of_kind("log"))
    assert stopped.of_kind("progress")[0]["step"] == pointer["globalStep"]  # not 0
    assert stopped.returncode == 1, stopped.stderr[-3000:]
    [error] = stopped.of_kind("error")
    assert error["kind"] == "Internal" and error["retryable"] is True and "SIGTERM" in error["message"]
    last = stopped.of_kind("checkpoint")[-1]
    assert pointer["globalStep"] < last["step"] < 40
    assert json.loads(pointer_path.read_text()) == {"checkpoint": last["path"], "globalStep": last["step"]}

    # 3. The next retry resumes from that last checkpoint and finishes.
    spec["resumeFromCheckpoint"] = last["path"]
    finished = run_step("train", spec, tmp_path / "c")
    result = finished.result()
    assert result["globalStep"] == 40 and result["resumedFrom"] == last["path"]
    assert all(c["step"] > last["step"] for c in finished.of_kind("checkpoint"))
    weights = (tmp_path / "out" / "model" / "model.safetensors").read_bytes()

    # 4. A retry after a finished attempt whose result was lost resumes from the checkpoint of the
    # last step: nothing is trained (transformers alone would run step 41), the model is the same.
    final = finished.of_kind("checkpoint")[-1]
    assert final["step"] == 40
    spec["resumeFromCheckpoint"] = final["path"]
    again = run_step("train", spec, tmp_path / "d")
    result = again.result()
    assert result["globalStep"] == 40 and result["trainLoss"] is None and not again.of_kind("checkpoint")
    assert (tmp_path / "out" / "model" / "model.safetensors").read_bytes() == weights

    # One loss curve across the three attempts, params logged once.
    client = mlflow.MlflowClient(mlflow_uri)
    steps = {m.step for m in client.get_metric_history(spec["mlflowRunId"], "train_loss")}
    assert max(steps) == 40 and {s for s in range(last["step"] + 1, 41) if s % 2 == 0} <= steps
    assert client.get_run(spec["mlflowRunId"]).data.params["train.maxSteps"] == "40"  # from attempt 1


def test_incomplete_resume_checkpoint_is_invalid_data(trained, tmp_path):
    spec, _ = trained
    broken = tmp_path / "checkpoint-7"
    broken.mkdir()
    run = run_step("train", spec | {"resumeFromCheckpoint": str(broken), "outputDir": str(tmp_path / "out")}, tmp_path)
    assert run.returncode == 1
    [error] = run.of_kind("error")
    assert error["kind"] == "InvalidData" and error["retryable"] is False and str(broken) in error["message"]


def test_a_trainer_state_cut_short_by_a_full_disk_is_not_complete(tmp_path):
    cut = tmp_path / "checkpoint-6"
    cut.mkdir()
    (cut / "trainer_state.json").write_text('{"best_global_step": null, "global_st')
    whole = tmp_path / "checkpoint-4"
    whole.mkdir()
    (whole / "trainer_state.json").write_text('{"global_step": 4}')
    assert not checkpoints.is_complete_checkpoint(str(cut)) and checkpoints.is_complete_checkpoint(str(whole))
    assert checkpoints.incomplete_checkpoints(str(tmp_path)) == [str(cut)]
    with pytest.raises(StepError, match="checkpoint-6 is not a complete checkpoint"):
        checkpoints.check_checkpoint(str(cut))


def test_bf16_setting():
    assert resolve_bf16(False) is False
    assert resolve_bf16("auto") is HOST_BF16


@pytest.mark.skipif(HOST_BF16, reason="this host's GPU has bf16, so train.bf16: true is valid here")
def test_bf16_true_without_a_bf16_gpu_is_invalid_config():
    with pytest.raises(StepError) as error:
        resolve_bf16(True)
    assert error.value.kind == "InvalidConfig" and "train.bf16" in error.value.message


@pytest.mark.skipif(not HOST_BF16, reason="needs a CUDA GPU with bf16 (Ampere or newer)")
def test_bf16_is_really_on_with_a_bf16_gpu(trained):
    assert resolve_bf16(True) is True
    assert trained[1].result()["bf16"] is True


class MlflowServer:
    """A real `mlflow server` (SQLite backed) on a free loopback port, stoppable mid-test."""

    def __init__(self, root):
        self.root = root
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{self.root}/mlflow.db",
             "--artifacts-destination", str(self.root / "artifacts"), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{self.uri}/health", timeout=2)
                return
            except OSError:
                assert self.process.poll() is None and time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.5)

    def stop(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def test_training_goes_on_while_mlflow_is_briefly_down(dataset, tiny_model, tmp_path):
    server = MlflowServer(tmp_path)
    server.start()
    try:
        client = mlflow.MlflowClient(server.uri)
        run_id = client.create_run(client.create_experiment("outage")).info.run_id
        config = small_config(tiny_model, server.uri)
        config["train"] |= {"maxSteps": 60, "perDeviceTrainBatchSize": 4, "checkpointEverySteps": 30, "loggingSteps": 2}
        spec = train_spec("outage", config, dataset, tmp_path / "out", run_id)
        outage = {"restart": None, "stepsWhileDown": []}

        def take_mlflow_down_for_a_while(event):
            # At the first progress event MLflow dies; it comes back 10 s later, while steps go on.
            if event["event"] == "progress" and outage["restart"] is None:
                server.stop()
                outage["restart"] = threading.Timer(10, server.start)
                outage["restart"].start()
            elif event["event"] == "progress" and outage["restart"].is_alive():
                outage["stepsWhileDown"].append(event["step"])
            return False

        finished = run_step("train", spec, tmp_path / "run", stop_when=take_mlflow_down_for_a_while)
        outage["restart"].join()
        result = finished.result()
        assert result["globalStep"] == 60
        assert outage["stepsWhileDown"], "no training step was reported while MLflow was down"
        # The per-step metrics queued during the outage reached the run once MLflow was back.
        steps = {m.step for m in mlflow.MlflowClient(server.uri).get_metric_history(run_id, "train_loss")}
        assert set(range(2, 61, 2)) <= steps
    finally:
        server.stop()


def test_a_registered_model_downloads_as_the_directory_it_was_trained_into(trained, mlflow_uri, tmp_path):
    spec, run = trained
    mlflow.set_tracking_uri(mlflow_uri)
    version = mlflow.register_model(run.result()["modelUri"], "download-test")
    destination = tmp_path / "start-model"
    model_dir = download_model_dir(mlflow_uri, f"models:/download-test/{version.version}", str(destination))
    trained_dir = run.result()["modelDir"]
    assert sorted(os.listdir(model_dir)) == sorted(os.listdir(trained_dir))
    with open(os.path.join(model_dir, "model.safetensors"), "rb") as got, open(
        os.path.join(trained_dir, "model.safetensors"), "rb"
    ) as want:
        assert got.read() == want.read()
    # A second call (another rank, a retried attempt) reuses the finished download.
    marker = destination / "reused"
    marker.write_text("")
    assert download_model_dir(mlflow_uri, "models:/download-test/1", str(destination)) == model_dir
    assert marker.exists()
