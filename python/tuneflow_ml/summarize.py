"""Summarizes the reviews of each product (and, optionally, each review) with the trained model.

    python -m tuneflow_ml.summarize --spec spec.json     (spec: SummarizeSpec in lib/steps.ts)

As in the seed: a product with at least summarize.minReviews reviews gets one summary of its
reviews joined with " " in file order (collect_list + concat_ws), generated with min_new_tokens so
it is longer than a headline. Writes product_summaries.parquet/.csv (and review_summaries.*).

The work is cut into shards of summarize.shardSize products (or reviews), each written as
shards/<kind>-<index>.parquet and then its manifest, shards/<kind>-<index>.json. A manifest exists
only for a complete shard, so a retried attempt (the worker was killed, the host rebooted) skips
every shard whose manifest matches its inputs, model and generation parameters, and generates
only the rest. The model is loaded once per process and serves every shard.

spec.part says how much of this a process does: "all" (the pipeline's summarize activity), or one
piece of the BulkSummarize workflow (workflows/bulk-summarize.ts): "plan" (shard counts, no
model), "shards" (the named shards only) and "merge" (the output files and MLflow metrics, once
every shard is finished).
"""

import hashlib
import json
import os
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from . import events
from .data import read_columns, write_json, write_table
from .generation import GenerationParams, encode, generate_ids, load_model
from .spec import load_spec
from .tracking import log_metrics

MANIFEST_VERSION = 1
MODEL_COLUMNS = [("model_name", pa.string()), ("model_version", pa.string())]
PARAM_COLUMNS = [
    ("num_beams", pa.int64()),
    ("min_new_tokens", pa.int64()),
    ("max_new_tokens", pa.int64()),
    ("max_source_length", pa.int64()),
]
PRODUCT_SCHEMA = pa.schema(
    [("product_id", pa.string()), ("n_reviews", pa.int64()), ("summary", pa.string()), *MODEL_COLUMNS, *PARAM_COLUMNS]
)
REVIEW_SCHEMA = pa.schema(
    [("review_id", pa.string()), ("product_id", pa.string()), ("summary", pa.string()), *MODEL_COLUMNS, *PARAM_COLUMNS]
)

Kind = Literal["products", "reviews"]


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


@dataclass
class Shard:
    kind: Kind
    index: int
    texts: list[str]
    # The output columns that do not come from the model (ids, counts), one list per column.
    keys: dict[str, list]
    params: GenerationParams

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.index:05d}"

    def fingerprint(self, model: dict[str, str]) -> str:
        """What decides this shard's output: its inputs, the model and the generation parameters.
        A manifest with another fingerprint belongs to another run and is recomputed."""
        digest = hashlib.sha256()
        digest.update(json.dumps([self.kind, model, self.params.as_dict(), self.keys], sort_keys=True).encode())
        for text in self.texts:
            digest.update(hashlib.sha256(text.encode()).digest())
        return digest.hexdigest()


def plan_shards(cleaned: dict[str, list], config: dict, settings: dict) -> list[Shard]:
    """Products first, then reviews, each cut into shards of settings.shardSize, in a fixed order
    so that every attempt plans the same shards."""
    common = dict(prefix=config["model"]["sourcePrefix"], max_source_length=config["model"]["maxSourceLength"])
    common |= dict(num_beams=settings["numBeams"], max_new_tokens=settings["maxNewTokens"])
    size = settings["shardSize"]
    products, counts, documents = product_documents(cleaned["product_id"], cleaned["text"], settings["minReviews"])
    shards = [
        Shard(
            "products",
            i // size,
            documents[i : i + size],
            {"product_id": products[i : i + size], "n_reviews": counts[i : i + size]},
            GenerationParams(**common, min_new_tokens=settings["minNewTokens"]),
        )
        for i in range(0, len(products), size)
    ]
    if settings["perReview"]:
        n = len(cleaned["text"])
        # A review summary is a headline: no minimum length.
        shards += [
            Shard(
                "reviews",
                i // size,
                cleaned["text"][i : i + size],
                {"review_id": cleaned["review_id"][i : i + size], "product_id": cleaned["product_id"][i : i + size]},
                GenerationParams(**common, min_new_tokens=0),
            )
            for i in range(0, n, size)
        ]
    return shards


def finished(shard: Shard, shard_dir: str, fingerprint: str) -> bool:
    try:
        with open(os.path.join(shard_dir, f"{shard.name}.json"), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError):
        return False
    return manifest.get("fingerprint") == fingerprint and os.path.isfile(os.path.join(shard_dir, manifest["output"]))


