"""Decoding a table of utterances with several systems -> rows, written as they come; WER tables from rows.

A system name says what decodes, and with which expert weights:

    base            Whisper as released, in its own 30 s window whatever window the adapters trained in
    full            a fully fine-tuned Whisper (its folder)
    lora            the regular LoRA (one adapter, all accents pooled)
    mas-uniform     MAS-LoRA, accent unknown: every expert 1/N
    mas-beta2       MAS-LoRA, accent known: the beta rule around each utterance's own accent (any beta in [1, N])
    mas-matched     MAS-LoRA with the utterance's own expert alone (the same weights as mas-beta1)
    expert-<accent> one expert alone (weight 1) on every utterance, whatever its accent: the rows of the
                    expert x accent matrix (expert-arabic on Mandarin speech, ...)
    mas-auto-t<T>   MAS-LoRA, weights from the audio: the accent classifier's posterior at temperature T
                    (mas-auto-t1: w = p; see maslora.auto.auto_weights)
    mas-auto-beta   MAS-LoRA, the beta rule around the classifier's guess, beta from its confidence
    mas-router      MAS-LoRA with a learned router's weights, one weighting per encoder block

Accent-known systems need an expert for the utterance's accent; for other utterances (native speech,
an unseen accent) they do not apply and no row is written. Systems that take their weights from the
audio apply to every utterance; their rows also keep the posterior (or the router's weights) they used.

Rows are the results: one JSON object per line per (utterance, system, tags) with reference,
hypothesis and error counts, appended and flushed after every batch. An interrupted run loses at most
the batch in flight; run again, it drops a torn last line and decodes only the rows not yet written.
Any grouping (accent, speaker, system, seed) is computed from the rows afterwards, never by decoding again.
"""

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from maslora.auto.accent_id import PooledHead, load_head
from maslora.auto.auto_weights import TEMPERATURES, auto_weights
from maslora.auto.router import as_mappings, router_weights
from maslora.data.audio import load_audio
from maslora.errors import WeightsError
from maslora.mixture.weights import beta_weights, uniform_weights
from maslora.systems.systems import Systems
from maslora.wer import error_counts
from maslora.whisper.encoder_window import FULL_WINDOW_SECONDS
from maslora.whisper.guards import DecodingGuards
from maslora.whisper.load import DEFAULT_MODEL, load_whisper
from maslora.whisper.transcribe import DEFAULT_BATCH_SIZE

ROWS_PER_WRITE = 32  # rows decoded between two appends: a kill loses at most this much work


@dataclass(frozen=True)
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
    # Greedy by default: every committed result decodes as the paper does; `evaluate` (the command) guards.
    guards: DecodingGuards | None = None


AUDIO_ROUTED = re.compile(r"mas-auto-t\d+(\.\d+)?|mas-auto-beta|mas-router")  # weights computed from each clip
TEMPERED_SYSTEMS = [
    f"mas-auto-t{t:g}" for t in TEMPERATURES
]  # the posterior at every temperature of the validation grid


def automatic_rule(system: str) -> tuple[str, float]:
    """The maslora.auto.auto_weights rule of a classifier system:
    mas-auto-beta -> ("beta", 1.0), mas-auto-t2 -> ("tempered", 2.0)."""
    return ("beta", 1.0) if system == "mas-auto-beta" else ("tempered", float(system.removeprefix("mas-auto-t")))


def check_system(system: str) -> None:
    if system in ("base", "full", "lora", "mas-uniform", "mas-matched") or AUDIO_ROUTED.fullmatch(system):
        return
    if not re.fullmatch(r"mas-beta\d+(\.\d+)?|expert-.+", system):
        raise WeightsError(
            f"unknown system {system!r}: base, full, lora, mas-uniform, mas-matched, mas-beta<B> (e.g. mas-beta2), "
            "expert-<accent> (e.g. expert-arabic), mas-auto-t<T> (e.g. mas-auto-t1), mas-auto-beta or mas-router"
        )


def expert_matrix_systems(accents: Iterable[str]) -> list[str]:
    """The expert x accent matrix's systems: each accent's expert alone (weight 1), in accent order."""
    return [f"expert-{accent}" for accent in sorted(accents)]


def system_row(system: str, accent: str, accents: list[str]) -> tuple[str, dict[str, float] | None] | None:
    """(what decodes in maslora.systems.systems terms, MAS-LoRA weights) for one utterance; None if not applicable."""
    if system in ("base", "full", "lora"):
        return ("base" if system == "full" else system), None
    if system == "mas-uniform":
        return "mas-lora", uniform_weights(accents)
    if AUDIO_ROUTED.fullmatch(system):
        return "mas-lora", None  # weights from the clip itself, once it is read (see _audio_weights)
    if system.startswith("expert-"):
        expert = system.removeprefix("expert-")
        if expert not in accents:
            raise WeightsError(f"no {expert} expert: the experts are {', '.join(accents)}")
        return "mas-lora", {a: float(a == expert) for a in accents}
    if accent not in accents:
        return None  # accent known, but no expert for it
    beta = 1.0 if system == "mas-matched" else float(system.removeprefix("mas-beta"))
    return "mas-lora", beta_weights(accent, beta, accents)


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


