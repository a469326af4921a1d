"""Evaluation during training (train.evalEverySteps), early stopping (train.earlyStopping) and
the best checkpoint, on the Trainer's own machinery so that all of it survives a resume:

- every evalEverySteps steps the Trainer generates headlines for a fixed, seeded subset of the
  validation rows with generation.py's keyword arguments (the evaluate settings and the config's
  generation controls), scores them with evaluate's ROUGE against the rows' own headlines and
  computes the validation loss; train.py's Reporter logs them as val_* curves;
- the best ROUGE-L so far and its step are TrainerState's best_metric / best_global_step, and a
  checkpoint is written at each new best (BestCheckpoint), so best_model_checkpoint always names a
  saved one; rotation keeps it whatever save_total_limit says, and load_best_model_at_end makes it
  the model train saves, which evaluate scores and register registers;
- transformers' EarlyStoppingCallback counts the evaluations without an improvement above
  minDelta; TrainerState (log_history, best_*) is in every checkpoint's trainer_state.json, and
  the callback's counter too (stateful_callbacks, restored with
  restore_callback_states_from_checkpoint), so a retried attempt continues the same count.
"""

import random
import time
from typing import Any

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric
from torch.utils.data import SequentialSampler
from transformers import EarlyStoppingCallback, EvalPrediction, PreTrainedTokenizerBase, Seq2SeqTrainer, TrainerCallback

from . import events
from .generation import GenerationParams, controls, generate_kwargs
from .spec_types import PipelineConfig, TrainConfig

CURVE_KEYS = ("rouge1", "rouge2", "rougeL")
BEST_METRIC = "rougeL"
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
    from .evaluate import rouge

    def compute(prediction: EvalPrediction) -> dict[str, float]:
        # Batches are padded to one length with -100 when they are put together.
        ids = np.where(prediction.predictions < 0, tokenizer.pad_token_id, prediction.predictions)
        headlines = [text.strip() for text in tokenizer.batch_decode(ids, skip_special_tokens=True)]
        scores = rouge(headlines, references)
        return {key: scores[key] for key in CURVE_KEYS}

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


def callbacks(train: TrainConfig) -> list[TrainerCallback]:
    if train["evalEverySteps"] is None:
        return []
    stopping = train["earlyStopping"]
    if stopping is None:
        return [BestCheckpoint()]
    return [BestCheckpoint(), EarlyStoppingCallback(stopping["patience"], stopping["minDelta"])]


def curve_values(metrics: dict[str, float]) -> dict[str, float]:
    """An evaluation's MLflow curve points: val_rouge1, val_rouge2, val_rougeL, val_loss."""
    return {f"val_{key}": metrics[f"eval_{key}"] for key in CURVE_KEYS} | {"val_loss": metrics["eval_loss"]}


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
    training stopped, with the steps and GPU-hours saved against the configured steps."""
    if train["evalEverySteps"] is None:
        return None, None
    state = trainer.state
    history = evaluation_history(state)
    best = None
    if state.best_model_checkpoint is not None:
        best = {"step": state.best_global_step, "rougeL": state.best_metric, "checkpoint": state.best_model_checkpoint}
    evaluations = {
        "done": len(history),
        "samples": len(trainer.eval_dataset),
        "seconds": sum(entry.get("eval_runtime", 0.0) for entry in history),
        "best": best,
    }
    settings = train["earlyStopping"]
    if settings is None:
        return evaluations, None
    stopper = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, EarlyStoppingCallback))
    stopped = stopper.early_stopping_patience_counter >= settings["patience"] and state.global_step < state.max_steps
    steps_saved = state.max_steps - state.global_step
    best_text = f"{state.best_metric:.4f} (step {state.best_global_step})" if state.best_metric is not None else "none"
    if stopped:
        steps = ", ".join(str(int(entry["step"])) for entry in history[-settings["patience"]:])
        reason = (
            f"validation ROUGE-L did not beat the best, {best_text}, by more than {settings['minDelta']} "
            f"in {settings['patience']} evaluations (steps {steps}): stopped at step {state.global_step} of {state.max_steps}"
        )
    else:
        reason = (
            f"validation ROUGE-L beat the best by more than {settings['minDelta']} within every {settings['patience']} "
            f"evaluations: trained all {state.max_steps} configured steps (best {best_text})"
        )
    hours_saved = steps_saved * seconds_per_step * gpus / 3600 if stopped and seconds_per_step is not None else 0.0
    return evaluations, {
        "stopped": stopped,
        "step": state.global_step,
        "configuredSteps": state.max_steps,
        "stepsSaved": steps_saved if stopped else 0,
        "gpuHoursSaved": hours_saved,
        "reason": reason,
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
