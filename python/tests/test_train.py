"""train: events on the socket, checkpoints and their pointer, MLflow logging, resume after a kill,
a last checkpoint on SIGTERM."""

import json
import os
import signal

import mlflow
import pytest

from conftest import new_run, run_step, small_config
from tuneflow_ml.events import StepError
from tuneflow_ml.train import resolve_bf16


def test_training_run_reports_on_the_events_socket(trained):
    spec, run = trained
    result = run.result()
    assert result["globalStep"] == 150
    assert result["modelDir"] == os.path.join(spec["outputDir"], "model")
    assert result["mlflowRunId"] == spec["mlflowRunId"]
    assert result["modelUri"].startswith("models:/m-")
    assert result["device"] == "cpu" and result["bf16"] is False and result["resumedFrom"] is None
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
    spec = {
        "pipelineId": "resume",
        "config": config,
        "trainPath": dataset["train"],
        "validationPath": dataset["validation"],
        "outputDir": str(tmp_path / "out"),
        "mlflowRunId": new_run(mlflow_uri),
        "resumeFromCheckpoint": None,
        "deepspeedConfig": None,
    }
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


def test_bf16_setting():
    assert resolve_bf16(False) is False
    assert resolve_bf16("auto") is False  # this CPU-only host
    with pytest.raises(StepError) as error:
        resolve_bf16(True)
    assert error.value.kind == "InvalidConfig" and "train.bf16" in error.value.message
