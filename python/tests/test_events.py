"""The event protocol (lib/python-step/protocol.ts) and the mapping of failures to error events."""

import errno
import json
import os
import socket
import subprocess
import sys
import time

import pytest
import torch

from conftest import PYTHON_DIR
from tuneflow_ml import events
from tuneflow_ml.events import StepError


@pytest.fixture
def events_socket(tmp_path, monkeypatch):
    """A listening socket named by TUNEFLOW_EVENTS_SOCKET; read_events() returns what was sent
    after the `rank joined` that every connection starts with.
    The orphan watchdog is off: it would end pytest itself when the test closes the socket."""
    path = str(tmp_path / "events.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    monkeypatch.setenv("TUNEFLOW_EVENTS_SOCKET", path)
    monkeypatch.setattr(events, "_channel", None)
    monkeypatch.setattr(events, "_exit_when_orphaned", lambda channel, on_request: None)

    def read_events() -> list[dict]:
        events._channel.shutdown(socket.SHUT_WR)
        connection, _ = server.accept()
        with connection.makefile(encoding="utf-8") as lines:
            joined, *sent = [json.loads(line) for line in lines]
        assert (joined["event"], joined["state"], joined["pid"]) == ("rank", "joined", os.getpid())
        return sent

    yield read_events
    server.close()


def run_in_process(main, read_events) -> tuple[int, list[dict]]:
    """run_step with the events socket: (exit code, the events between `rank joined` and `rank left`)."""
    with pytest.raises(SystemExit) as exit_info:
        events.run_step(main, "train")
    *between, left = read_events()
    assert (left["event"], left["state"]) == ("rank", "left")
    return exit_info.value.code, between


def test_result_event_and_exit_0(events_socket):
    code, emitted = run_in_process(lambda: {"globalStep": 3}, events_socket)
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
        # The storage refusing a write: retryable (a person fixes the volume), named with its path.
        (OSError(errno.EROFS, "Read-only file system", "/runs/p/train/spec.json"), "StorageUnwritable", True, "/runs/p/train/spec.json"),
    ],
)
def test_failures_map_to_one_error_event(events_socket, capfd, exc, kind, retryable, mentions):
    code, emitted = run_in_process(raiser(exc), events_socket)
    assert code == 1
    assert len(emitted) == 1
    error = emitted[0]
    assert error["event"] == "error"
    assert error["kind"] == kind
    assert error["retryable"] is retryable
    assert mentions in error["message"]
    assert "Traceback" in capfd.readouterr().err  # the traceback goes to stderr for the logs


@pytest.mark.parametrize(
    "exc, expected",
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (torch.cuda.OutOfMemoryError("CUDA out of memory"), True),
        (torch.OutOfMemoryError(""), True),  # the class alone says so
        # What generation.py split batches on: backends that raise a plain RuntimeError.
        (RuntimeError("CUDA error: out of memory"), True),
        (RuntimeError("MPS backend out of memory (MPS allocated: 8.00 GB)"), True),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GiB"), True),
        (MemoryError(), True),
        (RuntimeError("shape mismatch"), False),
        (ValueError("the out of memory test in the docs"), False),  # only torch's RuntimeErrors say it
        (StepError("InvalidConfig", "train.bf16 is true"), False),
    ],
)
def test_is_out_of_memory(exc, expected):
    assert events.is_out_of_memory(exc) is expected


def test_memory_error_without_message_names_its_class():
    kind, message, retryable = events.describe_failure(MemoryError(), "evaluate")
    assert (kind, retryable) == ("OutOfMemory", False)
    assert "(MemoryError)" in message and "evaluate.batchSize" in message


def wrapped(outer: Exception, inner: Exception) -> Exception:
    """outer raised from inner, as a library that wraps the OSError raises it."""
    try:
        try:
            raise inner
        except Exception as exc:
            raise outer from exc
    except Exception as exc:
        return exc


@pytest.mark.parametrize(
    "exc, code, file",
    [
        (OSError(errno.ENOSPC, "No space left on device", "/runs/c/optimizer.pt"), errno.ENOSPC, "/runs/c/optimizer.pt"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), errno.EDQUOT, None),
        # safetensors keeps only the words of the OSError it hit.
        (RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)"), errno.ENOSPC, None),
        (wrapped(RuntimeError("PytorchStreamWriter failed writing file data/0"), OSError(errno.EROFS, "Read-only file system", "/runs/c")), errno.EROFS, "/runs/c"),
        (OSError(errno.ENOENT, "No such file or directory", "/runs/c"), None, None),
        (ValueError("no space for the sentence"), None, None),
    ],
)
def test_storage_fault_finds_the_errno_through_wrappers(exc, code, file):
    assert events.storage_fault(exc) == (None if code is None else (code, file))


