"""The writing side of lib/python-step/protocol.ts: one JSON object per line, each with key "event".

Events go to the socket named by TUNEFLOW_EVENTS_SOCKET (the TypeScript activity listens on
it), never to stdout, which libraries print to: a Unix socket path on one host, or
`tcp://host:port` when the ranks run on other nodes (a hostfile), which then prove themselves with
TUNEFLOW_EVENTS_TOKEN. A socket, not an inherited pipe, because the DeepSpeed launcher closes
inherited descriptors before it starts the ranks, and every rank can connect to a path or an
address. Without that variable (a person running a step by hand) events go to stderr.

Every process says `rank joined` first (its rank, node rank and pid) and `rank left` when it
exits by itself, so the activity knows a rank that vanished (killed, its node lost) at once, and
which node it was on. Under a launcher (DeepSpeed, torchrun) only rank 0 reports progress and
results; any rank reports its own failure. The connection also tells each rank that its activity
is alive: when the worker process dies (SIGKILL, lost machine) or stops the step, the socket
closes and the rank exits at once, on whichever node it runs, so that an orphaned training cannot
write checkpoints beside the retried attempt.
"""

import errno
import json
import math
import os
import socket
import sys
import threading
import traceback
from typing import Any, Callable, Literal, NoReturn, get_args

# The same lists as lib/failures.ts FailureKind and lib/python-step/protocol.ts StepEvent;
# test/unit/protocol-lists.test.ts fails when they differ.
FailureKind = Literal["InvalidConfig", "InvalidData", "OutOfMemory", "StorageUnwritable", "Internal"]
FAILURE_KINDS: tuple[FailureKind, ...] = get_args(FailureKind)
EventType = Literal["progress", "checkpoint", "metrics", "log", "result", "error", "ready", "rank"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)

EVENTS_SOCKET_ENV = "TUNEFLOW_EVENTS_SOCKET"
EVENTS_TOKEN_ENV = "TUNEFLOW_EVENTS_TOKEN"
TCP_SCHEME = "tcp://"
# Exit status of a rank whose activity went away (EX_SOFTWARE is taken by Python itself).
ORPHANED_EXIT_CODE = 75


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


_channel: socket.socket | None = None
_channel_lock = threading.Lock()


def _exit_when_orphaned(channel: socket.socket, on_request: Callable[[dict], None] | None) -> None:
    # A step's activity never writes to it: the only thing recv can return is end-of-file (or an
    # error), which means the worker process that owns this step is gone. The generation engine
    # gets its requests this way, one JSON object per line, until the same end-of-file.
    pending = b""
    why = "events socket closed: the activity's worker is gone; exiting without a checkpoint\n"
    try:
        while data := channel.recv(65536):
            if on_request is None:
                continue
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                on_request(json.loads(line))
    except OSError:
        pass
    except ValueError as exc:
        why = f"events socket: a request that is not JSON ({exc}); exiting so that the worker starts a new process\n"
    # Whatever happens, exit: the worker that read stderr is usually gone too, and a write to its
    # pipe raises (BrokenPipeError), which must not end this thread with the process left running.
    try:
        sys.stderr.write(why)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(ORPHANED_EXIT_CODE)


def _open_channel(address: str) -> socket.socket:
    """A connected socket to the activity: `tcp://host:port` or a Unix socket path."""
    try:
        if address.startswith(TCP_SCHEME):
            host, _, port = address[len(TCP_SCHEME):].rpartition(":")
            channel = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
            channel.settimeout(None)
            channel.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            return channel
        channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        channel.connect(address)
        return channel
    except OSError as exc:
        raise RuntimeError(
            f"cannot connect to the events socket {address} ({EVENTS_SOCKET_ENV}): {exc.strerror or exc}; "
            "steps are started by a tuneflow activity (on another node: the worker's address must be reachable "
            "from here, see TUNEFLOW_EVENTS_HOST), or by hand without that variable"
        ) from exc


