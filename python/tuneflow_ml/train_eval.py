"""Evaluation during training (train.evalEverySteps), early stopping (train.earlyStopping) and
the best checkpoint, on the Trainer's own machinery so that all of it survives a resume:

- every evalEverySteps steps the Trainer generates headlines for a fixed, seeded subset of the
  validation rows with generation.py's keyword arguments (the evaluate settings and the config's
  generation controls), scores them with evaluate's ROUGE against the rows' own headlines (with
  ROUGE-L's standard error over the rows) and computes the validation loss; train.py's Reporter
  logs them as val_* curves;
- the best ROUGE-L so far and its step are TrainerState's best_metric / best_global_step, and a
  checkpoint is written at each new best (BestCheckpoint), so best_model_checkpoint always names a
  saved one; rotation keeps it whatever save_total_limit says, and load_best_model_at_end makes it
  the model train saves, which evaluate scores and register registers;
- early stopping (PlateauStopping) decides on the validation loss, not on ROUGE-L: on the same
  rows at every evaluation the loss moves only with the model, while ROUGE-L of generated
  headlines on a few hundred rows moves by more than its standard error between evaluations of a
  model that is still learning (docs/operations.md has the measurements). It stops once the loss
  has gone `patience` evaluations without falling by more than minDelta (relative) below its best
  and none of those evaluations set a new best ROUGE-L, never before the warm-up (minSteps; by
  default one epoch and at least a fifth of the configured steps). Its state is in every
  checkpoint's trainer_state.json (stateful_callbacks, restored with
  restore_callback_states_from_checkpoint), so a retried attempt continues the same count.
"""

import math
import random
import time
from typing import Any

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric
from torch.utils.data import SequentialSampler
from transformers import EvalPrediction, PreTrainedTokenizerBase, Seq2SeqTrainer, TrainerCallback
from transformers.trainer_callback import ExportableState

from . import events
from .generation import GenerationParams, controls, generate_kwargs
from .spec_types import PipelineConfig, TrainConfig

CURVE_KEYS = ("rouge1", "rouge2", "rougeL")
BEST_METRIC = "rougeL"
# ROUGE-L's standard error over the rows an evaluation scored: how much of a move between two
# evaluations is the rows' noise rather than the model.
STDERR_KEY = "rougeL_stderr"
# Without train.earlyStopping.minSteps: no stop in the first epoch, nor in the first fifth of the
# configured steps (docs/operations.md: where the recorded runs' ROUGE-L was still flat or noisy).
WARMUP_SHARE = 0.2
# On the run with train.earlyStopping: why and when training stopped (or ran all its steps).
STOPPING_TAG = "tuneflow.early_stopping"


def validation_subset(rows: dict[str, list], size: int, seed: int) -> dict[str, list]:
    """The same `size` validation rows (in file order) for every evaluation and every attempt."""
    n = len(rows["text"])
    picked = sorted(random.Random(seed).sample(range(n), min(size, n)))
    return {name: [values[i] for i in picked] for name, values in rows.items()}


def training_arguments(train: TrainConfig) -> dict[str, Any]:
    """The Seq2SeqTrainingArguments of evaluation during training; evaluation off without evalEverySteps."""
    if train["evalEverySteps"] is None:
        return {"eval_strategy": "no"}
    return dict(
        eval_strategy="steps",
        eval_steps=train["evalEverySteps"],
        predict_with_generate=True,
        metric_for_best_model=BEST_METRIC,
        greater_is_better=True,
        load_best_model_at_end=True,
        restore_callback_states_from_checkpoint=True,
    )


def checkpoints_kept(train: TrainConfig) -> int:
    """save_total_limit. The rotation never deletes the best checkpoint nor the latest (the best
    takes one of the places). With evaluation on, at least 2: at 1 the Trainer deletes the last
    checkpoint at the end when it is not the best, and latest-checkpoint.json would name a folder
    that is gone (a retry would start from step 0)."""
    return train["keepCheckpoints"] if train["evalEverySteps"] is None else max(2, train["keepCheckpoints"])


