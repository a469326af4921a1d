"""The shards of the summarize step and their files: which shards a cleaned file makes, which are
finished, and the output files merged from them.

A shard is summarize.shardSize products (or reviews), written as shards/<kind>-<index>.parquet
and then its manifest, shards/<kind>-<index>.json. A manifest exists only for a complete shard,
so a retried attempt skips every shard whose manifest matches its inputs, model and generation
parameters (its fingerprint), and generates only the rest.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from . import events
from .data import write_json, write_table
from .generation import GenerationParams
from .spec_types import PipelineConfig, ShardRef, SummarizeConfig

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


def plan_shards(cleaned: dict[str, list], config: PipelineConfig, settings: SummarizeConfig) -> list[Shard]:
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


def select(shards: list[Shard], refs: list[ShardRef], cleaned_path: str) -> list[int]:
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


def finished(shard: Shard, shard_dir: str, fingerprint: str) -> bool:
    try:
        with open(os.path.join(shard_dir, f"{shard.name}.json"), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError):
        return False
    return manifest.get("fingerprint") == fingerprint and os.path.isfile(os.path.join(shard_dir, manifest["output"]))


def write_shard(
    shard: Shard,
    summaries: list[str],
    shard_dir: str,
    model: dict[str, str],
    fingerprint: str,
    started_at: datetime,
    seconds: float,
) -> None:
    """The shard's rows, then its manifest: a manifest always names a complete file. `model` is
    the model's dir, name and version."""
    n = len(summaries)
    params = shard.params
    columns = {
        **shard.keys,
        "summary": summaries,
        "model_name": [model["name"]] * n,
        "model_version": [model["version"]] * n,
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
            "model": model,
            "generation": params.as_dict(),
            "startedAt": started_at.isoformat(),
            "finishedAt": datetime.now(timezone.utc).isoformat(),
            "seconds": seconds,
            "summariesPerSec": n / seconds if seconds > 0 else None,
            "pid": os.getpid(),
        },
    )


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


def merge_files(shards: list[Shard], kind: Kind, shard_dir: str, stem: str, schema: pa.Schema) -> dict:
    """Concatenates the kind's shards in order into <stem>.parquet and <stem>.csv."""
    tables = [pq.read_table(os.path.join(shard_dir, f"{s.name}.parquet"), schema=schema) for s in shards if s.kind == kind]
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    paths = [f"{stem}.parquet", f"{stem}.csv"]
    write_table({name: table.column(name) for name in schema.names}, *paths, schema=schema)
    return {"parquet": paths[0], "csv": paths[1], "rows": table.num_rows}
