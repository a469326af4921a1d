"""Evaluation during training on the tiny T5: ROUGE and validation loss curves, early stopping at
the step its rule implies, the best checkpoint as the model, and a retried attempt that continues
the early-stopping count. One training, killed after a checkpoint and resumed, serves every test.

Its validation headlines are the untrained model's own outputs ("heavy heavy heavy ..."): it starts
all but perfect on them and gets worse as it learns the training headlines, then ROUGE-L plateaus
low. So the best checkpoint is an early one, every later one is worse, and the step early stopping
must stop at follows from the run's own curve, whatever the CPU's float rounding did to it."""

import json
import signal
from pathlib import Path

import mlflow
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from safetensors.torch import load_file

from conftest import StepRun, new_run, run_step, small_config, train_spec
from tuneflow_ml.generation import generate, load_model
from tuneflow_ml.pyfunc_model import download_model_dir
from tuneflow_ml.train_eval import Plateau, replay

PATIENCE, EVERY, MIN_STEPS = 3, 2, 4


def rule_after(curve: list[tuple[int, float, float]], warmup: int = MIN_STEPS) -> Plateau:
    """The stopping rule having taken every evaluation of a recorded (step, loss, ROUGE-L) curve."""
    rule = Plateau(PATIENCE, 0.0, warmup)
    for point in curve:
        rule.update(*point)
    return rule


@pytest.fixture(scope="module")
def resumed(dataset, tiny_model, mlflow_uri, tmp_path_factory) -> tuple[dict, StepRun, dict, StepRun]:
    """15 epochs configured (345 steps of 8 rows), an evaluation and a checkpoint every 2 steps,
    two checkpoints kept. The worker is killed after the first checkpoint that follows an
    evaluation without improvement (so the count is under way); the retry resumes from it and
    trains until early stopping. Returns the resumed spec, both attempts and the trainer state the
    retry resumed from (read at once: the retry's rotation may delete that checkpoint)."""
    workdir = tmp_path_factory.mktemp("train-eval")
    config = small_config(tiny_model, mlflow_uri)
    validation = pq.read_table(dataset["validation"]).to_pydict()
    settings = config["evaluate"]
    own = generate(*load_model(tiny_model), validation["text"], prefix=config["model"]["sourcePrefix"],
                   max_source_length=config["model"]["maxSourceLength"], batch_size=8,
                   num_beams=settings["numBeams"], max_new_tokens=settings["maxNewTokens"])  # fmt: skip
    own_path = workdir / "validation.parquet"
    pq.write_table(pa.table({"text": validation["text"], "summary": own}), own_path)
    config["train"] |= {
        "maxSteps": None,
        "epochs": 15,
        "checkpointEverySteps": EVERY,
        "keepCheckpoints": 2,
        "evalEverySteps": EVERY,
        "evalSamples": 20,
        "learningRate": 3e-4,  # the fall from the untrained model's outputs takes a few evaluations
        "earlyStopping": {"patience": PATIENCE, "minDelta": 0.0, "minSteps": MIN_STEPS},
    }
    spec = train_spec("train-eval", config, dataset | {"validation": str(own_path)}, workdir / "out", new_run(mlflow_uri))
    killed = run_step("train", spec, workdir / "a", stop_when=lambda e: e["event"] == "checkpoint" and misses_in(e["path"]) > 0)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    spec = spec | {"resumeFromCheckpoint": killed.of_kind("checkpoint")[-1]["path"]}
    state = trainer_state(spec["resumeFromCheckpoint"])
    return spec, killed, state, run_step("train", spec, workdir / "b")


def trainer_state(checkpoint: str) -> dict:
    return json.loads((Path(checkpoint) / "trainer_state.json").read_text())


def stopper_state(checkpoint: str) -> dict:
    """PlateauStopping's attributes as the checkpoint's trainer_state.json holds them."""
    return trainer_state(checkpoint)["stateful_callbacks"]["PlateauStopping"]["attributes"]


def misses_in(checkpoint: str) -> int:
    return stopper_state(checkpoint)["misses"]


