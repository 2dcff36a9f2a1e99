"""Expert weights: the one place where a weighting is checked and normalized, and the paper's beta rule.

Weights cross every boundary as a mapping {accent: weight} and become a vector in `accents` order here:

    normalized_weights({"arabic": 2, "hindi": 2}, ["arabic", "hindi", "korean"]) -> [0.5, 0.5, 0.0]

They are normalized by their sum, explicitly; we never softmax (the published code silently softmaxes
when float sums differ from 1, which turns [1, 0] into [0.73, 0.27]).
"""

import math

import torch

from maslora.errors import WeightsError


def normalized_weights(weights: dict[str, float], accents: list[str]) -> torch.Tensor:
    """{accent: weight >= 0} -> float32 vector over `accents` summing to 1; missing accents get 0."""
    unknown = sorted(set(weights) - set(accents))
    if unknown:
        raise WeightsError(f"no expert for {', '.join(unknown)}; experts: {', '.join(accents)}")
    values = [float(weights.get(accent, 0.0)) for accent in accents]
    bad = {a: v for a, v in zip(accents, values) if not math.isfinite(v) or v < 0}
    if bad:
        raise WeightsError(f"weights must be finite and non-negative, got {bad}")
    total = sum(values)
    if total <= 0:
        raise WeightsError("at least one expert needs a positive weight")
    return torch.tensor([v / total for v in values], dtype=torch.float32)


def uniform_weights(accents: list[str]) -> dict[str, float]:
    """Accent unknown: every expert 1/N."""
    return {accent: 1.0 / len(accents) for accent in accents}


def beta_weights(accent: str, beta: float, accents: list[str]) -> dict[str, float]:
    """Accent known (the paper's rule): the matched expert gets 1/beta, each other (1 - 1/beta)/(N - 1).

    beta = 1 is the matched expert alone; beta = N is uniform. For N = 6, beta = 2:
    matched 0.5, the five others 0.1 each.
    """
    n = len(accents)
    if accent not in accents:
        raise WeightsError(f"no expert for {accent}; experts: {', '.join(accents)}")
    if not (math.isfinite(beta) and 1.0 <= beta <= n):
        raise WeightsError(f"beta must lie in [1, {n}] (the number of experts), got {beta}")
    others = (1.0 - 1.0 / beta) / (n - 1) if n > 1 else 0.0
    return {a: (1.0 / beta if a == accent else others) for a in accents}


PAPER_BEST_BETA = 2.0  # the paper's best accent-known setting (11.90% WER on L2-ARCTIC)


def choose_weights(
    accents: list[str], accent: str | None = None, beta: float | None = None, weights: dict[str, float] | None = None
) -> dict[str, float]:
    """Explicit weights if given; else the beta rule when the accent is known (beta 2 unless given); else uniform."""
    if weights is not None and (accent is not None or beta is not None):
        raise WeightsError("give either explicit weights or an accent (with beta), not both")
    if weights is not None:
        return weights
    if accent is not None:
        return beta_weights(accent, PAPER_BEST_BETA if beta is None else beta, accents)
    if beta is not None:
        raise WeightsError("beta needs the accent it favours")
    return uniform_weights(accents)


def parse_weights(text: str) -> dict[str, float]:
    """ "arabic=0.5,hindi=0.1" -> {"arabic": 0.5, "hindi": 0.1} (the CLI's --weights)."""
    weights = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        accent, _, value = item.partition("=")
        try:
            weights[accent.strip()] = float(value)
        except ValueError as error:
            raise WeightsError(f"expected accent=weight, got {item!r}") from error
    return weights
