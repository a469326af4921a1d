"""The run report of a finished pipeline.

    python -m tuneflow_ml.report --spec spec.json     (spec: ReportSpec in lib/steps/)

Writes report.html and its PNG plots (report_plots.py) to outputDir and logs them to the
pipeline's MLflow run under report/: the training loss per step (the run's `train_loss` history),
with evaluation during training the validation ROUGE per evaluation (`val_*`) with the best
checkpoint and the stopping point and what early stopping saved, ROUGE of the new model beside
the champion and the baselines (evaluate scored all on the same rows), throughput (training
samples/s, summaries/s), sample summaries beside their reviews and reference headlines, and the
seed's closing table with its "no fine-tuning" row (the zero-shot baseline): model size, an
example summary, tuning time, estimated cost (GPU-hours x report.gpuHourPrice), inference latency
(summarize's single-call p50/p95) and ROUGE-L.
"""

import base64
import html
import os

import pyarrow.parquet as pq
from mlflow import MlflowClient
from transformers import AutoConfig

from . import events
from .data import read_columns
from .evaluate import ROUGE_KEYS
from .model_size import count_parameters
from .report_plots import plot_loss, plot_rouge, plot_rouge_curve, plot_throughput, rouge_bars
from .spec import load_spec
from .spec_types import EvaluateResult, PredictionSpread, ReportSpec

ARTIFACT_PATH = "report"
HTML_NAME = "report.html"
LOSS_PNG, ROUGE_PNG, THROUGHPUT_PNG, CURVE_PNG = "loss.png", "rouge.png", "throughput.png", "rouge_steps.png"