def _rank_fields(state: Literal["joined", "left"]) -> dict[str, Any]:
    return {
        "state": state,
        "rank": int(os.environ.get("RANK", "0")),
        "localRank": int(os.environ.get("LOCAL_RANK", "0")),
        # DeepSpeed's launcher numbers the nodes of the hostfile (CROSS_RANK); one host is node 0.
        "nodeRank": int(os.environ.get("CROSS_RANK", "0")),
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
    }


def connect(on_request: Callable[[dict], None] | None = None) -> socket.socket | None:
    """Connects to the activity's socket (once per process), says `rank joined` and starts the
    orphan watchdog, which hands every request line to `on_request` (the engine's; a step gets none)."""
    global _channel
    address = os.environ.get(EVENTS_SOCKET_ENV)
    if address is None:
        return None
    with _channel_lock:
        if _channel is None:
            channel = _open_channel(address)
            joined = {"event": "rank", **_rank_fields("joined"), "token": os.environ.get(EVENTS_TOKEN_ENV)}
            try:
                channel.sendall((json.dumps(joined) + "\n").encode("utf-8"))
            except OSError:
                os._exit(ORPHANED_EXIT_CODE)  # the activity went away (or refused us) as we connected
            threading.Thread(target=_exit_when_orphaned, args=(channel, on_request), daemon=True).start()
            _channel = channel
        return _channel


def left() -> None:
    """This process exits by itself, its failure (if any) reported: its connection closing now is no loss."""
    emit("rank", {**_rank_fields("left"), "token": None}, every_rank=True)


def emit(event: EventType, fields: dict[str, Any], every_rank: bool = False) -> None:
    """Write one event line at once, so the activity can heartbeat on it."""
    if not (every_rank or _is_main_process()):
        return
    line = json.dumps({"event": event, **fields}, allow_nan=False) + "\n"
    channel = connect()
    if channel is None:
        sys.stderr.write(line)
        sys.stderr.flush()
        return
    with _channel_lock:
        channel.sendall(line.encode("utf-8"))


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
    eta_seconds: float | None = None,
) -> None:
    emit(
        "progress",
        {
            "unit": unit,
            "step": int(step),
            "totalSteps": int(total_steps),
            "epoch": _finite(epoch),
            "loss": _finite(loss),
            "samplesPerSec": _finite(samples_per_sec),
            "etaSeconds": _finite(eta_seconds),
        }
    )


def checkpoint(path: str, step: int) -> None:
    emit("checkpoint", {"path": path, "step": int(step)})


def metrics(values: dict[str, float], step: int | None = None) -> None:
    finite = {name: float(v) for name, v in values.items() if _finite(v) is not None}
    emit("metrics", {"metrics": finite, "step": None if step is None else int(step)})


def log(message: str, level: Literal["info", "warning"] = "info") -> None:
    emit("log", {"level": level, "message": message})


def result(values: dict[str, Any]) -> None:
    emit("result", {"result": values})


def ready(device: str) -> None:
    emit("ready", {"pid": os.getpid(), "device": device})


def error(kind: FailureKind, message: str, retryable: bool) -> None:
    emit("error", {"kind": kind, "retryable": retryable, "message": message}, every_rank=True)


