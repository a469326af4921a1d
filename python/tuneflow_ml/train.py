"""Fine-tunes a T5 model to write review headlines: the seed's recipe (Seq2SeqTrainer, source
prefix "summarize: ", Adafactor, bf16, DeepSpeed ZeRO for the large models).

    python -m tuneflow_ml.train --spec spec.json     (spec: TrainSpec in lib/steps/)

Checkpoints go to <outputDir>/checkpoints; after each one is complete, <outputDir>/
latest-checkpoint.json points to it and a checkpoint event tells the activity, which a retried
attempt passes back as resumeFromCheckpoint. SIGTERM (cancellation, worker shutdown) ends the
current step, checkpoints it and exits with a retryable error. The final model goes to
<outputDir>/model and is logged to the MLflow run (created by the TypeScript side) as the pyfunc
model "model".
"""

import contextlib
import math
import os
import signal
import sys
import time
from typing import Any

import mlflow
import torch
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    PreTrainedTokenizerBase,
    Seq2SeqTrainingArguments,
    TrainerCallback,
    TrainerState,
)

from . import events, tracking, train_eval
from .checkpoints import check_checkpoint, storage_faults_named
from .data import parquet_rows, read_columns, write_json
from .events import StepError
from .generation import device_name
from .pyfunc_model import download_model_dir, log_model
from .rendezvous import keep_rendezvous_on_loopback
from .spec import load_spec
from .spec_types import ModelConfig, TrainConfig, TrainSpec

# Progress events double as the activity's heartbeats: one at least this often while steps run.
PROGRESS_EVERY_S = 5.0


def resolve_bf16(setting: bool | str) -> bool:
    supported = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if setting == "auto":
        return supported
    if setting and not supported:
        raise StepError(
            "InvalidConfig",
            f"train.bf16 is true but {device_name()} has no bf16 support (it needs an Ampere or newer GPU); "
            "set train.bf16 to 'auto' or false",
        )
    return bool(setting)


def check_deepspeed_device(deepspeed: dict[str, Any] | None) -> None:
    """DeepSpeed trains on CUDA GPUs, or on CPUs when asked for explicitly (DS_ACCELERATOR=cpu, the
    gloo backend: tests and CPU clusters)."""
    if deepspeed is None or torch.cuda.is_available() or os.environ.get("DS_ACCELERATOR") == "cpu":
        return
    raise StepError(
        "InvalidConfig",
        "train.deepspeed needs CUDA GPUs and this host has none; set train.deepspeed to null, "
        "or DS_ACCELERATOR=cpu on the worker to run ZeRO on CPUs",
    )


