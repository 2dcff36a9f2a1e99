"""One clip through base Whisper, a regular LoRA and MAS-LoRA: transcripts, WER and word diffs; WER vs beta.

What the demo shows is computed here, so the app (or a notebook) only displays it.
"""

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from maslora.auto.accent_id import PooledHead
from maslora.auto.auto_weights import auto_weights
from maslora.errors import TextError, WeightsError
from maslora.mixture.weights import beta_weights
from maslora.systems.combined_whisper import ROUTES, CombinedWhisper, Request
from maslora.wer import error_counts, normalize, word_diff
from maslora.whisper.transcribe import GUARDED

BETA_STEP = 0.5  # the WER-vs-beta curve samples beta = 1, 1.5, ..., N
MAX_REFERENCE_WORDS = 500  # a minute of fast speech is ~240 words; scoring 50,000 held a shared server for 11 s


@dataclass(frozen=True)
class RouteResult:
    """What one route of the combined model (base, lora or mas-lora) made of the clip."""

    route: str
    text: str
    wer: float | None  # None when there is no reference with words to score against
    diff: list[tuple[str, str | None]]  # see maslora.wer.word_diff; empty without a reference


@dataclass(frozen=True)
class Comparison:
    results: list[RouteResult]
    seconds: float  # wall time of decoding every route (the adapted two as one batch, base in its own window)


def has_words(reference: str | None) -> bool:
    """A reference can be scored only if something is left after normalization ("(um)" is not)."""
    return bool(reference and normalize(reference).strip())


def check_reference(reference: str | None) -> None:
    """Refuse a reference too long to be what a clip says, before anything is decoded for it."""
    words = len(reference.split()) if reference else 0
    if words > MAX_REFERENCE_WORDS:
        raise TextError(f"the reference text has {words:,} words; at most {MAX_REFERENCE_WORDS} can be scored")


def score(route: str, text: str, reference: str | None) -> RouteResult:
    if not has_words(reference):
        return RouteResult(route, text, None, [])
    return RouteResult(route, text, error_counts([reference], [text]).wer, word_diff(reference, text))


def compare(
    whisper: CombinedWhisper, audio: np.ndarray, weights: dict[str, float], reference: str | None = None
) -> Comparison:
    """Base, regular LoRA and MAS-LoRA (mixed by `weights`) on one 16 kHz clip: the adapted two as one
    batch in their window, base in its own 30 s (see CombinedWhisper)."""
    check_reference(reference)
    began = time.perf_counter()
    texts = whisper.transcribe(
        [audio] * len(ROUTES), [Request(route, weights if route == "mas-lora" else None) for route in ROUTES]
    )
    seconds = time.perf_counter() - began
    return Comparison([score(route, text, reference) for route, text in zip(ROUTES, texts)], seconds)


def beta_grid(n_experts: int) -> list[float]:
    """1, 1.5, ..., N: from the matched expert alone to uniform (11 points for 6 experts)."""
    return [float(b) for b in np.arange(1.0, n_experts + BETA_STEP / 2, BETA_STEP)]


def wer_vs_beta(
    whisper: CombinedWhisper, audio: np.ndarray, reference: str, accent: str, progress: bool = False
) -> pd.DataFrame:
    """MAS-LoRA's WER on one clip for every beta of beta_grid, all weightings decoded as batches of requests."""
    check_reference(reference)
    if not has_words(reference):
        raise WeightsError("the WER-vs-beta curve needs a reference text with words in it")
    betas = beta_grid(len(whisper.accents))
    requests = [Request("mas-lora", beta_weights(accent, beta, whisper.accents)) for beta in betas]
    texts = whisper.transcribe([audio] * len(requests), requests, replace(GUARDED, progress=progress))
    return pd.DataFrame({"beta": betas, "wer": [score("mas-lora", t, reference).wer for t in texts], "text": texts})


@dataclass(frozen=True)
class AutoWeighting:
    """Expert weights from the audio: an accent classifier and the rule its posterior goes through
    (maslora.auto.auto_weights), as chosen on validation clips for a set of experts."""

    classifier: PooledHead
    rule: str
    temperature: float = 1.0

    def weigh(self, whisper: CombinedWhisper, audio: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
        """(posterior, expert weights) of one clip: one pass of the base encoder, then the rule."""
        self.classifier.check_accents(whisper.accents, "accent classifier")
        posterior = self.classifier.posterior(whisper.encoder_features([audio]))[0]
        return posterior, auto_weights(posterior, self.rule, self.temperature)
