"""Accent experts inside Whisper: the mixture layer, where it goes, how samples are routed, merging.

MAS-LoRA puts N accent experts on the encoder's self-attention projections and one ordinary LoRA,
shared by all accents, on the decoder's self- and cross-attention. Every adapted projection becomes a
MixtureLoRALinear; a regular LoRA is the same layer with one expert. The shared + experts design (beyond
the paper; `AdapterPlacement.shared_rank`) adds beside each layer's experts a LoRA that every utterance
trains and every weighting applies in full, so what all accents share is learned once, from all the data.

Two ways to run the experts:
- unmerged, with per-sample weights set by `routed(model, weights)`: training (expert indices route each
  sample to its own accent's expert), decoding many weightings in one batch, and a learned router's
  weights, which may differ per transformer block ([batch, blocks, N]; see maslora.auto.router);
- merged, `merge(model, weights)`: s sum_i w_i B_i A_i is folded into each base weight, so the model
  costs exactly what the base costs; W0 is kept, so re-merging for new weights never accumulates drift.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from maslora.mixture.lora import (
    chosen_expert_output,
    expert_deltas,
    init_lora_A,
    init_lora_B,
    lora_output,
    lora_scale,
    lora_weight,
    merged_weight,
    merged_weight_from_deltas,
    mixture_output,
    weighed_experts,
)

PAPER_DESIGN, SHARED_DESIGN = "experts", "shared+experts"  # what an experts folder holds (AdapterPlacement.design)
TARGETS = {"qv": ("q_proj", "v_proj"), "qkvo": ("q_proj", "k_proj", "v_proj", "out_proj")}  # smallest first


def targets_covering(projections: set[str]) -> str | None:
    """The smallest TARGETS kind that adapts every one of `projections` ({"q_proj", "v_proj"} -> "qv")."""
    return next((kind for kind, adapted in TARGETS.items() if projections <= set(adapted)), None)


@dataclass(frozen=True)
class AdapterPlacement:
    """Which projections get adapters, and how many experts each side has."""

    targets: str = "qv"  # the paper's default; "qkvo" adapts all four attention projections
    encoder_experts: int = 6  # one per accent (MAS-LoRA); 1 = a regular LoRA; 0 = no encoder adaptation
    decoder_experts: int = 1  # one shared LoRA (the paper's default); N = MAS-LoRA in the decoder too; 0 = none
    # (in the shared design: the decoder's shared LoRA alone, which is where the paper's shared LoRA sits)
    rank: int = 16  # the paper's r (of each expert)
    alpha: float = 16.0  # the paper's alpha: scale alpha / r = 1, which the shared LoRA runs at too
    dropout: float = 0.05  # the paper's LoRA dropout
    shared_rank: int = 0  # 0: the paper's design. Else the rank of a shared LoRA on every adapted projection,
    # beside the experts where a side has them; a side with 0 experts then holds the shared LoRA alone

    def __post_init__(self) -> None:
        if self.shared_rank and self.encoder_experts < 1:
            raise ValueError("the shared + experts design needs experts in the encoder (encoder_experts >= 1)")

    @property
    def design(self) -> str:
        return SHARED_DESIGN if self.shared_rank else PAPER_DESIGN

    @property
    def scale(self) -> float:
        return lora_scale(self.alpha, self.rank)

    def adapts(self, n_experts: int) -> bool:
        """Whether a side with `n_experts` experts is adapted at all: with experts, or with the shared LoRA."""
        return n_experts > 0 or self.shared_rank > 0


class MixtureLoRALinear(nn.Module):
    """nn.Linear plus N LoRA experts: y = W0 x + b + s sum_i w_i B_i A_i dropout(x), and with a shared LoRA
    (shared_rank > 0) + s B_0 A_0 dropout(x) as well, whatever the weights (N may then be 0: the shared
    LoRA alone).

    The weights w come from `routing`, which only `routed(model, ...)` sets and clears; `block` says
    block of per-block routing ([batch, blocks, N]) is this layer's.
    """

    def __init__(
        self,
        base: nn.Linear,
        n_experts: int,
        rank: int,
        scale: float,
        dropout: float,
        block: int = 0,
        generator: torch.Generator | None = None,
        shared_rank: int = 0,
    ):
        super().__init__()
        self.base = base
        A = init_lora_A(n_experts, rank, base.in_features, generator).to(base.weight)
        B = init_lora_B(n_experts, base.out_features, rank).to(base.weight)
        if n_experts:
            self.lora_A, self.lora_B = nn.Parameter(A), nn.Parameter(B)
        else:  # the shared LoRA alone: empty factors, as buffers, since nothing there trains (or syncs)
            self.register_buffer("lora_A", A)
            self.register_buffer("lora_B", B)
        self.shared_A: nn.Parameter | None = None
        self.shared_B: nn.Parameter | None = None
        if shared_rank:
            self.shared_A = nn.Parameter(init_lora_A(1, shared_rank, base.in_features, generator)[0].to(base.weight))
            self.shared_B = nn.Parameter(init_lora_B(1, base.out_features, shared_rank)[0].to(base.weight))
        self.scale = scale
        self.dropout = nn.Dropout(dropout)
        self.block = block  # index of the transformer block this projection sits in
        # set by routed() only: weights [batch, N], [N] or [batch, blocks, N], or expert indices [batch]
        self.routing: torch.Tensor | None = None
        # set by routed() only, when decoding: (A, B) of just the experts the routing weighs (weighed_experts)
        self.weighed: tuple[torch.Tensor, torch.Tensor] | None = None
        self.original_weight: torch.Tensor | None = None  # W0, kept while merged
        self.expert_deltas: torch.Tensor | None = None  # [N, out * in] while merged with keep_deltas

    @property
    def n_experts(self) -> int:
        return self.lora_A.shape[0]

    @property
    def has_shared(self) -> bool:
        return self.shared_A is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.original_weight is not None:
            return y  # merged: the experts are inside base.weight
        if self.has_shared:
            y = y + lora_output(self.dropout(x), self.shared_A, self.shared_B, self.scale)
        if self.n_experts == 0:
            return y
        if self.routing is not None and not self.routing.is_floating_point():  # one expert index per sample
            return y + chosen_expert_output(self.dropout(x), self.lora_A, self.lora_B, self.routing, self.scale)
        A, B = self.weighed if self.weighed is not None else (self.lora_A, self.lora_B)
        if A.shape[0] == 0:
            return y  # no sample weighs any expert here
        if self.routing is not None:
            weights = self.routing if self.routing.dim() < 3 else self.routing[:, self.block]
        elif self.n_experts == 1:
            weights = torch.ones(1, device=x.device)  # a shared LoRA applies in full unless routed
        else:
            raise RuntimeError("MixtureLoRALinear has no expert weights: run the model inside routed(model, weights)")
        return y + mixture_output(self.dropout(x), A, B, weights, self.scale)

    @torch.no_grad()
    def merge(self, weights: torch.Tensor, keep_deltas: bool = False) -> None:
        """Fold the weighted experts into base.weight, always starting again from the kept W0.

        keep_deltas: compute each expert's s B_i A_i once and keep them until unmerge, so that every
        re-merge is one matrix-vector product (about 2x faster on tiny.en; see analysis/bench_experts)
        for N extra copies of this weight in memory. For sliders; a single merge gains nothing from it.
        """
        if self.original_weight is None:
            self.original_weight = self.base.weight.detach().clone()
        if keep_deltas and self.expert_deltas is None and self.n_experts:
            self.expert_deltas = expert_deltas(self.lora_A, self.lora_B, self.scale)
        start = self.original_weight
        if self.has_shared:  # weight 1 in every mixture; one rank-r0 product, cheap beside the experts'
            start = lora_weight(start, self.shared_A, self.shared_B, self.scale)
        if self.n_experts == 0:  # the shared LoRA alone
            merged = start
        elif self.expert_deltas is not None:
            merged = merged_weight_from_deltas(start, self.expert_deltas, weights)
        else:
            merged = merged_weight(start, self.lora_A, self.lora_B, weights, self.scale)
        self.base.weight.copy_(merged)

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.original_weight is not None:
            self.base.weight.copy_(self.original_weight)
            self.original_weight = None
        self.expert_deltas = None


def _side_layers(model: nn.Module, side: str) -> Iterator[tuple[str, nn.Module]]:
    """(name, attention module) for every self-attention of `side`, and every cross-attention of the decoder."""
    for name, module in model.named_modules():
        if f".{side}.layers." in f".{name}" and name.rsplit(".", 1)[-1] in ("self_attn", "encoder_attn"):
            yield name, module


def inject_adapters(model: nn.Module, placement: AdapterPlacement, seed: int = 0) -> nn.Module:
    """Replace the target projections of `model` (a transformers Whisper) by MixtureLoRALinear, freeze the rest."""
    if placement.targets not in TARGETS:
        raise ValueError(f"targets must be one of {', '.join(TARGETS)}, got {placement.targets!r}")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)  # the same seed gives the same untrained adapters
    for side, n_experts in (("encoder", placement.encoder_experts), ("decoder", placement.decoder_experts)):
        if not placement.adapts(n_experts):
            continue
        for name, attention in list(_side_layers(model, side)):
            block = block_index(name)
            for projection in TARGETS[placement.targets]:
                base = getattr(attention, projection)
                adapted = MixtureLoRALinear(
                    base,
                    n_experts,
                    placement.rank,
                    placement.scale,
                    placement.dropout,
                    block,
                    generator,
                    placement.shared_rank,
                )
                setattr(attention, projection, adapted)
    return model


def block_index(module_name: str) -> int:
    """ "model.encoder.layers.2.self_attn.q_proj" -> 2: the transformer block a module belongs to."""
    return int(module_name.split(".layers.", 1)[1].split(".", 1)[0])


def encoder_blocks(model: nn.Module) -> int:
    """How many transformer blocks Whisper's encoder has (4 in tiny.en): a per-block router's row count."""
    return model.config.encoder_layers


def module_side(module_name: str) -> str:
    """ "encoder" or "decoder": which half of Whisper a module belongs to."""
    return "encoder" if ".encoder." in f".{module_name}" else "decoder"


def adapter_layers(model: nn.Module) -> dict[str, MixtureLoRALinear]:
    return {name: module for name, module in model.named_modules() if isinstance(module, MixtureLoRALinear)}


@contextlib.contextmanager
def routed(model: nn.Module, weights: torch.Tensor, decoder_weights: torch.Tensor | None = None) -> Iterator[None]:
    """Run every multi-expert layer with these weights ([batch, N] per sample, [N] for the whole batch, or
    [batch, blocks, N]: each transformer block its own weights, as a per-layer router gives them), or with
    integer expert indices [batch]: each sample through that one expert alone (training's routing).

    This is the one place where expert weights reach the layers: each layer's `routing` is set here for
    the passes inside the `with`, read by its forward (its `block`'s weights when per block), and cleared on
    the way out, also after an error, so no weighting outlives its call. Every caller goes through it:
    training (expert indices), maslora.systems.combined_whisper (each clip's column weights) and the
    learned router.

    With `decoder_weights`, every decoder layer (single-expert ones too) takes those instead: one model
    can then hold several routes whose decoders differ (see maslora.systems.combined_whisper)."""
    layers = {
        name: layer
        for name, layer in adapter_layers(model).items()
        if layer.n_experts > 1 or (layer.n_experts == 1 and decoder_weights is not None)
    }
    for name, layer in layers.items():
        chosen = decoder_weights if decoder_weights is not None and module_side(name) == "decoder" else weights
        if not chosen.is_floating_point():
            if chosen.dim() != 1 or not bool(((chosen >= 0) & (chosen < layer.n_experts)).all()):
                raise ValueError(f"expert indices must be [batch] in 0..{layer.n_experts - 1} for {name}")
        elif chosen.shape[-1] != layer.n_experts:
            raise ValueError(f"{chosen.shape[-1]} weights for {name}, which has {layer.n_experts} experts")
        if chosen.is_floating_point() and not (chosen.requires_grad or layer.lora_A.requires_grad):
            # decoding: the experts no sample weighs are left out once here, not at every decoder step
            own = chosen if chosen.dim() < 3 else chosen[:, layer.block]
            A, B, chosen = weighed_experts(layer.lora_A, layer.lora_B, own)
            layer.weighed = (A, B)
        layer.routing = chosen
    try:
        yield
    finally:
        for layer in layers.values():
            layer.routing = None
            layer.weighed = None


def merge(model: nn.Module, weights: torch.Tensor, keep_deltas: bool = False) -> None:
    """Fold the experts into the base weights with one weighting [N]; shared LoRAs merge with weight 1.
    keep_deltas makes repeated re-merges faster at a memory price (see MixtureLoRALinear.merge)."""
    for layer in adapter_layers(model).values():
        if layer.n_experts > 1:
            layer.merge(weights, keep_deltas)
        elif layer.original_weight is None:  # a shared LoRA's merge does not depend on the weights: once is enough
            layer.merge(torch.ones(layer.n_experts, device=weights.device))


def unmerge(model: nn.Module) -> None:
    """Restore every base weight to its exact W0."""
    for layer in adapter_layers(model).values():
        layer.unmerge()


def without_adapters(model: nn.Module) -> None:
    """Put every adapter layer's base nn.Linear back in its place, in place: after merge(), a plain Whisper
    whose weights hold the mixture, with nothing a runtime that knows only Whisper would not load."""
    layers = adapter_layers(model)
    unmerged = [name for name, layer in layers.items() if layer.original_weight is None]
    if unmerged:
        raise ValueError(f"{len(unmerged)} adapter layers are not merged (e.g. {unmerged[0]}): merge() first")
    for name, layer in layers.items():
        parent, child = name.rsplit(".", 1)
        setattr(model.get_submodule(parent), child, layer.base)