def tokenize(
    tokenizer: PreTrainedTokenizerBase, rows: dict[str, list], model_config: ModelConfig
) -> list[dict[str, list[int]]]:
    """Token ids of prefix + text and of the summary, truncated; padding is left to the collator,
    per batch (dynamic padding)."""
    sources = tokenizer(
        [model_config["sourcePrefix"] + t for t in rows["text"]],
        max_length=model_config["maxSourceLength"],
        truncation=True,
    )
    labels = tokenizer(text_target=rows["summary"], max_length=model_config["maxTargetLength"], truncation=True)
    return [
        {"input_ids": ids, "attention_mask": mask, "labels": target}
        for ids, mask, target in zip(sources["input_ids"], sources["attention_mask"], labels["input_ids"])
    ]


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"deepspeed": {"stage": 3}}} -> {"train.deepspeed.stage": 3}, for MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Reporter(TrainerCallback):
    """Progress events, the latest-checkpoint pointer and per-step MLflow metrics (rank 0 only),
    and a last checkpoint when SIGTERM asks the step to stop."""

    def __init__(self, output_dir: str, samples_per_step: int, checkpoint_every_minutes: float | None) -> None:
        self.output_dir = output_dir
        self.samples_per_step = samples_per_step
        self.checkpoint_every_s = None if checkpoint_every_minutes is None else checkpoint_every_minutes * 60
        self.last_save = time.monotonic()
        self.loss: float | None = None
        self.started = self.last_progress = time.monotonic()
        self.first_step = 0
        self.stop_requested = False
        self.metrics = tracking.QueuedMetrics()

    def request_stop(self, signum: int, frame: Any) -> None:
        # The activity sends SIGTERM on cancellation and worker shutdown, and SIGKILL after a
        # grace period: finish the current step, checkpoint it, stop.
        self.stop_requested = True

    def progress(self, state: TrainerState) -> None:
        elapsed = time.monotonic() - self.started
        steps = state.global_step - self.first_step  # this process's steps: a resumed run starts past 0
        rate = steps / elapsed if steps and elapsed > 0 else None  # steps per second
        events.progress(
            "steps",
            state.global_step,
            state.max_steps,
            epoch=state.epoch,
            loss=self.loss,
            samples_per_sec=rate * self.samples_per_step if rate else None,
            eta_seconds=(state.max_steps - state.global_step) / rate if rate else None,
        )
        self.last_progress = time.monotonic()

    def on_train_begin(self, args, state, control, **kwargs):
        self.started, self.first_step = time.monotonic(), state.global_step
        self.progress(state)

    def on_step_end(self, args, state, control, **kwargs):
        if self.stop_requested:
            control.should_save = True
            control.should_training_stop = True
        # Time-based checkpoints bound the work a lost worker costs when steps are slow (t5-11b).
        if self.checkpoint_every_s is not None and time.monotonic() - self.last_save >= self.checkpoint_every_s:
            control.should_save = True
        if time.monotonic() - self.last_progress >= PROGRESS_EVERY_S:
            self.progress(state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:  # the end-of-training summary is logged by main
            return
        self.loss = logs["loss"]
        self.progress(state)
        if state.is_world_process_zero:
            # step=global_step: a resumed attempt continues the same curve.
            step_metrics = {
                "train_loss": logs["loss"],
                "learning_rate": logs.get("learning_rate"),
                "grad_norm": logs.get("grad_norm"),
                "epoch": state.epoch,
            }
            # Queued, not sent inline: a slow or briefly unreachable MLflow server must not stall
            # the training loop; main flushes the queue before the run's end and counts what never arrived.
            self.metrics.log({k: float(v) for k, v in step_metrics.items() if v is not None}, step=state.global_step)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        # The curves of evaluation during training (train_eval.py), at the step they scored.
        values = train_eval.curve_values(metrics)
        if state.is_world_process_zero:
            # best_metric is updated after this callback; this evaluation may be the new best.
            best = values["val_rougeL"] if state.best_metric is None else max(state.best_metric, values["val_rougeL"])
            events.log(
                f"evaluation at step {state.global_step}: ROUGE-L {values['val_rougeL']:.4f}, validation loss "
                f"{values['val_loss']:.4f} (best ROUGE-L so far {best:.4f})"
            )
            self.metrics.log(values, step=state.global_step)
        self.progress(state)

    def on_save(self, args, state, control, **kwargs):
        # Called after the Trainer has written the whole checkpoint (weights, optimizer, scheduler,
        # RNG and trainer state) and rotated old ones out: only now may a retry resume from it.
        self.last_save = time.monotonic()
        if not state.is_world_process_zero:
            return
        path = os.path.abspath(os.path.join(args.output_dir, f"checkpoint-{state.global_step}"))
        pointer = {"checkpoint": path, "globalStep": state.global_step}
        write_json(os.path.join(self.output_dir, "latest-checkpoint.json"), pointer)
        events.checkpoint(path, state.global_step)


def check_early_stopping(train: TrainConfig, steps_per_epoch: int) -> None:
    """train.earlyStopping.minSteps beyond the configured steps would never let it stop: a config
    error (the schema checks it against train.maxSteps; the epochs' steps need the data)."""
    stopping = train["earlyStopping"]  # the schema allows it only with evalEverySteps
    configured = train["maxSteps"] if train["maxSteps"] is not None else math.ceil(train["epochs"] * steps_per_epoch)
    if stopping is not None and stopping["minSteps"] is not None and stopping["minSteps"] > configured:
        raise StepError(
            "InvalidConfig",
            f"train.earlyStopping.minSteps is {stopping['minSteps']} but the training is configured for {configured} steps "
            + ("(train.maxSteps)" if train["maxSteps"] is not None else f"({train['epochs']} epochs of {steps_per_epoch} steps)")
            + ": early stopping could never stop; lower train.earlyStopping.minSteps or train more steps",
        )


def main() -> dict:
    spec: TrainSpec = load_spec(TrainSpec)
    config, train = spec["config"], spec["config"]["train"]
    output_dir = os.path.abspath(spec["outputDir"])
    model_dir = os.path.join(output_dir, "model")
    resume = spec["resumeFromCheckpoint"]
    if resume is not None:
        check_checkpoint(resume)
    bf16 = resolve_bf16(train["bf16"])
    deepspeed = spec["deepspeedConfig"]
    check_deepspeed_device(deepspeed)
    # Before the Trainer initializes torch.distributed: a one-host launch listens on loopback only.
    keep_rendezvous_on_loopback(train["collectiveTimeoutSeconds"])
    distributed_on_cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = device_name()
    print(f"train: device {device}, bf16 {bf16}", file=sys.stderr)
    if train["numGpus"] > 1 and "WORLD_SIZE" not in os.environ:
        events.log(
            f"train.numGpus is {train['numGpus']} but this process was not started by a distributed launcher "
            "(deepspeed/torchrun); it trains on one device",
            level="warning",
        )

    # Data first: a bad file should fail in seconds, not after loading a large model.
    rows = read_columns(spec["trainPath"], ["text", "summary"])
    validation_rows = parquet_rows(spec["validationPath"])
    scored = None  # the validation rows scored during training (train.evalEverySteps)
    if train["evalEverySteps"] is not None:
        scored = train_eval.validation_subset(
            read_columns(spec["validationPath"], ["text", "summary"]), train["evalSamples"], train["seed"]
        )
    name = config["model"]["nameOrPath"]
    if spec["startFrom"] is not None:
        # Retraining from the champion: its weights and tokenizer, not the base model's.
        start = spec["startFrom"]
        events.log(f"starting from {start['modelUri']} (the champion) instead of {name}")
        name = download_model_dir(
            config["mlflow"]["trackingUri"], start["modelUri"], os.path.join(output_dir, f"start-model-v{start['version']}")
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForSeq2SeqLM.from_pretrained(name)
    except OSError as exc:
        raise StepError(
            "InvalidConfig",
            f"cannot load model.nameOrPath {name!r} ({exc}); give a local model directory "
            "(python -m tuneflow_ml.tiny_model builds one) or a hub name this host can download",
        )
    train_rows = tokenize(tokenizer, rows, config["model"])
    eval_rows = tokenize(tokenizer, scored, config["model"]) if scored is not None else None

    args = Seq2SeqTrainingArguments(
        output_dir=os.path.join(output_dir, "checkpoints"),
        num_train_epochs=train["epochs"],
        max_steps=train["maxSteps"] if train["maxSteps"] is not None else -1,
        per_device_train_batch_size=train["perDeviceTrainBatchSize"],
        per_device_eval_batch_size=train["perDeviceEvalBatchSize"],
        gradient_accumulation_steps=train["gradientAccumulationSteps"],
        learning_rate=train["learningRate"],
        optim=train["optim"],
        bf16=bf16,
        activation_checkpointing=train["gradientCheckpointing"],  # gradient_checkpointing is its deprecated alias in v5
        deepspeed=deepspeed,
        # Ranks on CPUs (DS_ACCELERATOR=cpu): accelerate's DeepSpeed path picks no backend there
        # and every rank would train alone as rank 0; its CPU path joins them with gloo.
        use_cpu=distributed_on_cpu,
        ddp_backend="gloo" if distributed_on_cpu else None,
        # A rank that stops answering (killed, its node lost) fails the others' collectives after
        # this long, instead of torch's 30 minutes: the gang ends and the retry resumes.
        ddp_timeout=train["collectiveTimeoutSeconds"],
        save_strategy="steps",
        save_steps=train["checkpointEverySteps"],
        save_total_limit=train_eval.checkpoints_kept(train),
        logging_strategy="steps",
        logging_steps=train["loggingSteps"],
        seed=train["seed"],
        train_sampling_strategy="group_by_length" if train["groupByLength"] else "random",
        report_to="none",  # MLflow is logged by Reporter, into the run the TypeScript side created
        disable_tqdm=True,  # progress events replace the bar
        **train_eval.training_arguments(train),
    )
    samples_per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
    steps_per_epoch = max(1, math.ceil(len(train_rows) / (args.per_device_train_batch_size * args.world_size)) // args.gradient_accumulation_steps)
    check_early_stopping(train, steps_per_epoch)
    reporter = Reporter(output_dir, samples_per_step, train["checkpointEveryMinutes"])
    trainer = train_eval.HeadlineTrainer(
        model=model,
        args=args,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        compute_metrics=train_eval.rouge_of_generated(tokenizer, scored["summary"]) if scored is not None else None,
        processing_class=tokenizer,
        callbacks=[reporter, *train_eval.callbacks(train, steps_per_epoch)],
        eval_generate_kwargs=train_eval.eval_generate_kwargs(tokenizer, config),
    )

    # Under a distributed launcher every rank trains; only rank 0 talks to MLflow.
    main_process = trainer.is_world_process_zero()
    mlflow.set_tracking_uri(config["mlflow"]["trackingUri"])
    with mlflow.start_run(run_id=spec["mlflowRunId"]) if main_process else contextlib.nullcontext():
        if resume is None and main_process:
            # Params are immutable in MLflow: a resumed attempt keeps the ones logged at the start.
            sizes = {"data.trainRows": len(train_rows), "data.validationRows": validation_rows}
            mlflow.log_params(sizes | flatten(dict(config["model"]), "model.") | flatten(dict(train), "train."))
        if resume is not None:
            events.log(f"resuming from {resume} (optimizer, scheduler and data order restored)")
        # Only while steps run: before, there is nothing to save; after, the run is complete.
        signal.signal(signal.SIGTERM, reporter.request_stop)
        with storage_faults_named(output_dir, args.output_dir):
            output = trainer.train(resume_from_checkpoint=resume)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if reporter.stop_requested:
            raise StepError(
                "Internal",
                f"train stopped on SIGTERM at step {output.global_step} after writing "
                f"{os.path.join(args.output_dir, f'checkpoint-{output.global_step}')}; a retry resumes from it",
                retryable=True,
            )
        with storage_faults_named(output_dir, args.output_dir):
            trainer.save_model(model_dir)  # every rank takes part (ZeRO-3 gathers the weights); saves the tokenizer too
        if not main_process:
            return {}

        steps_run = output.global_step - reporter.first_step
        # With no step run here (resumed from the last checkpoint) the Trainer's mean loss is 0/0.
        train_loss = output.training_loss if steps_run > 0 else None
        final = {k: v for k, v in output.metrics.items() if k not in ("train_loss", "epoch")}
        if train_loss is not None:
            final["train_loss_mean"] = train_loss
        metrics_not_logged = reporter.metrics.flush()
        if metrics_not_logged:
            untagged = tracking.tag_metrics_not_logged(metrics_not_logged)
            events.log(
                f"{metrics_not_logged} per-step metric points never reached MLflow (down longer than its HTTP retries); "
                + (f"the run's tag {tracking.METRICS_NOT_LOGGED_TAG} says so" if untagged is None else f"tagging the run failed too: {untagged}"),
                level="warning",
            )
        # After the flush: the curves' backfill must see every point this attempt queued.
        seconds_per_step = output.metrics["train_runtime"] / steps_run if steps_run > 0 else None
        gpus = args.world_size if torch.cuda.is_available() else 0
        client = mlflow.MlflowClient(config["mlflow"]["trackingUri"])
        evaluations, early_stopping = train_eval.outcome(trainer, train, seconds_per_step, gpus)
        final |= train_eval.record(client, spec["mlflowRunId"], trainer.state, evaluations, early_stopping)
        mlflow.log_metrics(final, step=output.global_step)
        events.metrics(final, step=output.global_step)

        events.log(f"logging the model in {model_dir} to MLflow run {spec['mlflowRunId']}")
        model_info = log_model(model_dir, config)

    return {
        "modelDir": model_dir,
        "mlflowRunId": spec["mlflowRunId"],
        "modelUri": model_info.model_uri,
        "globalStep": output.global_step,
        "trainLoss": train_loss,
        "device": device,
        "bf16": bf16,
        "resumedFrom": resume,
        "metricsNotLogged": metrics_not_logged,
        # The activity fills it in when it uploads the checkpoints (an s3:// storage.root).
        "checkpointUploads": None,
        "evaluations": evaluations,
        "earlyStopping": early_stopping,
    }


if __name__ == "__main__":
    events.run_step(main, "train")
