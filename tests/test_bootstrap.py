"""The paired bootstrap of WER differences: the point is the pooled difference, the interval behaves as one."""

import numpy as np
import pandas as pd
import pytest

from analysis.bootstrap import paired_difference, pooled_interval
from analysis.report_tools import versus


def _rows(errors_by_system: dict[str, list[int]], words: list[int], seeds=(0,)) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "fold": 1,
                "speaker": f"S{i % 3}",
                "utterance_id": f"u{i}",
                "system": system,
                "seed": seed,
                "errors": errors[i],
                "reference_words": words[i],
            }
            for system, errors in errors_by_system.items()
            for seed in seeds
            for i in range(len(words))
        ]
    )


def test_the_point_is_the_pooled_difference_and_lies_inside_its_interval():
    rng = np.random.default_rng(3)
    words = rng.integers(5, 15, 200).tolist()
    a, b = rng.binomial(words, 0.2).tolist(), rng.binomial(words, 0.3).tolist()
    difference = paired_difference(_rows({"a": a, "b": b}, words), "a", "b")
    assert difference.points == pytest.approx(100 * (sum(a) - sum(b)) / sum(words))
    assert difference.low < difference.points < difference.high
    assert difference.utterances == 200 and difference.seeds == 1
    assert difference.separable and difference.high < 0
    assert str(difference).startswith(f"{difference.points:+.1f} points (95% interval")


def test_identical_systems_differ_by_exactly_nothing_and_more_utterances_narrow_the_interval():
    rng = np.random.default_rng(0)
    words = rng.integers(5, 15, 400).tolist()
    same = rng.binomial(words, 0.2).tolist()
    nothing = paired_difference(_rows({"a": same, "b": same}, words), "a", "b")
    assert (nothing.points, nothing.low, nothing.high, nothing.separable) == (0.0, 0.0, 0.0, False)

    a, b = rng.binomial(words, 0.25).tolist(), rng.binomial(words, 0.25).tolist()
    few = paired_difference(_rows({"a": a[:50], "b": b[:50]}, words[:50]), "a", "b")
    many = paired_difference(_rows({"a": a, "b": b}, words), "a", "b")
    assert many.high - many.low < few.high - few.low


def test_pairing_cancels_what_both_systems_find_hard():
    """b makes every error a makes plus one on half the utterances: a constant gap over wildly varying
    difficulty, which a paired interval sees as certain and tight."""
    rng = np.random.default_rng(1)
    words = [10] * 300
    a = rng.integers(0, 10, 300).tolist()
    b = [errors + (i % 2) for i, errors in enumerate(a)]
    difference = paired_difference(_rows({"a": a, "b": b}, words), "a", "b")
    assert difference.points == pytest.approx(-5.0)
    assert difference.high - difference.low < 3 and difference.separable


def test_seeds_are_averaged_over_those_both_systems_ran():
    words = [10, 10]
    rows = pd.concat(
        [
            _rows({"a": [1, 1], "b": [3, 3]}, words, seeds=(0,)),
            _rows({"a": [2, 2], "b": [2, 2]}, words, seeds=(1,)),
            _rows({"a": [9, 9]}, words, seeds=(2,)),  # b never ran seed 2: left out
        ]
    )
    difference = paired_difference(rows, "a", "b")
    assert difference.points == pytest.approx((-20.0 + 0.0) / 2) and difference.seeds == 2


def test_nothing_to_pair_is_an_error_naming_the_systems():
    words = [10, 10]
    with pytest.raises(ValueError, match="'c'"):
        paired_difference(_rows({"a": [1, 1], "b": [3, 3]}, words), "a", "c")
    rows = pd.concat([_rows({"a": [1, 1]}, words, seeds=(0,)), _rows({"b": [1, 1]}, words, seeds=(1,))])
    with pytest.raises(ValueError, match="share no seed"):
        paired_difference(rows, "a", "b")


def test_a_pooled_wer_interval_holds_its_point_and_vanishes_when_every_utterance_scores_the_same():
    rows = _rows({"a": [1, 0, 3, 2, 0, 5]}, [10, 8, 12, 9, 7, 11])
    wer, low, high = pooled_interval(rows)
    assert wer == pytest.approx(100 * 11 / 57) and low < wer < high
    same = _rows({"a": [1, 2, 3]}, [10, 20, 30])  # 10% on every utterance: any draw gives 10%
    assert pooled_interval(same) == pytest.approx((10.0, 10.0, 10.0))


def test_versus_compares_two_systems_on_the_seeds_both_ran():
    """A system with a second seed must not be compared, by its mean over both, with one that has only the
    first: a second seed's rows are other training runs."""
    words = [10] * 100
    first = _rows({"mas-uniform": [2] * 100, "lora": [1] * 100}, words)  # seed 0: 20% vs 10%
    second = _rows({"mas-uniform": [6] * 100}, words, seeds=(1,))  # seed 1 of MAS-LoRA only: 60%
    line = versus(pd.concat([first, second]), "mas-uniform", "lora", {"mas-uniform": "MAS", "lora": "LoRA"})
    assert line.startswith("- MAS vs LoRA: 20.0% vs 10.0%, 10.0 points higher, from one seed (seed 0, the only")
    assert "+10.0 points" in line


def test_versus_weighs_a_difference_against_the_seed_spread_when_both_ran_two_seeds():
    words = [10] * 100
    rows = pd.concat(
        [
            _rows({"a": [2] * 100, "b": [1] * 100}, words),
            _rows({"a": [4] * 100, "b": [1] * 100}, words, seeds=(1,)),
        ]
    )
    line = versus(rows, "a", "b", {"a": "A", "b": "B"})
    assert "A vs B: 30.0% vs 10.0%, 20.0 points higher, beyond the seed spread (±10.0)" in line
    assert versus(rows, "a", "missing", {"a": "A"}) == ""
