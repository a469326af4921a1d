"""Parameter counts of a model from its config alone, on the meta device: no weights are read
and no memory is used, so t5-11b is counted as cheaply as t5-small (plan and report use it)."""

import torch
from transformers import AutoModelForSeq2SeqLM, PretrainedConfig


def count_parameters(config: PretrainedConfig) -> tuple[int, int]:
    """(total parameters, parameters of the largest module)."""
    with torch.device("meta"):
        model = AutoModelForSeq2SeqLM.from_config(config)
    total = sum({id(p): p.numel() for p in model.parameters()}.values())  # tied weights once
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    return total, largest
