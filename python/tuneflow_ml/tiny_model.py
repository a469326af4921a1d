"""Builds a tiny T5 (random weights, tokenizer trained on the data) that loads like a hub model.

    python -m tuneflow_ml.tiny_model --data data/demo/camera_reviews.tsv.gz --out state/models/tiny-t5

The demo, the tests and CI train this instead of t5-small: no model hub, seconds on a CPU.
"""

import argparse
import csv
import gzip
import json
import os
import shutil
import string
import sys
import tempfile
import time

# Enough text to learn a ~2,000 piece vocabulary in seconds.
MAX_TEXTS = 20_000
# Written into the model folder: its weights are random, so evaluate scores no zero-shot baseline
# with it (baselines.py). A folder copy keeps it; a model trained from it is saved without it.
RANDOM_WEIGHTS_MARKER = "tuneflow-random-weights.json"
INITIAL_ALPHABET = [c for c in string.printable if not c.isspace()]
# The Unigram trainer adds each character it pruned back at the lowest score, then this much lower.
ADDED_CHARACTER_STEP = 0.0001


def read_texts(path: str) -> list[str]:
    """Review bodies and headlines from an Amazon-format TSV, a text,summary CSV or parquet."""
    name = path.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=["text", "summary"])
        rows = zip(table.column("text").to_pylist(), table.column("summary").to_pylist())
    elif name.endswith((".tsv", ".tsv.gz")):
        rows = _read_amazon_tsv(path)
    elif name.endswith(".csv"):
        with open(path, encoding="utf-8", newline="") as f:
            rows = [(r.get("text"), r.get("summary")) for r in csv.DictReader(f)]
    else:
        raise SystemExit(f"tiny_model: {path}: expected a .tsv, .tsv.gz, .csv or .parquet file")
    texts: list[str] = []
    for pair in rows:
        texts.extend(t for t in pair if t)
        if len(texts) >= MAX_TEXTS:
            break
    if not texts:
        raise SystemExit(f"tiny_model: {path} holds no review text; check the file's header and format")
    return texts


def _read_amazon_tsv(path: str):
    # The Amazon Customer Reviews files are tab-separated without quoting; some rows are broken,
    # so rows with the wrong number of fields are skipped (clean quarantines them properly).
    csv.field_size_limit(2**31 - 1)
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, [])
        if "review_body" not in header or "review_headline" not in header:
            raise SystemExit(f"tiny_model: {path}: header lacks review_body/review_headline")
        body, headline = header.index("review_body"), header.index("review_headline")
        for row in reader:
            if len(row) == len(header):
                yield row[body], row[headline]


def is_complete(out: str) -> bool:
    files = set(os.listdir(out)) if os.path.isdir(out) else set()
    has_weights = bool(files & {"model.safetensors", "pytorch_model.bin"})
    return has_weights and {"config.json", "tokenizer.json", "tokenizer_config.json", RANDOM_WEIGHTS_MARKER} <= files


def train_tokenizer(texts: list[str], vocab_size: int):
    """A Unigram tokenizer with T5's pre-tokenization and special ids (pad 0, eos 1, unk 2)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import T5Tokenizer

    raw = Tokenizer(models.Unigram())
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "</s>", "<unk>"],
        unk_token="<unk>",
        # Every printable ASCII character stays known even if the sample lacks it (":" of "summarize:").
        initial_alphabet=INITIAL_ALPHABET,
        show_progress=False,
    )
    raw.train_from_iterator(texts, trainer=trainer)
    # T5Tokenizer builds T5's exact pipeline (normalization, Metaspace, "</s>" appended) from a
    # (piece, score) list; the trained list starts with the special tokens in the order given.
    pieces = [(piece, score) for piece, score in json.loads(raw.to_str())["model"]["vocab"]]
    return T5Tokenizer(vocab=pieces[:3] + canonical_pieces(pieces[3:]), extra_ids=0, model_max_length=512)


def canonical_pieces(trained: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The same pieces, ids and scores for the same texts, run after run.

    The trainer's hash maps make two things vary between processes: learned scores in their last
    bits, and which of the characters it adds back after pruning gets which of the lowest scores.
    Rounded, those characters given their scores in character order, and sorted by score then
    piece, the vocabulary no longer does."""
    scores = {piece: round(score, 6) for piece, score in trained}
    ceiling = min(scores.values()) + ADDED_CHARACTER_STEP * (len(INITIAL_ALPHABET) + 1)
    added = sorted(piece for piece, score in scores.items() if len(piece) == 1 and score <= ceiling)
    scores.update(zip(added, sorted((scores[piece] for piece in added), reverse=True)))
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def build(data: str, out: str, vocab_size: int) -> None:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = train_tokenizer(read_texts(data), vocab_size)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=64,
        d_ff=256,
        d_kv=16,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)  # same data, same weights
    model = T5ForConditionalGeneration(config)
    # Build next to the target and rename, so a killed build never looks complete.
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tiny-t5-", dir=parent)
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; a model directory is shared like any other
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    with open(os.path.join(tmp, RANDOM_WEIGHTS_MARKER), "w") as f:
        json.dump({"builtBy": "tuneflow_ml.tiny_model", "weights": "random (torch.manual_seed(0))"}, f)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.rename(tmp, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="reviews: .tsv/.tsv.gz (Amazon), .csv or .parquet (text,summary)")
    parser.add_argument("--out", required=True, help="model directory to write")
    parser.add_argument("--vocab-size", type=int, default=2000)
    parser.add_argument("--force", action="store_true", help="rebuild even if --out holds a complete model")
    args = parser.parse_args(argv)
    if is_complete(args.out) and not args.force:
        print(f"tiny_model: {args.out} already holds a complete model; pass --force to rebuild")
        return
    if not os.path.isfile(args.data):
        raise SystemExit(f"tiny_model: {args.data} does not exist; pass --data with a reviews file")
    started = time.monotonic()
    build(args.data, args.out, args.vocab_size)
    print(f"tiny_model: wrote {args.out} in {time.monotonic() - started:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
