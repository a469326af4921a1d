"""The tiny model loads like a hub model, with T5's special ids, is built once, and is the same
model from the same data every time."""

import gzip
import os
import subprocess
import sys
import time

from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from conftest import PYTHON_DIR
from tuneflow_ml.tiny_model import read_texts


def test_loads_with_auto_classes(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_model)
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.decoder_start_token_id == 0
    ids = tokenizer("summarize: The lens is sharp.")["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id  # T5 appends </s>
    assert tokenizer.unk_token_id not in ids  # ":" and "." are in the alphabet
    assert tokenizer.decode(ids, skip_special_tokens=True) == "summarize: The lens is sharp."


def test_second_build_is_skipped(tiny_model, dataset):
    weights = os.path.join(tiny_model, "model.safetensors")
    before = os.stat(weights).st_mtime_ns
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tuneflow_ml.tiny_model", "--data", dataset["cleaned"], "--out", tiny_model],
        cwd=PYTHON_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "already holds a complete model" in done.stdout
    assert time.monotonic() - started < 5  # no torch import, no training
    assert os.stat(weights).st_mtime_ns == before


def test_same_data_builds_the_same_model(tiny_model, dataset, tmp_path):
    # Another process: the tokenizer trainer's hash maps are seeded afresh (run-to-run differences
    # once made a test that depends on where summaries end pass here and fail in CI).
    again = tmp_path / "tiny-t5"
    subprocess.run(
        [sys.executable, "-m", "tuneflow_ml.tiny_model", "--data", dataset["cleaned"], "--out", str(again)],
        cwd=PYTHON_DIR,
        capture_output=True,
        check=True,
        env=os.environ | {"PYTHONHASHSEED": "1"},
    )
    for name in ("tokenizer.json", "model.safetensors", "config.json"):
        assert (again / name).read_bytes() == open(os.path.join(tiny_model, name), "rb").read(), name


def test_reads_amazon_tsv_and_skips_broken_rows(tmp_path):
    header = "marketplace\tproduct_id\treview_headline\treview_body"
    lines = [header, "US\tP1\tNice lens\tThe lens is sharp.", "US\tbroken row", 'US\tP2\t"Quoted\tBattery died.']
    path = tmp_path / "reviews.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    assert read_texts(str(path)) == ["The lens is sharp.", "Nice lens", "Battery died.", '"Quoted']
