"""summarize: one non-empty summary per product with >= minReviews reviews, one per review."""

import csv

import mlflow
import pyarrow.parquet as pq

from conftest import MIN_REVIEWS, REVIEWS_PER_PRODUCT, run_step


def test_summarize_step(trained, dataset, mlflow_uri, tmp_path):
    train_spec, train_run = trained
    spec = {
        "pipelineId": train_spec["pipelineId"],
        "config": train_spec["config"],
        "modelDir": train_run.result()["modelDir"],
        "cleanedPath": dataset["cleaned"],
        "modelName": "tuneflow-review-headlines",
        "modelVersion": "3",
        "mlflowRunId": train_spec["mlflowRunId"],
        "outputDir": str(tmp_path / "out"),
    }
    run = run_step("summarize", spec, tmp_path)
    result = run.result()

    eligible = {p: n for p, n in REVIEWS_PER_PRODUCT.items() if n >= MIN_REVIEWS}
    products = pq.read_table(result["products"]["parquet"]).to_pylist()
    assert result["products"]["rows"] == len(products) == len(eligible)
    assert {p["product_id"]: p["n_reviews"] for p in products} == eligible  # none under minReviews
    assert all(p["summary"].strip() for p in products)
    settings = spec["config"]["summarize"]
    stamp_columns = ["model_name", "model_version", "num_beams", "min_new_tokens", "max_new_tokens"]
    stamps = {tuple(p[c] for c in stamp_columns) for p in products}
    assert stamps == {
        ("tuneflow-review-headlines", "3", settings["numBeams"], settings["minNewTokens"], settings["maxNewTokens"])
    }
    with open(result["products"]["csv"], newline="") as f:
        assert list(csv.DictReader(f))[0].keys() == products[0].keys()

    cleaned = pq.read_table(dataset["cleaned"]).to_pydict()
    reviews = pq.read_table(result["reviews"]["parquet"]).to_pydict()
    assert result["reviews"]["rows"] == len(cleaned["review_id"])
    assert reviews["review_id"] == cleaned["review_id"] and reviews["product_id"] == cleaned["product_id"]
    assert set(reviews) == {"review_id", "product_id", "summary", "model_name", "model_version"}

    total = len(eligible) + len(cleaned["review_id"])
    assert run.of_kind("progress")[-1]["step"] == total and result["summariesPerSec"] > 0
    metrics = mlflow.MlflowClient(mlflow_uri).get_run(spec["mlflowRunId"]).data.metrics
    assert metrics["summarize_products"] == len(eligible) and metrics["summarize_reviews"] == len(cleaned["review_id"])
