"""Decoding a table of utterances with several systems -> rows, written as they come; WER tables from rows.

A system (see maslora.systems.system) says what decodes, and with which expert weights: base, full,
lora, mas-uniform, mas-beta2, expert-arabic, mas-auto-t1, mas-router, ...

Accent-known systems need an expert for the utterance's accent; for other utterances (native speech,
an unseen accent) they do not apply and no row is written. CombinedWhisper that take their weights from the
audio apply to every utterance; their rows also keep the posterior (or the router's weights) they used.

Rows are the results: one JSON object per line per (utterance, system, tags) with reference,
hypothesis and error counts, appended and flushed after every batch. An interrupted run loses at most
the batch in flight; run again, it drops a torn last line and decodes only the rows not yet written.
Any grouping (accent, speaker, system, seed) is computed from the rows afterwards, never by decoding again.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from maslora.auto.accent_id import PooledHead, load_head
from maslora.auto.auto_weights import auto_weights
from maslora.auto.router import as_mappings, router_weights
from maslora.data.audio import load_audio
from maslora.errors import WeightsError
from maslora.mixture.weights import beta_weights, uniform_weights
from maslora.systems.combined_whisper import CombinedWhisper, Request
from maslora.systems.system import System, with_system_columns
from maslora.wer import error_counts
from maslora.whisper.encoder_window import FULL_WINDOW_SECONDS
from maslora.whisper.load import DEFAULT_MODEL, load_whisper
from maslora.whisper.transcribe import GREEDY, DecodingOptions

ROWS_PER_WRITE = 32  # rows decoded between two appends: a kill loses at most this much work


@dataclass(frozen=True, kw_only=True)
class Models:
    """Where each system's weights are. The adapted systems and full fine-tuning run in the window they were
    trained in (`encoder_seconds`); base, Whisper as released, in its own 30 s window."""

    model: str = DEFAULT_MODEL  # the base Whisper (and the base of the experts and the adapter)
    experts: Path | None = None  # a MAS-LoRA experts folder (mas-* systems)
    adapter: Path | None = None  # a regular LoRA adapter folder (lora)
    full: Path | None = None  # a fully fine-tuned Whisper folder (full)
    encoder_seconds: int = FULL_WINDOW_SECONDS  # as the adapted models were trained; base keeps its 30 s
    classifier: Path | None = None  # an accent classifier folder (mas-auto-*; see maslora.auto.accent_id)
    router: Path | None = None  # a learned router folder (mas-router; see maslora.auto.router)
    precision: str = "float32"  # every experiment's; "int8" only to measure it (train/precision_dev.py)


def request_for(system: System, accent: str, accents: list[str]) -> Request | None:
    """How `system` decodes an utterance of `accent` in a CombinedWhisper with experts for `accents`; None
    if it does not apply (an accent-known system on an accent without an expert). Weights taken from the
    audio are left for the clip itself, once it is read (see _audio_weights)."""
    if system.kind != "mas":
        return Request("base" if system.kind == "full" else system.kind)  # full: the fine-tuned model, as it is
    if system.weighting == "uniform":
        return Request("mas-lora", uniform_weights(accents))
    if system.from_audio:
        return Request("mas-lora")
    if system.weighting == "expert":
        if system.expert not in accents:
            raise WeightsError(f"no {system.expert} expert: the experts are {', '.join(accents)}")
        return Request("mas-lora", {a: float(a == system.expert) for a in accents})
    if accent not in accents:
        return None  # accent known, but no expert for it
    return Request("mas-lora", beta_weights(accent, 1.0 if system.weighting == "matched" else system.beta, accents))


def _key(path: str, system: str, tags: dict) -> tuple:
    return (str(path), system, *(str(tags[name]) for name in sorted(tags)))


def read_rows(rows_path: Path) -> list[dict]:
    """Every complete row of a rows file; a torn last line (a kill mid-write) is cut off the file."""
    if not rows_path.is_file():
        return []
    rows, valid_bytes = [], 0
    with open(rows_path, "rb") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise ValueError(f"{rows_path}:{number} is not a JSON row; the rows file is damaged") from None
            break
        valid_bytes += len(line)
    if valid_bytes < rows_path.stat().st_size:
        with open(rows_path, "r+b") as handle:
            handle.truncate(valid_bytes)
    return rows


def rows_table(rows_path: Path) -> pd.DataFrame:
    """The rows of a rows file as a table, with every system field as a column (see system.with_system_columns)."""
    return with_system_columns(pd.DataFrame(read_rows(rows_path)))


class _Engines:
    """The loaded models, each loaded on first use: one CombinedWhisper for base/lora/MAS-LoRA, one for full
    FT, and the heads (accent classifier, router) that weigh MAS-LoRA's experts from the audio."""

    def __init__(self, models: Models):
        self.models = models
        self._loaded: dict[str, CombinedWhisper] = {}
        self._heads: dict[str, PooledHead] = {}
        self._features: dict[str, torch.Tensor] = {}  # pooled base-encoder states per clip path, computed once

    @property
    def adapted(self) -> CombinedWhisper:
        """The model of base, lora and the mas systems (the one whose base encoder the heads hear)."""
        return self.engine("adapted")

    def features(self, audio: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Pooled base-encoder states of these clips (path -> samples), each clip encoded once per run."""
        new = [path for path in audio if path not in self._features]
        if new:
            self._features.update(zip(new, self.adapted.encoder_features([audio[p] for p in new])))
        return {path: self._features[path] for path in audio}

    def head(self, kind: str) -> PooledHead:
        """The accent classifier ("classifier") or router ("router"), checked against the experts' accents."""
        if kind not in self._heads:
            folder = getattr(self.models, kind)
            if folder is None:
                raise WeightsError(
                    f"mas-auto-* systems need --classifier DIR, mas-router needs --router DIR (no {kind} given)"
                )
            head, _ = load_head(folder)
            head.check_accents(self.adapted.accents, f"{kind} in {folder}")
            self._heads[kind] = head
        return self._heads[kind]

    @staticmethod
    def name_for(system: System) -> str:
        return "full" if system.kind == "full" else "adapted"

    def for_system(self, system: System) -> CombinedWhisper:
        return self.engine(self.name_for(system))

    def engine(self, engine: str) -> CombinedWhisper:
        """The "adapted" or the "full" model, loaded on first use."""
        if engine not in self._loaded:
            m = self.models
            if engine == "full":
                if m.full is None:
                    raise WeightsError("system full needs the fine-tuned model's folder (--full DIR)")
                whisper = load_whisper(str(m.full))  # its "base" route is the fine-tuned model: its own window
                self._loaded[engine] = CombinedWhisper(whisper, None, None, m.encoder_seconds, m.encoder_seconds)
            else:
                self._loaded[engine] = CombinedWhisper(
                    load_whisper(m.model), m.experts, m.adapter, m.encoder_seconds, precision=m.precision
                )
        return self._loaded[engine]


@dataclass(frozen=True)
class _Pending:
    """One row still to decode: its utterance, its system, and how the combined model decodes it."""

    utterance: tuple  # a row of the table (path, speaker, accent, text, ...)
    system: System
    request: Request


def evaluate(
    table: pd.DataFrame,
    systems: list[str],
    models: Models,
    rows_path: Path,
    tags: dict | None = None,
    *,
    decoding: DecodingOptions = GREEDY,
    progress: bool = True,
) -> pd.DataFrame:
    """Every applicable (utterance of `table`, system named in `systems`) row, tagged with `tags` (e.g. fold,
    seed): rows already in `rows_path` are read back, the others decoded and appended. Returns this call's
    rows. Greedy by default: every committed result decodes as the paper does; `evaluate` (the command)
    guards."""
    tags = tags or {}
    parsed = [System.parse(name) for name in systems]
    engines = _Engines(models)
    done = {_key(r["path"], r["system"], {k: r[k] for k in tags}): r for r in read_rows(rows_path)}
    wanted, pending = [], []
    for utterance in table.itertuples(index=False):
        for system in parsed:
            key = _key(utterance.path, system.name, tags)
            wanted.append(key)
            if key in done:
                continue
            request = request_for(system, utterance.accent, engines.for_system(system).accents)
            if request is not None:
                pending.append(_Pending(utterance, system, request))
    rows_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(rows_path, "a", encoding="utf-8") as out,
        tqdm(total=len(pending), desc="evaluating", unit="row", disable=not progress) as bar,
    ):
        for chunk in _chunks(pending, ROWS_PER_WRITE):
            for row in _decode(engines, chunk, tags, decoding):
                done[_key(row["path"], row["system"], tags)] = row
                out.write(json.dumps(row) + "\n")
            out.flush()
            bar.update(len(chunk))
    return with_system_columns(pd.DataFrame([done[key] for key in wanted if key in done]))


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _decode(engines: _Engines, chunk: list[_Pending], tags: dict, decoding: DecodingOptions) -> list[dict]:
    """Decode one chunk of pending rows, engine by engine; results in chunk order."""
    audio = {path: load_audio(path) for path in {p.utterance.path for p in chunk}}  # read once, whatever the systems
    chunk, extras = _audio_weights(engines, chunk, audio)
    texts: dict[int, str] = {}
    windows: dict[int, int] = {}  # the encoder window each row decoded in
    for engine_name in ("adapted", "full"):
        indices = [i for i, p in enumerate(chunk) if engines.name_for(p.system) == engine_name]
        if indices:
            engine = engines.for_system(chunk[indices[0]].system)
            requests = [chunk[i].request for i in indices]
            hypotheses = engine.transcribe([audio[chunk[i].utterance.path] for i in indices], requests, decoding)
            texts.update(zip(indices, hypotheses))
            windows.update((i, engine.windows[chunk[i].request.route]) for i in indices)
    results = []
    for index, pending in enumerate(chunk):
        utterance, system = pending.utterance, pending.system
        counts = error_counts([utterance.text], [texts[index]])
        results.append(
            {
                **tags,
                "utterance_id": utterance.utterance_id,
                "speaker": utterance.speaker,
                "accent": utterance.accent,
                "path": str(utterance.path),
                "system": system.name,
                **system.columns(),
                "reference": utterance.text,
                "hypothesis": texts[index],
                "errors": counts.errors,
                "substitutions": counts.substitutions,
                "deletions": counts.deletions,
                "insertions": counts.insertions,
                "reference_words": counts.reference_words,
                "model": str(engines.models.full) if system.kind == "full" else engines.models.model,
                "encoder_seconds": windows[index],
                **extras.get(index, {}),
            }
        )
    return results