def test_storage_fault_message_says_what_to_do():
    kind, message, retryable = events.describe_failure(RuntimeError("I/O error: No space left on device (os error 28)"), "summarize")
    assert (kind, retryable) == ("StorageUnwritable", True)
    assert "ENOSPC" in message and "free space" in message and "retried" in message


def test_protocol_lists_are_the_literal_types():
    assert events.FAILURE_KINDS == ("InvalidConfig", "InvalidData", "OutOfMemory", "StorageUnwritable", "Internal")
    assert set(events.EVENT_TYPES) == {"progress", "checkpoint", "metrics", "log", "result", "error", "ready", "rank"}


def test_out_of_memory_advice_names_every_remedy():
    _, message, _ = events.describe_failure(torch.OutOfMemoryError("CUDA out of memory"), "train")
    for remedy in ("perDeviceTrainBatchSize", "gradientCheckpointing", "deepspeed.stage", "offload"):
        assert remedy in message
    _, message, _ = events.describe_failure(torch.OutOfMemoryError("CUDA out of memory"), "summarize")
    assert "summarize.batchSize" in message and "perDeviceTrainBatchSize" not in message


def test_progress_fields_and_non_finite_loss(events_socket):
    events.progress("steps", 5, 10, epoch=0.5, loss=float("nan"), samples_per_sec=12.5)
    events.metrics({"eval_rouge1": 0.5, "broken": float("inf")})
    progress, metrics = events_socket()
    assert progress == {
        "event": "progress",
        "unit": "steps",
        "step": 5,
        "totalSteps": 10,
        "epoch": 0.5,
        "loss": None,  # JSON has no NaN; zod accepts null
        "samplesPerSec": 12.5,
        "etaSeconds": None,
    }
    assert metrics == {"event": "metrics", "metrics": {"eval_rouge1": 0.5}, "step": None}


def test_without_fd_events_go_to_stderr(monkeypatch, capfd):
    monkeypatch.delenv("TUNEFLOW_EVENTS_SOCKET", raising=False)
    events.log("by hand")
    out, err = capfd.readouterr()
    assert out == ""
    assert json.loads(err) == {"event": "log", "level": "info", "message": "by hand"}


def test_only_rank_0_emits(monkeypatch, capfd):
    monkeypatch.delenv("TUNEFLOW_EVENTS_SOCKET", raising=False)
    monkeypatch.setenv("RANK", "1")
    events.log("from rank 1")
    assert capfd.readouterr().err == ""


def test_rank_1_reports_its_own_failure(events_socket, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    events.log("not from rank 1")
    events.error("OutOfMemory", "rank 1 ran out of memory", retryable=False)
    assert [e["event"] for e in events_socket()] == ["error"]


def test_step_exits_when_its_activity_goes_away(tmp_path):
    """A killed worker closes its end of the socket: the step must not train on as an orphan."""
    path = str(tmp_path / "events.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    step = subprocess.Popen(
        [sys.executable, "-c", "import time; from tuneflow_ml import events; events.connect(); time.sleep(60)"],
        env={"TUNEFLOW_EVENTS_SOCKET": path, "PYTHONPATH": str(PYTHON_DIR)},
        stderr=subprocess.PIPE,
    )
    connection, _ = server.accept()
    time.sleep(0.5)
    assert step.poll() is None  # alive while the activity is
    connection.close()
    server.close()
    assert step.wait(timeout=10) == events.ORPHANED_EXIT_CODE
    assert b"worker is gone" in step.stderr.read()


def test_step_exits_when_its_worker_and_the_stderr_reader_are_gone(tmp_path):
    """A dead worker also closed the pipes it read the step's output from: the watchdog's last
    message then fails to write (BrokenPipeError), and the step must exit all the same."""
    path = str(tmp_path / "events.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    read_end, write_end = os.pipe()
    step = subprocess.Popen(
        [sys.executable, "-c", "import time; from tuneflow_ml import events; events.connect(); time.sleep(60)"],
        env={"TUNEFLOW_EVENTS_SOCKET": path, "PYTHONPATH": str(PYTHON_DIR)},
        stderr=write_end,
    )
    os.close(write_end)
    connection, _ = server.accept()
    os.close(read_end)  # nobody reads the step's stderr any more
    connection.close()
    server.close()
    assert step.wait(timeout=10) == events.ORPHANED_EXIT_CODE
