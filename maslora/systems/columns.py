"""The adapters of a combined model as columns: one per expert or LoRA, stacked into every adapted projection.

A column is one adapter (a MAS-LoRA expert, MAS-LoRA's shared part, or the regular LoRA) with the LoRA
scale folded into its B. Stacked, the columns become the experts of each projection's mixture layer
(maslora.mixture.layer): a clip's route then says which columns count and with what weight, and the
layer computes s sum_c w_c B_c A_c x for each clip with its own w (see CombinedWhisper).
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from maslora.errors import AdapterError
from maslora.mixture.layer import AdapterPlacement, adapter_layers, inject_adapters, module_side, targets_covering
from maslora.mixture.lora import lora_scale
from maslora.mixture.peft_io import read_adapter


@dataclass(frozen=True)
class Column:
    """One adapter inside the combined model: whose it is, and its layers with the LoRA scale folded into B."""

    route: str
    accent: str | None  # a MAS-LoRA expert's accent; None = applied in full whenever its route runs
    layers: dict[str, tuple[torch.Tensor, torch.Tensor]]  # module -> (A [r, in], s B [out, r])


def read_column(route: str, accent: str | None, folder: Path) -> Column:
    config, layers = read_adapter(folder)
    scale = lora_scale(float(config["lora_alpha"]), int(config["r"]))
    return Column(route, accent, {name: (A, B * scale) for name, (A, B) in layers.items()})


def stack_columns(model: nn.Module, columns: list[Column]) -> dict[str, list[Column]]:
    """Inject one expert per column into every adapted projection of `model`; returns each side's columns.

    Columns may differ in rank (zero-padded to the largest: the product is unchanged) and in alpha (the
    scale is already inside B); a module a column does not adapt stays zero in that column.
    """
    sides = {
        side: [c for c in columns if any(module_side(m) == side for m in c.layers)] for side in ("encoder", "decoder")
    }
    modules = {name for column in columns for name in column.layers}
    projections = {name.rsplit(".", 1)[-1] for name in modules}
    targets = targets_covering(projections)
    if targets is None:
        raise AdapterError(f"adapters target {sorted(projections)}; supported: q,v or q,k,v,out")
    rank = max(A.shape[0] for column in columns for A, _ in column.layers.values())
    placement = AdapterPlacement(targets, len(sides["encoder"]), len(sides["decoder"]), rank, alpha=rank, dropout=0.0)
    inject_adapters(model, placement)
    layers = adapter_layers(model)
    foreign = sorted(modules - set(layers))
    if foreign:
        raise AdapterError(
            f"{foreign[0]} (and {len(foreign) - 1} more) are not projections of this model (another base model?)"
        )
    with torch.no_grad():
        for name, layer in layers.items():
            layer.lora_A.requires_grad_(False)  # it only decodes: routed() may then skip the columns nobody weighs
            layer.lora_B.requires_grad_(False)
            layer.lora_A.zero_()
            layer.lora_B.zero_()
            for index, column in enumerate(sides[module_side(name)]):
                if name not in column.layers:
                    continue
                A, B = column.layers[name]
                if A.shape[1] != layer.lora_A.shape[2] or B.shape[0] != layer.lora_B.shape[1]:
                    raise AdapterError(
                        f"{column.route} {column.accent or ''}: {name} maps {A.shape[1]} -> {B.shape[0]} features; "
                        f"this model's maps {layer.lora_A.shape[2]} -> {layer.lora_B.shape[1]} (another model size?)"
                    )
                layer.lora_A[index, : A.shape[0]] = A
                layer.lora_B[index, :, : A.shape[0]] = B
    return sides


def column_weights(columns: list[Column], route: str, weights: torch.Tensor | None, accents: list[str]) -> torch.Tensor:
    """The weight of every column when `route` runs (MAS-LoRA's experts take `weights` over `accents`):
    [columns], or [blocks, columns] when `weights` is per block ([blocks, N], a learned router's)."""
    weight = torch.zeros(*(weights.shape[:-1] if weights is not None else ()), len(columns))
    for index, column in enumerate(columns):
        if column.route == route:
            weight[..., index] = 1.0 if column.accent is None else weights[..., accents.index(column.accent)]
    return weight


def stack_column_weights(clips: list[torch.Tensor]) -> torch.Tensor:
    """The column weights of a batch's clips as one tensor: [clips, columns], or [clips, blocks, columns] if
    any clip's are per block (the others then repeat theirs in every block)."""
    blocks = max((clip.shape[0] for clip in clips if clip.dim() == 2), default=None)
    if blocks is None:
        return torch.stack(clips)
    return torch.stack([clip if clip.dim() == 2 else clip.expand(blocks, -1) for clip in clips])
