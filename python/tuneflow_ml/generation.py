"""Batched generation with model.generate (transformers 5 has no summarization pipeline), shared
by evaluate, summarize, the MLflow pyfunc model and `tuneflow summarize --text`.

The fast path gives exactly what one `model.generate` call per text gives with the same
parameters (python/tests/test_generation.py proves it on the tiny T5): T5's encoder masks padded
keys, its relative position bias does not depend on the padded length, and beam search keeps
each input's beams apart, so a batch changes only how much work is done at once.
"""

import os
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from . import events
from .events import StepError
from .spec_types import PipelineConfig


@dataclass(frozen=True)
class GenerationParams:
    """Everything besides the model that decides a summary; written next to every summary."""

    prefix: str
    max_source_length: int
    num_beams: int
    max_new_tokens: int
    min_new_tokens: int = 0
    # The config's generation controls (GenerationConfig in lib/config.ts); the defaults are off.
    no_repeat_ngram_size: int = 0
    repetition_penalty: float = 1.0
    length_penalty: float = 1.0

    def as_dict(self) -> dict:
        return asdict(self)


def controls(config: PipelineConfig) -> dict:
    """The config's generation controls as GenerationParams fields (and keywords of `generate`)."""
    g = config["generation"]
    return dict(
        no_repeat_ngram_size=g["noRepeatNgramSize"],
        repetition_penalty=g["repetitionPenalty"],
        length_penalty=g["lengthPenalty"],
    )


def device_name() -> str:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def load_model(model_dir: str, *, hub_name: bool = False) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Loads tokenizer and model once per process, on the GPU when there is one. bf16 where the
    GPU supports it: T5 was trained in bf16, and it halves memory and time. `hub_name`: model_dir
    may also be a hub name (`t5-small`), as model.nameOrPath may."""
    local = not hub_name or os.path.isdir(model_dir)
    if local and not os.path.isfile(os.path.join(model_dir, "config.json")):
        raise StepError("InvalidData", f"{model_dir} holds no model (no config.json); rerun train, which writes it")
    on_gpu = torch.cuda.is_available()
    dtype = torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, dtype=dtype)
    model.to("cuda" if on_gpu else "cpu").eval()
    return tokenizer, model


def generate_kwargs(tokenizer: PreTrainedTokenizerBase, params: GenerationParams) -> dict:
    """The keyword arguments of `model.generate`, the same for the batched path and for a plain
    one-at-a-time call (tests and the benchmark compare the two)."""
    kwargs = dict(
        num_beams=params.num_beams,
        max_new_tokens=params.max_new_tokens,
        min_new_tokens=params.min_new_tokens,
        # Padding is never content: an undertrained model that "generates" it would decode to "".
        suppress_tokens=[tokenizer.pad_token_id],
        no_repeat_ngram_size=params.no_repeat_ngram_size,
        repetition_penalty=params.repetition_penalty,
    )
    if params.num_beams > 1:  # beam search alone uses it; transformers warns when it is set without
        kwargs["length_penalty"] = params.length_penalty
        # Beam search scores the processed logits renormalized, and ends once num_beams hypotheses
        # are finished: as CTranslate2 does, so both engines give the same summaries
        # (ctranslate2_model.py; python/tests/test_ctranslate2.py).
        kwargs["renormalize_logits"] = True
        kwargs["early_stopping"] = True
    return kwargs


def encode(tokenizer: PreTrainedTokenizerBase, texts: list[str], params: GenerationParams) -> list[list[int]]:
    """Token ids of prefix + text, truncated at max_source_length, unpadded."""
    return tokenizer([params.prefix + t for t in texts], truncation=True, max_length=params.max_source_length)[
        "input_ids"
    ]


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Row indices grouped into batches of similar length, so padding (wasted encoder and
    cross-attention work) stays small. The longest go first, so a batch that does not fit in
    memory fails in the first seconds rather than at the end. Ties keep input order."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def generate_ids(
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel,
    input_ids: list[list[int]],
    params: GenerationParams,
    *,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Summaries of already-encoded inputs, in their order.

    A batch that runs out of memory (events.is_out_of_memory) is split in halves and retried
    (outputs do not depend on the batch), so `batch_size` is a ceiling that adapts to the device
    rather than a guess that fails a long run. `on_batch(n)` is called after each n inputs are done."""
    kwargs = generate_kwargs(tokenizer, params)
    summaries = [""] * len(input_ids)
    pending = length_sorted_batches([len(ids) for ids in input_ids], batch_size)
    with torch.inference_mode():
        while pending:
            rows = pending.pop(0)
            # Padded to this batch's longest only; the attention mask hides the padding.
            batch = tokenizer.pad({"input_ids": [input_ids[i] for i in rows]}, return_tensors="pt").to(model.device)
            try:
                output = model.generate(**batch, **kwargs)
            except Exception as exc:  # events.is_out_of_memory decides which ones a smaller batch avoids
                if len(rows) == 1 or not events.is_out_of_memory(exc):
                    raise
                del batch
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                half = len(rows) // 2
                events.log(f"a batch of {len(rows)} ran out of memory; retrying it as {half} + {len(rows) - half}", "warning")
                pending[:0] = [rows[:half], rows[half:]]
                continue
            for i, summary in zip(rows, tokenizer.batch_decode(output, skip_special_tokens=True)):
                summaries[i] = summary.strip()
            if on_batch is not None:
                on_batch(len(rows))
    return summaries


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
    no_repeat_ngram_size: int = 0,
    repetition_penalty: float = 1.0,
    length_penalty: float = 1.0,
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Summaries of `texts`, in their order (see generate_ids); the controls as `controls(config)` gives them."""
    if not texts:
        return []  # the tokenizer rejects an empty batch
    params = GenerationParams(
        prefix, max_source_length, num_beams, max_new_tokens, min_new_tokens,
        no_repeat_ngram_size, repetition_penalty, length_penalty,
    )  # fmt: skip
    return generate_ids(tokenizer, model, encode(tokenizer, texts, params), params, batch_size=batch_size, on_batch=on_batch)
