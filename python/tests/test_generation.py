"""The fast generation path (length-sorted, dynamically padded batches) gives exactly what one
plain `model.generate` call per text gives, on the tiny T5."""

import pytest
import torch

from conftest import default_config, make_reviews
from tuneflow_ml.generation import (
    GenerationParams,
    controls,
    encode,
    generate,
    generate_ids,
    generate_kwargs,
    length_sorted_batches,
    load_model,
)

# Reviews of 15 to 45 words, plus one far over max_source_length (truncated) and a very short one.
TEXTS = make_reviews(seed=3)["text"][:40] + [" ".join(["The lens is sharp and the battery lasts."] * 40), "Broke."]


@pytest.fixture(scope="module")
def model(tiny_model):
    return load_model(tiny_model)


def one_at_a_time(tokenizer, model, texts: list[str], params: GenerationParams) -> list[str]:
    """The reference: what a caller without batching gets."""
    summaries = []
    with torch.inference_mode():
        for ids in encode(tokenizer, texts, params):
            output = model.generate(input_ids=torch.tensor([ids]), **generate_kwargs(tokenizer, params))
            summaries.append(tokenizer.decode(output[0], skip_special_tokens=True).strip())
    return summaries


@pytest.mark.parametrize(
    "params",
    [
        GenerationParams("summarize: ", 64, num_beams=1, max_new_tokens=12),
        # The seed's product settings, scaled down: beam search with a minimum length, and the
        # config's generation controls all on.
        GenerationParams(
            "summarize: ", 64, num_beams=6, max_new_tokens=16, min_new_tokens=10,
            no_repeat_ngram_size=2, repetition_penalty=1.3, length_penalty=0.6,
        ),  # fmt: skip
    ],
    ids=["greedy", "beams"],
)
def test_batched_equals_one_at_a_time(model, params):
    tokenizer, t5 = model
    batch_size = 8
    lengths = [len(ids) for ids in encode(tokenizer, TEXTS, params)]
    # The batches really are padded (else this test could not catch a padding bug).
    assert any(len({lengths[i] for i in rows}) > 1 for rows in length_sorted_batches(lengths, batch_size))
    assert max(lengths) == params.max_source_length

    batched = generate(
        tokenizer,
        t5,
        TEXTS,
        prefix=params.prefix,
        max_source_length=params.max_source_length,
        batch_size=batch_size,
        num_beams=params.num_beams,
        max_new_tokens=params.max_new_tokens,
        min_new_tokens=params.min_new_tokens,
        no_repeat_ngram_size=params.no_repeat_ngram_size,
        repetition_penalty=params.repetition_penalty,
        length_penalty=params.length_penalty,
    )
    assert batched == one_at_a_time(tokenizer, t5, TEXTS, params)
    assert all(batched)


def repeated_bigrams(token_ids: list[int]) -> int:
    bigrams = list(zip(token_ids, token_ids[1:]))
    return len(bigrams) - len(set(bigrams))


def test_no_repeat_ngram_size_from_the_config_takes_effect(model):
    """The random tiny model repeats itself, as the seed's t5-small does ("Great ... Great ...");
    generation.noRepeatNgramSize: 2 leaves no token pair twice in an output."""
    tokenizer, t5 = model
    config = default_config()
    config["generation"]["noRepeatNgramSize"] = 2
    plain = GenerationParams("summarize: ", 64, num_beams=1, max_new_tokens=16)
    controlled = GenerationParams("summarize: ", 64, num_beams=1, max_new_tokens=16, **controls(config))
    assert controlled.no_repeat_ngram_size == 2 and controlled.repetition_penalty == 1.0

    def outputs(params: GenerationParams) -> list[list[int]]:
        return [tokenizer.encode(s, add_special_tokens=False) for s in one_at_a_time(tokenizer, t5, TEXTS[:6], params)]

    assert sum(repeated_bigrams(ids) for ids in outputs(plain)) > 0  # else this test proves nothing
    assert [repeated_bigrams(ids) for ids in outputs(controlled)] == [0] * 6


def test_padding_without_attention_mask_changes_summaries(model):
    """Why the mask matters: the same batch without it attends to padding and gives other
    summaries, which the equality test above would catch."""
    tokenizer, t5 = model
    params = GenerationParams("summarize: ", 64, num_beams=1, max_new_tokens=12)
    ids = encode(tokenizer, TEXTS, params)
    batch = tokenizer.pad({"input_ids": ids}, return_tensors="pt")
    with torch.inference_mode():
        unmasked = t5.generate(input_ids=batch["input_ids"], **generate_kwargs(tokenizer, params))
    unmasked_summaries = [s.strip() for s in tokenizer.batch_decode(unmasked, skip_special_tokens=True)]
    assert unmasked_summaries != one_at_a_time(tokenizer, t5, TEXTS, params)


@pytest.mark.parametrize(
    "out_of_memory",
    [
        lambda rows: torch.OutOfMemoryError(f"CUDA out of memory (fake, batch of {rows})"),
        lambda rows: RuntimeError(f"CUDA error: out of memory (fake, batch of {rows})"),
        lambda rows: MemoryError(),
    ],
    ids=["torch.OutOfMemoryError", "plain RuntimeError", "MemoryError"],
)
def test_out_of_memory_batches_are_split_and_outputs_unchanged(model, monkeypatch, out_of_memory):
    tokenizer, t5 = model
    params = GenerationParams("summarize: ", 64, num_beams=2, max_new_tokens=8)
    ids = encode(tokenizer, TEXTS[:12], params)
    expected = generate_ids(tokenizer, t5, ids, params, batch_size=12)

    real_generate, batch_sizes = t5.generate, []

    def generate_that_fits_three(**kwargs):
        rows = kwargs["input_ids"].shape[0]
        if rows > 3:
            raise out_of_memory(rows)
        batch_sizes.append(rows)
        return real_generate(**kwargs)

    monkeypatch.setattr(t5, "generate", generate_that_fits_three)
    done = []
    assert generate_ids(tokenizer, t5, ids, params, batch_size=12, on_batch=done.append) == expected
    assert max(batch_sizes) == 3 and sum(done) == 12


def test_a_single_input_that_runs_out_of_memory_fails(model, monkeypatch):
    tokenizer, t5 = model
    params = GenerationParams("summarize: ", 64, num_beams=1, max_new_tokens=4)

    def never_fits(**kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory (fake)")

    monkeypatch.setattr(t5, "generate", never_fits)
    with pytest.raises(torch.OutOfMemoryError):
        generate_ids(tokenizer, t5, encode(tokenizer, TEXTS[:2], params), params, batch_size=2)


def test_other_errors_are_not_retried(model, monkeypatch):
    tokenizer, t5 = model
    params = GenerationParams("summarize: ", 64, num_beams=1, max_new_tokens=4)
    calls = []

    def broken(**kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(t5, "generate", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        generate_ids(tokenizer, t5, encode(tokenizer, TEXTS[:4], params), params, batch_size=4)
    assert calls == [4]


def test_length_sorted_batches():
    assert length_sorted_batches([3, 9, 1, 9, 5], 2) == [[1, 3], [4, 0], [2]]
    assert length_sorted_batches([], 4) == []
