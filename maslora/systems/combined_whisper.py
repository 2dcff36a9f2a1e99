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
the layers for the length of one batch, hence the lock, and callers on other threads join the next batch
(maslora.systems.batching) instead of waiting for the lock one by one.
"""

import contextlib
import threading
from collections.abc import Hashable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from maslora.errors import AdapterError, WeightsError
from maslora.mixture.layer import encoder_blocks, routed
from maslora.mixture.peft_io import experts_folder
from maslora.mixture.weights import normalized_weights
from maslora.systems.batching import BatchQueue
from maslora.systems.clip_cache import ClipCache, clip_digest
from maslora.systems.columns import (
    Column,
    append_column,
    column_weights,
    drop_column,
    read_column,
    stack_column_weights,
    stack_columns,
)
from maslora.whisper.encoder_states import pooled_encoder_states
from maslora.whisper.encoder_window import FULL_WINDOW_SECONDS, fit_encoder_window, in_window
from maslora.whisper.load import Whisper
from maslora.whisper.precision import with_precision
from maslora.whisper.transcribe import DEFAULT_BATCH_SIZE, GUARDED, DecodingOptions, transcribe

ROUTES = ("base", "lora", "mas-lora")  # which columns of the combined model carry weight for a clip


Weighting = (
    dict[str, float] | list[dict[str, float]]
)  # MAS-LoRA's expert weights: one mapping, or one per encoder block


class Request(NamedTuple):
    """How one clip decodes: its route, and MAS-LoRA's expert weights when the route is mas-lora."""

    route: str
    weights: Weighting | None = None


MAX_BATCH_ROWS = 16  # rows of concurrent callers decoded as one batch: two of transcribe's 8-window passes


class _Layout(NamedTuple):
    """Which expert each column is: replaced whole when an expert is added or removed, so a reader who took
    it once sees names and columns that agree."""

    names: list[str]  # every expert a mas-lora request may weigh: the bundled accents, then the added ones
    sides: dict[str, list[Column]]  # each side's columns, in the layers' order


class _Job(NamedTuple):
    """One caller's rows not found in the cache, waiting for a batch (see maslora.systems.batching)."""

    audios: list[np.ndarray]
    requests: list[Request]
    keys: list[Hashable | None]  # each row's cache key; None without a cache
    options: DecodingOptions


