"""WER tables from rows: per group, pooled and macro mean, by hand."""

import pandas as pd
import pytest

from maslora.evaluation import wer_by


def test_pooled_and_macro_mean_differ_as_they_should():
    rows = pd.DataFrame(
        {"accent": ["a", "a", "b"], "errors": [1, 0, 3], "reference_words": [10, 10, 5]}
    )
    table = wer_by(rows, "accent")
    assert table.loc["a", "wer"] == pytest.approx(1 / 20)
    assert table.loc["b", "wer"] == pytest.approx(3 / 5)
    assert table.loc["pooled", "wer"] == pytest.approx(4 / 25)  # every word counts once
    assert table.loc["macro mean", "wer"] == pytest.approx((1 / 20 + 3 / 5) / 2)  # every accent counts once
    assert table.loc["pooled", "utterances"] == 3
