"""The seed's approach to bulk summaries, the baseline of bench/summarize/bench.py and
bench/gpu/generation_bench.py: batches of 8 in input order, each padded to its longest, through
model.generate (what transformers 4's pipeline("summarization", batch_size=8) did). Imports
torch and tuneflow_ml.generation only, so the GPU machine's bench can load it."""

import torch

from tuneflow_ml.generation import GenerationParams, generate_kwargs

SEED_BATCH_SIZE = 8


def seed_approach(tokenizer, model, input_ids: list[list[int]], params: GenerationParams) -> list[str]:
    summaries: list[str] = []
    kwargs = generate_kwargs(tokenizer, params)
    with torch.inference_mode():
        for start in range(0, len(input_ids), SEED_BATCH_SIZE):
            batch = tokenizer.pad({"input_ids": input_ids[start : start + SEED_BATCH_SIZE]}, return_tensors="pt")
            output = model.generate(**batch.to(model.device), **kwargs)
            summaries += [s.strip() for s in tokenizer.batch_decode(output, skip_special_tokens=True)]
    return summaries
