"""CTranslate2 against transformers on the tiny T5 in float32: identical summaries, setting by
setting, for review headlines and product summaries; the converted model made once and reused
by a second engine, a corrupt one rebuilt, an unconvertible model served by transformers with a
warning."""

import json
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from transformers import AutoTokenizer, T5ForConditionalGeneration

from conftest import Engine
from tuneflow_ml import ctranslate2_model
from tuneflow_ml.generation import GenerationParams, encode, generate_ids, load_model
from tuneflow_ml.generators import LoadedModels


@pytest.fixture(scope="module")
def texts(dataset) -> dict[str, list[str]]:
    """Review bodies (headline mode) and products' reviews joined (product mode)."""
    reviews = pq.read_table(dataset["cleaned"], columns=["text"]).column("text").to_pylist()
    return {"reviews": reviews[:24], "products": [" ".join(reviews[i : i + 5]) for i in range(0, 60, 5)]}


@pytest.fixture(scope="module")
def ending_model(tiny_model, texts, tmp_path_factory) -> str:
    """The tiny T5 with its end token about as likely as its favourite word: summaries end at
    different lengths, so minimum lengths, length penalties and beam search's ending all matter."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = T5ForConditionalGeneration.from_pretrained(tiny_model)
    with torch.inference_mode():
        batch = tokenizer(["summarize: " + t for t in texts["reviews"]], return_tensors="pt", padding=True)
        generated = model.generate(**batch, max_new_tokens=8, do_sample=False, suppress_tokens=[tokenizer.pad_token_id])[:, 1:]
    favourite = int(torch.mode(generated.flatten()).values)
    model.config.tie_word_embeddings = False
    untied = T5ForConditionalGeneration(model.config).eval()
    untied.load_state_dict(model.state_dict(), strict=False)
    # Slightly less likely than the favourite: an exact tie is broken differently by the engines'
    # top-k. How much less decides whether every summary ends at once or none ends early, so the
    # first scale at which beam search ends summaries at different lengths in both modes is kept.
    with torch.no_grad():
        untied.lm_head.weight.copy_(model.shared.weight * model.config.d_model**-0.5)
    beams = {mode: params(mode, num_beams=4) for mode in texts}
    inputs = {mode: encode(tokenizer, texts[mode], p) for mode, p in beams.items()}
    for scale in (0.96, 0.94, 0.92, 0.9, 0.85, 0.8):
        with torch.no_grad():
            untied.lm_head.weight[tokenizer.eos_token_id] = untied.lm_head.weight[favourite] * scale
        if all(summary_lengths_vary(tokenizer, generate_ids(tokenizer, untied, inputs[mode], p, batch_size=8), p) for mode, p in beams.items()):
            break
    else:
        pytest.fail("no end-token scale makes the tiny T5's summaries end at different lengths")
    out = str(tmp_path_factory.mktemp("models") / "ending-t5")
    untied.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def summary_lengths_vary(tokenizer, summaries: list[str], p: GenerationParams) -> bool:
    lengths = {len(tokenizer(s)["input_ids"]) for s in summaries}
    return len(lengths) > 1 and min(lengths) < p.max_new_tokens


SETTINGS = {
    "greedy": dict(num_beams=1),
    "numBeams": dict(num_beams=4),
    "minNewTokens": dict(num_beams=4, min_new_tokens=6),
    "maxNewTokens": dict(num_beams=4, max_new_tokens=5),
    "lengthPenalty above 1": dict(num_beams=4, length_penalty=2.0),
    "lengthPenalty below 1": dict(num_beams=4, length_penalty=0.5),
    "repetitionPenalty (greedy)": dict(num_beams=1, repetition_penalty=1.5),
    "noRepeatNgramSize": dict(num_beams=4, no_repeat_ngram_size=2),
}


def params(mode: str, **setting) -> GenerationParams:
    base = dict(prefix="summarize: ", max_source_length=64, max_new_tokens=16, min_new_tokens=4 if mode == "products" else 0)
    return GenerationParams(**(base | setting))


@pytest.fixture(scope="module")
def engines(tiny_model, ending_model):
    """transformers and CTranslate2 (float32) of both models, loaded once."""
    return {m: (load_model(m), ctranslate2_model.CTranslate2Model(m, "float32")) for m in (tiny_model, ending_model)}


@pytest.mark.parametrize("mode", ["reviews", "products"])
@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("which", ["tiny", "ending"])
def test_ctranslate2_gives_transformers_summaries(engines, tiny_model, ending_model, texts, mode, setting, which):
    model_dir = tiny_model if which == "tiny" else ending_model
    (tokenizer, model), converted = engines[model_dir]
    p = params(mode, **SETTINGS[setting])
    input_ids = encode(tokenizer, texts[mode], p)
    expected = generate_ids(tokenizer, model, input_ids, p, batch_size=8)
    assert converted.generate_ids(input_ids, p, batch_size=8) == expected
    assert converted.compute_type == "float32"
    if which == "ending" and setting == "numBeams":
        # Not vacuous: the summaries end at different lengths, before the maximum.
        assert summary_lengths_vary(tokenizer, expected, p)


def test_repetition_penalty_with_beams_goes_to_transformers_with_a_warning(tiny_model):
    models = LoadedModels(2)
    generator, _ = models.for_job(tiny_model, "ctranslate2", "float32", params("reviews", num_beams=4, repetition_penalty=1.3))
    assert generator.engine == "transformers" and "repetitionPenalty 1.3 with numBeams 4" in generator.warning
    generator, _ = models.for_job(tiny_model, "ctranslate2", "float32", params("reviews", num_beams=4))
    assert generator.engine == "ctranslate2" and generator.warning is None


def shard_request(tmp_path, model: str, name: str, texts: list[str], compute_type: str = "auto") -> dict:
    inputs = tmp_path / f"{name}-inputs.parquet"
    n = len(texts)
    pq.write_table(pa.table({"position": list(range(n)), "review_id": [f"R{i}" for i in range(n)], "text": texts}), inputs)
    job = {
        "shard": f"reviews-{name}",
        "kind": "reviews",
        "inputPath": str(inputs),
        "start": 0,
        "end": n,
        "outputPath": str(tmp_path / f"{name}.parquet"),
        "model": {"dir": model, "name": "m", "version": "1"},
        "generation": {
            "prefix": "summarize: ", "maxSourceLength": 64, "numBeams": 2, "minNewTokens": 0, "maxNewTokens": 8,
            "noRepeatNgramSize": 0, "repetitionPenalty": 1.0, "lengthPenalty": 1.0,
        },
        "batchSize": 4,
        "latencySamples": 0,
        "engine": {"name": "ctranslate2", "computeType": compute_type},
    }  # fmt: skip
    return {"request": "summarizeShard", "job": job}


def summaries(tmp_path, name: str) -> list[str]:
    return pq.read_table(tmp_path / f"{name}.parquet").column("summary").to_pylist()


def test_converted_once_reused_by_another_engine_rebuilt_when_corrupt(tiny_model, texts, tmp_path):
    model = str(tmp_path / "version-3")
    shutil.copytree(tiny_model, model)
    converted = ctranslate2_model.converted_path(model)
    first, second = Engine(tmp_path / "worker-a"), Engine(tmp_path / "worker-b")
    try:
        made = first.request(shard_request(tmp_path, model, "a", texts["reviews"])).result()["engine"]
        assert made == {"name": "ctranslate2", "computeType": "float32", "conversion": "converted", "warning": None}
        manifest = json.loads(open(os.path.join(converted, ctranslate2_model.MANIFEST)).read())
        assert manifest["createdBy"].endswith(f":{first.process.pid}") and manifest["source"] == model

        # Another worker's engine, and a second run: the same folder, not converted again.
        assert second.request(shard_request(tmp_path, model, "b", texts["reviews"])).result()["engine"]["conversion"] == "reused"
        assert json.loads(open(os.path.join(converted, ctranslate2_model.MANIFEST)).read()) == manifest
        assert summaries(tmp_path, "a") == summaries(tmp_path, "b")

        # A damaged model.bin is found (sha256) and rebuilt, never loaded.
        with open(os.path.join(converted, "model.bin"), "r+b") as f:
            f.seek(200)
            f.write(b"\0" * 64)
        rebuilt = second.request(shard_request(tmp_path, model, "c", texts["reviews"], compute_type="int8")).result()["engine"]
        assert rebuilt["conversion"] == "rebuilt" and rebuilt["computeType"].startswith("int8")
        assert ctranslate2_model.intact(converted, ctranslate2_model.source_files(model))
        assert not [n for n in os.listdir(tmp_path) if ".ctranslate2." in n]  # no temporary or corrupt folder left
    finally:
        first.close()
        second.close()


def test_a_model_that_cannot_be_converted_is_served_by_transformers_with_a_warning(tiny_model, texts, tmp_path):
    # A T5 with an activation transformers has and CTranslate2's converter does not.
    model = str(tmp_path / "mish-t5")
    shutil.copytree(tiny_model, model)
    config_path = os.path.join(model, "config.json")
    config = json.loads(open(config_path).read()) | {"feed_forward_proj": "mish", "dense_act_fn": "mish"}
    open(config_path, "w").write(json.dumps(config))
    engine = Engine(tmp_path / "engine")
    try:
        result = engine.request(shard_request(tmp_path, model, "a", texts["reviews"][:6])).result()
    finally:
        engine.close()
    used = result["engine"]
    assert used["name"] == "transformers" and used["conversion"] is None
    assert "cannot be converted to CTranslate2 (KeyError: 'mish')" in used["warning"]
    tokenizer, hf = load_model(model)
    p = params("reviews", num_beams=2, max_new_tokens=8)
    assert summaries(tmp_path, "a") == generate_ids(tokenizer, hf, encode(tokenizer, texts["reviews"][:6], p), p, batch_size=4)
