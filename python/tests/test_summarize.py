"""summarize: one non-empty summary per product with >= minReviews reviews, one per review;
sharded, and a killed attempt's finished shards are not redone."""

import copy
import csv
import json
from collections import Counter
from pathlib import Path

import mlflow
import pyarrow.parquet as pq

from conftest import MIN_REVIEWS, REVIEWS_PER_PRODUCT, StepRun, new_run, run_step, small_config


def summarize_spec(tiny_model, dataset, mlflow_uri, output_dir: Path, **settings) -> dict:
    """The step needs a model, not a good one: the untrained tiny T5 (no training to wait for).
    Without its part: `part` adds it."""
    config = small_config(tiny_model, mlflow_uri)
    config["summarize"] |= settings
    return {
        "pipelineId": "test",
        "config": config,
        "modelDir": tiny_model,
        "cleanedPath": dataset["cleaned"],
        "modelName": "tuneflow-review-headlines",
        "modelVersion": "3",
        "mlflowRunId": new_run(mlflow_uri),
        "outputDir": str(output_dir),
    }


def part(spec: dict, name: str, **fields) -> dict:
    return {**spec, "part": {"part": name, **fields}}


def every_shard(plan: dict) -> list[dict]:
    return [{"kind": kind, "index": i} for kind in ("products", "reviews") for i in range(plan[kind]["shards"])]


def run_parts(spec: dict, workdir: Path) -> tuple[StepRun, dict]:
    """plan, then every shard in one process, then merge: the whole step. Returns the shards run
    and the merge's result."""
    plan = run_step("summarize", part(spec, "plan"), workdir / "plan").result()
    generation = run_step("summarize", part(spec, "shards", shards=every_shard(plan)), workdir / "shards")
    generation.result()
    return generation, run_step("summarize", part(spec, "merge"), workdir / "merge").result()


def test_summarize_step(tiny_model, dataset, mlflow_uri, tmp_path):
    spec = summarize_spec(tiny_model, dataset, mlflow_uri, tmp_path / "out")
    generation, result = run_parts(spec, tmp_path)

    eligible = {p: n for p, n in REVIEWS_PER_PRODUCT.items() if n >= MIN_REVIEWS}
    products = pq.read_table(result["products"]["parquet"]).to_pylist()
    assert result["products"]["rows"] == len(products) == len(eligible)
    assert {p["product_id"]: p["n_reviews"] for p in products} == eligible  # none under minReviews
    assert all(p["summary"].strip() for p in products)
    settings = spec["config"]["summarize"]
    stamp_columns = ["model_name", "model_version", "num_beams", "min_new_tokens", "max_new_tokens", "max_source_length"]
    stamps = {tuple(p[c] for c in stamp_columns) for p in products}
    source_length = spec["config"]["model"]["maxSourceLength"]
    assert stamps == {
        ("tuneflow-review-headlines", "3", settings["numBeams"], settings["minNewTokens"], settings["maxNewTokens"], source_length)
    }
    with open(result["products"]["csv"], newline="") as f:
        assert list(csv.DictReader(f))[0].keys() == products[0].keys()

    cleaned = pq.read_table(dataset["cleaned"]).to_pydict()
    reviews = pq.read_table(result["reviews"]["parquet"]).to_pydict()
    assert result["reviews"]["rows"] == len(cleaned["review_id"])
    assert reviews["review_id"] == cleaned["review_id"] and reviews["product_id"] == cleaned["product_id"]
    assert set(reviews) == {"review_id", "product_id", "summary", "model_name", "model_version", *stamp_columns[2:]}
    assert set(reviews["min_new_tokens"]) == {0}  # a review summary is a headline: no minimum length

    total = len(eligible) + len(cleaned["review_id"])
    assert generation.of_kind("progress")[-1]["step"] == total and result["summariesPerSec"] > 0
    assert generation.result()["generated"] == ["products-00000", "reviews-00000"]  # none reused
    # Every shard was finished before the merge: it reuses them all.
    assert result["shards"] == {"total": 2, "reused": 2, "dir": str(tmp_path / "out" / "shards")}
    latency = result["latencyMs"]
    assert latency["samples"] == settings["latencySamples"] and 0 < latency["p50"] <= latency["p95"]
    metrics = mlflow.MlflowClient(mlflow_uri).get_run(spec["mlflowRunId"]).data.metrics
    assert metrics["summarize_products"] == len(eligible) and metrics["summarize_reviews"] == len(cleaned["review_id"])
    assert metrics["summarize_per_sec"] == result["summariesPerSec"]
    assert metrics["summarize_latency_p95_ms"] == latency["p95"]


