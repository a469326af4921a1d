"""One text, one summary, and how long it took: the single-request path of `tuneflow summarize
--text` (client/cli.ts).

    python -m tuneflow_ml.summarize_text --spec spec.json     (spec: SummarizeTextSpec in lib/steps/)
"""

import statistics
import time

from . import events
from .generation import GenerationParams, device_name, encode, generate_ids, load_model
from .spec import load_spec
from .spec_types import SummarizeTextSpec
from .summarize import percentile


def main() -> dict:
    spec: SummarizeTextSpec = load_spec(SummarizeTextSpec)
    g = spec["generation"]
    params = GenerationParams(g["prefix"], g["maxSourceLength"], g["numBeams"], g["maxNewTokens"], g["minNewTokens"])
    started = time.monotonic()
    tokenizer, model = load_model(spec["modelDir"])
    load_seconds = time.monotonic() - started
    latencies, summary = [], ""
    for _ in range(spec["repeat"]):
        started = time.monotonic()
        # Tokenizing is part of a request's wait, so it is inside the timing.
        summary = generate_ids(tokenizer, model, encode(tokenizer, [spec["text"]], params), params, batch_size=1)[0]
        latencies.append(time.monotonic() - started)
    return {
        "summary": summary,
        "loadMs": load_seconds * 1000,
        "latencyMs": {
            "first": latencies[0] * 1000,
            "p50": statistics.median(latencies) * 1000,
            "p95": percentile(latencies, 95) * 1000,
            "samples": len(latencies),
        },
        "device": device_name(),
    }


if __name__ == "__main__":
    events.run_step(main, "summarize")
