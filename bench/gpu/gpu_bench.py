"""The GPU check of issue 18: training and generation figures of randomly initialised T5 models of
the real sizes, on the GPU machine, with the Python steps started as a GPU worker starts them.

    python bench/gpu/gpu_bench.py --out DIR [--dry-run]

Cases and configs come from bench/gpu/prepared.json (bin/ts-run bench/gpu/prepare.ts: the GPU
machine has no Node.js). Writes DIR/figures.json and DIR/table.md after every case, so a run cut
short keeps what it measured; a case that cannot run (a package missing, a failure, a timeout)
is recorded with its reason and the others go on. --dry-run: tiny sizes, on this host's device.
"""

import argparse
import copy
import datetime
import importlib.util
import json
import os
import platform
import random
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON_DIR = HERE.parents[1] / "python"
sys.path[:0] = [str(PYTHON_DIR), str(HERE)]

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402

from flops import DATASHEET_BF16_PEAK, training_flops_per_example  # noqa: E402
from bench_table import write_table  # noqa: E402

GIB = 2**30
CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ.setdefault("DS_ACCELERATOR", "cpu")  # DeepSpeed on CPUs, as tuneflow's tests run it
# The GPU machine has no MLflow server: the steps log to a file store in the work folder.
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def missing_packages() -> dict[str, str]:
    """Packages the cases need beyond the GPU machine's image, with what is not runnable without them."""
    needs = {"deepspeed": "ZeRO cases and the memory plan", "mlflow": "tuneflow's train step (it logs to MLflow)"}
    return {name: why for name, why in needs.items() if importlib.util.find_spec(name) is None}