def metric_curve(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of one of the run's per-step metrics. A resumed attempt logs again the steps
    after its checkpoint: the latest value of each step is the one the model continued from."""
    latest: dict[int, tuple[int, float]] = {}
    for metric in client.get_metric_history(run_id, key):
        if metric.step not in latest or metric.timestamp >= latest[metric.step][0]:
            latest[metric.step] = (metric.timestamp, metric.value)
    return [(step, value) for step, (_, value) in sorted(latest.items())]


def loss_curve(client: MlflowClient, run_id: str) -> list[tuple[int, float]]:
    return metric_curve(client, run_id, "train_loss")


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


OPTIONAL_SAMPLE_COLUMNS = {"champion_prediction": "Champion", "zero_shot_prediction": "Base model zero-shot"}


def samples_rows(samples_path: str, limit: int) -> tuple[list[str], list[list[str]]]:
    columns = pq.read_schema(samples_path).names
    optional = [c for c in OPTIONAL_SAMPLE_COLUMNS if c in columns]
    wanted = ["text", "reference", "prediction", *optional]
    data = read_columns(samples_path, wanted)
    headers = ["Review", "Reference headline", "New model", *(OPTIONAL_SAMPLE_COLUMNS[c] for c in optional)]
    rows = [list(values) for values in zip(*(data[c][:limit] for c in wanted), strict=True)]
    return headers, rows


def zero_shot_row(spec: ReportSpec, table: dict) -> list[str]:
    """The seed's "no fine-tuning" row: the base model as it was, on the same rows."""
    zero_shot = spec["evaluation"]["baselines"]["zeroShot"]
    size = f"{human_count(table['parameters'])} params"
    if zero_shot["rouge"] is None:
        return [f"{zero_shot['model']}, no fine-tuning", size, f"not scored: {zero_shot['skipped']}", "n/a", "n/a", "n/a", "n/a"]
    example = read_columns(spec["evaluation"]["samplesPath"], ["zero_shot_prediction"])["zero_shot_prediction"][0]
    return [
        f"{zero_shot['model']}, no fine-tuning", size, f"{example} (the first validation review's headline)",
        "n/a", "n/a", "not measured", f"{zero_shot['rouge']['rougeL']:.4f}",
    ]  # fmt: skip


def training_text(train: dict, price: float) -> str:
    """How training ended: the best checkpoint and what early stopping did, as sentences."""
    evaluations, stopping = train["evaluations"], train["earlyStopping"]
    if evaluations is None:
        return "No evaluation during training (train.evalEverySteps is off): the model is the last step's."
    best = evaluations["best"]
    parts = [
        f"{evaluations['done']} evaluations during training on {evaluations['samples']} validation rows "
        f"({human_duration(evaluations['seconds'])} in all)."
    ]
    if best is not None:
        stderr = f" ± {best['rougeLStdErr']:.4f} (standard error over the rows)" if best["rougeLStdErr"] is not None else ""
        parts.append(f"The model is the best checkpoint: step {best['step']}, validation ROUGE-L {best['rougeL']:.4f}{stderr}.")
    if stopping is not None:
        basis = stopping["basis"]
        parts.append(
            f"Early stopping decides on the validation loss (patience {basis['patience']}, minDelta {basis['minDelta']:.1%}, "
            f"no stop before step {basis['warmupSteps']}), a new best ROUGE-L also counting as progress."
        )
        if stopping["stopped"]:
            parts.append(
                f"Early stopping: {stopping['reason']}; {stopping['stepsSaved']} of {stopping['configuredSteps']} configured "
                f"steps saved, {stopping['gpuHoursSaved']:.2f} GPU-hours (${stopping['gpuHoursSaved'] * price:,.2f})."
            )
        else:
            parts.append(f"Early stopping did not stop: {stopping['reason']}.")
    return " ".join(parts)


def rouge_rows(evaluation: dict) -> list[list[str]]:
    """The model, the champion and every baseline with their ROUGE on the same rows; a baseline
    that was not scored says why."""
    rows = [[label, *(f"{scores[k]:.4f}" for k in ROUGE_KEYS)]
            for label, scores, _ in rouge_bars(evaluation["rouge"], evaluation["champion"], evaluation["baselines"])]
    zero_shot = evaluation["baselines"]["zeroShot"]
    if zero_shot["rouge"] is None:
        rows.append(["base model zero-shot", f"not scored: {zero_shot['skipped']}", "", "", ""])
    return rows


def baselines_text(evaluation: EvaluateResult) -> str:
    """What each baseline answers, how lead-N's N was chosen, and which is strongest."""
    baselines = evaluation["baselines"]
    lead, chosen, best = baselines["lead"], baselines["lead"]["chosenOn"], baselines["best"]
    names = {"lead": f"lead-{lead['words']}", "common": "the most common headline", "zeroShot": "the base model zero-shot"}
    return (
        f"Baselines on the same {evaluation['numExamples']} rows with the same scorer: lead-N is the review's first N "
        f"words, N = {lead['words']}, the best of 1..{chosen['maxWords']} against the headlines of {chosen['trainRows']} "
        f"training rows (ROUGE-L {chosen['trainRougeL']:.4f} there); the most common training headline (counted "
        f"case-folded) is \u201c{baselines['common']['headline']}\u201d; zero-shot is {baselines['zeroShot']['model']} "
        f"without fine-tuning. The strongest is {names[best['name']]}, ROUGE-L {best['rougeL']:.4f}."
    )


def predictions_text(spread: PredictionSpread) -> str:
    """How varied the model's summaries are, said plainly when most are one string."""
    if spread["degenerate"] is not None:
        return f"Most summaries are one string: {spread['degenerate']} ({spread['distinctShare']:.0%} distinct)."
    return (
        f"{spread['distinctShare']:.0%} of the summaries are distinct; the most common, "
        f"\u201c{spread['mostCommon']}\u201d, is written for {spread['mostCommonShare']:.0%} of reviews."
    )


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
        ["Model", "Model size", "Example summary", "Tuning time", "Estimated cost", "Inference latency", "ROUGE-L"],
        [zero_shot_row(spec, table), [*table_cells(table, spec["gpus"], price, spec["train"]["device"]), f"{rouge['rougeL']:.4f}"]],
    ).replace(
        "<thead>",
        f"<caption>Tuning time: the train step's wall time, every attempt included; cost: GPU-hours x "
        f"report.gpuHourPrice (${price:,.2f}); latency: one input summarized alone, model loaded; ROUGE-L on the "
        f"{spec['evaluation']['numExamples']} validation rows evaluate scored.</caption><thead>",
        1,
    )
    curve = figure(plots["curve"], "validation ROUGE per evaluation during training, with the stopping point") if "curve" in plots else ""
    spread = spec["evaluation"]["predictions"]
    # A model that writes one answer for most reviews is the first thing a reader should see.
    spread_text = html.escape(predictions_text(spread))
    spread_paragraph = f"<p><strong>{spread_text}</strong></p>" if spread["degenerate"] is not None else f"<p>{spread_text}</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tuneflow report {html.escape(spec['pipelineId'])}</title>
<style>{STYLE}</style></head><body>
<h1>Run report: {html.escape(spec['pipelineId'])}</h1>
<p>{html.escape(config['model']['nameOrPath'])} fine-tuned for {spec['train']['globalStep']} steps on
{html.escape(spec['train']['device'])}, registered as {html.escape(table['model'])}.
ROUGE-L {rouge['rougeL']:.4f} on {spec['evaluation']['numExamples']} validation rows ({html.escape(versus)}).</p>
{spread_paragraph}
<p>{html.escape(training_text(spec['train'], price))}</p>
<h2>Summary</h2>
{seed_table}
<h2>Against the baselines</h2>
{html_table(["Model or baseline", *ROUGE_KEYS], rouge_rows(spec["evaluation"]))}
<p>{html.escape(baselines_text(spec["evaluation"]))}</p>
<h2>Plots</h2>
{curve}
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
    if spec["train"]["evaluations"] is not None:
        plots["curve"] = os.path.join(output_dir, CURVE_PNG)
        curves = {key: metric_curve(client, run_id, f"val_{key}") for key in ("rouge1", "rouge2", "rougeL", "loss")}
        plot_rouge_curve(curves, spec["train"]["evaluations"], spec["train"]["earlyStopping"],
                         spec["evaluation"]["baselines"], plots["curve"])  # fmt: skip
    plot_rouge(spec["evaluation"]["rouge"], spec["evaluation"]["champion"], spec["evaluation"]["baselines"], plots["rouge"])
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
