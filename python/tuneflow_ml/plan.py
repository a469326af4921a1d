"""Memory plan of a training config, before a GPU is held: does it fit the declared GPUs?

    python -m tuneflow_ml.plan --spec spec.json     (spec: PlanSpec in lib/steps/)

Model states (parameters, gradients, optimizer states) per GPU and on the host come from
DeepSpeed's own estimators, for every ZeRO stage and offload choice. They assume Adam's two fp32
moments, so they are an upper bound for Adafactor. Activations are a rough per-token estimate for
an encoder-decoder transformer (Korthikanti et al., 2022: about 34*d_model bytes per token and
layer in 16-bit, plus 5*heads*seq_len for attention scores; with gradient checkpointing only each
layer's input is kept), plus the fp32 logits. With `enforce`, a config that does not fit fails
as InvalidConfig, with the numbers and the options that would.
"""

from typing import Any

from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs
from transformers import AutoConfig, PretrainedConfig, T5Config

from . import events
from .events import StepError
from .model_size import count_parameters
from .spec import load_spec
from .spec_types import ModelConfig, PlanSpec, TrainConfig

GIB = 2**30
# CUDA context, allocator fragmentation and communication buffers, beyond what is estimated.
GPU_OVERHEAD = 1.15
# The public T5 checkpoints' architectures (their config.json), so that a plan needs no hub.
KNOWN_T5 = {
    "t5-small": dict(d_model=512, d_ff=2048, num_layers=6, num_heads=8, d_kv=64),
    "t5-base": dict(d_model=768, d_ff=3072, num_layers=12, num_heads=12, d_kv=64),
    "t5-large": dict(d_model=1024, d_ff=4096, num_layers=24, num_heads=16, d_kv=64),
    "t5-3b": dict(d_model=1024, d_ff=16384, num_layers=24, num_heads=32, d_kv=128),
    "t5-11b": dict(d_model=1024, d_ff=65536, num_layers=24, num_heads=128, d_kv=128),
}


def model_config(name: str, offline_fallback: bool) -> PretrainedConfig:
    """The model's config as training will load it; with `offline_fallback`, a public T5 by name
    is sized from its known architecture where the hub is out of reach."""
    try:
        return AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        known = KNOWN_T5.get(name.removeprefix("google-t5/"))
        if known is not None and offline_fallback:
            return T5Config(vocab_size=32128, **known)
        raise StepError(
            "InvalidConfig",
            f"cannot load the config of model.nameOrPath {name!r}: it is neither a model directory on this host "
            f"nor a hub model this host could download (no network, a private model without a token, or "
            f"HF_HUB_OFFLINE set) ({type(exc).__name__}: {exc}). "
            "Give model.nameOrPath as a local directory holding config.json, the weights and the tokenizer "
            "(copied to every worker, or on shared storage), or a hub name on hosts that reach the hub",
        )


def activation_bytes(config: PretrainedConfig, model: ModelConfig, train: TrainConfig, bf16: bool) -> int:
    batch, src, tgt = train["perDeviceTrainBatchSize"], model["maxSourceLength"], model["maxTargetLength"]
    hidden, heads = config.d_model, config.num_heads
    enc_layers, dec_layers = config.num_layers, getattr(config, "num_decoder_layers", None) or config.num_layers
    scale = 1.0 if bf16 else 2.0  # the formula counts 16-bit activations
    encoder_layer = src * (34 * hidden + 5 * heads * src)
    decoder_layer = tgt * (1.5 * 34 * hidden + 5 * heads * (tgt + src))  # self- and cross-attention
    if train["gradientCheckpointing"]:
        kept = (src * enc_layers + tgt * dec_layers) * 2 * hidden
        per_example = kept + max(encoder_layer, decoder_layer)
    else:
        per_example = enc_layers * encoder_layer + dec_layers * decoder_layer
    logits = tgt * config.vocab_size * 4 * 2  # fp32 logits and their gradient
    return int(batch * (per_example * scale + logits))


