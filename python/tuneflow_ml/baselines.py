"""The baselines every evaluation scores beside the model, on the same rows with the same scorer,
so a ROUGE figure says whether the model learned more than the easiest answer:

- lead-N: the first N words of the review, N the mean headline length in words on the training
  split (rounded half up, at least 1);
- common: the training split's most common headline, given for every review;
- zero-shot: the base model (model.nameOrPath) without fine-tuning, as the seed's "t5-small, no
  fine-tuning" row; skipped, with the reason, when evaluate.zeroShot is false or the base model has
  random weights (the folder holds tiny_model's marker file), which would only score noise.
"""

import math
import os
from collections import Counter

from .tiny_model import RANDOM_WEIGHTS_MARKER


def lead_words(train_summaries: list[str]) -> int:
    """N of lead-N: the mean training headline length in words, rounded half up, at least 1."""
    lengths = [len(summary.split()) for summary in train_summaries]
    return max(1, math.floor(sum(lengths) / len(lengths) + 0.5))


def lead(texts: list[str], n: int) -> list[str]:
    return [" ".join(text.split()[:n]) for text in texts]


def most_common(train_summaries: list[str]) -> str:
    """The most frequent headline, exactly as written; of equally frequent ones, the first seen."""
    return Counter(train_summaries).most_common(1)[0][0]


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