class _Engines:
    """The loaded models, each loaded on first use: one Systems for base/lora/MAS-LoRA, one for full FT,
    and the heads (accent classifier, router) that weigh MAS-LoRA's experts from the audio."""

    def __init__(self, models: Models):
        self.models = models
        self._loaded: dict[str, Systems] = {}
        self._heads: dict[str, PooledHead] = {}
        self._features: dict[str, torch.Tensor] = {}  # pooled base-encoder states per clip path, computed once

    def features(self, audio: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Pooled base-encoder states of these clips (path -> samples), each clip encoded once per run."""
        new = [path for path in audio if path not in self._features]
        if new:
            self._features.update(zip(new, self.for_system("mas-uniform").encoder_features([audio[p] for p in new])))
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
            head.check_accents(self.for_system("mas-uniform").accents, f"{kind} in {folder}")
            self._heads[kind] = head
        return self._heads[kind]

    @staticmethod
    def name_for(system: str) -> str:
        return "full" if system == "full" else "adapted"

    def for_system(self, system: str) -> Systems:
        engine = self.name_for(system)
        if engine not in self._loaded:
            m = self.models
            if engine == "full":
                if m.full is None:
                    raise WeightsError("system full needs the fine-tuned model's folder (--full DIR)")
                whisper = load_whisper(str(m.full))  # its "base" rows are the fine-tuned model: its own window
                self._loaded[engine] = Systems(whisper, None, None, m.encoder_seconds, m.encoder_seconds)
            else:
                self._loaded[engine] = Systems(load_whisper(m.model), m.experts, m.adapter, m.encoder_seconds)
        return self._loaded[engine]


def evaluate(
    table: pd.DataFrame,
    systems: list[str],
    models: Models,
    rows_path: Path,
    tags: dict | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
) -> pd.DataFrame:
    """Every applicable (utterance of `table`, system) row, tagged with `tags` (e.g. fold, seed): rows
    already in `rows_path` are read back, the others decoded and appended. Returns this call's rows."""
    tags = tags or {}
    for system in systems:
        check_system(system)
    engines = _Engines(models)
    done = {_key(r["path"], r["system"], {k: r[k] for k in tags}): r for r in read_rows(rows_path)}
    wanted, pending = [], []  # pending: (utterance, system, its row in maslora.systems.systems terms)
    for utterance in table.itertuples(index=False):
        for system in systems:
            key = _key(utterance.path, system, tags)
            wanted.append(key)
            row = None if key in done else system_row(system, utterance.accent, engines.for_system(system).accents)
            if row is not None:
                pending.append((utterance, system, row))
    rows_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(rows_path, "a", encoding="utf-8") as out,
        tqdm(total=len(pending), desc="evaluating", unit="row", disable=not progress) as bar,
    ):
        for chunk in _chunks(pending, ROWS_PER_WRITE):
            for row in _decode(engines, chunk, tags, batch_size, models):
                done[_key(row["path"], row["system"], tags)] = row
                out.write(json.dumps(row) + "\n")
            out.flush()
            bar.update(len(chunk))
    return pd.DataFrame([done[key] for key in wanted if key in done])


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _decode(engines: _Engines, chunk: list, tags: dict, batch_size: int, models: Models) -> list[dict]:
    """Decode one chunk of (utterance, system, row), engine by engine; results in chunk order."""
    audio = {path: load_audio(path) for path in {u.path for u, _, _ in chunk}}  # read once, whatever the systems
    chunk, extras = _audio_weights(engines, chunk, audio)
    texts: dict[int, str] = {}
    windows: dict[int, int] = {}  # the encoder window each row decoded in
    for engine_name in ("adapted", "full"):
        indices = [i for i, (_, system, _) in enumerate(chunk) if engines.name_for(system) == engine_name]
        if indices:
            engine = engines.for_system(chunk[indices[0]][1])
            hypotheses = engine.transcribe(
                [audio[chunk[i][0].path] for i in indices],
                [chunk[i][2] for i in indices],
                batch_size,
                False,
                models.guards,
            )
            texts.update(zip(indices, hypotheses))
            windows.update((i, engine.windows[chunk[i][2][0]]) for i in indices)
    results = []
    for index, (utterance, system, _) in enumerate(chunk):
        counts = error_counts([utterance.text], [texts[index]])
        results.append(
            {
                **tags,
                "utterance_id": utterance.utterance_id,
                "speaker": utterance.speaker,
                "accent": utterance.accent,
                "path": str(utterance.path),
                "system": system,
                "reference": utterance.text,
                "hypothesis": texts[index],
                "errors": counts.errors,
                "substitutions": counts.substitutions,
                "deletions": counts.deletions,
                "insertions": counts.insertions,
                "reference_words": counts.reference_words,
                "model": str(models.full) if system == "full" else models.model,
                "encoder_seconds": windows[index],
                **extras.get(index, {}),
            }
        )
    return results


def _audio_weights(engines: _Engines, chunk: list, audio: dict) -> tuple[list, dict[int, dict]]:
    """Fill in the weights of audio-routed rows (one encoder pass per clip, shared by all of them); returns
    the chunk and, per row index, what to keep in its row (the posterior, or the router's weights)."""
    routed_rows = [i for i, (_, system, _) in enumerate(chunk) if AUDIO_ROUTED.fullmatch(system)]
    if not routed_rows:
        return chunk, {}
    features = engines.features({chunk[i][0].path: audio[chunk[i][0].path] for i in routed_rows})
    chunk, extras = list(chunk), {}
    for i in routed_rows:
        utterance, system, (decoded_as, _) = chunk[i]
        clip = features[utterance.path][None]
        if system == "mas-router":
            router = engines.head("router")
            weights = as_mappings(router, router_weights(router, clip))[0]
            extras[i] = {"weights": weights}
        else:
            posterior = engines.head("classifier").posterior(clip)[0]
            weights = auto_weights(posterior, *automatic_rule(system))
            extras[i] = {"posterior": posterior, "weights": weights}
        chunk[i] = (utterance, system, (decoded_as, weights))
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
