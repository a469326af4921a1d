"""Bulk summarization, in one invocation, on the same inputs and generation parameters, per model:

(a) tuneflow's default engine (summarize.engine ctranslate2, computeType auto) through its real
    code path: a shard request (ShardJob, the inputs file as planSummarize writes it) to a
    generation engine (`python -m tuneflow_ml.engine`), the model converted and loaded by an
    earlier request, as a GPU worker's engine has it after its first shard;
(b) the seed's approach: batches of 8 in input order through model.generate, the model loaded
    (what transformers 4's pipeline("summarization", batch_size=8) did);
(c) tuneflow's transformers path: the same shard request with summarize.engine transformers.

The paths run in rounds over the same inputs (a, b, c on the first round's, then b, c, a...), so
that other work on the host slows them alike; each path's wall and CPU seconds are summed over
the rounds. Then single-summary latency, the model loaded, alternating: the engine's
single-request path (`tuneflow summarize --text`'s request, as a client waits for it) for (a) and
(c), one plain model.generate call for (b); and what a shard paid to start before the engine (a
new Python process importing the libraries, then the model loaded) against after (nothing: the
engine started once per worker, the model loaded by its first shard). Outputs of (a) and (c) must equal (b)'s: every differing
input is printed with the token where the summaries diverge, and the run exits 1.

    bash bench/summarize/run.sh [--quick] [bench.py options]     (npm run bench:summarize)
"""

import argparse
import csv
import gzip
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ctranslate2
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from seed import SEED_BATCH_SIZE, seed_approach
from tuneflow_ml.generation import GenerationParams, encode, generate_kwargs, load_model

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"
# Between one path and the next: longer than the OpenMP runtimes spin after their work.
QUIET_SECONDS = 1.0


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


def percentile(values: list[float], q: int) -> float:
    return values[0] if len(values) == 1 else statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class Engine:
    """A generation engine as a GPU worker starts it (lib/python-step/engine.ts): our socket, its requests."""

    def __init__(self, workdir: Path) -> None:
        socket_path = workdir / "engine.sock"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(socket_path))
        server.listen()
        started = time.perf_counter()
        self.stderr = open(workdir / "engine.stderr", "w")
        env = {**os.environ, "TUNEFLOW_EVENTS_SOCKET": str(socket_path), "PYTHONPATH": str(PYTHON_DIR)}
        self.process = subprocess.Popen([sys.executable, "-m", "tuneflow_ml.engine"], env=env, stdout=self.stderr, stderr=self.stderr)
        self.connection, _ = server.accept()
        server.close()
        self.pending = b""
        self.next_event("ready")
        self.start_seconds = time.perf_counter() - started

    def next_event(self, *kinds: str) -> dict:
        while True:
            while b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                event = json.loads(line)
                if event["event"] in kinds:
                    return event
            data = self.connection.recv(1 << 16)
            if not data:
                raise SystemExit(f"bench: the engine died; see {self.stderr.name}")
            self.pending += data

    def cpu_seconds(self) -> float:
        """The engine process's CPU time so far (all its threads): what contention does not inflate."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def request(self, request: dict) -> tuple[dict, float, float]:
        """The answer, and the wall and CPU seconds from request to answer. Then a pause, untimed:
        CTranslate2's OpenMP threads spin for 200 ms after their work (KMP_BLOCKTIME), and
        torch's for a while too, which would slow whatever is timed next on the same CPUs."""
        started, cpu = time.perf_counter(), self.cpu_seconds()
        self.connection.sendall((json.dumps(request) + "\n").encode())
        event = self.next_event("result", "error")
        seconds = time.perf_counter() - started
        cpu_seconds = self.cpu_seconds() - cpu
        time.sleep(QUIET_SECONDS)
        if event["event"] == "error":
            raise SystemExit(f"bench: the engine failed: {event['message']}")
        return event["result"], seconds, cpu_seconds

    def close(self) -> None:
        self.connection.close()
        self.process.wait(timeout=60)
        self.stderr.close()


def write_inputs(workdir: Path, texts: list[str]) -> None:
    """reviews.parquet as planSummarize writes it (position, review_id, product_id, text)."""
    n = len(texts)
    table = {"position": list(range(n)), "review_id": [f"R{i}" for i in range(n)], "product_id": ["P"] * n, "text": texts}
    pq.write_table(pa.table(table), workdir / "reviews.parquet")


