"""The event protocol (lib/events.ts) and the mapping of failures to error events."""

import json
import os

import pytest
import torch

from tuneflow_ml import events
from tuneflow_ml.events import StepError


def run_in_process(main, monkeypatch) -> tuple[int, list[dict]]:
    """run_step with the events fd pointing at a pipe: (exit code, events)."""
    read_end, write_end = os.pipe()
    monkeypatch.setenv("TUNEFLOW_EVENTS_FD", str(write_end))
    with pytest.raises(SystemExit) as exit_info:
        events.run_step(main, "train")
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as pipe:
        return exit_info.value.code, [json.loads(line) for line in pipe]


def test_result_event_and_exit_0(monkeypatch):
    code, emitted = run_in_process(lambda: {"globalStep": 3}, monkeypatch)
    assert code == 0
    assert emitted == [{"event": "result", "result": {"globalStep": 3}}]


def raiser(exc: BaseException):
    def main():
        raise exc

    return main


@pytest.mark.parametrize(
    "exc, kind, retryable, mentions",
    [
        (StepError("InvalidData", "x.parquet lacks column summary"), "InvalidData", False, "x.parquet"),
        (StepError("InvalidConfig", "train.bf16 is true"), "InvalidConfig", False, "train.bf16"),
        (torch.OutOfMemoryError("CUDA out of memory."), "OutOfMemory", False, "perDeviceTrainBatchSize"),
        (RuntimeError("CUDA error: out of memory"), "OutOfMemory", False, "gradientCheckpointing"),
        (ValueError("unexpected tensor shape"), "Internal", True, "ValueError: unexpected tensor shape"),
    ],
)
def test_failures_map_to_one_error_event(monkeypatch, capfd, exc, kind, retryable, mentions):
    code, emitted = run_in_process(raiser(exc), monkeypatch)
    assert code == 1
    assert len(emitted) == 1
    error = emitted[0]
    assert error["event"] == "error"
    assert error["kind"] == kind
    assert error["retryable"] is retryable
    assert mentions in error["message"]
    assert "Traceback" in capfd.readouterr().err  # the traceback goes to stderr for the logs


def test_out_of_memory_advice_names_every_remedy():
    _, message, _ = events.describe_failure(torch.OutOfMemoryError("CUDA out of memory"), "train")
    for remedy in ("perDeviceTrainBatchSize", "gradientCheckpointing", "deepspeed.stage", "offload"):
        assert remedy in message
    _, message, _ = events.describe_failure(torch.OutOfMemoryError("CUDA out of memory"), "summarize")
    assert "summarize.batchSize" in message and "perDeviceTrainBatchSize" not in message


def test_progress_fields_and_non_finite_loss(monkeypatch):
    read_end, write_end = os.pipe()
    monkeypatch.setenv("TUNEFLOW_EVENTS_FD", str(write_end))
    events.progress("steps", 5, 10, epoch=0.5, loss=float("nan"), samples_per_sec=12.5)
    events.metrics({"eval_rouge1": 0.5, "broken": float("inf")})
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as pipe:
        progress, metrics = [json.loads(line) for line in pipe]
    assert progress == {
        "event": "progress",
        "unit": "steps",
        "step": 5,
        "totalSteps": 10,
        "epoch": 0.5,
        "loss": None,  # JSON has no NaN; zod accepts null
        "samplesPerSec": 12.5,
    }
    assert metrics == {"event": "metrics", "metrics": {"eval_rouge1": 0.5}, "step": None}


def test_without_fd_events_go_to_stderr(monkeypatch, capfd):
    monkeypatch.delenv("TUNEFLOW_EVENTS_FD", raising=False)
    events.log("by hand")
    out, err = capfd.readouterr()
    assert out == ""
    assert json.loads(err) == {"event": "log", "level": "info", "message": "by hand"}


def test_only_rank_0_emits(monkeypatch, capfd):
    monkeypatch.delenv("TUNEFLOW_EVENTS_FD", raising=False)
    monkeypatch.setenv("RANK", "1")
    events.log("from rank 1")
    assert capfd.readouterr().err == ""
