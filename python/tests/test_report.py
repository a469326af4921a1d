"""report: the plots are real PNGs, the seed's table holds the right figures, the samples are
escaped and capped, and everything lands in the MLflow run under report/."""

import pyarrow as pa
import pyarrow.parquet as pq
from matplotlib.image import imread
from mlflow import MlflowClient
from transformers import T5Config, T5ForConditionalGeneration

from conftest import default_config, new_run, run_step
from tuneflow_ml.report import loss_curve, predictions_text, table_cells

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROUGE = {"rouge1": 0.42, "rouge2": 0.21, "rougeL": 0.40, "rougeLsum": 0.40}
CHAMPION_ROUGE = {"rouge1": 0.38, "rouge2": 0.19, "rougeL": 0.35, "rougeLsum": 0.36}
BASELINES = {
    "lead": {"words": 4, "rouge": {"rouge1": 0.2, "rouge2": 0.1, "rougeL": 0.18, "rougeLsum": 0.18},
             "chosenOn": {"trainRows": 1000, "maxWords": 40, "trainRougeL": 0.19}},
    "common": {"headline": "Great camera", "rouge": {"rouge1": 0.15, "rouge2": 0.05, "rougeL": 0.14, "rougeLsum": 0.14}},
    "zeroShot": {"model": "tiny-t5", "rouge": None, "skipped": "tiny-t5 has random weights"},
    "best": {"name": "lead", "rougeL": 0.18},
}
# Most summaries one string: the report says so first.
DEGENERATE = {"distinctShare": 0.1, "mostCommon": "Five Stars", "mostCommonShare": 0.81,
              "degenerate": "the model writes 'Five Stars' for 81% of reviews"}


def fake_pipeline(tmp_path, mlflow_uri) -> tuple[dict, int]:
    """A finished pipeline's results without running it: a model config (no weights: the report
    counts parameters on the meta device), a run with a resumed loss curve, samples, summaries."""
    model_dir = tmp_path / "model"
    t5 = T5Config(vocab_size=64, d_model=16, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=8)
    t5.save_pretrained(model_dir)
    expected_params = T5ForConditionalGeneration(t5).num_parameters()

    run_id = new_run(mlflow_uri)
    client = MlflowClient(mlflow_uri)
    # Steps 5 and 10, then a retry resumed from step 5's checkpoint logs 10 again, and 15.
    for timestamp, step, loss in [(1, 5, 2.0), (2, 10, 1.6), (3, 10, 1.4), (4, 15, 1.1)]:
        client.log_metric(run_id, "train_loss", loss, timestamp=timestamp, step=step)
    client.log_metric(run_id, "train_samples_per_second", 12.5, step=15)
    # Evaluations during training every 5 steps; the best at step 5, stopped at 15 of 40.
    for step, rouge_l in [(5, 0.31), (10, 0.30), (15, 0.29)]:
        for key, value in (("val_rouge1", rouge_l + 0.1), ("val_rouge2", rouge_l - 0.1), ("val_rougeL", rouge_l), ("val_loss", 2.0)):
            client.log_metric(run_id, key, value, step=step)

    samples_path = str(tmp_path / "samples.parquet")
    pq.write_table(
        pa.table({
            "text": ["The <b>lens</b> is sharp.", "Battery died after a week.", "Third review, past the cap."],
            "reference": ["Sharp lens", "Weak battery", "Third"],
            "prediction": ["sharp lens", "battery died", "third"],
            "champion_prediction": ["lens", "battery", "third"],
        }),
        samples_path,
    )
    products = str(tmp_path / "product_summaries.parquet")
    pq.write_table(pa.table({"product_id": ["P0", "P1"], "summary": ["", "Great lens & fast"]}), products)

    config = default_config()
    config["mlflow"]["trackingUri"] = mlflow_uri
    config["report"] |= {"gpuHourPrice": 2.5, "samples": 2}
    spec = {
        "pipelineId": "report-test",
        "config": config,
        "outputDir": str(tmp_path / "report"),
        "mlflowRunId": run_id,
        "train": {"modelDir": str(model_dir), "mlflowRunId": run_id, "modelUri": "models:/m-1", "globalStep": 15,
                  "trainLoss": 1.1, "device": "NVIDIA H200", "bf16": True, "resumedFrom": None, "metricsNotLogged": 0, "checkpointUploads": None,
                  "evaluations": {"done": 3, "samples": 200, "seconds": 42.0,
                                  "best": {"step": 5, "rougeL": 0.31, "rougeLStdErr": 0.02, "checkpoint": str(tmp_path / "checkpoint-5")}},
                  "earlyStopping": {"stopped": True, "step": 15, "configuredSteps": 40, "stepsSaved": 25, "gpuHoursSaved": 1.5,
                                    "reason": "validation loss did not fall ... : stopped at step 15 of 40",
                                    "basis": {"signal": "validationLoss", "patience": 2, "minDelta": 0.005, "warmupSteps": 8,
                                              "bestLoss": {"step": 10, "value": 2.0}, "rowsScored": 200}}},
        "evaluation": {"rouge": ROUGE, "numExamples": 3, "predictions": DEGENERATE, "samplesPath": samples_path,
                       "champion": {"version": "3", "rouge": CHAMPION_ROUGE}, "baselines": BASELINES},
        "summaries": {"products": {"parquet": products, "csv": products + ".csv", "rows": 2}, "reviews": None,
                      "summariesPerSec": 4.5, "latencyMs": {"p50": 120.0, "p95": 180.0, "samples": 16},
                      "shards": {"total": 1, "reused": 0, "dir": str(tmp_path)}, "warnings": []},
        "registered": {"modelName": "tuneflow-report-test", "version": "4"},
        "tuningMs": 5_400_000,  # 1.5 h
        "gpus": 2,
    }
    return spec, expected_params


