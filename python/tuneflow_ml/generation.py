"""Batched generation with model.generate (transformers 5 has no summarization pipeline), shared
by evaluate, summarize and the MLflow pyfunc model."""

import os
from typing import Callable

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .events import StepError


def device_name() -> str:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def load_model(model_dir: str) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Loads tokenizer and model once per process, on the GPU when there is one. bf16 where the
    GPU supports it: T5 was trained in bf16, and it halves memory and time."""
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        raise StepError("InvalidData", f"{model_dir} holds no model (no config.json); rerun train, which writes it")
    on_gpu = torch.cuda.is_available()
    dtype = torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, dtype=dtype)
    model.to("cuda" if on_gpu else "cpu").eval()
    return tokenizer, model


def generate(
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel,
    texts: list[str],
    *,
    prefix: str,
    max_source_length: int,
    batch_size: int,
    num_beams: int,
    max_new_tokens: int,
    min_new_tokens: int = 0,
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Summaries of `texts`, in their order. Batches hold inputs of similar length (less padding,
    less wasted compute); the longest go first, so a batch that does not fit in memory fails in
    the first seconds rather than at the end. `on_batch(n)` is called after each batch of n."""
    if not texts:
        return []  # the tokenizer rejects an empty batch
    input_ids = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_source_length)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(input_ids[i]), reverse=True)
    summaries = [""] * len(texts)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer.pad({"input_ids": [input_ids[i] for i in rows]}, return_tensors="pt").to(model.device)
            # Padding is never content: an undertrained model that "generates" it would decode to "".
            output = model.generate(
                **batch,
                num_beams=num_beams,
                max_new_tokens=max_new_tokens,
                min_new_tokens=min_new_tokens,
                suppress_tokens=[tokenizer.pad_token_id],
            )
            for i, summary in zip(rows, tokenizer.batch_decode(output, skip_special_tokens=True)):
                summaries[i] = summary.strip()
            if on_batch is not None:
                on_batch(len(rows))
    return summaries
