"""Generation on one model: bulk summaries/s on tuneflow's path (length-sorted batches of
summarize.batchSize, tuneflow_ml.generation.generate_ids) against the seed's batches of 8 in input
order (bench/summarize/seed.py), then single-request latency on tuneflow's
`summarize --text` path (one input, batch 1, tokenizing included). Prints one JSON line.

    python -m measured_step generation_bench --spec spec.json
    spec: {"modelDir", "config" (PipelineConfig), "texts": [...]}
"""

import argparse
import importlib.util
import json
import statistics
import time
from pathlib import Path

import torch

from tuneflow_ml.generation import GenerationParams, device_name, encode, generate_ids, load_model

SEED_BENCH = Path(__file__).resolve().parents[1] / "summarize" / "seed.py"


def seed_approach():
    spec = importlib.util.spec_from_file_location("summarize_seed", SEED_BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.seed_approach


def timed(run) -> tuple[float, list[str]]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.monotonic()
    summaries = run()  # decoded on the host: the device has finished
    return time.monotonic() - started, summaries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    with open(parser.parse_args().spec, encoding="utf-8") as f:
        spec = json.load(f)
    model_config, settings, texts = spec["config"]["model"], spec["config"]["summarize"], spec["texts"]
    params = GenerationParams(
        model_config["sourcePrefix"], model_config["maxSourceLength"], settings["numBeams"], settings["maxNewTokens"], settings["minNewTokens"]
    )
    tokenizer, model = load_model(spec["modelDir"])
    input_ids = encode(tokenizer, texts, params)
    seed = seed_approach()

    def tuneflow_path(ids):
        return generate_ids(tokenizer, model, ids, params, batch_size=settings["batchSize"])

    # Warm-up on a few inputs: allocator growth and kernel selection stay out of the timings.
    tuneflow_path(input_ids[:2])
    seed(tokenizer, model, input_ids[:2], params)
    tuneflow_seconds, tuneflow_summaries = timed(lambda: tuneflow_path(input_ids))
    seed_seconds, seed_summaries = timed(lambda: seed(tokenizer, model, input_ids, params))

    latencies = []
    samples = settings["latencySamples"]
    for text in texts[: samples + 1]:
        seconds, _ = timed(lambda: generate_ids(tokenizer, model, encode(tokenizer, [text], params), params, batch_size=1))
        latencies.append(seconds)
    latencies = latencies[1:]  # the first request pays one-off allocations

    new_tokens = [len(tokenizer(s)["input_ids"]) for s in tuneflow_summaries]
    print(json.dumps({
        "device": device_name(),
        "dtype": str(next(model.parameters()).dtype),
        "texts": len(texts),
        "sourceTokensMean": statistics.mean(len(ids) for ids in input_ids),
        "summaryTokensMean": statistics.mean(new_tokens),
        "numBeams": params.num_beams,
        "minNewTokens": params.min_new_tokens,
        "maxNewTokens": params.max_new_tokens,
        "batchSize": settings["batchSize"],
        "tuneflowSummariesPerSec": len(texts) / tuneflow_seconds,
        "seedSummariesPerSec": len(texts) / seed_seconds,
        "speedup": seed_seconds / tuneflow_seconds,
        # Outputs do not depend on batching in float32 (test_generation.py); bf16 rounding may differ.
        "sameSummariesFraction": sum(a == b for a, b in zip(tuneflow_summaries, seed_summaries)) / len(texts),
        "latencyMs": {
            "p50": statistics.median(latencies) * 1000,
            "p95": (statistics.quantiles(latencies, n=20, method="inclusive")[18] if len(latencies) > 1 else latencies[0]) * 1000,
            "samples": len(latencies),
        },
    }))


if __name__ == "__main__":
    main()
