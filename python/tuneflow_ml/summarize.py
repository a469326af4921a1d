"""One shard of the summarize step, as the generation engine (engine.py) answers it: the rows
[start, end) of a planned inputs file (written by the TypeScript planSummarize,
activities/summarize/plan.ts) summarized with the model, written as (position, summary) to the
job's output; then, the model loaded, the first latencySamples inputs summarized one at a time,
for the single-request latency.

Which shards exist, which are finished (their manifests) and the merged output files are the
TypeScript side's: this module only generates.
"""

import os
import statistics
import time
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from . import events
from .data import write_table
from .generation import GenerationParams, device_name, encode
from .generators import Generator, LoadedModels
from .spec_types import GenerationSettings, ShardJob

OUTPUT_SCHEMA = pa.schema([("position", pa.int64()), ("summary", pa.string())])
ID_COLUMN = {"products": "product_id", "reviews": "review_id"}


def params_of(settings: GenerationSettings) -> GenerationParams:
    return GenerationParams(
        prefix=settings["prefix"],
        max_source_length=settings["maxSourceLength"],
        num_beams=settings["numBeams"],
        max_new_tokens=settings["maxNewTokens"],
        min_new_tokens=settings["minNewTokens"],
        no_repeat_ngram_size=settings["noRepeatNgramSize"],
        repetition_penalty=settings["repetitionPenalty"],
        length_penalty=settings["lengthPenalty"],
    )


def read_inputs(job: ShardJob) -> tuple[list[int], list[str], list[str]]:
    """(positions, texts, ids) of the job's rows, in position order."""
    path, start, end = job["inputPath"], job["start"], job["end"]
    id_column = ID_COLUMN[job["kind"]]
    try:
        table = pq.read_table(
            path, columns=["position", "text", id_column], filters=[("position", ">=", start), ("position", "<", end)]
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise events.StepError(
            "InvalidData", f"cannot read shard {job['shard']}'s inputs {path} ({exc}); plan the summarize step again", retryable=True
        )
    table = table.sort_by("position")
    positions = table.column("position").to_pylist()
    if positions != list(range(start, end)):
        raise events.StepError(
            "InvalidData",
            f"{path} holds {len(positions)} of the rows {start}..{end - 1} of shard {job['shard']}; "
            "it was planned with other settings: plan the summarize step again",
        )
    return positions, table.column("text").to_pylist(), table.column(id_column).to_pylist()


def summarize_shard(job: ShardJob, models: LoadedModels, on_progress: Callable[[int, int, float], None]) -> dict:
    """Generates the job's shard and writes its output; returns its ShardJobResult.
    `on_progress(done, total, seconds)` is called after each batch."""
    positions, texts, ids = read_inputs(job)
    params = params_of(job["generation"])
    engine = job["engine"]
    generator, load_seconds = models.for_job(job["model"]["dir"], engine["name"], engine["computeType"], params)
    started = time.monotonic()
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        on_progress(done, len(texts), time.monotonic() - started)

    input_ids = encode(generator.tokenizer, texts, params) if texts else []
    summaries = generator.generate(input_ids, params, batch_size=job["batchSize"], on_batch=on_batch)
    seconds = time.monotonic() - started
    if job["kind"] == "products":
        empty = [i for i, s in zip(ids, summaries) if not s]
        if empty:
            raise events.StepError(
                "Internal",
                f"model {job['model']['dir']} gave an empty summary for {len(empty)} product(s) of shard {job['shard']} "
                f"(first: {empty[0]}); raise summarize.minNewTokens or train longer (check evaluate's ROUGE)",
                retryable=False,  # generation is deterministic: the same model gives the same output
            )
    write_table({"position": positions, "summary": summaries}, job["outputPath"], schema=OUTPUT_SCHEMA)
    return {
        "rows": len(summaries),
        "seconds": seconds,
        "loadSeconds": load_seconds,
        "latencySeconds": single_latencies(generator, texts[: job["latencySamples"]], params),
        "device": device_name(),
        "pid": os.getpid(),
        "engine": generator.used(),
    }


def single_latencies(generator: Generator, texts: list[str], params: GenerationParams) -> list[float]:
    """Seconds to summarize each text alone, the model loaded: what one request waits (tokenizing
    included). The first call pays one-off allocations that no later request pays: not counted."""
    latencies = []
    for text in texts[:1] + texts:
        started = time.monotonic()
        generator.generate(encode(generator.tokenizer, [text], params), params, batch_size=1)
        latencies.append(time.monotonic() - started)
    return latencies[1:]


def percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