def _audio_weights(engines: _Engines, chunk: list[_Pending], audio: dict) -> tuple[list[_Pending], dict[int, dict]]:
    """Fill in the weights of the rows weighted from their audio (one encoder pass per clip, shared by all of
    them); returns the chunk and, per row index, what to keep in its row (the posterior, or the router's
    weights)."""
    from_audio = [i for i, p in enumerate(chunk) if p.system.from_audio]
    if not from_audio:
        return chunk, {}
    features = engines.features({chunk[i].utterance.path: audio[chunk[i].utterance.path] for i in from_audio})
    chunk, extras = list(chunk), {}
    for i in from_audio:
        pending = chunk[i]
        clip = features[pending.utterance.path][None]
        if pending.system.weighting == "router":
            router = engines.head("router")
            weights = as_mappings(router, router_weights(router, clip))[0]
            extras[i] = {"weights": weights}
        else:
            posterior = engines.head("classifier").posterior(clip)[0]
            weights = auto_weights(posterior, *pending.system.automatic_rule)
            extras[i] = {"posterior": posterior, "weights": weights}
        chunk[i] = _Pending(pending.utterance, pending.system, pending.request._replace(weights=weights))
    return chunk, extras


def wer_by(rows: pd.DataFrame, column: str = "accent") -> pd.DataFrame:
    """WER per value of `column`, then two summary lines:
    "pooled" = all errors / all reference words; "macro mean" = the unweighted mean of the groups' WERs."""
    groups = rows.groupby(column).agg(
        utterances=("errors", "size"), errors=("errors", "sum"), reference_words=("reference_words", "sum")
    )
    groups["wer"] = groups.errors / groups.reference_words
    pooled = pd.DataFrame(
        {"utterances": [len(rows)], "errors": [rows.errors.sum()], "reference_words": [rows.reference_words.sum()]},
        index=["pooled"],
    )
    pooled["wer"] = pooled.errors / pooled.reference_words
    macro = pd.DataFrame(
        {"utterances": [len(rows)], "errors": [None], "reference_words": [None], "wer": [groups.wer.mean()]},
        index=["macro mean"],
    )
    return pd.concat([groups, pooled, macro]).rename_axis(column)


def wer_table(rows: pd.DataFrame, by: str = "accent", systems_in: str = "system") -> pd.DataFrame:
    """WER (%) with one line per `by` value plus "pooled" and "macro mean", one column per system."""
    columns = {system: wer_by(group, by).wer * 100 for system, group in rows.groupby(systems_in, sort=False)}
    groups = sorted(set(rows[by]), key=str)
    return pd.DataFrame(columns).reindex([*groups, "pooled", "macro mean"]).rename_axis(by)


def lowest_wer_system(rows: pd.DataFrame, systems: list[str]) -> tuple[str, float]:
    """(the system of `systems` with the lowest pooled WER in `rows`, that WER): ties go to the first listed."""
    scored = rows[rows.system.isin(systems)].groupby("system")[["errors", "reference_words"]].sum()
    if scored.empty:
        raise ValueError(f"no rows of {', '.join(systems)} to choose from")
    wers = scored.errors / scored.reference_words
    return min(((system, float(wers[system])) for system in systems if system in wers.index), key=lambda pair: pair[1])