def step_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    path = [str(PYTHON_DIR), str(HERE), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p), **(extra or {})}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_process(argv: list[str], workdir: Path, timeout_s: float) -> dict:
    """Runs a step as the activity does: events on a Unix socket (each line with the time it came),
    stderr to a file, measurements from measured_step. Kills the process group at the timeout."""
    workdir.mkdir(parents=True, exist_ok=True)
    socket_path, measure = workdir / "events.sock", workdir / "measure"
    socket_path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(socket_path))
    server.listen()
    env = step_env({"TUNEFLOW_EVENTS_SOCKET": str(socket_path), "BENCH_MEASURE_FILE": str(measure), "PYTHONUNBUFFERED": "1"})
    started = time.monotonic()
    with open(workdir / "stderr.log", "w") as stderr, open(workdir / "stdout.log", "w") as stdout:
        process = subprocess.Popen(argv, cwd=PYTHON_DIR, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    selector = selectors.DefaultSelector()
    selector.register(server, selectors.EVENT_READ)
    events, buffers, timed_out = [], {}, False
    while process.poll() is None or len(selector.get_map()) > 1:
        if time.monotonic() - started > timeout_s and not timed_out:
            os.killpg(process.pid, signal.SIGKILL)
            timed_out = True
        for key, _ in selector.select(timeout=0.2):
            if key.fileobj is server:
                connection, _ = server.accept()
                selector.register(connection, selectors.EVENT_READ)
                buffers[connection] = b""
                continue
            data = key.fileobj.recv(65536)
            if not data:
                selector.unregister(key.fileobj)
                key.fileobj.close()
                continue
            *lines, buffers[key.fileobj] = (buffers[key.fileobj] + data).split(b"\n")
            events += [(time.monotonic(), json.loads(line)) for line in lines]
    server.close()
    rank0 = Path(f"{measure}.rank0")
    return {
        "returncode": process.returncode,
        "timedOut": timed_out,
        "started": started,
        "wallSeconds": time.monotonic() - started,
        "events": events,
        "stdout": (workdir / "stdout.log").read_text(),
        "stderrTail": (workdir / "stderr.log").read_text()[-2000:],
        "measured": json.loads(rank0.read_text()) if rank0.exists() else {},
    }


def failure(run: dict) -> str | None:
    if run["timedOut"]:
        return f"timed out after {run['wallSeconds']:.0f} s"
    errors = [e for _, e in run["events"] if e["event"] == "error"]
    if errors:
        return f"{errors[0]['kind']}: {errors[0]['message']}"
    if run["returncode"] != 0:
        return f"exit status {run['returncode']}: {run['stderrTail'][-600:]}"
    return None


def build_model(name: str, arch: dict, directory: Path) -> Path:
    """Random weights of the architecture, and a tokenizer with one piece per synthetic word
    ("w17"), so that every text is exactly as many tokens as it has words (+ "</s>")."""
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    out = directory / name
    if (out / "config.json").exists():
        return out
    specials = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces = specials + [(f"▁w{i}", -1.0) for i in range(arch["vocab_size"] - len(specials))]
    tokenizer = T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)
    config = T5Config(**arch, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    torch.manual_seed(0)
    with torch.device("cuda" if CUDA else "cpu"):  # initialising 3B parameters on the CPU takes minutes
        model = T5ForConditionalGeneration(config)
    model.save_pretrained(out)  # float32, as a hub checkpoint: train's bf16 is mixed precision
    tokenizer.save_pretrained(out)
    del model
    if CUDA:
        torch.cuda.empty_cache()
    return out


def words(rng: random.Random, count: int, vocab: int) -> str:
    return " ".join(f"w{rng.randrange(vocab - 3)}" for _ in range(count))


def write_data(directory: Path, rows: int, source: int, target: int, vocab: int) -> dict[str, str]:
    """Texts and summaries longer than maxSource/TargetLength: truncation makes every example
    exactly source/target tokens, the lengths the FLOP count assumes."""
    rng = random.Random(0)
    paths = {}
    for split, n in (("train", rows), ("validation", 8)):
        table = {"text": [words(rng, source * 2, vocab) for _ in range(n)], "summary": [words(rng, target * 2, vocab) for _ in range(n)]}
        paths[split] = str(directory / f"{split}-{rows}x{source}.parquet")
        pq.write_table(pa.table(table), paths[split])
    return paths


def plan_estimate(config: dict, directory: Path) -> dict:
    """`tuneflow plan`'s table for this config (tuneflow_ml.plan, in this process)."""
    from tuneflow_ml import plan

    spec_path = directory / "plan-spec.json"
    spec = {"config": config, "nodes": 1, "gpusPerNode": max(config["train"]["numGpus"], 1), "enforce": False, "requireModel": False}
    spec_path.write_text(json.dumps(spec))
    saved, sys.argv = sys.argv, ["plan", "--spec", str(spec_path)]
    try:
        return plan.main()
    finally:
        sys.argv = saved


def new_mlflow_run(uri: str) -> str:
    import mlflow

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("gpu-bench") or client.get_experiment(client.create_experiment("gpu-bench"))
    return client.create_run(experiment.experiment_id).info.run_id


def train_command(case: dict, spec_path: Path) -> list[str]:
    module = "plain_trainer" if case["runner"] == "plain" else "tuneflow_ml.train"
    if case["deepspeedConfig"] is None:
        return [sys.executable, "-m", "measured_step", module, "--spec", str(spec_path)]
    # lib/python-step/launch.ts's command: the DeepSpeed launcher, one rank per GPU.
    launcher = [sys.executable, "-m", "deepspeed.launcher.runner", "--num_gpus", "1", "--master_port", str(free_port())]
    return [*launcher, "--no_local_rank", "--module", "measured_step", module, "--spec", str(spec_path)]


def logged_steps(case: dict, run: dict) -> list[tuple[int, float]]:
    """(step, time) of each logged step: progress events with a loss, or the plain script's own."""
    if case["runner"] == "plain":
        return [tuple(s) for s in json.loads(run["stdout"].strip().splitlines()[-1])["loggedSteps"]]
    return [(e["step"], t) for t, e in run["events"] if e["event"] == "progress" and e["loss"] is not None]


def throughput(case: dict, arch: dict, steps: list[tuple[int, float]], peaks: dict) -> dict:
    """Rates over the logged steps after the first (warm-up excluded)."""
    train, model = case["config"]["train"], case["config"]["model"]
    (first, t0), (last, t1) = steps[0], steps[-1]
    samples_per_sec = (last - first) * train["perDeviceTrainBatchSize"] / (t1 - t0)
    flops = training_flops_per_example(arch, model["maxSourceLength"], model["maxTargetLength"])
    achieved = samples_per_sec * flops
    return {
        "timedSteps": last - first,
        "samplesPerSec": samples_per_sec,
        "tokensPerSec": samples_per_sec * (model["maxSourceLength"] + model["maxTargetLength"]),
        "trainingFlopsPerExample": flops,
        "achievedTflops": achieved / 1e12,
        "mfu": achieved / peaks["datasheet"] if peaks["datasheet"] else None,
        "mfuOfMeasuredMatmul": achieved / peaks["measured"],
    }


def memory(run: dict, plan: dict | None) -> dict:
    measured = run["measured"]
    allocated, reserved = measured.get("peakGpuAllocatedBytes"), measured.get("peakGpuReservedBytes")
    plan_gib = plan["chosen"]["gpuGiB"] if plan else None
    return {
        "peakGpuAllocatedGiB": allocated / GIB if allocated else None,
        "peakGpuReservedGiB": reserved / GIB if reserved else None,
        "planGpuGiB": plan_gib,
        "planOverPeakReserved": plan_gib / (reserved / GIB) if plan_gib and reserved else None,
        "peakHostRssGiB": measured.get("peakHostRssBytes", 0) / GIB,
        "distributedBackend": measured.get("distributedBackend"),
        "importedDistributions": measured.get("importedDistributions", []),
    }


def run_train_case(case, arch, model_dir, data, work, mlflow_uri, peaks, missing, timeout_s) -> dict:
    needs = [p for p in missing if (p == "mlflow" and case["runner"] == "tuneflow") or (p == "deepspeed" and case["deepspeedConfig"])]
    figures = {"runner": case["runner"], "model": case["model"], "batch": case["config"]["train"]["perDeviceTrainBatchSize"]}
    if needs:
        return figures | {"notRun": f"{', '.join(needs)} not importable here ({'; '.join(missing[n] for n in needs)} need it)"}
    config = copy.deepcopy(case["config"])
    config["model"]["nameOrPath"], config["mlflow"]["trackingUri"] = str(model_dir), mlflow_uri
    directory = work / case["name"]
    directory.mkdir(parents=True, exist_ok=True)
    try:
        plan = plan_estimate(config, directory) if "deepspeed" not in missing else None
    except Exception as exc:  # a plan failure must not cost the measurement
        plan, figures["planError"] = None, f"{type(exc).__name__}: {exc}"
    spec = {
        "pipelineId": f"gpu-bench-{case['name']}",
        "config": config,
        "trainPath": data["train"],
        "validationPath": data["validation"],
        "outputDir": str(directory / "out"),
        "mlflowRunId": new_mlflow_run(mlflow_uri) if case["runner"] == "tuneflow" else "none",
        "resumeFromCheckpoint": None,
        "deepspeedConfig": case["deepspeedConfig"],
        "startFrom": None,
    }
    spec_path = directory / "spec.json"
    spec_path.write_text(json.dumps(spec))
    run = run_process(train_command(case, spec_path), directory / "run", timeout_s)
    figures |= {"wallSeconds": run["wallSeconds"]} | memory(run, plan)
    if failure(run):
        return figures | {"error": failure(run)}
    results = [e["result"] for _, e in run["events"] if e["event"] == "result"]
    if results:
        figures |= {"bf16": results[0]["bf16"], "device": results[0]["device"], "globalStep": results[0]["globalStep"]}
    figures |= throughput(case, arch, logged_steps(case, run), peaks)
    if case["resume"]:
        figures["checkpointResume"] = resume(case, spec, run, directory, timeout_s)
    return figures


def resume(case: dict, spec: dict, first: dict, directory: Path, timeout_s: float) -> dict:
    """The retry of an attempt lost after its first checkpoint: from that checkpoint to the end."""
    saved = [e for _, e in first["events"] if e["event"] == "checkpoint"][0]
    spec = spec | {"resumeFromCheckpoint": saved["path"], "outputDir": str(directory / "resumed")}
    spec_path = directory / "resume-spec.json"
    spec_path.write_text(json.dumps(spec))
    run = run_process(train_command(case, spec_path), directory / "resume-run", timeout_s)
    checkpoint_bytes = sum(f.stat().st_size for f in Path(saved["path"]).rglob("*") if f.is_file())
    figures = {"savedStep": saved["step"], "checkpointGiB": checkpoint_bytes / GIB, "wallSeconds": run["wallSeconds"]}
    if failure(run):
        return figures | {"error": failure(run)}
    progress = [(t, e) for t, e in run["events"] if e["event"] == "progress"]
    result = next(e["result"] for _, e in run["events"] if e["event"] == "result")
    return figures | {
        "resumedAtStep": progress[0][1]["step"],
        "finalStep": result["globalStep"],
        "maxSteps": case["config"]["train"]["maxSteps"],
        "secondsToFirstStep": progress[0][0] - run["started"],
    }


def run_generation(entry: dict, model_dir: Path, arch: dict, work: Path, timeout_s: float) -> dict:
    rng = random.Random(1)
    limit = entry["config"]["model"]["maxSourceLength"]
    # Product documents of every length up to the truncation limit: length sorting has work to do.
    texts = [words(rng, rng.randint(limit // 8, limit + limit // 4), arch["vocab_size"]) for _ in range(entry["texts"])]
    directory = work / f"generate-{entry['model']}"
    directory.mkdir(parents=True, exist_ok=True)
    spec_path = directory / "spec.json"
    spec_path.write_text(json.dumps({"modelDir": str(model_dir), "config": entry["config"], "texts": texts}))
    run = run_process([sys.executable, "-m", "measured_step", "generation_bench", "--spec", str(spec_path)], directory / "run", timeout_s)
    figures = {"model": entry["model"], "wallSeconds": run["wallSeconds"]} | memory(run, None)
    if failure(run):
        return figures | {"error": failure(run)}
    return figures | json.loads(run["stdout"].strip().splitlines()[-1])


def matmul_peak() -> float:
    """FLOP/s of a large matrix product on random data (bf16 on a GPU, float32 on the CPU)."""
    n, dtype, device = (8192, torch.bfloat16, "cuda") if CUDA else (512, torch.float32, "cpu")
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    for _ in range(3):
        a @ b
    if CUDA:
        torch.cuda.synchronize()
    started, repeats = time.perf_counter(), 10
    for _ in range(repeats):
        a @ b
    if CUDA:
        torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="folder for figures.json and table.md")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, minutes on a CPU: the same code path")
    parser.add_argument("--work", type=Path, help="models, data and checkpoints (default: OUT/work)")
    parser.add_argument("--case-timeout", type=float, default=None, help="seconds per case (default 150 dry, 300 full)")
    args = parser.parse_args()
    if args.dry_run and not CUDA:
        # One thread per process: on a small, shared CPU, threads spinning against each other
        # make a tiny model's step take seconds.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
    profile = json.loads((HERE / "prepared.json").read_text())["profiles"]["dry" if args.dry_run else "full"]
    work = args.work or args.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    timeout_s = args.case_timeout or (150 if args.dry_run else 300)
    missing = missing_packages()
    device = torch.cuda.get_device_name(0) if CUDA else "cpu"
    peaks = {"datasheet": DATASHEET_BF16_PEAK.get(device), "measured": matmul_peak()}
    figures = {
        "device": device,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dryRun": args.dry_run,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda},
        "peakFlops": peaks,
        "missingPackages": missing,
        "training": {},
        "generation": {},
    }
    mlflow_uri = (work / "mlruns").resolve().as_uri()
    started = time.monotonic()

    def save() -> None:
        figures["benchSeconds"] = time.monotonic() - started
        (args.out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
        write_table(figures, args.out / "table.md")

    models, datasets = {}, {}
    generation = {g["model"]: g for g in profile["generation"]}
    # The most telling cases first: a run cut short keeps them.
    for case in profile["cases"]:
        name, arch = case["model"], profile["architectures"][case["model"]]
        model, train = case["config"]["model"], case["config"]["train"]
        try:
            models[name] = models.get(name) or build_model(name, arch, work / "models")
            key = (train["perDeviceTrainBatchSize"] * train["maxSteps"], model["maxSourceLength"])
            datasets[key] = datasets.get(key) or write_data(work, key[0], model["maxSourceLength"], model["maxTargetLength"], arch["vocab_size"])
            figures["training"][case["name"]] = run_train_case(case, arch, models[name], datasets[key], work, mlflow_uri, peaks, missing, timeout_s)
        except Exception as exc:  # one broken case must not lose the others' figures
            figures["training"][case["name"]] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"gpu-bench: {case['name']}: {json.dumps({k: v for k, v in figures['training'][case['name']].items() if k != 'importedDistributions'})}", flush=True)
        if name in generation:
            entry = generation.pop(name)
            try:
                figures["generation"][name] = run_generation(entry, models[name], arch, work, timeout_s)
            except Exception as exc:
                figures["generation"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"gpu-bench: generate {name}: {json.dumps({k: v for k, v in figures['generation'][name].items() if k != 'importedDistributions'})}", flush=True)
        save()
    save()
    print((args.out / "table.md").read_text())


if __name__ == "__main__":
    main()
