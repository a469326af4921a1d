"""summarize's Python side, through the generation engine: one shard job (rows [start, end) of a
planned inputs file) gives one summary per row, in position order, the same as generating those
texts directly; progress per batch; single-request latencies; a plan that does not hold the rows
is InvalidData."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import Engine
from tuneflow_ml.generation import generate, load_model

GENERATION = {
    "prefix": "summarize: ",
    "maxSourceLength": 64,
    "numBeams": 2,
    "minNewTokens": 4,
    "maxNewTokens": 8,
    "noRepeatNgramSize": 0,
    "repetitionPenalty": 1.0,
    "lengthPenalty": 1.0,
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    started = Engine(tmp_path_factory.mktemp("engine"))
    yield started
    started.close()


def shard(job: dict) -> dict:
    return {"request": "summarizeShard", "job": job}


def write_inputs(path: Path, texts: list[str]) -> str:
    """products.parquet as planSummarize writes it (activities/summarize/plan.ts)."""
    n = len(texts)
    table = {"position": list(range(n)), "product_id": [f"P{i}" for i in range(n)], "n_reviews": [3] * n, "text": texts}
    pq.write_table(pa.table(table), str(path), row_group_size=4)
    return str(path)


def job(inputs: str, output: Path, tiny_model: str, start: int, end: int, **fields) -> dict:
    return {
        "shard": "products-00001",
        "kind": "products",
        "inputPath": inputs,
        "start": start,
        "end": end,
        "outputPath": str(output),
        "model": {"dir": tiny_model, "name": "tuneflow-review-headlines", "version": "3"},
        "generation": GENERATION,
        "batchSize": 2,
        "latencySamples": 2,
        "engine": {"name": "ctranslate2", "computeType": "auto"},
    } | fields


def test_a_shard_is_its_rows_summarized_in_position_order(engine, tiny_model, dataset, tmp_path):
    texts = pq.read_table(dataset["cleaned"], columns=["text"]).column("text").to_pylist()[:10]
    inputs = write_inputs(tmp_path / "products.parquet", texts)
    run = engine.request(shard(job(inputs, tmp_path / "out.parquet", tiny_model, 3, 8)))
    result = run.result()

    output = pq.read_table(tmp_path / "out.parquet").to_pydict()
    assert output["position"] == [3, 4, 5, 6, 7]
    tokenizer, model = load_model(tiny_model)
    expected = generate(
        tokenizer, model, texts[3:8], prefix="summarize: ", max_source_length=64, batch_size=5,
        num_beams=2, max_new_tokens=8, min_new_tokens=4,
    )  # fmt: skip
    assert output["summary"] == expected and all(s.strip() for s in expected)
    assert result["rows"] == 5 and result["seconds"] > 0 and result["loadSeconds"] > 0 and result["device"] == "cpu"
    assert result["engine"]["name"] == "ctranslate2" and result["engine"]["computeType"] == "float32"
    assert len(result["latencySeconds"]) == 2 and all(s > 0 for s in result["latencySeconds"])
    progress = run.of_kind("progress")
    assert [p["step"] for p in progress] == [2, 4, 5] and {p["totalSteps"] for p in progress} == {5}  # per batch of 2


def test_inputs_without_the_shards_rows_are_invalid_data(engine, tiny_model, tmp_path):
    inputs = write_inputs(tmp_path / "products.parquet", ["a camera", "a lens"])
    run = engine.request(shard(job(inputs, tmp_path / "out.parquet", tiny_model, 0, 4)))
    [error] = run.of_kind("error")
    assert error["kind"] == "InvalidData" and "holds 2 of the rows 0..3 of shard products-00001" in error["message"]
    assert not (tmp_path / "out.parquet").exists()
