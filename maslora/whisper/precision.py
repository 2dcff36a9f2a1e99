"""Whisper's linear layers in a lighter precision on the CPU: faster, measured before the page uses it.

On the CPU a decode is bound by the linear layers: the encoder's projections over every frame and, at every
decoder step, the vocabulary projection's 51,864 rows. Two lighter precisions for them:

- "bfloat16": the weights stored in bfloat16 and each product computed in it (the CPU's bfloat16 dot-product
  instructions, where it has them), its input and output float32 as before, so everything between the
  linear layers (attention scores, layer norms, softmax) stays float32. Half the bytes; same exponent range
  as float32, so nothing overflows; 8 bits of mantissa instead of 24.
- "int8": the weights in int8, one scale per output channel, each input quantized on the fly (dynamic
  quantization). A quarter of the bytes and the CPU's int8 dot products, at a larger rounding error.

The transcripts change, so a size's page runs in a lighter precision only where the development speakers
measured the cost within bounds (train/precision_dev.py, the report's precision section;
maslora.systems.bundle.PAGE_PRECISION holds the choice; analysis/bench_precision times them), and the page
says which precision it runs. The LoRA factors stay float32: they are small, and a visitor's expert joins
them as it trained.

float32 is every experiment's precision and the default everywhere; the report's rows are all float32.
"""

import warnings

import torch
from torch import nn
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

PRECISIONS = ("float32", "bfloat16", "int8")
LIGHTER = PRECISIONS[1:]  # the ones measured against float32 before the page may use them


class BFloat16Linear(nn.Module):
    """An nn.Linear whose weights are stored and multiplied in bfloat16, taking and giving float32."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight", linear.weight.detach().to(torch.bfloat16))
        bias = None if linear.bias is None else linear.bias.detach().to(torch.bfloat16)
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x.to(torch.bfloat16), self.weight, self.bias).to(x.dtype)


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def with_precision(model: nn.Module, precision: str) -> nn.Module:
    """`model` with its linear layers (an adapter's base projection too) in `precision`, in place."""
    check_precision(precision)
    if precision == "bfloat16":
        _to_bfloat16(model)
    elif precision == "int8":
        with warnings.catch_warnings():  # torch 2.13 points new code to torchao; the pinned torch runs this
            warnings.simplefilter("ignore")
            quantize_dynamic(model, {nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
    return model


def _to_bfloat16(module: nn.Module) -> None:
    for name, child in module.named_children():
        if type(child) is nn.Linear:  # exactly: an adapter wraps its base projection, which is swapped inside it
            setattr(module, name, BFloat16Linear(child))
        else:
            _to_bfloat16(child)
