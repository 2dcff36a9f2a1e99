"""One clip through base Whisper, a regular LoRA and MAS-LoRA: transcripts, WER and word diffs; WER vs beta.

What the demo shows is computed here, so the app (or a notebook) only displays it.
"""

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from maslora.auto.accent_id import PooledHead
from maslora.auto.auto_weights import auto_weights
from maslora.errors import WeightsError
from maslora.mixture.weights import beta_weights
from maslora.systems.systems import SYSTEMS, Systems
from maslora.wer import error_counts, normalize, word_diff

BETA_STEP = 0.5  # the WER-vs-beta curve samples beta = 1, 1.5, ..., N


@dataclass(frozen=True)
class SystemResult:
    system: str
    text: str
    wer: float | None  # None when there is no reference with words to score against
    diff: list[tuple[str, str | None]]  # see maslora.wer.word_diff; empty without a reference


@dataclass(frozen=True)
class Comparison:
    results: list[SystemResult]
    seconds: float  # wall time of decoding every system (adapted rows as one batch, base in its own window)


def has_words(reference: str | None) -> bool:
    """A reference can be scored only if something is left after normalization ("(um)" is not)."""
    return bool(reference and normalize(reference).strip())


def score(system: str, text: str, reference: str | None) -> SystemResult:
    if not has_words(reference):
        return SystemResult(system, text, None, [])
    return SystemResult(system, text, error_counts([reference], [text]).wer, word_diff(reference, text))


def compare(systems: Systems, audio: np.ndarray, weights: dict[str, float], reference: str | None = None) -> Comparison:
    """Base, regular LoRA and MAS-LoRA (mixed by `weights`) on one 16 kHz clip: the adapted systems as one
    batch in their window, base in its own 30 s (see Systems)."""
    began = time.perf_counter()
    texts = systems.transcribe(
        [audio] * len(SYSTEMS), [(system, weights if system == "mas-lora" else None) for system in SYSTEMS]
    )
    seconds = time.perf_counter() - began
    return Comparison([score(system, text, reference) for system, text in zip(SYSTEMS, texts)], seconds)


def beta_grid(n_experts: int) -> list[float]:
    """1, 1.5, ..., N: from the matched expert alone to uniform (11 points for 6 experts)."""
    return [float(b) for b in np.arange(1.0, n_experts + BETA_STEP / 2, BETA_STEP)]


def wer_vs_beta(
    systems: Systems, audio: np.ndarray, reference: str, accent: str, progress: bool = False
) -> pd.DataFrame:
    """MAS-LoRA's WER on one clip for every beta of beta_grid, all weightings decoded as rows of batches."""
    if not has_words(reference):
        raise WeightsError("the WER-vs-beta curve needs a reference text with words in it")
    betas = beta_grid(len(systems.accents))
    rows = [("mas-lora", beta_weights(accent, beta, systems.accents)) for beta in betas]
    texts = systems.transcribe([audio] * len(rows), rows, progress=progress)
    return pd.DataFrame({"beta": betas, "wer": [score("mas-lora", t, reference).wer for t in texts], "text": texts})


@dataclass(frozen=True)
class AutoWeighting:
    """Expert weights from the audio: an accent classifier and the rule its posterior goes through
    (maslora.auto.auto_weights), as chosen on validation clips for a set of experts."""

    classifier: PooledHead
    rule: str
    temperature: float = 1.0

    def weigh(self, systems: Systems, audio: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
        """(posterior, expert weights) of one clip: one pass of the base encoder, then the rule."""
        self.classifier.check_accents(systems.accents, "accent classifier")
        posterior = self.classifier.posterior(systems.encoder_features([audio]))[0]
        return posterior, auto_weights(posterior, self.rule, self.temperature)