def eval_generate_kwargs(tokenizer: PreTrainedTokenizerBase, config: PipelineConfig) -> dict[str, Any]:
    """What evaluate generates with, so the curves' last point and evaluate's score agree in kind."""
    settings = config["evaluate"]
    params = GenerationParams(
        config["model"]["sourcePrefix"], config["model"]["maxSourceLength"], settings["numBeams"], settings["maxNewTokens"],
        **controls(config),
    )  # fmt: skip
    return generate_kwargs(tokenizer, params)


def rouge_of_generated(tokenizer: PreTrainedTokenizerBase, references: list[str]):
    """compute_metrics: ROUGE of the generated headlines against the subset's own headlines (not
    the tokenized labels, which are truncated at maxTargetLength), in the subset's order."""
    # Here, not at the top: a training without evaluation imports no ROUGE scorer (rouge_score,
    # nltk), so the hosts that run one need neither (bench/gpu/wheels.sh lists what travels).
    from .evaluate import rouge_per_row, standard_error

    def compute(prediction: EvalPrediction) -> dict[str, float]:
        # Batches are padded to one length with -100 when they are put together.
        ids = np.where(prediction.predictions < 0, tokenizer.pad_token_id, prediction.predictions)
        headlines = [text.strip() for text in tokenizer.batch_decode(ids, skip_special_tokens=True)]
        rows = rouge_per_row(headlines, references)
        return {key: sum(rows[key]) / len(rows[key]) for key in CURVE_KEYS} | {STDERR_KEY: standard_error(rows[BEST_METRIC])}

    return compute


class HeadlineTrainer(Seq2SeqTrainer):
    """A Seq2SeqTrainer whose evaluations during training generate as evaluate does (the training
    loop calls evaluate() without generation arguments), on the rows in their order."""

    def __init__(self, *args: Any, eval_generate_kwargs: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.eval_generate_kwargs = eval_generate_kwargs

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval", **gen_kwargs):
        return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix, **(self.eval_generate_kwargs | gen_kwargs))

    def _get_eval_sampler(self, eval_dataset):
        # compute_metrics pairs the headlines with their references by position, so they must come
        # back in the subset's order; transformers 5 also groups evaluation batches by length under
        # group_by_length. Several ranks: accelerate shards in order and gathers back in order.
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None

    def _run_epoch(self, *args: Any, **kwargs: Any) -> None:
        # Resumed from the checkpoint of the last step (the attempt that wrote it finished training,
        # but its result never reached Temporal): transformers tests max_steps only after a step,
        # so it would train one step more than asked. Nothing is left to train.
        if self.state.global_step >= self.state.max_steps:
            self.control.should_training_stop = True
            return
        super()._run_epoch(*args, **kwargs)


class BestCheckpoint(TrainerCallback):
    """A checkpoint at every evaluation that beats the best ROUGE-L so far. The Trainer records a
    new best step at each evaluation but names it best_model_checkpoint only when that step was
    saved; without this, a best between two checkpoint steps would be lost."""

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        value = (metrics or {}).get(f"eval_{BEST_METRIC}")
        # The Trainer's own test (_determine_best_metric, which runs right after this).
        if value is not None and (state.best_metric is None or value > state.best_metric):
            control.should_save = True


def warmup_steps(min_steps: int | None, configured_steps: int, steps_per_epoch: int) -> int:
    """The step before which early stopping never stops: train.earlyStopping.minSteps, or one
    epoch and at least a fifth of the configured steps."""
    if min_steps is not None:
        return min_steps
    return min(configured_steps, max(steps_per_epoch, math.ceil(WARMUP_SHARE * configured_steps)))


class Plateau:
    """The stopping rule over a run's evaluations, one at a time: progress is a validation loss
    more than min_delta (relative) below the best so far, or a new best ROUGE-L; `patience`
    evaluations in a row without progress, at or past the warm-up step, stop training. Pure, so
    the callback, the tests and bench/quality replay the same rule on recorded curves."""

    def __init__(self, patience: int, min_delta: float, warmup: int) -> None:
        self.patience, self.min_delta, self.warmup = patience, min_delta, warmup
        self.best_loss: float | None = None
        self.best_loss_step: int | None = None
        self.best_rouge: float | None = None
        self.misses = 0

    def update(self, step: int, loss: float, rouge_l: float) -> bool:
        """Takes one evaluation; True when training should stop at it."""
        loss_fell = self.best_loss is None or loss < self.best_loss * (1 - self.min_delta)
        new_best_rouge = self.best_rouge is None or rouge_l > self.best_rouge
        if self.best_loss is None or loss < self.best_loss:
            self.best_loss, self.best_loss_step = loss, step
        if new_best_rouge:
            self.best_rouge = rouge_l
        self.misses = 0 if loss_fell or new_best_rouge else self.misses + 1
        return self.misses >= self.patience and step >= self.warmup


