"""Expert weights from an accent posterior: MAS-LoRA's accent-aware weighting without an accent label.

The classifier (maslora.auto.accent_id) gives each clip a posterior p over the experts' accents. Three ways
to turn it into weights, all over the same accents, all a distribution for any posterior:

    posterior   w = p
    beta        the paper's beta rule around argmax p, with beta = clip(1 / max p, 2, N): a sure
                classifier (max p >= 0.5) gets the paper's best known-accent beta, 2; an unsure one
                moves towards uniform (max p = 1/N gives beta = N). Never below 2: a guess is not
                worth more than knowing the accent, and beta = 2 is the best the paper found with it.
    tempered    w = p^(1/T) / sum_j p_j^(1/T): T < 1 sharpens, T > 1 flattens (T -> inf is uniform);
                T is picked on validation clips (maslora.auto.auto_weights.TEMPERATURES)

Example, p = {arabic: 0.7, hindi: 0.2, korean: 0.1}: posterior -> 0.7/0.2/0.1; beta (beta = 2) ->
0.5/0.25/0.25; tempered at T = 2 -> 0.52/0.28/0.20.
"""

import math

from maslora.errors import WeightsError
from maslora.mixture.weights import PAPER_BEST_BETA, beta_weights

RULES = ("posterior", "beta", "tempered")
TEMPERATURES = (0.5, 1.0, 2.0, 4.0, 8.0)  # the validation grid: from sharper than p to almost uniform


def confidence_beta(top_probability: float, n_experts: int) -> float:
    """beta = clip(1 / max p, 2, N): the matched weight 1/beta equals the classifier's confidence,
    capped at the paper's best known-accent setting."""
    return min(float(n_experts), max(PAPER_BEST_BETA, 1.0 / max(top_probability, 1e-12)))


def tempered(posterior: dict[str, float], temperature: float) -> dict[str, float]:
    """p^(1/T) renormalized, computed from log p so that a tiny T cannot underflow every weight to 0."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise WeightsError(f"temperature must be a positive number, got {temperature}")
    logs = {a: math.log(p) / temperature if p > 0 else -math.inf for a, p in posterior.items()}
    top = max(logs.values())
    powered = {a: math.exp(value - top) for a, value in logs.items()}
    total = sum(powered.values())
    return {a: value / total for a, value in powered.items()}


def auto_weights(posterior: dict[str, float], rule: str, temperature: float = 1.0) -> dict[str, float]:
    """Expert weights {accent: w} for one clip from its posterior, by `rule` (see the module docstring)."""
    if rule not in RULES:
        raise WeightsError(f"unknown automatic rule {rule!r}; rules: {', '.join(RULES)}")
    values = list(posterior.values())
    if not values or not all(math.isfinite(p) and p >= 0 for p in values) or abs(sum(values) - 1.0) > 1e-4:
        raise WeightsError(f"a posterior must be finite, non-negative and sum to 1, got {posterior}")
    if rule == "posterior":
        return dict(posterior)
    if rule == "tempered":
        return tempered(posterior, temperature)
    accents = list(posterior)
    guess = max(accents, key=posterior.get)
    if len(accents) == 1:
        return {guess: 1.0}
    return beta_weights(guess, confidence_beta(posterior[guess], len(accents)), accents)