class CombinedWhisper:
    """One Whisper holding base, a regular LoRA and MAS-LoRA; thread-safe; transcribes requests in batches.

    Without `experts` (or `adapter`) the mas-lora (or lora) route is refused; base always runs. The
    adapted routes run in the window the adapters were trained in (`encoder_seconds`); base in
    `base_seconds`: Whisper as released in its own 30 s (in the adapters' 10 s tiny.en loops on clips it
    transcribes well in 30 s), a fully fine-tuned Whisper in the window it was trained in. Clips of
    different windows decode as separate batches of the same model (see encoder_window.in_window).

    Callers on many threads share it: the rows of calls that arrive while a batch decodes go together as
    the next batch, up to `max_batch_rows` (maslora.systems.batching). With a `cache`
    (maslora.systems.clip_cache), a row already decoded (the same clip, route, weights and options) is not
    decoded again, nor a clip's encoder features: a slider move on the page then decodes MAS-LoRA's row alone.
    `precision` "int8" runs the linear layers with int8 weights (maslora.whisper.precision); float32 by default.
    """

    def __init__(
        self,
        whisper: Whisper,
        experts: str | Path | None,
        adapter: str | Path | None,
        encoder_seconds: int = FULL_WINDOW_SECONDS,
        base_seconds: int = FULL_WINDOW_SECONDS,
        cache: ClipCache | None = None,
        max_batch_rows: int = MAX_BATCH_ROWS,
        precision: str = "float32",
    ):
        expert_folders, shared_decoder = experts_folder(experts) if experts is not None else ({}, None)
        self.accents = list(expert_folders)
        columns = [read_column("mas-lora", accent, folder) for accent, folder in expert_folders.items()]
        if shared_decoder is not None:
            columns.append(read_column("mas-lora", None, shared_decoder))
        if adapter is not None:
            columns.append(read_column("lora", None, Path(adapter)))
        self.available = {"base"} | {column.route for column in columns}
        sides = stack_columns(whisper.model, columns) if columns else {"encoder": [], "decoder": []}
        self._layout = _Layout(list(self.accents), sides)
        self.precision = precision
        with_precision(whisper.model.eval(), precision)  # the adapters' base projections too
        self.windows = {route: base_seconds if route == "base" else encoder_seconds for route in ROUTES}
        if min(self.windows.values()) < FULL_WINDOW_SECONDS:
            fit_encoder_window(whisper)
        self._heard = {  # the model through each window its routes use
            seconds: whisper if seconds == FULL_WINDOW_SECONDS else in_window(whisper, seconds)
            for seconds in sorted(set(self.windows.values()))
        }
        self.whisper = whisper
        self.encoder_seconds = encoder_seconds
        self.cache = cache
        self._lock = threading.Lock()  # column weights live on the shared layers during a call
        self.batches = BatchQueue(
            self._decode_jobs, rows=lambda job: len(job.requests), max_rows=max_batch_rows, compatible=_same_options
        )

    @property
    def sides(self) -> dict[str, list[Column]]:
        return self._layout.sides

    def add_expert(self, name: str, folder: Path) -> None:
        """One more expert (a visitor's, the PEFT adapter in `folder`) as a column beside the others, weighed
        only by requests that name it: the bundled experts and every other added one keep their values."""
        if name in self._layout.names:
            raise AdapterError(f"there is already an expert called {name!r} in this model")
        column = read_column("mas-lora", name, folder)
        with self._lock:  # between batches: a batch's layers never change under it
            sides = {side: list(columns) for side, columns in self._layout.sides.items()}
            append_column(self.whisper.model, sides, column)
            self._layout = _Layout([*self._layout.names, name], sides)

    def remove_expert(self, name: str) -> None:
        """The added expert `name` out of the model (its visitor left); the bundled experts cannot go."""
        if name in self.accents or name not in self._layout.names:
            raise AdapterError(f"no added expert called {name!r} here")
        with self._lock:
            sides = {side: list(columns) for side, columns in self._layout.sides.items()}
            drop_column(self.whisper.model, sides, name)
            self._layout = _Layout([n for n in self._layout.names if n != name], sides)

    @property
    def injected(self) -> bool:
        """Whether any adapter column sits in the model; without one it is the plain base model, never routed."""
        return bool(self.sides["encoder"] or self.sides["decoder"])

    def weights_vector(self, weights: Weighting, names: list[str] | None = None) -> torch.Tensor:
        """[N] over `names` (the bundled accents unless given) for one mapping; [blocks, N] for one mapping
        per encoder block (each normalized alone)."""
        names = self.accents if names is None else names
        if isinstance(weights, dict):
            return normalized_weights(weights, names)
        blocks = encoder_blocks(self.whisper.model)
        if len(weights) != blocks:
            raise WeightsError(f"per-block weights need one mapping per encoder block ({blocks}), got {len(weights)}")
        return torch.stack([normalized_weights(block, names) for block in weights])

    def encoder_features(self, audios: list[np.ndarray], batch_size: int = DEFAULT_BATCH_SIZE) -> torch.Tensor:
        """Pooled states of the base encoder (every adapter column at 0), for the accent classifier and router;
        with a cache, only the clips it has not heard yet go through the encoder."""
        cached = self.cache is not None  # (an empty cache is falsy: it has a length)
        keys = [("features", clip_digest(audio)) if cached else None for audio in audios]
        rows = [self.cache.get(key) if key is not None else None for key in keys]
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing:
            unheard = [audios[i] for i in missing]
            with self._lock:
                no_adapter = [torch.zeros(len(self.sides[side])) for side in ("encoder", "decoder")]
                with routed(self.whisper.model, *no_adapter) if self.injected else contextlib.nullcontext():
                    heard = pooled_encoder_states(self._heard[self.encoder_seconds], unheard, batch_size)
            if not cached:
                return heard
            for i, row in zip(missing, heard):
                rows[i] = row
                self.cache.put(keys[i], row)
        return torch.stack(rows)

    def transcribe(
        self, audios: list[np.ndarray], requests: list[Request], options: DecodingOptions = GUARDED
    ) -> list[str]:
        """Clip i decoded as requests[i] asks, the clips of each window as batches of one model (with other
        callers' rows that arrived meanwhile); rows the cache holds are not decoded again.

        Per-block weights route the encoder's experts block by block; experts in the decoder (a MAS
        decoder) then take their average over the blocks."""
        if len(audios) != len(requests):
            raise ValueError(f"{len(audios)} clips but {len(requests)} requests")
        self._routing(requests, self._layout)  # a bad request is refused here, before it can join anyone's batch
        keys = [self._key(audio, request, options) for audio, request in zip(audios, requests)]
        texts = [self.cache.get(key) if key is not None else None for key in keys]
        missing = [i for i, text in enumerate(texts) if text is None]
        if missing:
            rows = [audios[i] for i in missing], [requests[i] for i in missing], [keys[i] for i in missing]
            for i, text in zip(missing, self.batches.submit(_Job(*rows, options))):
                texts[i] = text
                if keys[i] is not None:
                    self.cache.put(keys[i], text)
        return texts

    def _key(self, audio: np.ndarray, request: Request, options: DecodingOptions) -> Hashable | None:
        """What a row's transcript depends on: the clip's samples, its route, its normalized weights, the options."""
        if self.cache is None:
            return None
        route, weights = request  # a plain (route, weights) pair is a request too
        named = weights_key(weights) if route == "mas-lora" else None  # only MAS-LoRA's depends on weights
        return ("text", clip_digest(audio), route, named, _without_bar(options))

    def _routing(self, requests: list[Request], layout: _Layout) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Each request's column weights in `layout`: (encoder [clips, columns] or [clips, blocks, columns],
        decoder [clips, columns] or None); an unavailable route or a bad weighting is refused by name."""
        names, sides = layout
        encoder_weights, decoder_weights = [], []
        for route, weights in requests:
            if route not in self.available:
                raise AdapterError(
                    f"no {route} here: loaded {', '.join(sorted(self.available))} (give its experts or adapter)"
                )
            vector = self.weights_vector(weights, names) if route == "mas-lora" else None
            encoder_weights.append(column_weights(sides["encoder"], route, vector, names))
            decoder_vector = vector.mean(0) if vector is not None and vector.dim() == 2 else vector
            decoder_weights.append(column_weights(sides["decoder"], route, decoder_vector, names))
        decoder_routing = torch.stack(decoder_weights) if sides["decoder"] else None
        return stack_column_weights(encoder_weights), decoder_routing

    def _decode_jobs(self, jobs: list[_Job]) -> list[list[str]]:
        """The batch queue's work: every job's rows decoded together, then each job's texts. A row the cache
        took in while its job waited (another caller's batch decoded the same clip), or that two jobs share,
        is decoded once at most. The jobs share their options (_same_options)."""
        known = {key: self.cache.get(key) for job in jobs for key in job.keys if key is not None}
        known = {key: text for key, text in known.items() if text is not None}
        audios, requests, at, rows = [], [], {}, []  # at: key -> its row in the batch; rows: each job's
        for job in jobs:
            rows.append([])
            for audio, request, key in zip(job.audios, job.requests, job.keys):
                if key not in known and key not in at:
                    if key is not None:
                        at[key] = len(audios)
                    rows[-1].append(len(audios))
                    audios.append(audio)
                    requests.append(request)
                else:
                    rows[-1].append(at.get(key))  # None: the cache has it
        texts = self._decode(audios, requests, jobs[0].options) if audios else []
        return [
            [known[key] if row is None else texts[row] for key, row in zip(job.keys, job_rows)]
            for job, job_rows in zip(jobs, rows)
        ]

    def _decode(self, audios: list[np.ndarray], requests: list[Request], options: DecodingOptions) -> list[str]:
        """Decode now, holding the model: the clips of each window as batches (see transcribe)."""
        texts: list[str] = [""] * len(requests)
        with self._lock:
            encoder_routing, decoder_routing = self._routing(requests, self._layout)  # the layout the layers hold
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


def weights_key(weights: Weighting) -> tuple:
    """MAS-LoRA's weights as a cache key: each expert weighed, by name, with its normalized weight (per block if
    per block). Positions are no part of it, so experts added or removed for others never change a key."""
    mappings = [weights] if isinstance(weights, dict) else weights
    named = []
    for mapping in mappings:
        weighed = sorted(name for name, weight in mapping.items() if weight)
        vector = normalized_weights({name: mapping[name] for name in weighed}, weighed)
        named.append(tuple(zip(weighed, vector.tolist())))
    return isinstance(weights, dict), tuple(named)


def _without_bar(options: DecodingOptions) -> DecodingOptions:
    """The options that decide a transcript: a progress bar changes none."""
    return replace(options, progress=False)


def _same_options(first: _Job, second: _Job) -> bool:
    """Jobs decoded with the same options (a progress bar aside) can share a batch."""
    return _without_bar(first.options) == _without_bar(second.options)
