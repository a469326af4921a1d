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

PATIENCE, EVERY = 3, 2


def stop_step(history: list[tuple[int, float]], patience: int, min_delta: float) -> int | None:
    """The rule, as the issue states it: stop once ROUGE-L has gone `patience` evaluations in a
    row without beating the best so far by more than min_delta."""
    best, misses = None, 0
    for step, value in history:
        misses = 0 if best is None or value - best > min_delta else misses + 1
        best = value if best is None else max(best, value)
        if misses >= patience:
            return step
    return None


def misses(history: list[tuple[int, float]], min_delta: float = 0.0) -> int:
    """Evaluations in a row, at the end of `history`, that did not beat the best before them."""
    best, count = None, 0
    for _, value in history:
        count = 0 if best is None or value - best > min_delta else count + 1
        best = value if best is None else max(best, value)
    return count


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
        "earlyStopping": {"patience": PATIENCE, "minDelta": 0.0},
    }
    spec = train_spec("train-eval", config, dataset | {"validation": str(own_path)}, workdir / "out", new_run(mlflow_uri))
    killed = run_step("train", spec, workdir / "a", stop_when=lambda e: e["event"] == "checkpoint" and misses_in(e["path"]) > 0)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    spec = spec | {"resumeFromCheckpoint": killed.of_kind("checkpoint")[-1]["path"]}
    state = trainer_state(spec["resumeFromCheckpoint"])
    return spec, killed, state, run_step("train", spec, workdir / "b")


def trainer_state(checkpoint: str) -> dict:
    return json.loads((Path(checkpoint) / "trainer_state.json").read_text())


def misses_in(checkpoint: str) -> int:
    """EarlyStoppingCallback's count as the checkpoint's trainer_state.json holds it."""
    return trainer_state(checkpoint)["stateful_callbacks"]["EarlyStoppingCallback"]["attributes"]["early_stopping_patience_counter"]


def val_history(mlflow_uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of a curve; a step logged by both attempts keeps its latest value."""
    latest = {}
    for metric in sorted(mlflow.MlflowClient(mlflow_uri).get_metric_history(run_id, key), key=lambda m: m.timestamp):
        latest[metric.step] = metric.value
    return sorted(latest.items())


def test_early_stopping_stops_at_the_step_its_rule_implies(resumed, mlflow_uri):
    spec, _, _, finished = resumed
    result = finished.result()
    history = val_history(mlflow_uri, spec["mlflowRunId"], "val_rougeL")
    assert [step for step, _ in history] == list(range(EVERY, result["globalStep"] + 1, EVERY))
    for key in ("val_rouge1", "val_rouge2", "val_loss"):
        assert [step for step, _ in val_history(mlflow_uri, spec["mlflowRunId"], key)] == [s for s, _ in history]

    expected = stop_step(history, PATIENCE, 0.0)
    assert expected is not None and result["globalStep"] == expected
    stopping = result["earlyStopping"]
    assert stopping["stopped"] is True and stopping["step"] == expected
    assert stopping["configuredSteps"] == 15 * 23  # 180 rows in batches of 8: 23 steps an epoch
    assert stopping["stepsSaved"] == 15 * 23 - expected
    assert stopping["gpuHoursSaved"] == 0.0  # trained on the CPU
    assert f"stopped at step {expected} of 345" in stopping["reason"]
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
    """The checkpoint the retry resumed from holds the best so far and the count of evaluations
    without improvement; the retry stopped after the evaluations that count still lacked, fewer
    than a fresh count would need."""
    spec, killed, state, finished = resumed
    kill_at = killed.of_kind("checkpoint")[-1]["step"]
    history = val_history(mlflow_uri, spec["mlflowRunId"], "val_rougeL")
    before = [(step, value) for step, value in history if step <= kill_at]
    counter = state["stateful_callbacks"]["EarlyStoppingCallback"]["attributes"]["early_stopping_patience_counter"]
    assert counter == misses(before) and counter >= 1
    assert state["best_global_step"] == max(before, key=lambda point: (point[1], -point[0]))[0]

    def evaluated_steps(run: StepRun) -> list[int]:
        return [int(e["message"].split()[3].rstrip(":")) for e in run.of_kind("log") if e["message"].startswith("evaluation at step")]

    assert evaluated_steps(killed) == [step for step, _ in before]
    after = evaluated_steps(finished)
    assert after == list(range(kill_at + EVERY, finished.result()["globalStep"] + 1, EVERY))
    assert len(after) == PATIENCE - counter < PATIENCE
