"""CTranslate2 for the generation engine: each model converted once, into `<model dir>.ctranslate2`
beside it (the registered version's storage, which every worker sees), reused by every engine
that finds it intact; and generation that gives the summaries generation.generate_ids gives.

The converted folder holds a manifest (tuneflow-conversion.json) naming the source files it was
made from (name, size, mtime) and the sha256 of every file it holds. A folder whose manifest is
missing, names other sources or does not match its files is rebuilt, never used. Conversion
goes to a temporary sibling and is renamed into place, so two workers converting at once leave
one intact folder.

Identical summaries in float32 (python/tests/test_ctranslate2.py, setting by setting): CTranslate2
applies its processors (minimum length, suppressed padding, n-gram blocking) to the logits and
then normalizes, and ends beam search once num_beams hypotheses are finished, scoring each by
its length with the end token; transformers does the same with renormalize_logits and
early_stopping (generation.generate_kwargs). The one setting they decode differently is a
repetition penalty under beam search (CTranslate2 penalizes logits, transformers' beam search
log-probabilities): such jobs go to transformers (decodes_like_transformers).
"""

import hashlib
import json
import os
import shutil
import socket
import uuid
from datetime import datetime, timezone
from typing import Callable

import ctranslate2
import torch
from ctranslate2.converters import TransformersConverter
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from . import events
from .generation import GenerationParams, length_sorted_batches

MANIFEST = "tuneflow-conversion.json"
MANIFEST_VERSION = 1


class Unconvertible(Exception):
    """The model cannot be served by CTranslate2 here (no converter for it, or nowhere to store it)."""


def converted_path(model_dir: str) -> str:
    return os.path.normpath(os.path.abspath(model_dir)) + ".ctranslate2"


def source_files(model_dir: str) -> dict[str, list[int]]:
    """What the conversion is made from: each file of the model directory, by size and mtime."""
    files = {}
    for name in sorted(os.listdir(model_dir)):
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            stat = os.stat(path)
            files[name] = [stat.st_size, stat.st_mtime_ns]
    return files


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def intact(target: str, sources: dict[str, list[int]]) -> bool:
    """Whether `target` is a complete conversion of these source files."""
    try:
        with open(os.path.join(target, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError):
        return False
    if manifest.get("version") != MANIFEST_VERSION or manifest.get("sources") != sources:
        return False
    for name, expected in manifest.get("files", {}).items():
        path = os.path.join(target, name)
        if not os.path.isfile(path) or os.path.getsize(path) != expected["size"] or sha256(path) != expected["sha256"]:
            return False
    return bool(manifest.get("files"))


def ensure_converted(model_dir: str) -> tuple[str, str]:
    """The converted folder of `model_dir` and whether it was "converted", "reused" or "rebuilt"
    (found incomplete or not matching its files). Raises Unconvertible."""
    target = converted_path(model_dir)
    sources = source_files(model_dir)
    if intact(target, sources):
        return target, "reused"
    found = os.path.exists(target)
    temp = f"{target}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        TransformersConverter(model_dir).convert(temp, force=True)
        files = {name: {"size": os.path.getsize(os.path.join(temp, name)), "sha256": sha256(os.path.join(temp, name))} for name in os.listdir(temp)}
        manifest = {
            "version": MANIFEST_VERSION,
            "source": os.path.abspath(model_dir),
            "sources": sources,
            "files": files,
            "ctranslate2": ctranslate2.__version__,
            "createdAt": datetime.now(timezone.utc).isoformat(),
            "createdBy": f"{socket.gethostname()}:{os.getpid()}",
        }
        with open(os.path.join(temp, MANIFEST), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
        return target, publish(temp, target, sources, found)
    except Unconvertible:
        raise
    except Exception as exc:  # the converter's own errors: no loader, an unsupported activation, no room
        raise Unconvertible(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from exc
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def publish(temp: str, target: str, sources: dict[str, list[int]], found: bool) -> str:
    """Renames the new conversion into place; another worker's intact one that got there first is kept."""
    try:
        os.rename(temp, target)
        return "rebuilt" if found else "converted"
    except OSError:
        pass  # the target exists (a non-empty directory cannot be renamed over)
    if intact(target, sources):
        return "reused"
    aside = f"{target}.corrupt-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    os.rename(target, aside)
    os.rename(temp, target)
    shutil.rmtree(aside, ignore_errors=True)
    return "rebuilt"


def decodes_like_transformers(params: GenerationParams) -> bool:
    return params.repetition_penalty == 1 or params.num_beams == 1


def device() -> str:
    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def resolve_compute_type(requested: str, on: str) -> str:
    """`auto`: float32 on a CPU (transformers' summaries), bf16 on GPUs that have it, else float16."""
    if requested != "auto":
        return requested
    if on == "cpu":
        return "float32"
    return "bfloat16" if "bfloat16" in ctranslate2.get_supported_compute_types("cuda") else "float16"


class CTranslate2Model:
    """A converted model loaded for generation, with the tokenizer of its source directory."""

    def __init__(self, model_dir: str, compute_type: str) -> None:
        self.path, self.conversion = ensure_converted(model_dir)
        on = device()
        # As many threads as torch uses: the same share of the host as the transformers path.
        threads = torch.get_num_threads() if on == "cpu" else 0
        self.translator = ctranslate2.Translator(self.path, device=on, compute_type=resolve_compute_type(compute_type, on), intra_threads=threads)
        self.tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(model_dir)
        # Output tokens back to ids by the converted vocabulary's order, which is the model's ids.
        with open(os.path.join(self.path, "shared_vocabulary.json"), encoding="utf-8") as f:
            self.token_ids = {token: i for i, token in enumerate(json.load(f))}

    @property
    def compute_type(self) -> str:
        return self.translator.compute_type

    def generate_ids(
        self, input_ids: list[list[int]], params: GenerationParams, *, batch_size: int, on_batch: Callable[[int], None] | None = None
    ) -> list[str]:
        """Summaries of already-encoded inputs, in their order: batches of similar length (as
        generation.generate_ids), a batch that runs out of memory split in halves and retried."""
        summaries = [""] * len(input_ids)
        pending = length_sorted_batches([len(ids) for ids in input_ids], batch_size)
        options = dict(
            beam_size=params.num_beams,
            max_decoding_length=params.max_new_tokens,
            min_decoding_length=params.min_new_tokens,
            length_penalty=params.length_penalty,
            repetition_penalty=params.repetition_penalty,
            no_repeat_ngram_size=params.no_repeat_ngram_size,
            # As transformers: inputs are already truncated; padding is never content; the end
            # token counts in a hypothesis' length (skipped when decoding).
            max_input_length=0,
            suppress_sequences=[[self.tokenizer.pad_token]],
            return_end_token=True,
        )
        while pending:
            rows = pending.pop(0)
            tokens = [self.tokenizer.convert_ids_to_tokens(input_ids[i]) for i in rows]
            try:
                results = self.translator.translate_batch(tokens, **options)
            except Exception as exc:  # events.is_out_of_memory decides which ones a smaller batch avoids
                if len(rows) == 1 or not events.is_out_of_memory(exc):
                    raise
                half = len(rows) // 2
                events.log(f"a batch of {len(rows)} ran out of memory; retrying it as {half} + {len(rows) - half}", "warning")
                pending[:0] = [rows[:half], rows[half:]]
                continue
            for i, result in zip(rows, results):
                ids = [self.token_ids[token] for token in result.hypotheses[0]]
                summaries[i] = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
            if on_batch is not None:
                on_batch(len(rows))
        return summaries

