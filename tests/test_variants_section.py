"""The variants section's differences: each variant against the default, per weighting, paired over utterances."""

import pandas as pd
import pytest

from analysis.exp_variants import VARIANTS, WEIGHTINGS, against_baselines, differences


def _rows(errors: dict[tuple[str, str], list[int]], words: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "fold": 1,
                "speaker": f"S{i % 4}",
                "utterance_id": f"u{i}",
                "accent": "arabic",
                "variant": variant,
                "system": system,
                "seed": 0,
                "errors": counts[i],
                "reference_words": words[i],
            }
            for (variant, system), counts in errors.items()
            for i in range(len(words))
        ]
    )


def test_each_variant_is_read_against_the_default_under_each_weighting():
    words = [10] * 40
    rows = _rows(
        {
            ("default", "mas-uniform"): [2] * 40,
            ("default", "mas-beta2"): [2] * 40,
            ("qkvo", "mas-uniform"): [1] * 40,  # one error fewer on every utterance: -10 points, certain
            ("qkvo", "mas-beta2"): [2] * 40,  # the same: exactly nothing
        },
        words,
    )
    lines = differences(rows).splitlines()
    assert lines == [
        f"- {VARIANTS['qkvo']}, {WEIGHTINGS['mas-uniform']}: -10.0 points (95% interval -10.0 to -10.0)",
        f"- {VARIANTS['qkvo']}, {WEIGHTINGS['mas-beta2']}: +0.0 points (95% interval +0.0 to +0.0)",
    ]


def test_a_variant_without_rows_of_a_weighting_is_an_error_naming_it():
    rows = _rows({("default", "mas-uniform"): [1, 1], ("decoder-mas", "mas-beta2"): [1, 1]}, [5, 5])
    with pytest.raises(ValueError, match="decoder-mas"):
        differences(rows)


def test_each_variants_mixture_is_read_against_the_regular_lora_and_full_fine_tuning():
    words = [10] * 20
    rows = _rows({("default", "mas-uniform"): [3] * 20, ("decoder-mas", "mas-uniform"): [1] * 20}, words)
    main = _rows({("default", "lora"): [2] * 20, ("default", "full"): [1] * 20}, words).drop(columns="variant")
    lines = against_baselines(rows, main).splitlines()
    assert lines == [
        f"- {VARIANTS['default']}: minus regular LoRA +10.0 points (95% interval +10.0 to +10.0); "
        "minus full fine-tuning +20.0 points (95% interval +20.0 to +20.0)",
        f"- {VARIANTS['decoder-mas']}: minus regular LoRA -10.0 points (95% interval -10.0 to -10.0); "
        "minus full fine-tuning +0.0 points (95% interval +0.0 to +0.0)",
    ]
