"""The generation engine: one long-lived process per GPU of a GPU worker (started with the worker
by lib/python-step/engine-pool.ts), so no shard pays for starting Python, importing torch or
loading a model that an earlier shard loaded.

    python -m tuneflow_ml.engine [--models 2] [--idle-unload-seconds 600]

It connects to the socket named by TUNEFLOW_EVENTS_SOCKET, says `ready`, then reads requests
from the same socket (EngineRequest in lib/python-step/protocol.ts, one JSON object per line)
and answers each, one at a time, with progress events and one `result` or `error` event. The
`--models` most recently used models stay loaded; all of them are dropped after
`--idle-unload-seconds` without a request, so that an idle engine leaves its GPU's memory to a
training. A failure the engine understands (bad data, out of memory) is reported and the engine
goes on; any other leaves it after its error event, and the worker starts a fresh one. When the
worker goes away, the socket closes and the engine exits (events.py).
"""

import argparse
import queue
import sys
import traceback

from . import events
from .generation import device_name
from .generators import LoadedModels
from .summarize import summarize_shard
from .summarize_text import summarize_text


def on_progress(done: int, total: int, seconds: float) -> None:
    rate = done / seconds if seconds > 0 else None
    eta = (total - done) / rate if rate else None
    events.progress("examples", done, total, samples_per_sec=rate, eta_seconds=eta)


def answer(request: dict, models: LoadedModels) -> dict:
    kind = request.get("request")
    if kind == "summarizeShard":
        return summarize_shard(request["job"], models, on_progress)
    if kind == "summarizeText":
        return summarize_text(request["spec"], models)
    raise events.StepError(
        "InvalidConfig", f"the generation engine takes no request {kind!r}; restart the worker so that its engine is as new as it is"
    )


def serve(request: dict, models: LoadedModels) -> bool:
    """Answers one request; False when the engine must not serve another (an unexpected failure
    may have left the device or a model in an unknown state)."""
    try:
        result = answer(request, models)
    except Exception as exc:  # every failure must reach the activity as an error event
        traceback.print_exc(file=sys.stderr)
        kind, message, retryable = events.describe_failure(exc, "summarize")
        events.error(kind, message, retryable)
        return isinstance(exc, events.StepError) or kind == "OutOfMemory"
    events.result(result)
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=2, help="models kept loaded (the most recently used)")
    parser.add_argument("--idle-unload-seconds", type=float, default=600)
    args = parser.parse_args(argv)
    requests: queue.Queue[dict] = queue.Queue()
    if events.connect(on_request=requests.put) is None:
        raise SystemExit(f"engine: {events.EVENTS_SOCKET_ENV} is not set; the engine is started by a GPU worker")
    models = LoadedModels(args.models)
    events.ready(device_name())
    while True:
        try:
            request = requests.get(timeout=args.idle_unload_seconds)
        except queue.Empty:
            models.clear()
            continue
        if not serve(request, models):
            sys.stderr.write("engine: leaving after an unexpected failure; the worker starts a new engine\n")
            sys.exit(1)


if __name__ == "__main__":
    main()
