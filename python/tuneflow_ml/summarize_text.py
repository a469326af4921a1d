"""One text, one summary, and how long it took: the generation engine's `summarizeText` request,
the single-request path of `tuneflow summarize --text` (client/summarize-text.ts). The model is
loaded once per engine; `loadMs` is what this request paid for it (0 when it was loaded).
"""

import statistics
import time

from .generation import device_name, encode
from .generators import LoadedModels
from .spec_types import SummarizeTextSpec
from .summarize import params_of, percentile


def summarize_text(spec: SummarizeTextSpec, models: LoadedModels) -> dict:
    params = params_of(spec["generation"])
    engine = spec["engine"]
    generator, load_seconds = models.for_job(spec["modelDir"], engine["name"], engine["computeType"], params)
    latencies, summary = [], ""
    for _ in range(spec["repeat"]):
        started = time.monotonic()
        # Tokenizing is part of a request's wait, so it is inside the timing.
        summary = generator.generate(encode(generator.tokenizer, [spec["text"]], params), params, batch_size=1)[0]
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
        "engine": generator.used(),
    }