# Torch's allocators report through RuntimeError (torch.OutOfMemoryError is one) when they do
# not raise torch.OutOfMemoryError itself: "CUDA out of memory", "CUDA error: out of memory",
# "MPS backend out of memory", "DefaultCPUAllocator: can't allocate memory".
_OUT_OF_MEMORY_MESSAGES = ("out of memory", "can't allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether exc means the device or host ran out of memory: the one rule for the error event's
    kind (train, evaluate, summarize) and for generation's batch splitting."""
    if isinstance(exc, MemoryError):  # Python's own allocations on the host
        return True
    torch = sys.modules.get("torch")  # a step that never imported torch cannot raise its errors
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(text in message for text in _OUT_OF_MEMORY_MESSAGES)


OUT_OF_MEMORY_ADVICE = {
    "train": "lower train.perDeviceTrainBatchSize (raise train.gradientAccumulationSteps to keep the "
    "effective batch), set train.gradientCheckpointing: true, use a higher ZeRO stage "
    "(train.deepspeed.stage: 3), or offload (train.deepspeed.offloadOptimizer/offloadParam)",
    "evaluate": "lower evaluate.batchSize or evaluate.numBeams",
    "summarize": "lower summarize.batchSize, summarize.numBeams or model.maxSourceLength",
}


# A write the storage itself refused (the same three as lib/storage-fault.ts): what it means, what to do.
STORAGE_PROBLEMS = {
    errno.EROFS: ("the file system is read-only", "make it writable again (remount it read-write) or point storage.root at a writable volume"),
    errno.ENOSPC: (
        "no space is left on the device",
        "free space on that volume (df shows it), lower train.keepCheckpoints, or point storage.root at a larger volume",
    ),
    errno.EDQUOT: ("the disk quota is exceeded", "raise the quota or free space in it"),
}
# Libraries that wrap the OSError in their own exception (safetensors, torch's zip writer) keep its words.
_STORAGE_MESSAGES = {"read-only file system": errno.EROFS, "no space left on device": errno.ENOSPC, "disk quota exceeded": errno.EDQUOT}


def storage_fault(exc: BaseException) -> tuple[int, str | None] | None:
    """(errno, the file it names, if any) when exc, or an exception it was raised from, is the
    storage refusing a write; None otherwise."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, OSError) and node.errno in STORAGE_PROBLEMS:
            return node.errno, node.filename if isinstance(node.filename, str) else None
        message = str(node).lower()
        for words, code in _STORAGE_MESSAGES.items():
            if words in message:
                return code, None
        node = node.__cause__ or node.__context__
    return None


def describe_storage_fault(code: int, where: str) -> str:
    """`<where>: <what> (ENOSPC); <what to do>; the step is retried ...`: the error event's message."""
    what, todo = STORAGE_PROBLEMS[code]
    return f"{where}: {what} ({errno.errorcode[code]}); {todo}: the step is retried by itself and goes on once the storage is writable"


def describe_failure(exc: BaseException, step_name: str) -> tuple[FailureKind, str, bool]:
    """Maps an exception to (kind, message, retryable) for the error event."""
    if isinstance(exc, StepError):
        return exc.kind, exc.message, exc.retryable
    fault = storage_fault(exc)
    if fault is not None:
        code, file = fault
        # Retryable: the volume is fixed by a person, and the retry then succeeds.
        where = f"{step_name} cannot write {file}" if file else f"{step_name} could not write its output ({type(exc).__name__}: {exc})"
        return "StorageUnwritable", describe_storage_fault(code, where), True
    # A MemoryError usually has no message: its class name says what happened.
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if is_out_of_memory(exc):
        # The same batch on the same device runs out of memory again: retrying wastes GPU hours.
        return "OutOfMemory", f"{step_name} ran out of memory ({first_line}); {OUT_OF_MEMORY_ADVICE.get(step_name, 'lower the batch size')}", False
    return (
        "Internal",
        f"{step_name} failed: {type(exc).__name__}: {first_line} (traceback on the step's stderr); "
        "a retry may pass if the cause was transient, else report it with the traceback",
        True,
    )


def run_step(main: Callable[[], dict[str, Any]], step_name: str) -> NoReturn:
    """Runs a step's main, emits its result (exit 0) or one error event (exit 1)."""
    connect()  # before the work: the orphan watchdog must run while the step does
    try:
        values = main()
    except Exception as exc:  # every failure must reach the activity as an error event
        traceback.print_exc(file=sys.stderr)
        kind, message, retryable = describe_failure(exc, step_name)
        error(kind, message, retryable)
        left()
        sys.exit(1)
    result(values)
    left()
    sys.exit(0)
