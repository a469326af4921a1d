"""The run report of a finished pipeline.

    python -m tuneflow_ml.report --spec spec.json     (spec: ReportSpec in lib/steps/)

Writes report.html and its PNG plots to outputDir and logs them to the pipeline's MLflow run
under report/: the training loss per step (the run's `train_loss` history), ROUGE of the new
model against the champion (evaluate scored both on the same rows), throughput (training
samples/s, summaries/s), sample summaries beside their reviews and reference headlines, and the
seed's closing table: model size, an example summary, tuning time, estimated cost (GPU-hours x
report.gpuHourPrice) and inference latency (summarize's single-call p50/p95).
"""

import base64
import html
import os

import pyarrow.parquet as pq
# Figure, not pyplot: it renders with Agg on hosts without a display and keeps no global state.
from matplotlib.figure import Figure
from mlflow import MlflowClient
from transformers import AutoConfig

from . import events
from .data import read_columns
from .evaluate import ROUGE_KEYS
from .model_size import count_parameters
from .spec import load_spec
from .spec_types import ChampionScore, ReportSpec, RougeScores

ARTIFACT_PATH = "report"
HTML_NAME = "report.html"
LOSS_PNG, ROUGE_PNG, THROUGHPUT_PNG = "loss.png", "rouge.png", "throughput.png"


def loss_curve(client: MlflowClient, run_id: str) -> list[tuple[int, float]]:
    """(step, loss) of the run's per-step `train_loss`. A resumed attempt logs again the steps
    after its checkpoint: the latest value of each step is the one the model continued from."""
    latest: dict[int, tuple[int, float]] = {}
    for metric in client.get_metric_history(run_id, "train_loss"):
        if metric.step not in latest or metric.timestamp >= latest[metric.step][0]:
            latest[metric.step] = (metric.timestamp, metric.value)
    return [(step, value) for step, (_, value) in sorted(latest.items())]


def plot_loss(points: list[tuple[int, float]], path: str) -> None:
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    if points:
        ax.plot([s for s, _ in points], [v for _, v in points], marker=".", color="tab:blue")
    else:
        ax.text(0.5, 0.5, "no per-step loss in the MLflow run\n(train.loggingSteps above the steps run?)",
                ha="center", va="center", transform=ax.transAxes)
    ax.set(title="Training loss", xlabel="optimizer step", ylabel="loss")
    ax.grid(alpha=0.3)
    save(fig, path)


def plot_rouge(new: RougeScores, champion: ChampionScore | None, path: str) -> None:
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    x = range(len(ROUGE_KEYS))
    width = 0.38 if champion else 0.6
    offset = width / 2 if champion else 0
    ax.bar([i - offset for i in x], [new[k] for k in ROUGE_KEYS], width, label="new model", color="tab:blue")
    if champion:
        ax.bar([i + offset for i in x], [champion["rouge"][k] for k in ROUGE_KEYS], width,
               label=f"champion v{champion['version']}", color="tab:gray")
    ax.set_xticks(list(x), ROUGE_KEYS)
    ax.set(title="ROUGE on the validation rows" + ("" if champion else " (no champion to compare)"),
           ylabel="F1", ylim=(0, 1))
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)


def plot_throughput(train_samples_per_sec: float | None, summaries_per_sec: float, path: str) -> None:
    fig = Figure(figsize=(6.4, 3.2))
    axes = fig.subplots(1, 2)
    for ax, label, value, color in (
        (axes[0], "training samples/s", train_samples_per_sec, "tab:orange"),
        (axes[1], "summaries/s", summaries_per_sec, "tab:green"),
    ):
        if value is None:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.bar_label(ax.bar([0], [value], color=color), fmt="%.2f")
            ax.set_ylim(0, value * 1.15 or 1)  # room for the label above the bar
        ax.set_xticks([])
        ax.set(title=label)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Throughput")
    save(fig, path)


def save(fig: Figure, path: str) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def example_summary(products_parquet: str) -> str | None:
    """The first non-empty product summary, as the seed's table shows one per model."""
    summaries = pq.read_table(products_parquet, columns=["summary"]).column("summary").to_pylist()
    return next((s for s in summaries if s), None)


def summary_table(spec: ReportSpec) -> dict:
    """One row of the seed's closing table, for the new model."""
    tuning_seconds = spec["tuningMs"] / 1000
    gpu_hours = spec["gpus"] * tuning_seconds / 3600
    registered = spec["registered"]
    return {
        "model": f"{registered['modelName']} v{registered['version']}",
        "parameters": count_parameters(AutoConfig.from_pretrained(spec["train"]["modelDir"]))[0],
        "exampleSummary": example_summary(spec["summaries"]["products"]["parquet"]),
        "tuningSeconds": tuning_seconds,
        "gpuHours": gpu_hours,
        "estimatedCostUsd": gpu_hours * spec["config"]["report"]["gpuHourPrice"],
        "latencyMs": spec["summaries"]["latencyMs"],
    }


def human_count(n: int) -> str:
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= threshold:
            return f"{n / threshold:.1f}{suffix}"
    return str(n)


def human_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.1f} s"