def manifests(shard_dir: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(shard_dir.glob("*.json"))}


def test_killed_run_resumes_without_redoing_finished_shards(tiny_model, dataset, mlflow_uri, tmp_path):
    # 5 eligible products in shards of 2: three shards.
    spec = summarize_spec(tiny_model, dataset, mlflow_uri, tmp_path / "out", shardSize=2, perReview=False, latencySamples=0)
    shard_dir = tmp_path / "out" / "shards"
    plan = run_step("summarize", part(spec, "plan"), tmp_path / "plan").result()
    shards_spec = part(spec, "shards", shards=every_shard(plan))

    killed = run_step("summarize", shards_spec, tmp_path / "first", stop_when=lambda e: e["event"] == "checkpoint")
    assert killed.returncode < 0 and not killed.of_kind("result")
    before = manifests(shard_dir)
    # The kill landed after the first shard and before the last.
    assert 1 <= len(before) < 3 and "products-00000.json" in before

    resumed = run_step("summarize", shards_spec, tmp_path / "second")
    generated = resumed.result()["generated"]
    assert len(resumed.result()["shards"]) == 3 and len(generated) == 3 - len(before)
    assert not {f"{name}.json" for name in generated} & set(before)
    result = run_step("summarize", part(spec, "merge"), tmp_path / "merge").result()
    assert result["shards"]["total"] == 3
    after = manifests(shard_dir)
    assert {name: after[name] for name in before} == before  # finished shards were not recomputed
    assert len(after) == 3
    assert len(resumed.of_kind("checkpoint")) == 3 - len(before)
    assert resumed.of_kind("progress")[0]["step"] == sum(json.loads(b)["rows"] for _, b in before.values())

    products = pq.read_table(result["products"]["parquet"]).to_pydict()
    eligible = {p for p, n in REVIEWS_PER_PRODUCT.items() if n >= MIN_REVIEWS}
    assert Counter(products["product_id"]) == Counter(eligible)  # each exactly once
    assert all(s.strip() for s in products["summary"])

    # Other generation parameters make other summaries: no shard is reused.
    changed = copy.deepcopy(spec)
    changed["config"]["summarize"]["maxNewTokens"] += 2
    rerun, _ = run_parts(changed, tmp_path / "third")
    assert rerun.result()["generated"] == rerun.result()["shards"]
    assert all(manifests(shard_dir)[name] != after[name] for name in after)


def test_parts_of_a_bulk_run(tiny_model, dataset, mlflow_uri, tmp_path):
    """plan, shards and merge, as workflows/bulk-summarize.ts runs them across workers."""
    spec = summarize_spec(tiny_model, dataset, mlflow_uri, tmp_path / "out", shardSize=2, perReview=False, latencySamples=0)

    plan = run_step("summarize", part(spec, "plan"), tmp_path / "plan").result()
    assert plan == {"products": {"shards": 3, "items": 5}, "reviews": {"shards": 0, "items": 0}}

    merge_early = run_step("summarize", part(spec, "merge"), tmp_path / "merge-early")
    [error] = merge_early.of_kind("error")
    assert not error["retryable"] and "3 shard(s) are not finished" in error["message"] and "products-00000" in error["message"]

    unknown = run_step("summarize", part(spec, "shards", shards=[{"kind": "products", "index": 3}]), tmp_path / "unknown")
    [error] = unknown.of_kind("error")
    assert error["kind"] == "InvalidConfig" and "products-00003 are not in the plan" in error["message"]

    refs = [{"kind": "products", "index": i} for i in (2, 0)]
    first = run_step("summarize", part(spec, "shards", shards=refs), tmp_path / "shards-a").result()
    assert first == {"shards": ["products-00002", "products-00000"], "generated": ["products-00002", "products-00000"]}
    refs = [{"kind": "products", "index": i} for i in (0, 1)]
    second = run_step("summarize", part(spec, "shards", shards=refs), tmp_path / "shards-b").result()
    assert second["generated"] == ["products-00001"]  # shard 0 was finished by the first activity

    merged = run_step("summarize", part(spec, "merge"), tmp_path / "merge").result()
    assert merged["shards"] == {"total": 3, "reused": 3, "dir": str(tmp_path / "out" / "shards")}
    products = pq.read_table(merged["products"]["parquet"]).to_pydict()["product_id"]
    assert Counter(products) == Counter(p for p, n in REVIEWS_PER_PRODUCT.items() if n >= MIN_REVIEWS)
    assert merged["summariesPerSec"] > 0