def test_report_writes_plots_table_and_samples_and_logs_them(tmp_path, mlflow_uri):
    spec, expected_params = fake_pipeline(tmp_path, mlflow_uri)
    result = run_step("report", spec, tmp_path).result()

    names = [p.rsplit("/", 1)[-1] for p in result["plots"]]
    assert names == ["loss.png", "rouge.png", "throughput.png", "rouge_steps.png"]
    for path in result["plots"]:
        with open(path, "rb") as f:
            assert f.read(8) == PNG_SIGNATURE
        height, width, _ = imread(path).shape
        assert width >= 600 and height >= 300  # rendered at 6.4 x 3.2 in or more, 100 dpi

    table = result["table"]
    assert table == {
        "model": "tuneflow-report-test v4",
        "parameters": expected_params,
        "exampleSummary": "Great lens & fast",  # the first non-empty product summary
        "tuningSeconds": 5400.0,
        "gpuHours": 3.0,  # 2 GPUs x 1.5 h
        "estimatedCostUsd": 7.5,  # x $2.50
        "latencyMs": {"p50": 120.0, "p95": 180.0, "samples": 16},
    }

    with open(result["htmlPath"], encoding="utf-8") as f:
        page = f.read()
    for header in ["Model size", "Example summary", "Tuning time", "Estimated cost", "Inference latency"]:
        assert f"<th>{header}</th>" in page
    assert "Great lens &amp; fast" in page
    assert "1 h 30 min" in page and "$7.50 (3.00 GPU-hours x $2.50)" in page
    assert "p50 120 ms, p95 180 ms (16 single calls)" in page
    for name in names:
        assert f'href="{name}"' in page
    assert "data:image/png;base64," in page
    # Samples: escaped, with the champion's column, capped at report.samples.
    assert "The &lt;b&gt;lens&lt;/b&gt; is sharp." in page and "<b>lens" not in page
    assert "<th>Champion</th>" in page and "Third review" not in page
    # The baselines beside the model, the one not scored with its reason.
    assert "<td>lead-4 (first words)</td><td>0.2000</td><td>0.1000</td><td>0.1800</td>" in page
    assert "<td>most common headline</td><td>0.1500</td>" in page
    assert "not scored: tiny-t5 has random weights" in page
    assert "N = 4, the best of 1..40 against the headlines of 1000 training rows (ROUGE-L 0.1900 there)" in page
    assert "The strongest is lead-4, ROUGE-L 0.1800." in page
    # One answer for most reviews is said plainly, in bold.
    assert "<p><strong>Most summaries are one string: the model writes &#x27;Five Stars&#x27; for 81% of reviews (10% distinct).</strong></p>" in page
    # The seed's table gains the no-fine-tuning row; training says how it ended.
    assert "<td>tiny-t5, no fine-tuning</td>" in page and "<th>ROUGE-L</th>" in page
    assert "The model is the best checkpoint: step 5, validation ROUGE-L 0.3100 ± 0.0200 (standard error over the rows)." in page
    assert "Early stopping decides on the validation loss (patience 2, minDelta 0.5%, no stop before step 8)" in page
    assert "25 of 40 configured steps saved, 1.50 GPU-hours ($3.75)" in page

    logged = {a.path for a in MlflowClient(mlflow_uri).list_artifacts(spec["mlflowRunId"], "report")}
    assert logged == {"report/report.html", "report/loss.png", "report/rouge.png", "report/throughput.png", "report/rouge_steps.png"}


def test_loss_curve_keeps_the_latest_value_of_a_step_logged_twice(tmp_path, mlflow_uri):
    spec, _ = fake_pipeline(tmp_path, mlflow_uri)
    assert loss_curve(MlflowClient(mlflow_uri), spec["mlflowRunId"]) == [(5, 2.0), (10, 1.4), (15, 1.1)]


def test_varied_summaries_are_described_without_alarm():
    varied = {"distinctShare": 0.84, "mostCommon": "Sharp lens", "mostCommonShare": 0.03, "degenerate": None}
    assert predictions_text(varied) == "84% of the summaries are distinct; the most common, \u201cSharp lens\u201d, is written for 3% of reviews."


def test_a_cpu_run_costs_no_gpu_hours_and_missing_latency_is_said():
    table = {"model": "m v1", "parameters": 60_506_624, "exampleSummary": None, "tuningSeconds": 95.0,
             "gpuHours": 0.0, "estimatedCostUsd": 0.0, "latencyMs": None}
    cells = table_cells(table, gpus=0, price=4.0, device="cpu")
    assert cells == [
        "m v1",
        "60.5M params",
        "(no product had summarize.minReviews reviews)",
        "1 min 35 s",
        "$0.00 (trained on cpu: no GPU-hours)",
        "not measured (summarize.latencySamples is 0)",
    ]