def val_history(mlflow_uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of a curve; a step logged by both attempts keeps its latest value."""
    latest = {}
    for metric in sorted(mlflow.MlflowClient(mlflow_uri).get_metric_history(run_id, key), key=lambda m: m.timestamp):
        latest[metric.step] = metric.value
    return sorted(latest.items())


def recorded_curve(mlflow_uri: str, run_id: str) -> list[tuple[int, float, float]]:
    """(step, validation loss, validation ROUGE-L) of every evaluation the run logged."""
    losses = dict(val_history(mlflow_uri, run_id, "val_loss"))
    return [(step, losses[step], rouge_l) for step, rouge_l in val_history(mlflow_uri, run_id, "val_rougeL")]


def test_early_stopping_stops_at_the_step_its_rule_implies(resumed, mlflow_uri):
    spec, _, _, finished = resumed
    result = finished.result()
    history = val_history(mlflow_uri, spec["mlflowRunId"], "val_rougeL")
    assert [step for step, _ in history] == list(range(EVERY, result["globalStep"] + 1, EVERY))
    for key in ("val_rouge1", "val_rouge2", "val_rougeL_stderr", "val_loss"):
        assert [step for step, _ in val_history(mlflow_uri, spec["mlflowRunId"], key)] == [s for s, _ in history]

    expected = replay(recorded_curve(mlflow_uri, spec["mlflowRunId"]), PATIENCE, 0.0, MIN_STEPS)
    assert expected is not None and result["globalStep"] == expected
    stopping = result["earlyStopping"]
    assert stopping["stopped"] is True and stopping["step"] == expected
    assert stopping["configuredSteps"] == 15 * 23  # 180 rows in batches of 8: 23 steps an epoch
    assert stopping["stepsSaved"] == 15 * 23 - expected
    assert stopping["gpuHoursSaved"] == 0.0  # trained on the CPU
    assert f"stopped at step {expected} of 345" in stopping["reason"]
    losses = val_history(mlflow_uri, spec["mlflowRunId"], "val_loss")
    best_loss_step, best_loss = min(losses, key=lambda point: (point[1], point[0]))
    assert stopping["basis"] == {
        "signal": "validationLoss", "patience": PATIENCE, "minDelta": 0.0, "warmupSteps": MIN_STEPS,
        "bestLoss": {"step": best_loss_step, "value": pytest.approx(best_loss)}, "rowsScored": 20,
    }  # fmt: skip
    run = mlflow.MlflowClient(mlflow_uri).get_run(spec["mlflowRunId"])
    assert run.data.tags["tuneflow.early_stopping"] == stopping["reason"]
    assert run.data.metrics["steps_saved"] == stopping["stepsSaved"]


def test_the_best_checkpoint_is_the_model_even_when_a_later_one_is_worse(resumed, mlflow_uri, tmp_path):
    spec, _, _, finished = resumed
    result = finished.result()
    history = val_history(mlflow_uri, spec["mlflowRunId"], "val_rougeL")
    best_step, best_value = max(history, key=lambda point: (point[1], -point[0]))  # the first of equal bests
    assert any(step > best_step and value < best_value for step, value in history), history
    best = result["evaluations"]["best"]
    assert (best["step"], best["rougeL"]) == (best_step, pytest.approx(best_value))
    assert result["evaluations"]["done"] == len(history) and result["evaluations"]["samples"] == 20

    # keepCheckpoints 2: the rotation kept the latest and the best, and deleted the newer ones between.
    checkpoints = Path(spec["outputDir"]) / "checkpoints"
    assert result["globalStep"] - best_step > 2 * EVERY
    assert {p.name for p in checkpoints.iterdir()} == {f"checkpoint-{best_step}", f"checkpoint-{result['globalStep']}"}
    assert Path(best["checkpoint"]) == checkpoints / f"checkpoint-{best_step}"

    # The model train saved (evaluate scores it) and logged (register registers it) is the best's.
    weights = load_file(Path(best["checkpoint"]) / "model.safetensors")
    logged = download_model_dir(mlflow_uri, result["modelUri"], str(tmp_path / "logged"))
    for model_dir in (result["modelDir"], logged):
        saved = load_file(Path(model_dir) / "model.safetensors")
        assert saved.keys() == weights.keys() and all(saved[k].equal(weights[k]) for k in weights)
    last = load_file(checkpoints / f"checkpoint-{result['globalStep']}" / "model.safetensors")
    assert not all(last[k].equal(weights[k]) for k in weights)


def test_a_retried_attempt_continues_the_early_stopping_count(resumed, mlflow_uri):
    """The checkpoint the retry resumed from holds the rule's state at that step (best loss, best
    ROUGE-L, evaluations without progress), and the retry stopped where the rule stops on the
    whole curve."""
    spec, killed, state, finished = resumed
    kill_at = killed.of_kind("checkpoint")[-1]["step"]
    history = val_history(mlflow_uri, spec["mlflowRunId"], "val_rougeL")
    before = [(step, value) for step, value in history if step <= kill_at]
    full = recorded_curve(mlflow_uri, spec["mlflowRunId"])
    at_kill = rule_after([point for point in full if point[0] <= kill_at])
    restored = state["stateful_callbacks"]["PlateauStopping"]["attributes"]
    assert restored == {
        "best_loss": pytest.approx(at_kill.best_loss), "best_loss_step": at_kill.best_loss_step,
        "best_rouge": pytest.approx(at_kill.best_rouge), "misses": at_kill.misses,
    }  # fmt: skip
    assert restored["misses"] >= 1
    assert state["best_global_step"] == max(before, key=lambda point: (point[1], -point[0]))[0]

    def evaluated_steps(run: StepRun) -> list[int]:
        return [int(e["message"].split()[3].rstrip(":")) for e in run.of_kind("log") if e["message"].startswith("evaluation at step")]

    assert evaluated_steps(killed) == [step for step, _ in before]
    after = evaluated_steps(finished)
    assert after == list(range(kill_at + EVERY, finished.result()["globalStep"] + 1, EVERY))
    # The retry stopped where the rule stops on the whole curve, its count carried across the kill.
    assert finished.result()["globalStep"] == replay(full, PATIENCE, 0.0, MIN_STEPS)
