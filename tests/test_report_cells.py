"""Table cells of the report: a mean with its seed spread, or the mean alone where only one seed ran."""

import pandas as pd

from analysis.report_tools import cell, mean_and_spread, pivot_cells


def _stats() -> pd.DataFrame:
    """Pooled WER per (system, accent), seeds 0 and 1; full fine-tuning ran seed 0 only."""
    per_seed = pd.DataFrame(
        {0: [20.0, 16.0, 15.6, 30.0], 1: [19.0, 17.0, None, 28.0]},
        index=pd.MultiIndex.from_tuples(
            [("mas", "arabic"), ("lora", "arabic"), ("full", "arabic"), ("mas", "korean")], names=["system", "accent"]
        ),
    )
    return mean_and_spread(per_seed).reset_index()


def test_two_seeds_show_their_spread_and_one_seed_shows_no_spread_at_all():
    stats = _stats().set_index(["system", "accent"])
    assert cell(stats.loc[("mas", "arabic")]) == "19.5 ± 0.5"
    assert cell(stats.loc[("full", "arabic")]) == "15.6"  # not "15.6 ± 0.0": one seed measures no spread


def test_pivoted_cells_line_up_with_the_pivoted_means():
    means, spreads, cells = pivot_cells(_stats(), "system", "accent")
    assert list(cells.index) == list(means.index) and list(cells.columns) == list(means.columns)
    assert cells.loc["mas", "korean"] == "29.0 ± 1.0"
    assert cells.loc["full", "arabic"] == "15.6" and spreads.loc["full", "arabic"] == 0.0
    assert cells.loc["full", "korean"] == ""  # never run: an empty cell
