"""The baseline: a plain Seq2SeqTrainer on the same TrainSpec as tuneflow's train step (same model,
data, batch, steps, Adafactor, bf16 where the device has it), and nothing else: no events socket,
no checkpoints, no MLflow. Prints one JSON line: the (step, monotonic time) of each logged step,
the times tuneflow's progress events give for its own run.

    python -m measured_step plain_trainer --spec spec.json
"""

import argparse
import json
import time

import pyarrow.parquet as pq
import torch
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
)


class LoggedSteps(TrainerCallback):
    """A logged step has synchronised with the device (the loss is read back), so its time is real."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, float]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.steps.append((state.global_step, time.monotonic()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    with open(parser.parse_args().spec, encoding="utf-8") as f:
        spec = json.load(f)
    model_config, train = spec["config"]["model"], spec["config"]["train"]
    tokenizer = AutoTokenizer.from_pretrained(model_config["nameOrPath"])
    model = AutoModelForSeq2SeqLM.from_pretrained(model_config["nameOrPath"])
    table = pq.read_table(spec["trainPath"], columns=["text", "summary"]).to_pydict()
    sources = tokenizer(
        [model_config["sourcePrefix"] + t for t in table["text"]], max_length=model_config["maxSourceLength"], truncation=True
    )
    targets = tokenizer(text_target=table["summary"], max_length=model_config["maxTargetLength"], truncation=True)
    dataset = [
        {"input_ids": i, "attention_mask": m, "labels": l}
        for i, m, l in zip(sources["input_ids"], sources["attention_mask"], targets["input_ids"])
    ]
    logged = LoggedSteps()
    trainer = Seq2SeqTrainer(
        model=model,
        args=Seq2SeqTrainingArguments(
            output_dir=spec["outputDir"],
            max_steps=train["maxSteps"],
            per_device_train_batch_size=train["perDeviceTrainBatchSize"],
            learning_rate=train["learningRate"],
            optim=train["optim"],
            bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
            save_strategy="no",
            logging_steps=train["loggingSteps"],
            seed=train["seed"],
            report_to="none",
            disable_tqdm=True,
        ),
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[logged],
    )
    output = trainer.train()
    print(json.dumps({"loggedSteps": logged.steps, "trainLoss": output.training_loss}))


if __name__ == "__main__":
    main()
