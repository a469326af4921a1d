"""The baseline of bench/train: a plain Seq2SeqTrainer script, as a person would write it from the
Hugging Face summarization example, with the same arguments as tuneflow's train step (random
batches, dynamic padding) and nothing else: no orchestration, no events, no MLflow.

    python bench/train/plain_trainer.py --model DIR --train train.parquet --out DIR --batch 16 --epochs 1
Prints one JSON line: samplesPerSec, trainLoss, runtimeSec.
"""

import argparse
import json

import pyarrow.parquet as pq
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
)

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--train", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--batch", type=int, required=True)
parser.add_argument("--epochs", type=float, required=True)
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--max-source", type=int, required=True)
parser.add_argument("--max-target", type=int, required=True)
parser.add_argument("--save-steps", type=int, required=True)
parser.add_argument("--seed", type=int, default=42)
args = parser.parse_args()

tokenizer = AutoTokenizer.from_pretrained(args.model)
model = AutoModelForSeq2SeqLM.from_pretrained(args.model)
table = pq.read_table(args.train, columns=["text", "summary"]).to_pydict()
sources = tokenizer(["summarize: " + t for t in table["text"]], max_length=args.max_source, truncation=True)
targets = tokenizer(text_target=table["summary"], max_length=args.max_target, truncation=True)
dataset = [
    {"input_ids": i, "attention_mask": m, "labels": l}
    for i, m, l in zip(sources["input_ids"], sources["attention_mask"], targets["input_ids"])
]

training_args = Seq2SeqTrainingArguments(
    output_dir=args.out,
    num_train_epochs=args.epochs,
    per_device_train_batch_size=args.batch,
    learning_rate=args.lr,
    optim="adafactor",
    save_strategy="steps",
    save_steps=args.save_steps,
    save_total_limit=2,
    logging_steps=5,
    seed=args.seed,
    report_to="none",
    disable_tqdm=True,
)
trainer = Seq2SeqTrainer(
    model=model,
    args=training_args,
    data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
    train_dataset=dataset,
    processing_class=tokenizer,
)
output = trainer.train()
print(json.dumps({
    "samplesPerSec": output.metrics["train_samples_per_second"],
    "trainLoss": output.training_loss,
    "runtimeSec": output.metrics["train_runtime"],
}))
