"""The baselines every evaluation scores beside the model, on the same rows with the same scorer,
so a ROUGE figure says whether the model learned more than the easiest answer:

- lead-N: the first N words of the review, N the one whose lead-N scores best in ROUGE-L against
  the training headlines (N from 1 to MAX_LEAD_WORDS, on a seeded sample of training rows);
- common: the training split's most common headline, counted case-folded, given for every review;
- zero-shot: the base model (model.nameOrPath) without fine-tuning, as the seed's "t5-small, no
  fine-tuning" row; skipped, with the reason, when evaluate.zeroShot is false or the base model has
  random weights (the folder holds tiny_model's marker file), which would only score noise;
- best: the strongest of those scored, register.mustBeat's default floor.
"""

import os
import random
from collections import Counter

from rouge_score import scoring, tokenizers

from .tiny_model import RANDOM_WEIGHTS_MARKER

# lead-N's candidates are N = 1..MAX_LEAD_WORDS: past 40 words a "headline" is a paragraph.
MAX_LEAD_WORDS = 40
# N is chosen on at most this many training rows, drawn with LEAD_SAMPLE_SEED: a second on a
# 100k-row split, and the same split always gives the same N.
LEAD_SAMPLE_ROWS = 1000
LEAD_SAMPLE_SEED = 42
# The order `best` prefers among equal scores: the cheapest answer first.
BASELINE_NAMES = ("lead", "common", "zeroShot")


def lead(texts: list[str], n: int) -> list[str]:
    return [" ".join(text.split()[:n]) for text in texts]


def lead_rouge_l(texts: list[str], references: list[str], max_words: int) -> list[float]:
    """Mean ROUGE-L F1 of lead-N against `references` for N = 1..max_words (item N - 1), exactly as
    evaluate.rouge scores lead(texts, N): rouge_score's tokenizer with the Porter stemmer, F1 of the
    longest common subsequence. In one pass rather than max_words scorings: the tokens of a review's
    first N words are its first words' tokens, so one LCS table per row gives every N."""
    tokenizer = tokenizers.DefaultTokenizer(use_stemmer=True)
    totals = [0.0] * max_words
    for text, reference in zip(texts, references, strict=True):
        target = tokenizer.tokenize(reference)
        words = [tokenizer.tokenize(word) for word in text.split()[:max_words]]
        prediction = [token for tokens in words for token in tokens]
        lcs = prefix_lcs(target, prediction)
        length = 0
        for n in range(max_words):
            length += len(words[n]) if n < len(words) else 0
            if target and length:
                totals[n] += scoring.fmeasure(lcs[length] / length, lcs[length] / len(target))
    return [total / len(texts) for total in totals]


def prefix_lcs(target: list[str], prediction: list[str]) -> list[int]:
    """Item k: the length of the longest common subsequence of `target` and prediction[:k]."""
    column = [0] * (len(target) + 1)
    lengths = [0]
    for token in prediction:
        previous, column = column, [0]
        for i, target_token in enumerate(target, start=1):
            column.append(previous[i - 1] + 1 if target_token == token else max(previous[i], column[i - 1]))
        lengths.append(column[-1])
    return lengths


def choose_lead_words(train_texts: list[str], train_summaries: list[str]) -> dict:
    """N of lead-N: the one whose lead-N scores best in ROUGE-L against the training headlines, on
    a seeded sample of at most LEAD_SAMPLE_ROWS training rows (of equal scores, the smallest N).
    Returns the contract's `lead` fields but `rouge`: the N and how it was chosen."""
    rows = list(range(len(train_texts)))
    if len(rows) > LEAD_SAMPLE_ROWS:
        rows = sorted(random.Random(LEAD_SAMPLE_SEED).sample(rows, LEAD_SAMPLE_ROWS))
    scores = lead_rouge_l([train_texts[i] for i in rows], [train_summaries[i] for i in rows], MAX_LEAD_WORDS)
    best = max(range(MAX_LEAD_WORDS), key=lambda n: (scores[n], -n))
    return {"words": best + 1, "chosenOn": {"trainRows": len(rows), "maxWords": MAX_LEAD_WORDS, "trainRougeL": scores[best]}}


def most_common(train_summaries: list[str]) -> str:
    """The most frequent training headline, counted case-folded ("Five Stars" and "five stars" are
    one headline), in its most frequent spelling; of equally frequent ones, the first seen."""
    # Counter.most_common keeps first-seen order among equal counts.
    winner = Counter(summary.casefold() for summary in train_summaries).most_common(1)[0][0]
    return Counter(summary for summary in train_summaries if summary.casefold() == winner).most_common(1)[0][0]


def best(baselines: dict) -> dict:
    """The strongest scored baseline by ROUGE-L (zero-shot only when it was scored): its name and score."""
    scored = [(name, baselines[name]["rouge"]["rougeL"]) for name in BASELINE_NAMES if baselines[name]["rouge"] is not None]
    name, rouge_l = max(scored, key=lambda item: item[1])  # max keeps the first of equal scores
    return {"name": name, "rougeL": rouge_l}


def zero_shot_skipped(name_or_path: str, enabled: bool) -> str | None:
    """Why the base model is not scored zero-shot, or None when it is."""
    if not enabled:
        return "evaluate.zeroShot is false"
    if os.path.isfile(os.path.join(name_or_path, RANDOM_WEIGHTS_MARKER)):
        return (
            f"{name_or_path} has random weights (built by tuneflow_ml.tiny_model, marked by {RANDOM_WEIGHTS_MARKER}): "
            "without fine-tuning it writes noise"
        )
    return None
