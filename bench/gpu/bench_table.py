"""The short Markdown table of a figures.json (bench/gpu/gpu_bench.py), against the issue's targets."""

from pathlib import Path


def number(value, digits: int = 1, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value * scale:,.{digits}f}"


def training_rows(training: dict) -> list[str]:
    rows = [
        "| case | samples/s | tokens/s | MFU (datasheet) | peak GPU GiB (reserved) | plan GiB | plan / peak | backend | note |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, f in training.items():
        note = f.get("error") or f.get("notRun") or ""
        resume = f.get("checkpointResume")
        if resume:
            note += f" resume: saved {resume.get('savedStep')}, resumed at {resume.get('resumedAtStep')}" + (f" ({resume['error']})" if "error" in resume else "")
        rows.append(
            f"| {name} | {number(f.get('samplesPerSec'))} | {number(f.get('tokensPerSec'), 0)} | {number(f.get('mfu'), 1, 100)}"
            f"{'%' if f.get('mfu') is not None else ''} | {number(f.get('peakGpuReservedGiB'), 2)} | {number(f.get('planGpuGiB'), 2)} | "
            f"{number(f.get('planOverPeakReserved'), 2)} | {f.get('distributedBackend') or '-'} | {note.strip()[:160]} |"
        )
    return rows


def generation_rows(generation: dict) -> list[str]:
    rows = [
        "| model | tuneflow summaries/s | seed (batches of 8) summaries/s | speed-up | latency p50 ms | p95 ms | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, f in generation.items():
        latency = f.get("latencyMs") or {}
        rows.append(
            f"| {name} | {number(f.get('tuneflowSummariesPerSec'), 2)} | {number(f.get('seedSummariesPerSec'), 2)} | "
            f"{number(f.get('speedup'), 2)} | {number(latency.get('p50'), 0)} | {number(latency.get('p95'), 0)} | {(f.get('error') or '')[:160]} |"
        )
    return rows


def write_table(figures: dict, path: Path) -> None:
    peaks = figures["peakFlops"]
    lines = [
        f"GPU bench on {figures['device']}, {figures['date']}{' (dry run: tiny sizes)' if figures['dryRun'] else ''}; "
        f"measured matmul {number(peaks['measured'], 3, 1e-12)} TFLOP/s, datasheet bf16 peak {number(peaks['datasheet'], 1, 1e-12)} TFLOP/s",
        "",
        *training_rows(figures["training"]),
        "",
        *generation_rows(figures["generation"]),
        "",
        "Targets (issue 18): t5-small MFU >= 30 %; ZeRO-2 >= 0.9x plain; plan within 25 % of peak memory; "
        "single-summary latency below ~480 ms (t5-small) and ~3 s (t5-large).",
    ]
    if figures["missingPackages"]:
        lines.append("Not importable here: " + "; ".join(f"{k} ({v})" for k, v in figures["missingPackages"].items()))
    path.write_text("\n".join(lines) + "\n")
