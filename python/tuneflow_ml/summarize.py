"""Summarizes the reviews of each product (and, optionally, each review) with the trained model.

    python -m tuneflow_ml.summarize --spec spec.json     (spec: SummarizeSpec in lib/steps.ts)

As in the seed: a product with at least summarize.minReviews reviews gets one summary of its
reviews joined with " " in file order (collect_list + concat_ws), generated with min_new_tokens so
it is longer than a headline. Writes product_summaries.parquet/.csv (and review_summaries.*).
"""

import os
import time

import pyarrow as pa

from . import events
from .data import read_columns, write_table
from .generation import generate, load_model
from .spec import load_spec
from .tracking import log_metrics

MODEL_COLUMNS = [("model_name", pa.string()), ("model_version", pa.string())]
PRODUCT_SCHEMA = pa.schema(
    [("product_id", pa.string()), ("n_reviews", pa.int64()), ("summary", pa.string()), *MODEL_COLUMNS]
    + [("num_beams", pa.int64()), ("min_new_tokens", pa.int64()), ("max_new_tokens", pa.int64())]
)
REVIEW_SCHEMA = pa.schema(
    [("review_id", pa.string()), ("product_id", pa.string()), ("summary", pa.string()), *MODEL_COLUMNS]
)


def product_documents(
    product_ids: list[str], texts: list[str], min_reviews: int
) -> tuple[list[str], list[int], list[str]]:
    """(product ids, review counts, joined reviews) of the products with >= min_reviews reviews,
    in order of first appearance. Reviews without a product id (a CSV input may have none) belong
    to no product."""
    reviews: dict[str, list[str]] = {}
    for product_id, text in zip(product_ids, texts, strict=True):
        if product_id:
            reviews.setdefault(product_id, []).append(text)
    eligible = [p for p, texts_of_p in reviews.items() if len(texts_of_p) >= min_reviews]
    return eligible, [len(reviews[p]) for p in eligible], [" ".join(reviews[p]) for p in eligible]


def main() -> dict:
    spec = load_spec()
    config, settings = spec["config"], spec["config"]["summarize"]
    output_dir = spec["outputDir"]
    os.makedirs(output_dir, exist_ok=True)
    cleaned_path = spec["cleanedPath"]
    cleaned = read_columns(cleaned_path, ["review_id", "product_id", "text", "summary"])

    products, counts, documents = product_documents(cleaned["product_id"], cleaned["text"], settings["minReviews"])
    if not products:
        # Not an error: a small sample may have no such product; the files then hold no rows.
        events.log(
            f"no product in {cleaned_path} has summarize.minReviews={settings['minReviews']} reviews or more; "
            "lower summarize.minReviews or use more data (data.sampleFraction) to get product summaries",
            level="warning",
        )
    reviews = cleaned["text"] if settings["perReview"] else []
    total = len(documents) + len(reviews)

    tokenizer, model = load_model(spec["modelDir"])
    started, done = time.monotonic(), 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        events.progress("examples", done, total, samples_per_sec=done / (time.monotonic() - started))

    common = dict(
        prefix=config["model"]["sourcePrefix"],
        max_source_length=config["model"]["maxSourceLength"],
        batch_size=settings["batchSize"],
        num_beams=settings["numBeams"],
        max_new_tokens=settings["maxNewTokens"],
        on_batch=on_batch,
    )
    product_summaries = generate(tokenizer, model, documents, min_new_tokens=settings["minNewTokens"], **common)
    empty = [p for p, s in zip(products, product_summaries) if not s]
    if empty:
        raise events.StepError(
            "Internal",
            f"model {spec['modelDir']} gave an empty summary for {len(empty)} product(s) of {cleaned_path} "
            f"(first: {empty[0]}); raise summarize.minNewTokens or train longer (check evaluate's ROUGE)",
            retryable=False,  # generation is deterministic: the same model gives the same output
        )

    # A review summary is a headline: no minimum length.
    review_summaries = generate(tokenizer, model, reviews, **common)
    summaries_per_sec = total / (time.monotonic() - started)

    model_columns = {"model_name": spec["modelName"], "model_version": spec["modelVersion"]}
    product_paths = [os.path.join(output_dir, f"product_summaries.{ext}") for ext in ("parquet", "csv")]
    n = len(products)
    write_table(
        {
            "product_id": products,
            "n_reviews": counts,
            "summary": product_summaries,
            **{name: [value] * n for name, value in model_columns.items()},
            "num_beams": [settings["numBeams"]] * n,
            "min_new_tokens": [settings["minNewTokens"]] * n,
            "max_new_tokens": [settings["maxNewTokens"]] * n,
        },
        *product_paths,
        schema=PRODUCT_SCHEMA,
    )
    review_files = None
    if settings["perReview"]:
        review_paths = [os.path.join(output_dir, f"review_summaries.{ext}") for ext in ("parquet", "csv")]
        n = len(reviews)
        write_table(
            {
                "review_id": cleaned["review_id"],
                "product_id": cleaned["product_id"],
                "summary": review_summaries,
                **{name: [value] * n for name, value in model_columns.items()},
            },
            *review_paths,
            schema=REVIEW_SCHEMA,
        )
        empty_reviews = sum(1 for s in review_summaries if not s)
        if empty_reviews:
            events.log(f"{empty_reviews} of {n} review summaries are empty", level="warning")
        review_files = {"parquet": review_paths[0], "csv": review_paths[1], "rows": n}

    metrics = {
        "summarize_per_sec": summaries_per_sec,
        "summarize_products": len(products),
        "summarize_reviews": len(reviews),
    }
    log_metrics(config["mlflow"]["trackingUri"], spec["mlflowRunId"], metrics)
    events.metrics(metrics)
    return {
        "products": {"parquet": product_paths[0], "csv": product_paths[1], "rows": len(products)},
        "reviews": review_files,
        "summariesPerSec": summaries_per_sec,
    }


if __name__ == "__main__":
    events.run_step(main, "summarize")
