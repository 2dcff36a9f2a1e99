"""Expert weights: the beta rule by hand for N = 6, normalization, and every way a weighting is refused."""

import math

import pytest
import torch

from maslora.errors import WeightsError
from maslora.mixture.weights import beta_weights, choose_weights, normalized_weights, parse_weights, uniform_weights

ACCENTS = ["arabic", "mandarin", "hindi", "korean", "spanish", "vietnamese"]


@pytest.mark.parametrize(
    "beta, matched, other",
    [(1.0, 1.0, 0.0), (1.5, 2 / 3, (1 / 3) / 5), (2.0, 0.5, 0.1), (6.0, 1 / 6, 1 / 6)],
)
def test_beta_rule_by_hand_for_six_experts(beta, matched, other):
    weights = beta_weights("hindi", beta, ACCENTS)
    assert weights["hindi"] == pytest.approx(matched)
    assert all(weights[a] == pytest.approx(other) for a in ACCENTS if a != "hindi")
    assert math.fsum(weights.values()) == pytest.approx(1.0)


def test_uniform_and_normalization():
    assert normalized_weights(uniform_weights(ACCENTS), ACCENTS).tolist() == pytest.approx([1 / 6] * 6)
    vector = normalized_weights({"arabic": 2, "korean": 6}, ACCENTS)
    assert vector.dtype == torch.float32 and vector.tolist() == pytest.approx([0.25, 0, 0, 0.75, 0, 0])


def test_no_softmax_where_the_sum_is_not_exactly_one():
    # The published code softmaxes [1, 0] into [0.73, 0.27] when float sums drift; we divide by the sum.
    assert normalized_weights({"arabic": 1.0000001}, ACCENTS).tolist()[0] == 1.0


@pytest.mark.parametrize(
    "weights, message",
    [
        ({"klingon": 1.0}, "no expert for klingon"),
        ({"arabic": -0.1, "hindi": 1}, "finite and non-negative"),
        ({"arabic": float("nan")}, "finite and non-negative"),
        ({"arabic": 0.0}, "at least one expert"),
    ],
)
def test_unusable_weightings_are_refused(weights, message):
    with pytest.raises(WeightsError, match=message):
        normalized_weights(weights, ACCENTS)


def test_beta_out_of_range_and_unknown_accent():
    with pytest.raises(WeightsError, match=r"beta must lie in \[1, 6\]"):
        beta_weights("hindi", 7, ACCENTS)
    with pytest.raises(WeightsError, match=r"beta must lie in \[1, 6\]"):
        beta_weights("hindi", 0.5, ACCENTS)
    with pytest.raises(WeightsError, match="no expert for french"):
        beta_weights("french", 2, ACCENTS)


def test_parse_weights():
    assert parse_weights("arabic=0.5, hindi=0.1") == {"arabic": 0.5, "hindi": 0.1}
    with pytest.raises(WeightsError, match="accent=weight"):
        parse_weights("arabic:0.5")


def test_choose_weights_follows_what_the_user_gave():
    assert choose_weights(ACCENTS) == uniform_weights(ACCENTS)
    assert choose_weights(ACCENTS, accent="korean") == beta_weights("korean", 2.0, ACCENTS)
    assert choose_weights(ACCENTS, accent="korean", beta=3) == beta_weights("korean", 3, ACCENTS)
    assert choose_weights(ACCENTS, weights={"arabic": 1}) == {"arabic": 1}
    with pytest.raises(WeightsError, match="not both"):
        choose_weights(ACCENTS, accent="korean", weights={"arabic": 1})
    with pytest.raises(WeightsError, match="beta needs the accent"):
        choose_weights(ACCENTS, beta=2)
