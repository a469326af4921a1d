"""The generation engine as a process: models stay loaded between requests (the most recently
used, up to --models), are dropped when it idles, a failure it understands leaves it serving,
and it exits when its worker's socket closes."""

import shutil
import time

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import Engine
from tuneflow_ml.events import ORPHANED_EXIT_CODE


def shard_request(tmp_path, model: str, name: str) -> dict:
    inputs = tmp_path / f"{name}-inputs.parquet"
    pq.write_table(pa.table({"position": [0, 1], "review_id": ["R0", "R1"], "text": ["sharp lens, fast focus", "the battery died"]}), inputs)
    job = {
        "shard": f"reviews-{name}",
        "kind": "reviews",
        "inputPath": str(inputs),
        "start": 0,
        "end": 2,
        "outputPath": str(tmp_path / f"{name}.parquet"),
        "model": {"dir": model, "name": "m", "version": "1"},
        "generation": {
            "prefix": "summarize: ", "maxSourceLength": 32, "numBeams": 1, "minNewTokens": 0, "maxNewTokens": 4,
            "noRepeatNgramSize": 0, "repetitionPenalty": 1.0, "lengthPenalty": 1.0,
        },
        "batchSize": 2,
        "latencySamples": 0,
        "engine": {"name": "transformers", "computeType": "auto"},
    }  # fmt: skip
    return {"request": "summarizeShard", "job": job}


def test_models_stay_loaded_most_recent_first_and_failures_leave_it_serving(tiny_model, tmp_path):
    other = str(tmp_path / "other-t5")
    shutil.copytree(tiny_model, other)
    engine = Engine(tmp_path / "engine", "--models", "1")
    assert engine.ready["pid"] == engine.process.pid and engine.ready["device"] == "cpu"
    load = lambda model, name: engine.request(shard_request(tmp_path, model, name)).result()["loadSeconds"]  # noqa: E731
    assert load(tiny_model, "a") > 0
    assert load(tiny_model, "b") == 0  # loaded by the first request
    assert load(other, "c") > 0 and load(tiny_model, "d") > 0  # one model kept: the other one pushed it out

    unknown = engine.request({"request": "translate"})
    [error] = unknown.of_kind("error")
    assert error["kind"] == "InvalidConfig" and "no request 'translate'" in error["message"]
    missing = shard_request(tmp_path, str(tmp_path / "absent"), "e")
    [error] = engine.request(missing).of_kind("error")
    assert error["kind"] == "InvalidData" and "holds no model" in error["message"]
    assert load(tiny_model, "f") == 0 and engine.process.poll() is None  # still serving, model still loaded

    assert engine.close() == ORPHANED_EXIT_CODE  # the worker went away: so does the engine


def test_an_idle_engine_drops_its_models(tiny_model, tmp_path):
    engine = Engine(tmp_path / "engine", "--idle-unload-seconds", "0.5")
    assert engine.request(shard_request(tmp_path, tiny_model, "a")).result()["loadSeconds"] > 0
    time.sleep(1.5)
    assert engine.request(shard_request(tmp_path, tiny_model, "b")).result()["loadSeconds"] > 0
    engine.close()
