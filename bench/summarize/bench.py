"""Bulk summarization: tuneflow's fast path (a) against the seed's approach (b), same model, same
inputs, same generation parameters, in one process (run through bench/summarize/run.sh).

(a) tuneflow_ml.generation.generate_ids: inputs sorted by length, batches of --batch-size, each
    padded to its own longest, under torch.inference_mode.
(b) the seed: batches of 8 in input order, each padded to its longest, through model.generate
    (what transformers 4's pipeline("summarization", batch_size=8) did).
Then single-summary latency: tuneflow's single-request path (summarize --text) against one plain
model.generate call per review, on the first --latency-samples inputs.

Prints a JSON report on stdout; exits 1 when the outputs of (a) and (b) differ.
"""

import argparse
import csv
import gzip
import json
import os
import platform
import statistics
import sys
import time

import torch

from tuneflow_ml.generation import GenerationParams, encode, generate_ids, generate_kwargs, load_model

SEED_BATCH_SIZE = 8


def read_bodies(path: str, count: int) -> list[str]:
    """The first `count` non-empty review bodies of an Amazon-format TSV, in file order."""
    csv.field_size_limit(2**31 - 1)
    bodies: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        body = header.index("review_body")
        for row in reader:
            if len(row) == len(header) and row[body].strip():
                bodies.append(row[body])
                if len(bodies) == count:
                    return bodies
    raise SystemExit(f"bench: {path} has only {len(bodies)} non-empty review bodies, {count} wanted; generate more rows")


def seed_approach(tokenizer, model, input_ids: list[list[int]], params: GenerationParams) -> list[str]:
    summaries: list[str] = []
    kwargs = generate_kwargs(tokenizer, params)
    with torch.inference_mode():
        for start in range(0, len(input_ids), SEED_BATCH_SIZE):
            batch = tokenizer.pad({"input_ids": input_ids[start : start + SEED_BATCH_SIZE]}, return_tensors="pt")
            output = model.generate(**batch.to(model.device), **kwargs)
            summaries += [s.strip() for s in tokenizer.batch_decode(output, skip_special_tokens=True)]
    return summaries


def padded_tokens(batches: list[list[int]]) -> int:
    """Source tokens the encoder processes (real + padding) for these batches of lengths."""
    return sum(max(b) * len(b) for b in batches)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def timed(run) -> tuple[list[str], float]:
    started = time.perf_counter()
    summaries = run()
    return summaries, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="Amazon-format .tsv.gz (scripts/generate-reviews.ts)")
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64, help="(a)'s batch size (summarize.batchSize)")
    parser.add_argument("--num-beams", type=int, default=10)
    parser.add_argument("--min-new-tokens", type=int, default=50)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--max-source-length", type=int, default=512)
    parser.add_argument("--latency-samples", type=int, default=50)
    args = parser.parse_args()

    params = GenerationParams("summarize: ", args.max_source_length, args.num_beams, args.max_new_tokens, args.min_new_tokens)
    texts = read_bodies(args.data, args.inputs)
    tokenizer, model = load_model(args.model)
    input_ids = encode(tokenizer, texts, params)
    lengths = [len(ids) for ids in input_ids]
    # Warm-up (first-call allocations and kernel choices), on neither path's inputs' timing.
    generate_ids(tokenizer, model, input_ids[:2], params, batch_size=2)

    load = os.getloadavg()[0]
    b_summaries, b_seconds = timed(lambda: seed_approach(tokenizer, model, input_ids, params))
    a_summaries, a_seconds = timed(lambda: generate_ids(tokenizer, model, input_ids, params, batch_size=args.batch_size))
    differing = [i for i, (a, b) in enumerate(zip(a_summaries, b_summaries)) if a != b]

    # Latency of one summary, the model already loaded (as `tuneflow summarize --text` after load).
    single_path, plain_call, plain_summaries = [], [], []
    kwargs = generate_kwargs(tokenizer, params)
    for ids in input_ids[: args.latency_samples]:
        _, seconds = timed(lambda: generate_ids(tokenizer, model, [ids], params, batch_size=1))
        single_path.append(seconds)
        with torch.inference_mode():
            started = time.perf_counter()
            output = model.generate(input_ids=torch.tensor([ids], device=model.device), **kwargs)
            plain_call.append(time.perf_counter() - started)
        plain_summaries.append(tokenizer.decode(output[0], skip_special_tokens=True).strip())
    differing_single = [i for i, s in enumerate(plain_summaries) if s != a_summaries[i]]

    seed_batches = [lengths[i : i + SEED_BATCH_SIZE] for i in range(0, len(lengths), SEED_BATCH_SIZE)]
    order = sorted(lengths, reverse=True)
    sorted_batches = [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    report = {
        "inputs": len(texts),
        "sourceTokens": {"real": sum(lengths), "min": min(lengths), "median": statistics.median(lengths), "max": max(lengths)},
        "paddedSourceTokens": {"a": padded_tokens(sorted_batches), "b": padded_tokens(seed_batches)},
        "generation": params.as_dict(),
        "batchSize": {"a": args.batch_size, "b": SEED_BATCH_SIZE},
        "summariesPerSec": {"a": len(texts) / a_seconds, "b": len(texts) / b_seconds},
        "seconds": {"a": a_seconds, "b": b_seconds},
        "ratioAOverB": b_seconds / a_seconds,
        "outputsIdentical": not differing,
        "differing": differing[:10],
        "latencySeconds": {
            "samples": len(single_path),
            "singlePath": {"p50": percentile(single_path, 50), "p95": percentile(single_path, 95)},
            "plainGenerate": {"p50": percentile(plain_call, 50), "p95": percentile(plain_call, 95)},
            "identicalToBulk": not differing_single,
        },
        "machine": {
            "device": str(model.device),
            "dtype": str(model.dtype),
            "torchThreads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "loadAverageAtStart": load,
            "loadAverageAtEnd": os.getloadavg()[0],
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
    }
    print(json.dumps(report, indent=2))
    s = report["summariesPerSec"]
    print(
        f"(a) tuneflow {s['a']:.2f} summaries/s, (b) seed {s['b']:.2f} summaries/s, a/b = {report['ratioAOverB']:.2f}x, "
        f"outputs identical: {report['outputsIdentical']}; latency p50/p95 single path "
        f"{report['latencySeconds']['singlePath']['p50'] * 1000:.0f}/{report['latencySeconds']['singlePath']['p95'] * 1000:.0f} ms, "
        f"plain generate {report['latencySeconds']['plainGenerate']['p50'] * 1000:.0f}/{report['latencySeconds']['plainGenerate']['p95'] * 1000:.0f} ms",
        file=sys.stderr,
    )
    if differing or differing_single:
        sys.exit(1)


if __name__ == "__main__":
    main()