def settings(params: GenerationParams) -> dict:
    """GenerationSettings (lib/steps/summarize.ts) of these parameters."""
    return {
        "prefix": params.prefix,
        "maxSourceLength": params.max_source_length,
        "numBeams": params.num_beams,
        "minNewTokens": params.min_new_tokens,
        "maxNewTokens": params.max_new_tokens,
        "noRepeatNgramSize": params.no_repeat_ngram_size,
        "repetitionPenalty": params.repetition_penalty,
        "lengthPenalty": params.length_penalty,
    }


def shard_request(workdir: Path, name: str, model_dir: str, rows: range, params: GenerationParams, engine: str, args) -> dict:
    """The engine request of a shard over the inputs `rows`."""
    job = {
        "shard": name,
        "kind": "reviews",
        "inputPath": str(workdir / "reviews.parquet"),
        "start": rows.start,
        "end": rows.stop,
        "outputPath": str(workdir / f"{name}.parquet"),
        "model": {"dir": model_dir, "name": "bench", "version": "1"},
        "generation": settings(params),
        "batchSize": args.batch_size,
        "latencySamples": 0,
        "engine": {"name": engine, "computeType": "auto"},
    }
    return {"request": "summarizeShard", "job": job}


def text_request(model_dir: str, text: str, params: GenerationParams, engine: str) -> dict:
    """`tuneflow summarize --text`'s request: one text, the model loaded."""
    spec = {"text": text, "modelDir": model_dir, "generation": settings(params), "repeat": 1, "engine": {"name": engine, "computeType": "auto"}}
    return {"request": "summarizeText", "spec": spec}


def divergence(tokenizer, a: str, b: str) -> dict:
    """Where two summaries part: the first token that differs, with the ones around it."""
    ta, tb = tokenizer.tokenize(a), tokenizer.tokenize(b)
    i = next((k for k, (x, y) in enumerate(zip(ta, tb)) if x != y), min(len(ta), len(tb)))
    return {"token": i, "a": ta[max(0, i - 2) : i + 3], "b": tb[max(0, i - 2) : i + 3]}