def replay(curve: list[tuple[int, float, float]], patience: int, min_delta: float, warmup: int) -> int | None:
    """The step the rule stops at on a recorded curve of (step, validation loss, ROUGE-L), or None."""
    rule = Plateau(patience, min_delta, warmup)
    return next((step for step, loss, rouge_l in curve if rule.update(step, loss, rouge_l)), None)


class PlateauStopping(Plateau, TrainerCallback, ExportableState):
    """Plateau as a Trainer callback. Its attributes travel in every checkpoint's trainer_state.json
    (stateful_callbacks): a retried attempt continues the count where the checkpoint left it."""

    def __init__(self, patience: int, min_delta: float, min_steps: int | None, steps_per_epoch: int) -> None:
        super().__init__(patience, min_delta, warmup=0)
        self.min_steps, self.steps_per_epoch = min_steps, steps_per_epoch

    def on_train_begin(self, args, state, control, **kwargs):
        self.warmup = warmup_steps(self.min_steps, state.max_steps, self.steps_per_epoch)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = metrics or {}
        if f"eval_{BEST_METRIC}" in metrics and "eval_loss" in metrics:
            if self.update(state.global_step, metrics["eval_loss"], metrics[f"eval_{BEST_METRIC}"]):
                control.should_training_stop = True

    def state(self) -> dict:
        return {
            "args": {"patience": self.patience, "min_delta": self.min_delta, "min_steps": self.min_steps, "steps_per_epoch": self.steps_per_epoch},
            "attributes": {"best_loss": self.best_loss, "best_loss_step": self.best_loss_step, "best_rouge": self.best_rouge, "misses": self.misses},
        }


def callbacks(train: TrainConfig, steps_per_epoch: int) -> list[TrainerCallback]:
    if train["evalEverySteps"] is None:
        return []
    stopping = train["earlyStopping"]
    if stopping is None:
        return [BestCheckpoint()]
    return [BestCheckpoint(), PlateauStopping(stopping["patience"], stopping["minDelta"], stopping["minSteps"], steps_per_epoch)]


def curve_values(metrics: dict[str, float]) -> dict[str, float]:
    """An evaluation's MLflow curve points: val_rouge1, val_rouge2, val_rougeL, val_rougeL_stderr, val_loss."""
    keys = (*CURVE_KEYS, STDERR_KEY, "loss")
    return {f"val_{key}": metrics[f"eval_{key}"] for key in keys if f"eval_{key}" in metrics}


def backfill_curves(client: MlflowClient, run_id: str, history: list[dict[str, float]]) -> int:
    """Logs the evaluations of the Trainer's history that the run's curves lack: those an attempt
    killed before its metrics queue was sent had scored (the retry resumed past them and does not
    score them again). Returns how many."""
    logged = {metric.step for metric in client.get_metric_history(run_id, f"val_{BEST_METRIC}")}
    missing = [entry for entry in history if int(entry["step"]) not in logged]
    timestamp = int(time.time() * 1000)
    points = [Metric(name, value, timestamp, int(entry["step"])) for entry in missing for name, value in curve_values(entry).items()]
    if points:
        client.log_batch(run_id, metrics=points)
    return len(missing)


def evaluation_history(state) -> list[dict[str, float]]:
    """Every evaluation of this training, resumed attempts included: step, ROUGE, loss, seconds."""
    return [entry for entry in state.log_history if f"eval_{BEST_METRIC}" in entry]