def estimate(total: int, largest: int, gpus: int, nodes: int, stage: int | None, offload_opt: bool, offload_param: bool) -> tuple[int, int]:
    """(host bytes, bytes per GPU) of model states."""
    if stage is None:  # plain data parallel: every GPU holds everything (fp32 params, grads, 2 moments)
        return total * 4 * gpus, total * 16
    if stage == 2:
        return estimate_zero2_model_states_mem_needs(total, gpus, nodes, cpu_offload=offload_opt)
    host, gpu, _ = estimate_zero3_model_states_mem_needs(
        total, largest, gpus, nodes, cpu_offload=offload_opt, cpu_offload_params=offload_param
    )
    return host, gpu


def main() -> dict[str, Any]:
    spec: PlanSpec = load_spec(PlanSpec)
    config = spec["config"]
    train, model = config["train"], config["model"]
    nodes, gpus = spec["nodes"], spec["gpusPerNode"]
    bf16 = train["bf16"] is not False
    hf_config = model_config(model["nameOrPath"], offline_fallback=not spec["requireModel"])
    total, largest = count_parameters(hf_config)
    activations = activation_bytes(hf_config, model, train, bf16)

    options = []
    for stage, offload_opt, offload_param in [
        (None, False, False), (2, False, False), (2, True, False), (3, False, False), (3, True, False), (3, True, True)
    ]:
        host, gpu_states = estimate(total, largest, gpus, nodes, stage, offload_opt, offload_param)
        gpu = int((gpu_states + activations) * GPU_OVERHEAD)
        options.append({
            "stage": stage,
            "offloadOptimizer": offload_opt,
            "offloadParam": offload_param,
            "gpuGiB": round(gpu / GIB, 2),
            "hostGiB": round(host / GIB, 2),
            "fits": gpu <= train["gpuMemoryGiB"] * GIB and host <= train["hostMemoryGiB"] * GIB,
        })
    ds = train["deepspeed"]
    chosen_key = (ds["stage"], ds["offloadOptimizer"], ds["offloadParam"]) if ds else (None, False, False)
    chosen = next(o for o in options if (o["stage"], o["offloadOptimizer"], o["offloadParam"]) == chosen_key)
    plan = {
        "model": model["nameOrPath"],
        "totalParams": total,
        "largestLayerParams": largest,
        "gpus": gpus * nodes,
        "gpuMemoryGiB": train["gpuMemoryGiB"],
        "hostMemoryGiB": train["hostMemoryGiB"],
        "activationsGiBPerGpu": round(activations / GIB, 2),
        "options": options,
        "chosen": chosen,
    }
    if spec["enforce"] and not chosen["fits"]:
        fitting = [o for o in options if o["fits"]]
        raise StepError(
            "InvalidConfig",
            f"train config does not fit: {model['nameOrPath']} ({total / 1e6:,.1f}M parameters) needs about "
            f"{chosen['gpuGiB']} GiB per GPU (activations {plan['activationsGiBPerGpu']} GiB at batch "
            f"{train['perDeviceTrainBatchSize']}) and {chosen['hostGiB']} GiB of host memory; declared "
            f"train.gpuMemoryGiB {train['gpuMemoryGiB']}, train.hostMemoryGiB {train['hostMemoryGiB']}. "
            + (
                "Options that fit: " + "; ".join(describe(o) for o in fitting)
                if fitting
                else "No ZeRO stage fits: lower train.perDeviceTrainBatchSize, set train.gradientCheckpointing, or add GPUs"
            )
            + " (`tuneflow plan --config FILE` prints the whole table)",
        )
    return plan


def describe(option: dict[str, Any]) -> str:
    if option["stage"] is None:
        name = "no DeepSpeed"
    else:
        offloads = [n for n, on in (("optimizer", option["offloadOptimizer"]), ("params", option["offloadParam"])) if on]
        name = f"ZeRO-{option['stage']}" + (f" + offload {'/'.join(offloads)}" if offloads else "")
    return f"{name} ({option['gpuGiB']} GiB/GPU, {option['hostGiB']} GiB host)"


if __name__ == "__main__":
    events.run_step(main, "plan")
