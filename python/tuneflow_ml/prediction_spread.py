"""How varied a model's summaries are. A model that learned one safe answer ("Five Stars") can score
as well as that answer given for every review; these figures name it, where ROUGE alone hides it."""

from collections import Counter

# Past this share of the rows written as one string, the result says so in words.
DEGENERATE_SHARE = 0.5


def prediction_spread(predictions: list[str]) -> dict:
    """EvaluateResult's `predictions`: the share of distinct summaries, the most common one (exactly
    as written; of equally frequent ones, the first) and its share, and a sentence when more than
    half the summaries are that one string."""
    summary, count = Counter(predictions).most_common(1)[0]
    share = count / len(predictions)
    return {
        "distinctShare": len(set(predictions)) / len(predictions),
        "mostCommon": summary,
        "mostCommonShare": share,
        "degenerate": f"the model writes {summary!r} for {share:.0%} of reviews" if share > DEGENERATE_SHARE else None,
    }
