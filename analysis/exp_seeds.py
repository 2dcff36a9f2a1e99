"""Experiment 6, seed spread: every headline number from each seed, with mean and spread.

python -m analysis.exp_seeds [--results assets/results]
"""

import pandas as pd
import plotly.graph_objects as go

from analysis.report_tools import (
    SYSTEM_NAMES,
    load_rows,
    mean_and_spread,
    results_argument,
    table_and_figure,
    wer_per_seed,
)
from maslora.data.splits import NATIVE

HEADLINES = SYSTEM_NAMES


def headline_rows(main: pd.DataFrame) -> pd.DataFrame:
    """The main rows of the headline systems on the L2 accents (what the headline numbers pool)."""
    return main[main.system.isin(HEADLINES) & (main.accent != NATIVE)]


def headline_per_seed(main: pd.DataFrame) -> pd.DataFrame:
    """L2 pooled WER (%) of every headline system (rows), one column per seed, from the main rows."""
    return wer_per_seed(headline_rows(main), ["system"])


def report(results) -> str:
    title = "## Seed spread of the headline numbers\n\n"
    rows = load_rows(results, "main")
    if rows.empty:
        return title + "Not run yet.\n"
    per_seed = headline_per_seed(rows)
    table = per_seed.rename(columns=lambda seed: f"seed {seed}").join(mean_and_spread(per_seed)[["mean", "spread"]])
    table = (
        table.loc[[s for s in HEADLINES if s in table.index]].rename(index=HEADLINES).rename_axis("L2 pooled WER (%)")
    )
    figure = go.Figure(
        [
            go.Scatter(
                name=f"seed {seed}",
                x=[HEADLINES[s] for s in per_seed.index],
                y=per_seed[seed],
                mode="markers",
                marker={"size": 12},
            )
            for seed in per_seed.columns
        ]
    )
    figure.update_layout(title="Headline WERs, one point per seed", yaxis_title="L2 pooled WER (%)")
    return (
        title
        + "Each seed trains every system anew (initialization, data order, augmentation) on the same fold.\n\n"
        + table_and_figure(table, figure, results, "seeds")
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
