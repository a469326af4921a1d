"""Scores the trained model on the validation split with ROUGE.

    python -m tuneflow_ml.evaluate --spec spec.json     (spec: EvaluateSpec in lib/steps/)

Writes <outputDir>/rouge.json and samples.parquet (text, reference, prediction), logs the scores
to the run's MLflow metrics, and returns EvaluateResult. When the spec names a champion (the
registered version holding the `champion` alias), it is loaded through MLflow and scored on the
same rows with the same generation settings, so the champion gate compares like with like; its
scores go to the run as champion_eval_* metrics and its predictions to samples.parquet.
The baselines (baselines.py) are scored on the same rows: in rouge.json and the result under
"baselines", on the run as baseline_<lead|common|zeroshot>_<rouge key> metrics, the strongest as
baseline_best_rougeL. How varied the model's summaries are (prediction_spread.py) goes to the result
and rouge.json under "predictions" and to the run as eval_distinct_share and eval_most_common_share.
"""

import math
import os
import re
import time

import mlflow
from rouge_score import rouge_scorer

from . import baselines, events
from .data import read_columns, write_json, write_table
from .generation import controls, generate, load_model
from .prediction_spread import prediction_spread
from .spec import load_spec
from .spec_types import EvaluateSpec
from .tracking import log_metrics, set_tag

ROUGE_KEYS = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
# On the run when the zero-shot baseline was not scored: its value says why.
ZERO_SHOT_SKIPPED_TAG = "tuneflow.zero_shot_skipped"

# rougeLsum scores sentence by sentence, one per line. nltk's punkt data cannot be downloaded
# everywhere, so sentences end at ".", "!" or "?" followed by whitespace (as in clean's split).
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def one_sentence_per_line(text: str) -> str:
    return "\n".join(SENTENCE_END.split(text.strip()))


def rouge_per_row(predictions: list[str], references: list[str]) -> dict[str, list[float]]:
    """F1 of each ROUGE variant for each row, as fractions in [0, 1]."""
    scorer = rouge_scorer.RougeScorer(ROUGE_KEYS, use_stemmer=True)
    rows: dict[str, list[float]] = {key: [] for key in ROUGE_KEYS}
    for prediction, reference in zip(predictions, references, strict=True):
        scores = scorer.score(one_sentence_per_line(reference), one_sentence_per_line(prediction))
        for key in ROUGE_KEYS:
            rows[key].append(scores[key].fmeasure)
    return rows