def outcome(trainer: Seq2SeqTrainer, train: TrainConfig, seconds_per_step: float | None, gpus: int) -> tuple[dict | None, dict | None]:
    """TrainResult's `evaluations` and `earlyStopping`: the best checkpoint, and when and why
    training stopped, what the decision rested on, and the steps and GPU-hours saved against the
    configured steps."""
    if train["evalEverySteps"] is None:
        return None, None
    state = trainer.state
    history = evaluation_history(state)
    best = None
    if state.best_model_checkpoint is not None:
        at_best = next((entry for entry in history if int(entry["step"]) == state.best_global_step), {})
        best = {
            "step": state.best_global_step,
            "rougeL": state.best_metric,
            "rougeLStdErr": at_best.get(f"eval_{STDERR_KEY}"),
            "checkpoint": state.best_model_checkpoint,
        }
    evaluations = {
        "done": len(history),
        "samples": len(trainer.eval_dataset),
        "seconds": sum(entry.get("eval_runtime", 0.0) for entry in history),
        "best": best,
    }
    settings = train["earlyStopping"]
    if settings is None:
        return evaluations, None
    rule = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, PlateauStopping))
    stopped = rule.misses >= rule.patience and state.global_step >= rule.warmup and state.global_step < state.max_steps
    steps_saved = state.max_steps - state.global_step
    basis = {
        "signal": "validationLoss",
        "patience": rule.patience,
        "minDelta": rule.min_delta,
        "warmupSteps": rule.warmup,
        "bestLoss": None if rule.best_loss is None else {"step": rule.best_loss_step, "value": rule.best_loss},
        "rowsScored": len(trainer.eval_dataset),
    }
    best_text = "none" if best is None else f"{best['rougeL']:.4f}" + (
        f" ± {best['rougeLStdErr']:.4f}" if best["rougeLStdErr"] is not None else ""
    ) + f" at step {best['step']}"
    loss_text = "none" if rule.best_loss is None else f"{rule.best_loss:.4f} at step {rule.best_loss_step}"
    if stopped:
        steps = ", ".join(str(int(entry["step"])) for entry in history[-rule.patience:])
        reason = (
            f"validation loss did not fall more than {rule.min_delta:.1%} below its best ({loss_text}) and ROUGE-L "
            f"set no new best ({best_text}) in {rule.patience} evaluations (steps {steps}), past the warm-up of "
            f"{rule.warmup} steps: stopped at step {state.global_step} of {state.max_steps}"
        )
    else:
        reason = (
            f"validation loss (best {loss_text}) or ROUGE-L (best {best_text}) kept improving within every "
            f"{rule.patience} evaluations after the warm-up of {rule.warmup} steps: trained all {state.max_steps} configured steps"
        )
    hours_saved = steps_saved * seconds_per_step * gpus / 3600 if stopped and seconds_per_step is not None else 0.0
    return evaluations, {
        "stopped": stopped,
        "step": state.global_step,
        "configuredSteps": state.max_steps,
        "stepsSaved": steps_saved if stopped else 0,
        "gpuHoursSaved": hours_saved,
        "reason": reason,
        "basis": basis,
    }


def record(client: MlflowClient, run_id: str, state, evaluations: dict | None, early_stopping: dict | None) -> dict[str, float]:
    """Completes the run's curves, tags it with the stopping reason, logs both; returns the final
    metrics to log with the run's others (best_val_rougeL, best_step, steps_saved, ...)."""
    if evaluations is None:
        return {}
    backfilled = backfill_curves(client, run_id, evaluation_history(state))
    if backfilled:
        events.log(f"{backfilled} evaluation(s) of an earlier attempt were missing from the run's curves; logged them now")
    metrics = {"val_evaluations": evaluations["done"], "val_seconds": evaluations["seconds"]}
    if evaluations["best"] is not None:
        best = evaluations["best"]
        metrics |= {"best_val_rougeL": best["rougeL"], "best_step": best["step"]}
        events.log(f"the model is the best checkpoint: {best['checkpoint']} (ROUGE-L {best['rougeL']:.4f})")
    if early_stopping is not None:
        metrics |= {"steps_saved": early_stopping["stepsSaved"], "gpu_hours_saved": early_stopping["gpuHoursSaved"]}
        client.set_tag(run_id, STOPPING_TAG, early_stopping["reason"])
        events.log(early_stopping["reason"])
    return metrics
