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


def append_column(model: nn.Module, sides: dict[str, list[Column]], column: Column) -> None:
    """One more column (a visitor's expert) after the others, on every adapted projection of the sides it adapts.

    Everything is checked before any layer changes: an expert of another model size, of a larger rank than
    the model's columns or adapting a projection the model does not is refused whole."""
    layers = adapter_layers(model)
    foreign = sorted(set(column.layers) - set(layers))
    if foreign:
        raise AdapterError(f"{foreign[0]} is not an adapted projection of this model (another size or targets?)")
    for name, (A, B) in column.layers.items():
        _, rank, inputs = layers[name].lora_A.shape
        outputs = layers[name].lora_B.shape[1]
        if A.shape[0] > rank or A.shape[1] != inputs or B.shape[0] != outputs:
            raise AdapterError(
                f"{column.accent}: {name} is rank {A.shape[0]}, {A.shape[1]} -> {B.shape[0]} features; the "
                f"model's columns are rank {rank}, {inputs} -> {outputs} (another model size or a larger rank?)"
            )
    adapted = {module_side(name) for name in column.layers}
    with torch.no_grad():
        for name, layer in layers.items():
            if module_side(name) not in adapted:
                continue
            A = layer.lora_A.new_zeros(1, *layer.lora_A.shape[1:])
            B = layer.lora_B.new_zeros(1, *layer.lora_B.shape[1:])
            if name in column.layers:
                own_A, own_B = column.layers[name]
                A[0, : own_A.shape[0]], B[0, :, : own_A.shape[0]] = own_A, own_B
            layer.lora_A = nn.Parameter(torch.cat([layer.lora_A, A]), requires_grad=False)
            layer.lora_B = nn.Parameter(torch.cat([layer.lora_B, B]), requires_grad=False)
    for side in adapted:
        sides[side].append(column)


def drop_column(model: nn.Module, sides: dict[str, list[Column]], accent: str) -> None:
    """The column of expert `accent` out of every layer (a visitor left); the other columns keep their values."""
    layers = adapter_layers(model)
    with torch.no_grad():
        for side, columns in sides.items():
            keep = [index for index, column in enumerate(columns) if column.accent != accent]
            if len(keep) == len(columns):
                continue
            for name, layer in layers.items():
                if module_side(name) == side:
                    layer.lora_A = nn.Parameter(layer.lora_A[keep], requires_grad=False)
                    layer.lora_B = nn.Parameter(layer.lora_B[keep], requires_grad=False)
            sides[side] = [columns[index] for index in keep]


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