def main() -> dict:
    spec = load_spec()
    config, settings, part = spec["config"], spec["config"]["summarize"], spec["part"]
    output_dir = spec["outputDir"]
    shard_dir = os.path.join(output_dir, "shards")
    os.makedirs(shard_dir, exist_ok=True)
    cleaned_path = spec["cleanedPath"]
    cleaned = read_columns(cleaned_path, ["review_id", "product_id", "text", "summary"])
    model_identity = {"dir": spec["modelDir"], "name": spec["modelName"], "version": spec["modelVersion"]}

    shards = plan_shards(cleaned, config, settings)
    if part["part"] == "plan":
        return {
            kind: {"shards": sum(1 for s in shards if s.kind == kind), "items": sum(len(s.texts) for s in shards if s.kind == kind)}
            for kind in ("products", "reviews")
        }
    if part["part"] in ("all", "merge") and not any(s.kind == "products" for s in shards):
        # Not an error: a small sample may have no such product; the files then hold no rows.
        events.log(
            f"no product in {cleaned_path} has summarize.minReviews={settings['minReviews']} reviews or more; "
            "lower summarize.minReviews or use more data (data.sampleFraction) to get product summaries",
            level="warning",
        )
    fingerprints = [s.fingerprint(model_identity) for s in shards]
    selected = list(range(len(shards))) if part["part"] in ("all", "merge") else select(shards, part["shards"], cleaned_path)
    todo = [i for i in selected if not finished(shards[i], shard_dir, fingerprints[i])]
    if part["part"] == "merge" and todo:
        raise events.StepError(
            "Internal",
            f"cannot merge the summaries of {cleaned_path}: {len(todo)} shard(s) are not finished under {shard_dir} "
            f"(first: {shards[todo[0]].name}); run their summarize shards again (finished shards are kept)",
            retryable=False,  # a retry of the merge would find the same shards missing
        )

    tokenizer = model = None
    if todo or (part["part"] != "shards" and settings["latencySamples"] > 0):
        tokenizer, model = load_model(spec["modelDir"])  # once per process, for every shard
    generate_shards([shards[i] for i in selected], todo, shards, fingerprints, tokenizer, model, spec, shard_dir)
    reused = len(selected) - len(todo)
    if part["part"] == "shards":
        return {"shards": [shards[i].name for i in selected], "generated": [shards[i].name for i in todo]}

    latencies = single_latencies(tokenizer, model, shards, settings["latencySamples"]) if model is not None else []
    product_files = merge(shards, "products", shard_dir, os.path.join(output_dir, "product_summaries"), PRODUCT_SCHEMA)
    review_files = None
    if settings["perReview"]:
        review_files = merge(shards, "reviews", shard_dir, os.path.join(output_dir, "review_summaries"), REVIEW_SCHEMA)
        empty_reviews = pq.read_table(review_files["parquet"], columns=["summary"]).column("summary").to_pylist().count("")
        if empty_reviews:
            events.log(f"{empty_reviews} of {review_files['rows']} review summaries are empty", level="warning")

    summaries_per_sec = throughput(shards, shard_dir)
    latency_ms = (
        {"p50": statistics.median(latencies) * 1000, "p95": percentile(latencies, 95) * 1000, "samples": len(latencies)}
        if latencies
        else None
    )
    metrics = {
        "summarize_products": product_files["rows"],
        "summarize_reviews": review_files["rows"] if review_files else 0,
        "summarize_shards": len(shards),
        "summarize_shards_reused": reused,
        "summarize_per_sec": summaries_per_sec,
    }
    if latency_ms:
        metrics |= {"summarize_latency_p50_ms": latency_ms["p50"], "summarize_latency_p95_ms": latency_ms["p95"]}
    log_metrics(config["mlflow"]["trackingUri"], spec["mlflowRunId"], metrics)
    events.metrics(metrics)
    return {
        "products": product_files,
        "reviews": review_files,
        "summariesPerSec": summaries_per_sec,
        "latencyMs": latency_ms,
        "shards": {"total": len(shards), "reused": reused, "dir": shard_dir},
    }


def select(shards: list[Shard], refs: list[dict], cleaned_path: str) -> list[int]:
    """Indices of the shards a BulkSummarize activity names ({kind, index} each)."""
    by_name = {s.name: i for i, s in enumerate(shards)}
    names = [f"{ref['kind']}-{ref['index']:05d}" for ref in refs]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise events.StepError(
            "InvalidConfig",
            f"shard(s) {', '.join(unknown[:5])} are not in the plan of {cleaned_path} ({len(shards)} shards with "
            "this summarize.shardSize and minReviews); plan again with the same config",
        )
    return [by_name[n] for n in names]