def rouge(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Mean F1 of each ROUGE variant, as fractions in [0, 1]."""
    return {key: sum(values) / len(values) for key, values in rouge_per_row(predictions, references).items()}


def standard_error(values: list[float]) -> float:
    """The standard error of the mean of `values` (sample standard deviation / sqrt(n)): how far a
    mean over these rows may lie from the mean over every row like them."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def load_champion(tracking_uri: str, model_uri: str):
    """Tokenizer and model of a registered version: the pyfunc model train logged
    (pyfunc_model.T5Summarizer) loads its HF model directory in load_context."""
    mlflow.set_tracking_uri(tracking_uri)
    summarizer = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    return summarizer.tokenizer, summarizer.model


def baseline_metrics(baselines: dict) -> dict[str, float]:
    """The baselines as MLflow metrics: baseline_lead_rougeL, baseline_common_rouge1, ..."""
    metrics = {"baseline_lead_words": baselines["lead"]["words"], "baseline_best_rougeL": baselines["best"]["rougeL"]}
    for name, key in (("lead", "lead"), ("common", "common"), ("zeroShot", "zeroshot")):
        scores = baselines[name]["rouge"]
        if scores is not None:
            metrics |= {f"baseline_{key}_{rouge_key}": value for rouge_key, value in scores.items()}
    return metrics


def main() -> dict:
    spec: EvaluateSpec = load_spec(EvaluateSpec)
    config, settings = spec["config"], spec["config"]["evaluate"]
    output_dir = spec["outputDir"]
    os.makedirs(output_dir, exist_ok=True)

    validation = read_columns(spec["validationPath"], ["text", "summary"])
    texts, references = validation["text"], validation["summary"]
    if settings["maxSamples"] is not None:
        texts, references = texts[: settings["maxSamples"]], references[: settings["maxSamples"]]
    train = read_columns(spec["trainPath"], ["text", "summary"])

    champion = spec["champion"]
    base_model = config["model"]["nameOrPath"]
    zero_shot_skipped = baselines.zero_shot_skipped(base_model, settings["zeroShot"])
    # Progress counts the examples of every model scored, so the ETA covers each pass.
    total = len(texts) * (1 + bool(champion) + (zero_shot_skipped is None))
    started, done = time.monotonic(), 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        events.progress("examples", done, total, samples_per_sec=done / (time.monotonic() - started))

    def predict(tokenizer, model) -> list[str]:
        return generate(
            tokenizer,
            model,
            texts,
            prefix=config["model"]["sourcePrefix"],
            max_source_length=config["model"]["maxSourceLength"],
            batch_size=settings["batchSize"],
            num_beams=settings["numBeams"],
            max_new_tokens=settings["maxNewTokens"],
            **controls(config),
            on_batch=on_batch,
        )

    predictions = predict(*load_model(spec["modelDir"]))
    scores = rouge(predictions, references)
    samples = {"text": texts, "reference": references, "prediction": predictions}
    spread = prediction_spread(predictions)
    metrics = {f"eval_{key}": value for key, value in scores.items()} | {
        "eval_examples": len(texts),
        "eval_distinct_share": spread["distinctShare"],
        "eval_most_common_share": spread["mostCommonShare"],
    }
    if spread["degenerate"] is not None:
        events.log(spread["degenerate"])
    result = {"rouge": scores, "numExamples": len(texts), "predictions": spread, "champion": None}
    if champion:
        champion_predictions = predict(*load_champion(config["mlflow"]["trackingUri"], champion["modelUri"]))
        champion_scores = rouge(champion_predictions, references)
        samples["champion_prediction"] = champion_predictions
        metrics |= {f"champion_eval_{key}": value for key, value in champion_scores.items()}
        result["champion"] = {"version": champion["version"], "rouge": champion_scores}

    # The baselines: the same rows, the same scorer.
    lead = baselines.choose_lead_words(train["text"], train["summary"])
    headline = baselines.most_common(train["summary"])
    zero_shot = {"model": base_model, "rouge": None, "skipped": zero_shot_skipped}
    if zero_shot_skipped is None:
        samples["zero_shot_prediction"] = predict(*load_model(base_model, hub_name=True))
        zero_shot["rouge"] = rouge(samples["zero_shot_prediction"], references)
    else:
        events.log(f"zero-shot baseline not scored: {zero_shot_skipped}")
    scored = {
        "lead": lead | {"rouge": rouge(baselines.lead(texts, lead["words"]), references)},
        "common": {"headline": headline, "rouge": rouge([headline] * len(texts), references)},
        "zeroShot": zero_shot,
    }
    result["baselines"] = scored | {"best": baselines.best(scored)}
    metrics |= baseline_metrics(result["baselines"])

    samples_path = os.path.join(output_dir, "samples.parquet")
    write_table(samples, samples_path)
    write_json(os.path.join(output_dir, "rouge.json"), {**scores, "numExamples": len(texts), "predictions": spread, "baselines": result["baselines"]})
    log_metrics(config["mlflow"]["trackingUri"], spec["mlflowRunId"], metrics)
    if zero_shot_skipped is not None:
        set_tag(config["mlflow"]["trackingUri"], spec["mlflowRunId"], ZERO_SHOT_SKIPPED_TAG, zero_shot_skipped)
    events.metrics(metrics)
    return result | {"samplesPath": samples_path}


if __name__ == "__main__":
    events.run_step(main, "evaluate")
