"""Model FLOPs of T5 training, and the bf16 peaks MFU is measured against (docs/benchmarks.md).

Per example, with s = input tokens, t = target tokens, d = d_model, f = d_ff, a = heads x d_kv,
V = vocabulary, L_e / L_d = encoder / decoder layers, multiply-accumulates (MACs) of the forward pass:

    encoder layer, over its s tokens:  s * (4*d*a + 2*d*f)      Q, K, V, O projections; wi, wo
                                     + s * 2*s*a                scores (QK^T) and weights x V
    decoder layer, over its t tokens:  t * (4*d*a + 2*t*a)      self-attention (full t x t, as T5 computes it)
                                     + t * (2*d*a + 2*s*a)      cross-attention Q, O; scores and x V over s
                                     + s * 2*d*a                cross-attention K, V: over the s input tokens
                                     + t * 2*d*f                feed-forward
    LM head:                           t * d*V

forward FLOPs = 2 x MACs; training FLOPs = 3 x forward (the backward pass is twice the forward).
Gradient checkpointing recomputes a forward pass, which is not counted: model FLOPs, not hardware
FLOPs. MFU = training FLOPs per example x examples per second / the device's bf16 peak.
"""

# Dense bf16 matrix peaks from the vendors' datasheets (no sparsity), by torch's device name.
DATASHEET_BF16_PEAK = {
    "NVIDIA H200": 989.4e12,
    "NVIDIA H100 80GB HBM3": 989.4e12,
    "NVIDIA A100-SXM4-80GB": 312e12,
    "NVIDIA A10G": 70e12,
    "NVIDIA A10": 125e12,
}


def forward_macs(arch: dict, source_tokens: int, target_tokens: int) -> int:
    s, t = source_tokens, target_tokens
    d, f, a, vocab = arch["d_model"], arch["d_ff"], arch["num_heads"] * arch["d_kv"], arch["vocab_size"]
    layers_encoder = arch["num_layers"]
    layers_decoder = arch.get("num_decoder_layers") or arch["num_layers"]
    encoder_layer = s * (4 * d * a + 2 * d * f) + s * 2 * s * a
    decoder_layer = t * (4 * d * a + 2 * t * a) + t * (2 * d * a + 2 * s * a) + s * 2 * d * a + t * 2 * d * f
    return layers_encoder * encoder_layer + layers_decoder * decoder_layer + t * d * vocab


def training_flops_per_example(arch: dict, source_tokens: int, target_tokens: int) -> int:
    return 3 * 2 * forward_macs(arch, source_tokens, target_tokens)
