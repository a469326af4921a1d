"""Summarizes the reviews of each product (and, optionally, each review) with the trained model.

    python -m tuneflow_ml.summarize --spec spec.json     (spec: SummarizeSpec in lib/steps/)

As in the seed: a product with at least summarize.minReviews reviews gets one summary of its
reviews joined with " " in file order (collect_list + concat_ws), generated with min_new_tokens so
it is longer than a headline. Writes product_summaries.parquet/.csv (and review_summaries.*).

The work is cut into shards (summary_shards.py); the model is loaded once per process and serves
every shard. spec.part says which piece of the BulkSummarize workflow (workflows/bulk-summarize.ts)
a process does: "plan" (shard counts, no model), "shards" (the named shards only) or "merge"
(the output files and MLflow metrics, once every shard is finished).
"""

import os
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Callable, cast

import pyarrow.parquet as pq

from . import events
from .data import read_columns
from .generation import encode, generate_ids, load_model
from .spec import load_spec
from .spec_types import SummarizeConfig, SummarizePartShards, SummarizeSpec
from .summary_shards import (
    PRODUCT_SCHEMA,
    REVIEW_SCHEMA,
    Shard,
    finished,
    merge_files,
    plan_shards,
    select,
    throughput,
    write_shard,
)
from .tracking import log_metrics


@dataclass
class Work:
    """What every part starts from: the spec and the shards its cleaned file makes."""

    spec: SummarizeSpec
    shards: list[Shard]

    @classmethod
    def load(cls, spec: SummarizeSpec) -> "Work":
        os.makedirs(os.path.join(spec["outputDir"], "shards"), exist_ok=True)
        cleaned = read_columns(spec["cleanedPath"], ["review_id", "product_id", "text", "summary"])
        return cls(spec, plan_shards(cleaned, spec["config"], spec["config"]["summarize"]))

    @property
    def settings(self) -> SummarizeConfig:
        return self.spec["config"]["summarize"]

    @property
    def shard_dir(self) -> str:
        return os.path.join(self.spec["outputDir"], "shards")

    @property
    def model(self) -> dict[str, str]:
        """The model as manifests name it; part of every shard's fingerprint."""
        return {"dir": self.spec["modelDir"], "name": self.spec["modelName"], "version": self.spec["modelVersion"]}

    @cached_property
    def fingerprints(self) -> list[str]:
        return [s.fingerprint(self.model) for s in self.shards]

    def unfinished(self, selected: list[int]) -> list[int]:
        return [i for i in selected if not finished(self.shards[i], self.shard_dir, self.fingerprints[i])]


def plan(work: Work) -> dict:
    """How many shards (and inputs) of each kind: what BulkSummarize spreads over its activities."""
    counts = {}
    for kind in ("products", "reviews"):
        of_kind = [s for s in work.shards if s.kind == kind]
        counts[kind] = {"shards": len(of_kind), "items": sum(len(s.texts) for s in of_kind)}
    return counts


def shards(work: Work) -> dict:
    """Generates the named shards that are not finished yet."""
    part = cast(SummarizePartShards, work.spec["part"])  # main chose this function by its tag
    selected = select(work.shards, part["shards"], work.spec["cleanedPath"])
    todo = work.unfinished(selected)
    # Once per process, for every shard.
    tokenizer, model = load_model(work.spec["modelDir"]) if todo else (None, None)
    generate_shards(work, selected, todo, tokenizer, model)
    return {"shards": [work.shards[i].name for i in selected], "generated": [work.shards[i].name for i in todo]}


