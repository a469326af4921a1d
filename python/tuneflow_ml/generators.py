"""What generates in the engine: CTranslate2 or transformers' model.generate behind one interface,
and the models an engine keeps loaded.

A job asks for an engine (summarize.engine) and a compute type; it gets CTranslate2 unless the
model cannot be converted, or its settings would decode differently there
(ctranslate2_model.decodes_like_transformers): then transformers, with a warning that reaches the
step's result.
"""

import os
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Callable

import torch

from . import ctranslate2_model, events
from .generation import GenerationParams, generate_ids, load_model

EncodedGenerate = Callable[..., list[str]]


@dataclass(frozen=True)
class Generator:
    """A loaded model: `generate(input_ids, params, batch_size=, on_batch=)` gives the summaries."""

    engine: str
    compute_type: str
    tokenizer: object
    generate: EncodedGenerate
    conversion: str | None = None
    warning: str | None = None

    def used(self) -> dict:
        """The result's EngineUsed."""
        return {"name": self.engine, "computeType": self.compute_type, "conversion": self.conversion, "warning": self.warning}


def check_model_dir(model_dir: str) -> None:
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        raise events.StepError("InvalidData", f"{model_dir} holds no model (no config.json); rerun train, which writes it")


def transformers_generator(model_dir: str) -> Generator:
    tokenizer, model = load_model(model_dir)

    def generate(input_ids, params, *, batch_size, on_batch=None):
        return generate_ids(tokenizer, model, input_ids, params, batch_size=batch_size, on_batch=on_batch)

    return Generator("transformers", str(model.dtype).removeprefix("torch."), tokenizer, generate)


def ctranslate2_generator(model_dir: str, compute_type: str) -> Generator:
    """CTranslate2's, or transformers' with the reason when the model cannot be converted."""
    try:
        loaded = ctranslate2_model.CTranslate2Model(model_dir, compute_type)
    except ctranslate2_model.Unconvertible as exc:
        fallback = transformers_generator(model_dir)
        warning = f"{model_dir} cannot be converted to CTranslate2 ({exc}); its summaries were generated with transformers (slower, the same summaries)"
        events.log(warning, "warning")
        return replace(fallback, warning=warning)
    return Generator("ctranslate2", loaded.compute_type, loaded.tokenizer, loaded.generate_ids, conversion=loaded.conversion)


class LoadedModels:
    """Generators by (model directory, engine, compute type), the `capacity` most recently used kept loaded."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._loaded: OrderedDict[tuple[str, str, str], Generator] = OrderedDict()

    def get(self, model_dir: str, engine: str, compute_type: str) -> tuple[Generator, float]:
        """The generator and the seconds it took to load it (0 when it was loaded)."""
        key = (model_dir, engine, compute_type)
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key], 0.0
        check_model_dir(model_dir)  # before anything is unloaded for it
        while len(self._loaded) >= self.capacity:
            self._loaded.popitem(last=False)  # first: the device holds at most `capacity` models
        started = time.monotonic()
        generator = ctranslate2_generator(model_dir, compute_type) if engine == "ctranslate2" else transformers_generator(model_dir)
        self._loaded[key] = generator
        return generator, time.monotonic() - started

    def for_job(self, model_dir: str, engine: str, compute_type: str, params: GenerationParams) -> tuple[Generator, float]:
        """The generator for a job's settings: transformers, with a warning, where CTranslate2 would decode them differently."""
        generator, seconds = self.get(model_dir, engine, compute_type)
        if generator.engine != "ctranslate2" or ctranslate2_model.decodes_like_transformers(params):
            return generator, seconds
        fallback, more = self.get(model_dir, "transformers", "auto")
        warning = (
            f"repetitionPenalty {params.repetition_penalty} with numBeams {params.num_beams}: CTranslate2 penalizes logits where "
            "transformers' beam search penalizes log-probabilities, so these summaries were generated with transformers "
            "(set generation.repetitionPenalty 1 or summarize.numBeams 1 for CTranslate2's speed)"
        )
        return replace(fallback, warning=warning), seconds + more

    def clear(self) -> None:
        self._loaded.clear()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the memory goes back to the device, not only to torch's cache