def process_start_seconds() -> float:
    """What each shard paid before the engine: a new Python process importing torch, transformers
    and the generation module."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tuneflow_ml.generation"], check=True, env={**os.environ, "PYTHONPATH": str(PYTHON_DIR)}, capture_output=True)
    return time.perf_counter() - started


PATHS = {"a": "ctranslate2", "c": "transformers"}


def bench_model(label: str, model_dir: str, texts: list[str], params: GenerationParams, args) -> dict:
    """The three paths over the same inputs in rounds (a, b, c on round 1's inputs, then b, c, a
    on round 2's...), so that what else the host runs meanwhile slows each path alike; wall and
    CPU seconds per path."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-summarize-{label}-"))
    load_started = time.perf_counter()
    tokenizer, model = load_model(model_dir)
    load_seconds = time.perf_counter() - load_started
    input_ids = encode(tokenizer, texts, params)
    lengths = [len(ids) for ids in input_ids]
    write_inputs(workdir, texts)
    n = len(texts)
    # Rounds of whole seed batches, so (b) batches exactly as it would over all inputs at once.
    size = max(SEED_BATCH_SIZE, args.round_size // SEED_BATCH_SIZE * SEED_BATCH_SIZE)
    rounds = [range(start, min(start + size, n)) for start in range(0, n, size)]

    engine = Engine(workdir)
    try:
        first = {path: engine.request(shard_request(workdir, f"{path}-warm", model_dir, range(0, 2), params, name, args)) for path, name in PATHS.items()}
        seed_approach(tokenizer, model, input_ids[:2], params)  # warm-up, as the engine paths had theirs
        summaries = {path: [] for path in "abc"}
        wall = {path: 0.0 for path in "abc"}
        cpu = {path: 0.0 for path in "abc"}
        used = {}
        for r, rows in enumerate(rounds):
            order = "abc"[r % 3 :] + "abc"[: r % 3]
            for path in order:
                if path == "b":
                    started, cpu_started = time.perf_counter(), time.process_time()
                    summaries["b"] += seed_approach(tokenizer, model, input_ids[rows.start : rows.stop], params)
                    wall["b"] += time.perf_counter() - started
                    cpu["b"] += time.process_time() - cpu_started
                    time.sleep(QUIET_SECONDS)
                    continue
                name = f"{path}-{r:03d}"
                result, seconds, cpu_seconds = engine.request(shard_request(workdir, name, model_dir, rows, params, PATHS[path], args))
                summaries[path] += pq.read_table(workdir / f"{name}.parquet").column("summary").to_pylist()
                wall[path] += seconds
                cpu[path] += cpu_seconds
                used[path] = result["engine"] | {"loadSecondsAfterFirst": used.get(path, {}).get("loadSecondsAfterFirst", 0) + result["loadSeconds"]}
        # Single-summary latency, the model loaded, alternating: the engine's single-request path
        # (`tuneflow summarize --text`, the round trip a client waits), then one plain generate call.
        latency = {"a": [], "c": [], "plainGenerate": []}
        kwargs = generate_kwargs(tokenizer, params)
        for i in range(min(args.latency_samples, n)):
            for path, name in PATHS.items():
                latency[path].append(engine.request(text_request(model_dir, texts[i], params, name))[1])
            with torch.inference_mode():
                started = time.perf_counter()
                model.generate(input_ids=torch.tensor([input_ids[i]], device=model.device), **kwargs)
                latency["plainGenerate"].append(time.perf_counter() - started)
            time.sleep(QUIET_SECONDS)
        engine_start = engine.start_seconds
    finally:
        engine.close()

    differing = {
        path: [
            {"input": i, "text": texts[i][:200], "summary": summaries[path][i], "seed": summaries["b"][i], **divergence(tokenizer, summaries[path][i], summaries["b"][i])}
            for i in range(n)
            if summaries[path][i] != summaries["b"][i]
        ]
        for path in PATHS
    }
    start = process_start_seconds()
    config = model.config
    ratio = lambda seconds, x, y: seconds[y] / seconds[x]  # noqa: E731 (x is how many times faster than y)
    return {
        "model": {"label": label, "dir": model_dir, "d_model": config.d_model, "layers": config.num_layers, "heads": config.num_heads,
                  "d_ff": config.d_ff, "vocab": config.vocab_size, "parameters": sum(p.numel() for p in model.parameters())},
        "inputs": n,
        "rounds": len(rounds),
        "sourceTokens": {"real": sum(lengths), "min": min(lengths), "median": statistics.median(lengths), "max": max(lengths)},
        "wallSeconds": wall,
        "cpuSeconds": cpu,
        "summariesPerSec": {path: n / wall[path] for path in "abc"},
        "ratios": {
            "wall": {"aOverB": ratio(wall, "a", "b"), "aOverC": ratio(wall, "a", "c"), "cOverB": ratio(wall, "c", "b")},
            "cpu": {"aOverB": ratio(cpu, "a", "b"), "aOverC": ratio(cpu, "a", "c"), "cOverB": ratio(cpu, "c", "b")},
        },
        "engines": used,
        "identicalToB": {path: n - len(differing[path]) for path in PATHS},
        "differing": {path: differing[path][:10] for path in PATHS},
        "latencyMs": {
            "samples": len(latency["plainGenerate"]),
            **{path: {"p50": percentile(v, 50) * 1000, "p95": percentile(v, 95) * 1000} for path, v in latency.items()},
        },
        "perShardStart": {
            "before": {"processStartSeconds": start, "modelLoadSeconds": load_seconds},
            "after": {"processStartSeconds": 0.0, "modelLoadSeconds": used["a"]["loadSecondsAfterFirst"]},
            "oncePerWorker": {"engineStartSeconds": engine_start, "firstLoadSeconds": {path: first[path][0]["loadSeconds"] for path in PATHS}},
        },
    }


def t5_small_sized(out: str, tokenizer_dir: str) -> str:
    """A T5 of t5-small's architecture (d_model 512, 6 + 6 layers, 8 heads, d_ff 2048), random
    weights, the tiny model's tokenizer (its vocabulary), built once."""
    if os.path.isfile(os.path.join(out, "config.json")):
        return out
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = T5Config(
        vocab_size=len(tokenizer), d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    temp = f"{out}.tmp-{os.getpid()}"
    T5ForConditionalGeneration(config).save_pretrained(temp)
    tokenizer.save_pretrained(temp)
    os.rename(temp, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny-model", required=True)
    parser.add_argument("--small-model", required=True, help="where the t5-small-sized random model is (built there if absent)")
    parser.add_argument("--data", required=True, help="Amazon-format .tsv.gz (scripts/generate-reviews.ts)")
    parser.add_argument("--quick", action="store_true", help="fewer inputs (under 3 minutes on a 2-CPU host), the same ratios")
    parser.add_argument("--tiny-inputs", type=int, default=None)
    parser.add_argument("--small-inputs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64, help="(a)'s and (c)'s batch size (summarize.batchSize)")
    parser.add_argument("--num-beams", type=int, default=10)
    parser.add_argument("--min-new-tokens", type=int, default=50)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--max-source-length", type=int, default=512)
    parser.add_argument("--latency-samples", type=int, default=None)
    parser.add_argument("--round-size", type=int, default=None, help="inputs per round of a, b, c (a multiple of 8)")
    parser.add_argument("--out", help="also write the JSON report here")
    args = parser.parse_args()
    tiny_inputs = args.tiny_inputs or (48 if args.quick else 1000)
    small_inputs = args.small_inputs or (16 if args.quick else 96)
    args.latency_samples = args.latency_samples or (3 if args.quick else 16)
    args.round_size = args.round_size or (24 if args.quick else 200)

    params = GenerationParams("summarize: ", args.max_source_length, args.num_beams, args.max_new_tokens, args.min_new_tokens)
    small = t5_small_sized(args.small_model, args.tiny_model)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    models = [
        bench_model("tiny", args.tiny_model, read_bodies(args.data, tiny_inputs), params, args),
        bench_model("t5-small-sized", small, read_bodies(args.data, small_inputs), params, args),
    ]
    report = {
        "command": " ".join(sys.argv),
        "generation": params.as_dict(),
        "batchSize": {"a": args.batch_size, "b": SEED_BATCH_SIZE, "c": args.batch_size},
        "models": models,
        "wallSeconds": time.perf_counter() - started,
        "machine": {
            "cpus": os.cpu_count(),
            "torchThreads": torch.get_num_threads(),
            "loadAverageAtStart": load,
            "loadAverageAtEnd": os.getloadavg()[0],
            "python": platform.python_version(),
            "torch": torch.__version__,
            "ctranslate2": ctranslate2.__version__,
        },
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    failed = False
    for m in models:
        s, wall, cpu, lat, start = m["summariesPerSec"], m["ratios"]["wall"], m["ratios"]["cpu"], m["latencyMs"], m["perShardStart"]
        print(
            f"{m['model']['label']} ({m['inputs']} inputs, {m['rounds']} rounds): (a) {m['engines']['a']['name']} {s['a']:.2f}/s, "
            f"(b) seed {s['b']:.2f}/s, (c) transformers {s['c']:.2f}/s; a/b {wall['aOverB']:.2f}x (CPU time {cpu['aOverB']:.2f}x), "
            f"a/c {wall['aOverC']:.2f}x (CPU {cpu['aOverC']:.2f}x); identical to (b): a {m['identicalToB']['a']}/{m['inputs']}, "
            f"c {m['identicalToB']['c']}/{m['inputs']}; latency p50 a {lat['a']['p50']:.0f} ms, c {lat['c']['p50']:.0f} ms, "
            f"plain generate {lat['plainGenerate']['p50']:.0f} ms ({lat['plainGenerate']['p50'] / lat['a']['p50']:.2f}x); per shard "
            f"before: {start['before']['processStartSeconds']:.1f} s start + {start['before']['modelLoadSeconds']:.1f} s load, "
            f"after: 0 + {start['after']['modelLoadSeconds']:.1f} s",
            file=sys.stderr,
        )
        for path in PATHS:
            for d in m["differing"][path]:
                failed = True
                print(f"  ({path}) input {d['input']} differs at token {d['token']}: {d['a']} vs seed {d['b']}: {d['text'][:120]!r}", file=sys.stderr)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