def table_cells(table: dict, gpus: int, price: float, device: str) -> list[str]:
    """The table's cells as text: model, size, example summary, tuning time, cost, latency."""
    if gpus == 0:
        cost = f"$0.00 (trained on {device}: no GPU-hours)"
    else:
        cost = f"${table['estimatedCostUsd']:,.2f} ({table['gpuHours']:.2f} GPU-hours x ${price:,.2f})"
    latency = table["latencyMs"]
    return [
        table["model"],
        f"{human_count(table['parameters'])} params",
        table["exampleSummary"] or "(no product had summarize.minReviews reviews)",
        human_duration(table["tuningSeconds"]),
        cost,
        "not measured (summarize.latencySamples is 0)" if latency is None
        else f"p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms ({latency['samples']} single calls)",
    ]


def samples_rows(samples_path: str, limit: int) -> tuple[list[str], list[list[str]]]:
    columns = pq.read_schema(samples_path).names
    wanted = ["text", "reference", "prediction"] + (["champion_prediction"] if "champion_prediction" in columns else [])
    data = read_columns(samples_path, wanted)
    headers = ["Review", "Reference headline", "New model"] + (["Champion"] if len(wanted) == 4 else [])
    rows = [list(values) for values in zip(*(data[c][:limit] for c in wanted), strict=True)]
    return headers, rows


def html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(path: str, alt: str) -> str:
    # Embedded, so the page is whole where it is shown alone (the MLflow UI's artifact view);
    # each plot links to its PNG file beside the HTML.
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    name = os.path.basename(path)
    return f'<figure><a href="{name}"><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}"></a>' \
           f'<figcaption><a href="{name}">{name}</a></figcaption></figure>'


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.4em .6em;vertical-align:top;text-align:left}
th{background:#f3f3f3}figure{display:inline-block;margin:.5em}img{max-width:100%}caption{caption-side:bottom;color:#666;padding:.4em}"""


def render_html(spec: ReportSpec, table: dict, plots: dict[str, str], samples: tuple[list[str], list[list[str]]]) -> str:
    config, rouge = spec["config"], spec["evaluation"]["rouge"]
    champion = spec["evaluation"]["champion"]
    versus = (
        f"champion v{champion['version']} ROUGE-L {champion['rouge']['rougeL']:.4f}" if champion else "no champion"
    )
    price = config["report"]["gpuHourPrice"]
    seed_table = html_table(
        ["Model", "Model size", "Example summary", "Tuning time", "Estimated cost", "Inference latency"],
        [table_cells(table, spec["gpus"], price, spec["train"]["device"])],
    ).replace(
        "<thead>",
        f"<caption>Tuning time: the train step's wall time, every attempt included; cost: GPU-hours x "
        f"report.gpuHourPrice (${price:,.2f}); latency: one input summarized alone, model loaded.</caption><thead>",
        1,
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tuneflow report {html.escape(spec['pipelineId'])}</title>
<style>{STYLE}</style></head><body>
<h1>Run report: {html.escape(spec['pipelineId'])}</h1>
<p>{html.escape(config['model']['nameOrPath'])} fine-tuned for {spec['train']['globalStep']} steps on
{html.escape(spec['train']['device'])}, registered as {html.escape(table['model'])}.
ROUGE-L {rouge['rougeL']:.4f} on {spec['evaluation']['numExamples']} validation rows ({html.escape(versus)}).</p>
<h2>Summary</h2>
{seed_table}
<h2>Plots</h2>
{figure(plots['loss'], 'training loss per step')}
{figure(plots['rouge'], 'ROUGE of the new model and the champion')}
{figure(plots['throughput'], 'training samples/s and summaries/s')}
<h2>Sample summaries</h2>
{html_table(*samples)}
</body></html>
"""


def main() -> dict:
    spec: ReportSpec = load_spec(ReportSpec)
    config, output_dir, run_id = spec["config"], spec["outputDir"], spec["mlflowRunId"]
    os.makedirs(output_dir, exist_ok=True)
    client = MlflowClient(tracking_uri=config["mlflow"]["trackingUri"])

    plots = {name: os.path.join(output_dir, file) for name, file in
             (("loss", LOSS_PNG), ("rouge", ROUGE_PNG), ("throughput", THROUGHPUT_PNG))}
    plot_loss(loss_curve(client, run_id), plots["loss"])
    plot_rouge(spec["evaluation"]["rouge"], spec["evaluation"]["champion"], plots["rouge"])
    # train logs the Trainer's end-of-training figure; a run that never finished a train() has none.
    train_samples_per_sec = client.get_run(run_id).data.metrics.get("train_samples_per_second")
    plot_throughput(train_samples_per_sec, spec["summaries"]["summariesPerSec"], plots["throughput"])

    table = summary_table(spec)
    samples = samples_rows(spec["evaluation"]["samplesPath"], config["report"]["samples"])
    html_path = os.path.join(output_dir, HTML_NAME)
    tmp = f"{html_path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(render_html(spec, table, plots, samples))
    os.replace(tmp, html_path)  # a reader never sees half a page

    for path in [html_path, *plots.values()]:
        client.log_artifact(run_id, path, ARTIFACT_PATH)
    events.log(f"report {html_path} logged to MLflow run {run_id} under {ARTIFACT_PATH}/")
    return {"htmlPath": html_path, "plots": list(plots.values()), "artifactPath": ARTIFACT_PATH, "table": table}


if __name__ == "__main__":
    events.run_step(main, "report")