def merge(work: Work) -> dict:
    """The output files, throughput, latency and MLflow metrics, from every finished shard."""
    spec, settings, shard_dir = work.spec, work.settings, work.shard_dir
    if not any(s.kind == "products" for s in work.shards):
        # Not an error: a small sample may have no such product; the files then hold no rows.
        events.log(
            f"no product in {spec['cleanedPath']} has summarize.minReviews={settings['minReviews']} reviews or more; "
            "lower summarize.minReviews or use more data (data.sampleFraction) to get product summaries",
            level="warning",
        )
    everything = list(range(len(work.shards)))
    todo = work.unfinished(everything)
    if todo:
        raise events.StepError(
            "Internal",
            f"cannot merge the summaries of {spec['cleanedPath']}: {len(todo)} shard(s) are not finished under {shard_dir} "
            f"(first: {work.shards[todo[0]].name}); run their summarize shards again (finished shards are kept)",
            retryable=False,  # a retry of the merge would find the same shards missing
        )
    inputs = sum(len(s.texts) for s in work.shards)
    events.progress("examples", inputs, inputs)  # every input has its summary

    latencies = []
    if settings["latencySamples"] > 0:
        latencies = single_latencies(*load_model(spec["modelDir"]), work.shards, settings["latencySamples"])
    stem = os.path.join(spec["outputDir"], "{}_summaries")
    product_files = merge_files(work.shards, "products", shard_dir, stem.format("product"), PRODUCT_SCHEMA)
    review_files = None
    if settings["perReview"]:
        review_files = merge_files(work.shards, "reviews", shard_dir, stem.format("review"), REVIEW_SCHEMA)
        empty_reviews = pq.read_table(review_files["parquet"], columns=["summary"]).column("summary").to_pylist().count("")
        if empty_reviews:
            events.log(f"{empty_reviews} of {review_files['rows']} review summaries are empty", level="warning")

    summaries_per_sec = throughput(work.shards, shard_dir)
    latency_ms = (
        {"p50": statistics.median(latencies) * 1000, "p95": percentile(latencies, 95) * 1000, "samples": len(latencies)}
        if latencies
        else None
    )
    metrics = {
        "summarize_products": product_files["rows"],
        "summarize_reviews": review_files["rows"] if review_files else 0,
        "summarize_shards": len(work.shards),
        "summarize_shards_reused": len(work.shards),  # every shard was finished before the merge
        "summarize_per_sec": summaries_per_sec,
    }
    if latency_ms:
        metrics |= {"summarize_latency_p50_ms": latency_ms["p50"], "summarize_latency_p95_ms": latency_ms["p95"]}
    log_metrics(spec["config"]["mlflow"]["trackingUri"], spec["mlflowRunId"], metrics)
    events.metrics(metrics)
    return {
        "products": product_files,
        "reviews": review_files,
        "summariesPerSec": summaries_per_sec,
        "latencyMs": latency_ms,
        "shards": {"total": len(work.shards), "reused": len(work.shards), "dir": shard_dir},
    }


PARTS: dict[str, Callable[[Work], dict]] = {"plan": plan, "shards": shards, "merge": merge}


def main() -> dict:
    spec = load_spec(SummarizeSpec)
    part = spec["part"]["part"]
    if part not in PARTS:
        raise events.StepError(
            "InvalidConfig",
            f"summarize has no part {part!r} (it has {', '.join(PARTS)}); rewrite the spec with the current TypeScript activity",
        )
    return PARTS[part](Work.load(spec))


def generate_shards(work: Work, selected: list[int], todo: list[int], tokenizer, model) -> None:
    """Generates and writes each shard in `todo` (indices into work.shards), reporting progress
    over the `selected` shards and a checkpoint per finished shard."""
    spec = work.spec
    total = sum(len(work.shards[i].texts) for i in selected)
    done = total - sum(len(work.shards[i].texts) for i in todo)
    shards_done = len(selected) - len(todo)
    if shards_done:
        events.log(f"{shards_done} of {len(selected)} shards are finished already; generating the other {len(todo)}")
    events.progress("examples", done, total)
    generated, generation_seconds = 0, 0.0
    for i in todo:
        shard = work.shards[i]
        started, started_at = time.monotonic(), datetime.now(timezone.utc)

        def on_batch(n: int) -> None:
            nonlocal done
            done += n
            rate = (generated + n) / (generation_seconds + time.monotonic() - started)
            events.progress("examples", done, total, samples_per_sec=rate)

        summaries = generate_ids(
            tokenizer, model, encode(tokenizer, shard.texts, shard.params), shard.params,
            batch_size=work.settings["batchSize"], on_batch=on_batch,
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
        write_shard(shard, summaries, work.shard_dir, work.model, work.fingerprints[i], started_at, seconds)
        shards_done += 1
        # The shard is durable: the heartbeat shows how far the step got (the manifests decide a retry).
        events.checkpoint(os.path.join(work.shard_dir, f"{shard.name}.json"), shards_done)


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