def generate_shards(
    selected: list[Shard], todo: list[int], shards: list[Shard], fingerprints: list[str], tokenizer, model, spec, shard_dir: str
) -> None:
    """Generates and writes each shard in `todo` (indices into `shards`), reporting progress over
    the `selected` shards and a checkpoint per finished shard."""
    settings = spec["config"]["summarize"]
    total = sum(len(s.texts) for s in selected)
    done = total - sum(len(shards[i].texts) for i in todo)
    shards_done = len(selected) - len(todo)
    if shards_done:
        events.log(f"{shards_done} of {len(selected)} shards are finished already; generating the other {len(todo)}")
    events.progress("examples", done, total)
    generated, generation_seconds = 0, 0.0
    for i in todo:
        shard = shards[i]
        started, started_at = time.monotonic(), datetime.now(timezone.utc)

        def on_batch(n: int) -> None:
            nonlocal done
            done += n
            rate = (generated + n) / (generation_seconds + time.monotonic() - started)
            events.progress("examples", done, total, samples_per_sec=rate)

        summaries = generate_ids(
            tokenizer, model, encode(tokenizer, shard.texts, shard.params), shard.params,
            batch_size=settings["batchSize"], on_batch=on_batch,
        )  # fmt: skip
        seconds = time.monotonic() - started
        generated, generation_seconds = generated + len(summaries), generation_seconds + seconds
        if shard.kind == "products":
            empty = [p for p, s in zip(shard.keys["product_id"], summaries) if not s]
            if empty:
                raise events.StepError(
                    "Internal",
                    f"model {spec['modelDir']} gave an empty summary for {len(empty)} product(s) of {spec['cleanedPath']} "
                    f"(first: {empty[0]}); raise summarize.minNewTokens or train longer (check evaluate's ROUGE)",
                    retryable=False,  # generation is deterministic: the same model gives the same output
                )
        write_shard(shard, summaries, shard_dir, spec, fingerprints[i], started_at, seconds)
        shards_done += 1
        # The shard is durable: the heartbeat shows how far the step got (the manifests decide a retry).
        events.checkpoint(os.path.join(shard_dir, f"{shard.name}.json"), shards_done)


def throughput(shards: list[Shard], shard_dir: str) -> float:
    """Summaries per second of generation, from every shard's manifest: the same figure whether
    the shards ran in this process, an earlier attempt or on other workers (time spent while
    they ran side by side counts for each, so this is per worker, not wall-clock)."""
    rows, seconds = 0, 0.0
    for shard in shards:
        with open(os.path.join(shard_dir, f"{shard.name}.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        rows, seconds = rows + manifest["rows"], seconds + manifest["seconds"]
    return rows / seconds if seconds > 0 else 0.0


def write_shard(
    shard: Shard, summaries: list[str], shard_dir: str, spec: dict, fingerprint: str, started_at: datetime, seconds: float
) -> None:
    """The shard's rows, then its manifest: a manifest always names a complete file."""
    n = len(summaries)
    params = shard.params
    columns = {
        **shard.keys,
        "summary": summaries,
        "model_name": [spec["modelName"]] * n,
        "model_version": [spec["modelVersion"]] * n,
        "num_beams": [params.num_beams] * n,
        "min_new_tokens": [params.min_new_tokens] * n,
        "max_new_tokens": [params.max_new_tokens] * n,
        "max_source_length": [params.max_source_length] * n,
    }
    output = f"{shard.name}.parquet"
    write_table(columns, os.path.join(shard_dir, output), schema=PRODUCT_SCHEMA if shard.kind == "products" else REVIEW_SCHEMA)
    write_json(
        os.path.join(shard_dir, f"{shard.name}.json"),
        {
            "version": MANIFEST_VERSION,
            "kind": shard.kind,
            "index": shard.index,
            "output": output,
            "rows": n,
            "fingerprint": fingerprint,
            "model": {"dir": spec["modelDir"], "name": spec["modelName"], "version": spec["modelVersion"]},
            "generation": params.as_dict(),
            "startedAt": started_at.isoformat(),
            "finishedAt": datetime.now(timezone.utc).isoformat(),
            "seconds": seconds,
            "summariesPerSec": n / seconds if seconds > 0 else None,
            "pid": os.getpid(),
        },
    )


def merge(shards: list[Shard], kind: Kind, shard_dir: str, stem: str, schema: pa.Schema) -> dict:
    """Concatenates the kind's shards in order into <stem>.parquet and <stem>.csv."""
    tables = [pq.read_table(os.path.join(shard_dir, f"{s.name}.parquet"), schema=schema) for s in shards if s.kind == kind]
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    paths = [f"{stem}.parquet", f"{stem}.csv"]
    write_table({name: table.column(name) for name in schema.names}, *paths, schema=schema)
    return {"parquet": paths[0], "csv": paths[1], "rows": table.num_rows}


def single_latencies(tokenizer, model, shards: list[Shard], samples: int) -> list[float]:
    """Seconds to summarize one input alone (the `summarize --text` path, model already loaded),
    on the first inputs of the first shards: what one user request would wait."""
    inputs = [(text, s.params) for s in shards for text in s.texts][:samples]
    latencies = []
    # The first call pays one-off allocations that no later request pays: not counted.
    for text, params in inputs[:1] + inputs:
        started = time.monotonic()
        generate_ids(tokenizer, model, encode(tokenizer, [text], params), params, batch_size=1)
        latencies.append(time.monotonic() - started)
    return latencies[1:]


def percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


if __name__ == "__main__":
    events.run_step(main, "summarize")
