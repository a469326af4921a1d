"""The writing side of lib/events.ts: one JSON object per line, each with key "event".

Events go to the file descriptor named by TUNEFLOW_EVENTS_FD (the TypeScript activity passes 3),
never to stdout, which libraries print to. Without that variable (a person running a step by hand)
they go to stderr. Under a multi-process launcher (DeepSpeed, torchrun) only rank 0 speaks.
"""

import json
import math
import os
import sys
import traceback
from typing import Any, Callable, Literal, NoReturn

FailureKind = Literal["InvalidConfig", "InvalidData", "OutOfMemory", "Internal"]

EVENTS_FD_ENV = "TUNEFLOW_EVENTS_FD"


class StepError(Exception):
    """A failure the step understands. Config and data errors are not retryable: a retry would
    fail the same way."""

    def __init__(self, kind: FailureKind, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retryable = retryable


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def emit(event: dict[str, Any]) -> None:
    """Write one event line and flush it, so the activity can heartbeat on it at once."""
    if not _is_main_process():
        return
    line = json.dumps(event, allow_nan=False) + "\n"
    fd = os.environ.get(EVENTS_FD_ENV)
    if fd is None:
        sys.stderr.write(line)
        sys.stderr.flush()
        return
    data = line.encode("utf-8")
    # os.write may write part of a large line to a pipe; loop until all of it is out.
    while data:
        try:
            written = os.write(int(fd), data)
        except OSError as exc:
            raise RuntimeError(
                f"cannot write events to fd {fd} ({EVENTS_FD_ENV}): {exc.strerror}; start the step with that "
                "descriptor open (a launcher such as deepspeed or torchrun closes inherited descriptors)"
            ) from exc
        data = data[written:]


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or Infinity, and zod's number() rejects them: a diverged loss becomes null."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def progress(
    unit: Literal["steps", "examples"],
    step: int,
    total_steps: int,
    epoch: float | None = None,
    loss: float | None = None,
    samples_per_sec: float | None = None,
) -> None:
    emit(
        {
            "event": "progress",
            "unit": unit,
            "step": int(step),
            "totalSteps": int(total_steps),
            "epoch": _finite(epoch),
            "loss": _finite(loss),
            "samplesPerSec": _finite(samples_per_sec),
        }
    )


def checkpoint(path: str, step: int) -> None:
    emit({"event": "checkpoint", "path": path, "step": int(step)})


def metrics(values: dict[str, float], step: int | None = None) -> None:
    finite = {name: float(v) for name, v in values.items() if _finite(v) is not None}
    emit({"event": "metrics", "metrics": finite, "step": None if step is None else int(step)})


def log(message: str, level: Literal["info", "warning"] = "info") -> None:
    emit({"event": "log", "level": level, "message": message})


def result(values: dict[str, Any]) -> None:
    emit({"event": "result", "result": values})


def error(kind: FailureKind, message: str, retryable: bool) -> None:
    emit({"event": "error", "kind": kind, "retryable": retryable, "message": message})


def _is_out_of_memory(exc: BaseException) -> bool:
    torch = sys.modules.get("torch")  # a step that never imported torch cannot run out of GPU memory
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


OUT_OF_MEMORY_ADVICE = {
    "train": "lower train.perDeviceTrainBatchSize (raise train.gradientAccumulationSteps to keep the "
    "effective batch), set train.gradientCheckpointing: true, use a higher ZeRO stage "
    "(train.deepspeed.stage: 3), or offload (train.deepspeed.offloadOptimizer/offloadParam)",
    "evaluate": "lower evaluate.batchSize or evaluate.numBeams",
    "summarize": "lower summarize.batchSize, summarize.numBeams or model.maxSourceLength",
}


def describe_failure(exc: BaseException, step_name: str) -> tuple[FailureKind, str, bool]:
    """Maps an exception to (kind, message, retryable) for the error event."""
    if isinstance(exc, StepError):
        return exc.kind, exc.message, exc.retryable
    first_line = (str(exc).strip().splitlines() or [""])[0]
    if _is_out_of_memory(exc):
        # The same batch on the same device runs out of memory again: retrying wastes GPU hours.
        return "OutOfMemory", f"{step_name} ran out of memory ({first_line}); {OUT_OF_MEMORY_ADVICE[step_name]}", False
    return (
        "Internal",
        f"{step_name} failed: {type(exc).__name__}: {first_line} (traceback on the step's stderr); "
        "a retry may pass if the cause was transient, else report it with the traceback",
        True,
    )


def run_step(main: Callable[[], dict[str, Any]], step_name: str) -> NoReturn:
    """Runs a step's main, emits its result (exit 0) or one error event (exit 1)."""
    try:
        values = main()
    except Exception as exc:  # every failure must reach the activity as an error event
        traceback.print_exc(file=sys.stderr)
        kind, message, retryable = describe_failure(exc, step_name)
        error(kind, message, retryable)
        sys.exit(1)
    result(values)
    sys.exit(0)
