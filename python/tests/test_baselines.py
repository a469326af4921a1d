"""baselines: lead-N's N chosen on the training split, the most common headline counted case-folded,
the strongest baseline, and the degenerate-output figures (prediction_spread)."""

import random

import pytest

from tuneflow_ml import baselines
from tuneflow_ml.baselines import LEAD_SAMPLE_ROWS, MAX_LEAD_WORDS, best, choose_lead_words, lead, lead_rouge_l, most_common
from tuneflow_ml.evaluate import rouge
from tuneflow_ml.prediction_spread import prediction_spread

WORDS = ["lens", "battery", "zoom", "strap", "tripod", "flash", "screen", "charger", "sharp", "cheap", "solid", "light"]


def headline_in_the_lead(rng: random.Random, n: int) -> tuple[str, str]:
    """A review whose first n words are its headline, then words the headline does not hold."""
    head = rng.sample(WORDS, n)
    tail = [f"filler{rng.randrange(1000)}" for _ in range(rng.randint(5, 30))]
    return " ".join(head + tail), " ".join(head)


def test_lead_n_is_the_n_that_scores_best_on_the_training_split():
    rng = random.Random(1)
    rows = [headline_in_the_lead(rng, 5) for _ in range(60)]
    chosen = choose_lead_words([text for text, _ in rows], [summary for _, summary in rows])
    assert chosen == {"words": 5, "chosenOn": {"trainRows": 60, "maxWords": MAX_LEAD_WORDS, "trainRougeL": pytest.approx(1.0)}}

    # Headlines of 2 to 4 words: no N matches every row, and the best is the one evaluate's scorer prefers.
    rows = [headline_in_the_lead(rng, rng.choice([2, 3, 3, 4])) for _ in range(60)]
    texts, summaries = [text for text, _ in rows], [summary for _, summary in rows]
    by_n = {n: rouge(lead(texts, n), summaries)["rougeL"] for n in range(1, MAX_LEAD_WORDS + 1)}
    chosen = choose_lead_words(texts, summaries)
    assert chosen["words"] == max(by_n, key=lambda n: (by_n[n], -n)) == 3
    assert chosen["chosenOn"]["trainRougeL"] == pytest.approx(by_n[3])


def test_of_equal_scores_the_shortest_lead_wins():
    # Three-word reviews that are their headline: lead-3 and every longer lead score 1.
    texts = ["sharp lens here", "cheap strap there", "solid zoom now"]
    assert choose_lead_words(texts, texts)["words"] == 3


def test_lead_rouge_l_scores_as_evaluate_does():
    """The one-pass LCS gives exactly evaluate.rouge's ROUGE-L of lead(texts, N), for every N:
    punctuation, stemming, case, empty reviews and headlines included."""
    rng = random.Random(7)
    vocabulary = ["The", "lens's", "sharp,", "battery-life", "LASTS", "running!", "batteries.", "zoom", "fast...", "a", "it"]
    texts = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 50))) for _ in range(80)] + ["", "!!! ..."]
    summaries = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 6))) for _ in range(80)] + ["lens", "..."]
    scores = lead_rouge_l(texts, summaries, MAX_LEAD_WORDS)
    for n in range(1, MAX_LEAD_WORDS + 1):
        assert scores[n - 1] == pytest.approx(rouge(lead(texts, n), summaries)["rougeL"], abs=1e-12)


def test_lead_n_is_chosen_on_a_seeded_sample_of_a_large_split():
    rng = random.Random(3)
    rows = [headline_in_the_lead(rng, 4) for _ in range(LEAD_SAMPLE_ROWS + 500)]
    texts, summaries = [text for text, _ in rows], [summary for _, summary in rows]
    chosen = choose_lead_words(texts, summaries)
    assert chosen["words"] == 4 and chosen["chosenOn"]["trainRows"] == LEAD_SAMPLE_ROWS
    assert choose_lead_words(texts, summaries) == chosen


def test_most_common_headline_counts_case_folded():
    # "Great lens" is the most frequent spelling; "five stars" in any case is the most frequent headline.
    headlines = ["Great lens", "Great lens", "five stars", "Five Stars", "FIVE STARS", "Five Stars", "Poor strap"]
    assert most_common(headlines) == "Five Stars"
    # Of equally frequent spellings of the winner, the first seen; of equally frequent headlines, the first seen.
    assert most_common(["Great lens", "five stars", "Five Stars", "Great Lens"]) == "Great lens"
    assert most_common(["b", "a"]) == "b"


def rouge_of(rouge_l: float) -> dict[str, float]:
    return {"rouge1": rouge_l, "rouge2": rouge_l, "rougeL": rouge_l, "rougeLsum": rouge_l}


def test_best_is_the_strongest_scored_baseline():
    scored = {
        "lead": {"words": 3, "rouge": rouge_of(0.075)},
        "common": {"headline": "Five Stars", "rouge": rouge_of(0.1575)},
        "zeroShot": {"model": "tiny-t5", "rouge": None, "skipped": "random weights"},
    }
    assert best(scored) == {"name": "common", "rougeL": 0.1575}
    assert best(scored | {"zeroShot": {"model": "t5-small", "rouge": rouge_of(0.2), "skipped": None}}) == {"name": "zeroShot", "rougeL": 0.2}
    # Equal scores: the cheapest answer, in BASELINE_NAMES order.
    assert best(scored | {"lead": {"words": 3, "rouge": rouge_of(0.1575)}})["name"] == "lead"
    assert baselines.BASELINE_NAMES == ("lead", "common", "zeroShot")


def test_degenerate_output_is_named():
    predictions = ["Five Stars"] * 81 + [f"headline {i}" for i in range(19)]
    assert prediction_spread(predictions) == {
        "distinctShare": pytest.approx(0.2),
        "mostCommon": "Five Stars",
        "mostCommonShare": pytest.approx(0.81),
        "degenerate": "the model writes 'Five Stars' for 81% of reviews",
    }
    # Half is not most: no sentence.
    half = prediction_spread(["Five Stars"] * 2 + ["Sharp lens", "Poor strap"])
    assert half["mostCommonShare"] == 0.5 and half["degenerate"] is None
    varied = prediction_spread(["Sharp lens", "Poor strap", "Fast zoom", "Sharp lens"])
    assert varied == {"distinctShare": 0.75, "mostCommon": "Sharp lens", "mostCommonShare": 0.5, "degenerate": None}
