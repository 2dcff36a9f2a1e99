"""Base Whisper, a regular LoRA and MAS-LoRA side by side: one Whisper holding every adapter.

Comparing three systems could take three models (three times the memory) or merging and unmerging in
turn (three passes, and merged weights that every user of the model shares). Instead one Whisper holds
every adapter as an expert column of its adapted projections:

    encoder projections: [expert_1, ..., expert_N, regular LoRA]
    decoder projections: [MAS-LoRA's shared decoder LoRA (or its N decoder experts), regular LoRA]

and each clip comes with a request: a route (base, lora or mas-lora) and, for mas-lora, the expert
weights. A request becomes column weights: base = all zeros, regular LoRA = its own columns, MAS-LoRA =
the expert weights (and its decoder). A comparison is one batch of the two adapted clips, and base as
its own batch in Whisper's own 30 s window; a WER-vs-beta sweep is one batch of many requests. Nothing
is merged, so requests with different weights never write shared weights; the column weights are set on
the layers for the length of one call, hence the lock.
"""

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from maslora.errors import AdapterError, WeightsError
from maslora.mixture.layer import (
    AdapterPlacement,
    adapter_layers,
    encoder_blocks,
    inject_adapters,
    module_side,
    routed,
    targets_covering,
)
from maslora.mixture.lora import lora_scale
from maslora.mixture.peft_io import experts_folder, read_adapter
from maslora.mixture.weights import normalized_weights
from maslora.whisper.encoder_states import pooled_encoder_states
from maslora.whisper.encoder_window import FULL_WINDOW_SECONDS, fit_encoder_window, in_window
from maslora.whisper.load import Whisper
from maslora.whisper.transcribe import DEFAULT_BATCH_SIZE, GUARDED, DecodingOptions, transcribe

ROUTES = ("base", "lora", "mas-lora")  # which columns of the combined model carry weight for a clip


Weighting = (
    dict[str, float] | list[dict[str, float]]
)  # MAS-LoRA's expert weights: one mapping, or one per encoder block


class Request(NamedTuple):
    """How one clip decodes: its route, and MAS-LoRA's expert weights when the route is mas-lora."""

    route: str
    weights: Weighting | None = None


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


class CombinedWhisper:
    """One Whisper holding base, a regular LoRA and MAS-LoRA; thread-safe; transcribes requests in batches.

    Without `experts` (or `adapter`) the mas-lora (or lora) route is refused; base always runs. The
    adapted routes run in the window the adapters were trained in (`encoder_seconds`); base in
    `base_seconds`: Whisper as released in its own 30 s (in the adapters' 10 s tiny.en loops on clips it
    transcribes well in 30 s), a fully fine-tuned Whisper in the window it was trained in. Clips of
    different windows decode as separate batches of the same model (see encoder_window.in_window).
    """

    def __init__(
        self,
        whisper: Whisper,
        experts: str | Path | None,
        adapter: str | Path | None,
        encoder_seconds: int = FULL_WINDOW_SECONDS,
        base_seconds: int = FULL_WINDOW_SECONDS,
    ):
        expert_folders, shared_decoder = experts_folder(experts) if experts is not None else ({}, None)
        self.accents = list(expert_folders)
        columns = [read_column("mas-lora", accent, folder) for accent, folder in expert_folders.items()]
        if shared_decoder is not None:
            columns.append(read_column("mas-lora", None, shared_decoder))
        if adapter is not None:
            columns.append(read_column("lora", None, Path(adapter)))
        self.available = {"base"} | {column.route for column in columns}
        self.sides = stack_columns(whisper.model, columns) if columns else {"encoder": [], "decoder": []}
        whisper.model.eval()
        self.windows = {route: base_seconds if route == "base" else encoder_seconds for route in ROUTES}
        if min(self.windows.values()) < FULL_WINDOW_SECONDS:
            fit_encoder_window(whisper)
        self._heard = {  # the model through each window its routes use
            seconds: whisper if seconds == FULL_WINDOW_SECONDS else in_window(whisper, seconds)
            for seconds in sorted(set(self.windows.values()))
        }
        self.whisper = whisper
        self.encoder_seconds = encoder_seconds
        self._lock = threading.Lock()  # column weights live on the shared layers during a call

    @property
    def injected(self) -> bool:
        """Whether any adapter column sits in the model; without one it is the plain base model, never routed."""
        return bool(self.sides["encoder"] or self.sides["decoder"])

    def weights_vector(self, weights: Weighting) -> torch.Tensor:
        """[N] for one mapping; [blocks, N] for one mapping per encoder block (each normalized alone)."""
        if isinstance(weights, dict):
            return normalized_weights(weights, self.accents)
        blocks = encoder_blocks(self.whisper.model)
        if len(weights) != blocks:
            raise WeightsError(f"per-block weights need one mapping per encoder block ({blocks}), got {len(weights)}")
        return torch.stack([normalized_weights(block, self.accents) for block in weights])

    def encoder_features(self, audios: list[np.ndarray], batch_size: int = DEFAULT_BATCH_SIZE) -> torch.Tensor:
        """Pooled states of the base encoder (every adapter column at 0), for the accent classifier and router."""
        no_adapter = [torch.zeros(len(self.sides[side])) for side in ("encoder", "decoder")]
        with self._lock, routed(self.whisper.model, *no_adapter) if self.injected else contextlib.nullcontext():
            return pooled_encoder_states(self._heard[self.encoder_seconds], audios, batch_size)

    def transcribe(
        self, audios: list[np.ndarray], requests: list[Request], options: DecodingOptions = GUARDED
    ) -> list[str]:
        """Clip i decoded as requests[i] asks, the clips of each window as batches of one model.

        Per-block weights route the encoder's experts block by block; experts in the decoder (a MAS
        decoder) then take their average over the blocks."""
        if len(audios) != len(requests):
            raise ValueError(f"{len(audios)} clips but {len(requests)} requests")
        encoder_weights, decoder_weights = [], []
        for route, weights in requests:
            if route not in self.available:
                raise AdapterError(
                    f"no {route} here: loaded {', '.join(sorted(self.available))} (give its experts or adapter)"
                )
            vector = self.weights_vector(weights) if route == "mas-lora" else None
            encoder_weights.append(column_weights(self.sides["encoder"], route, vector, self.accents))
            decoder_vector = vector.mean(0) if vector is not None and vector.dim() == 2 else vector
            decoder_weights.append(column_weights(self.sides["decoder"], route, decoder_vector, self.accents))
        encoder_routing = stack_column_weights(encoder_weights)
        decoder_routing = torch.stack(decoder_weights) if self.sides["decoder"] else None
        texts: list[str] = [""] * len(requests)
        with self._lock:
            for seconds, whisper in self._heard.items():
                indices = [i for i, (route, _) in enumerate(requests) if self.windows[route] == seconds]
                if not indices:
                    continue
                decoder_part = None if decoder_routing is None else decoder_routing[indices]
                context = self._router(encoder_routing[indices], decoder_part) if self.injected else None
                clips = [audios[i] for i in indices]
                for index, text in zip(indices, transcribe(whisper, clips, options, context)):
                    texts[index] = text
        return texts

    def _router(self, encoder_routing: torch.Tensor, decoder_routing: torch.Tensor | None):
        """transcribe's batch_context: the column weights of each batch's clips on the layers (see
        maslora.mixture.layer.routed), from those of the clips handed to transcribe."""

        def route_clips(clips: list[int]):
            return routed(
                self.whisper.model, encoder_routing[clips], None if decoder_routing is None else decoder_routing[clips]
            )

        return route_clips
