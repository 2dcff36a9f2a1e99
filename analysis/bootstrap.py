"""How sure a WER difference is: a paired bootstrap over utterances (Bisani and Ney, 2004).

Two systems decode the same test utterances. Drawing the utterances again with replacement, the same draw
for both systems, shows how much the pooled WER difference would move with another sample of sentences
and speakers' clips; pairing cancels what both systems find hard. With several seeds the difference is the
mean over seeds of each seed's pooled difference, every seed resampled with the same utterances, so the
interval is the test set's uncertainty on top of the seeds (the seed spread is reported beside it).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

DRAWS = 2000  # the 2.5th and 97.5th percentiles of 2,000 draws move by under a tenth of a point between runs
UTTERANCE = ["fold", "speaker", "utterance_id"]  # one test utterance; the same key in every system's rows


@dataclass(frozen=True)
class Difference:
    """WER(a) - WER(b) in points, and its 95% interval; negative means a has fewer errors."""

    points: float
    low: float
    high: float
    utterances: int
    seeds: int

    @property
    def separable(self) -> bool:
        """Whether the interval leaves out zero: the test set cannot explain the difference away."""
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return f"{self.points:+.1f} points (95% interval {self.low:+.1f} to {self.high:+.1f})"


def paired_difference(rows: pd.DataFrame, a: str, b: str, draws: int = DRAWS, seed: int = 0) -> Difference:
    """Pooled WER of system `a` minus system `b` (rows as evaluate writes them: system, seed, errors,
    reference_words and the UTTERANCE columns), over the seeds both ran and the utterances both decoded in
    every one of those seeds."""
    errors = rows[rows.system.isin([a, b])].pivot_table(
        index=UTTERANCE, columns=["system", "seed"], values="errors", aggfunc="first"
    )
    if a not in errors.columns.get_level_values(0) or b not in errors.columns.get_level_values(0):
        raise ValueError(f"no rows of {a!r} or of {b!r} to compare")
    seeds = sorted(set(errors[a].columns) & set(errors[b].columns))
    if not seeds:
        raise ValueError(f"{a!r} and {b!r} share no seed")
    errors = errors.loc[:, [(system, s) for system in (a, b) for s in seeds]].dropna()
    if errors.empty:
        raise ValueError(f"{a!r} and {b!r} share no utterance in seeds {seeds}")
    words = rows.groupby(UTTERANCE).reference_words.first().loc[errors.index].to_numpy(float)
    error_gap = (errors[a].to_numpy(float) - errors[b].to_numpy(float)).mean(axis=1)  # mean over seeds, per utterance
    resampled = 100 * ratio_draws(error_gap, words, draws, seed)
    low, high = np.percentile(resampled, [2.5, 97.5])
    return Difference(100 * error_gap.sum() / words.sum(), float(low), float(high), len(words), len(seeds))


def ratio_draws(errors: np.ndarray, words: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """sum(errors) / sum(words) over `draws` resamples of the utterances (with replacement, same size)."""
    counts = np.random.default_rng(seed).multinomial(len(words), np.full(len(words), 1 / len(words)), size=draws)
    return (counts @ errors) / (counts @ words)


def pooled_interval(rows: pd.DataFrame, draws: int = DRAWS, seed: int = 0) -> tuple[float, float, float]:
    """Pooled WER (%) of `rows` (errors, reference_words; one row an utterance) and its 95% interval."""
    errors, words = rows.errors.to_numpy(float), rows.reference_words.to_numpy(float)
    low, high = np.percentile(100 * ratio_draws(errors, words, draws, seed), [2.5, 97.5])
    return 100 * errors.sum() / words.sum(), float(low), float(high)


def gap_change(rows: pd.DataFrame, first: tuple[str, str], second: tuple[str, str], draws: int = DRAWS) -> Difference:
    """How much a WER gap moves from one pair of systems to another, in points: (WER(a) - WER(b)) - (WER(c) -
    WER(d)) for first = (a, b), second = (c, d) (say MAS-LoRA minus LoRA on base, then on tiny.en), with its 95%
    interval: the utterances all four decoded, drawn again with the same draw for all four. A system decoded
    with several seeds counts with its mean errors per utterance."""
    names = [*first, *second]
    errors = rows[rows.system.isin(names)].pivot_table(index=UTTERANCE, columns="system", values="errors")
    missing = [name for name in names if name not in errors.columns]
    if missing:
        raise ValueError(f"no rows of {', '.join(map(repr, missing))} to compare")
    errors = errors[names].dropna()
    if errors.empty:
        raise ValueError(f"{', '.join(map(repr, names))} share no utterance")
    words = rows.groupby(UTTERANCE).reference_words.first().loc[errors.index].to_numpy(float)
    a, b, c, d = (errors[name].to_numpy(float) for name in names)
    change = (a - b) - (c - d)
    low, high = np.percentile(100 * ratio_draws(change, words, draws, 0), [2.5, 97.5])
    seeds = int(rows[rows.system.isin(names)].groupby("system").seed.nunique().max())
    return Difference(100 * change.sum() / words.sum(), float(low), float(high), len(words), seeds)
