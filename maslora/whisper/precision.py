"""Whisper's linear layers with int8 weights on the CPU: about twice as fast, measured before it is used.

On the CPU a decode is bound by the linear layers: the encoder's projections over every frame and, at every
decoder step, the vocabulary projection's 51,864 rows. Stored as int8, one scale per output channel, with
each input quantized on the fly (dynamic quantization), they read a quarter of the bytes and run on the
CPU's int8 dot-product instructions (about twice as fast here: analysis/bench_precision). The transcripts
change, so a size's page runs in int8 only where the development speakers measured the cost within bounds
(train/precision_dev.py, the report's precision section; maslora.systems.bundle.PAGE_PRECISION holds the
choice), and the page says which precision it runs. The LoRA factors stay float32: they are small, and a
visitor's expert joins them as it trained.

float32 is every experiment's precision and the default everywhere; the report's rows are all float32.
"""

import warnings

from torch import nn
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

PRECISIONS = ("float32", "int8")


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def with_precision(model: nn.Module, precision: str) -> nn.Module:
    """`model` with its linear layers (an adapter's base projection too) in `precision`, in place."""
    check_precision(precision)
    if precision == "int8":
        with warnings.catch_warnings():  # torch 2.13 points new code to torchao; the pinned torch runs this
            warnings.simplefilter("ignore")
            quantize_dynamic(model, {nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
    return model
