"""Experiment 3, the expert x accent matrix: every expert alone (weight 1) on every accent's test speakers.

python -m analysis.exp_matrix [--results assets/results]

The direct evidence of specialisation, which the paper does not show: if each expert learned its accent,
the diagonal is the best cell of its column. The native column is the control (no expert trained on it).
"""

import pandas as pd

from analysis.bootstrap import paired_difference
from analysis.report_tools import (
    load_rows,
    mean_and_spread,
    pivot_cells,
    results_argument,
    table_and_figure,
    wer_per_seed,
)
from maslora.data.corpora import L2_ARCTIC_SPEAKERS
from maslora.systems.figures import annotated_heatmap


def own_expert_verdicts(means: pd.DataFrame, rows: pd.DataFrame) -> list[str]:
    """One line per accent column: its own expert's WER, whether it is the best single expert there, and
    the paired bootstrap interval of its difference to the best other expert (over that accent's rows)."""
    lines = []
    for accent in [a for a in means.columns if a in means.index]:
        column = means[accent]
        best = column.idxmin()
        rival = column.drop(accent).idxmin()
        paired = paired_difference(rows[rows.accent == accent], f"expert-{accent}", f"expert-{rival}")
        gap = f"own minus {rival}'s: {paired}"
        if best == accent:
            lines.append(
                f"- {accent}: its own expert is best, {column[accent]:.1f}% (next {column[rival]:.1f}%); {gap}"
            )
        else:
            lines.append(
                f"- {accent}: its own expert is **not** best, {column[accent]:.1f}% vs {best}'s {column[best]:.1f}%; "
                + gap
            )
    return lines


def _matrix(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int, int]:
    """(mean WER per expert x accent, its cells with spreads, accents whose own expert is best, accents with
    an expert): experts in L2-ARCTIC's order, the control columns last."""
    stats = mean_and_spread(wer_per_seed(rows, ["expert", "accent"])).reset_index()
    experts = [a for a in L2_ARCTIC_SPEAKERS if a in set(stats.expert)] + sorted(
        set(stats.expert) - set(L2_ARCTIC_SPEAKERS)
    )
    accents = [a for a in experts if a in set(stats.accent)] + sorted(set(stats.accent) - set(experts))
    means, _, shown = pivot_cells(stats, "expert", "accent", accents)
    means, shown = means.loc[experts], shown.loc[experts].rename_axis("expert \\ accent")
    with_expert = [a for a in accents if a in experts]
    return means, shown, sum(means[a].idxmin() == a for a in with_expert), len(with_expert)


def own_expert_best(rows: pd.DataFrame) -> tuple[int, int]:
    """(accents whose own expert is the best single expert on them, accents with an expert)."""
    _, _, own, accents = _matrix(rows)
    return own, accents


def matrix_report(rows: pd.DataFrame, results, name: str, contrast: str = "") -> str:
    """The matrix of `rows` (each expert alone on each accent's test speakers): how often the own expert is
    best (`contrast`: what to set beside that count), each accent's verdict, the table and heatmap saved as
    `name`."""
    means, shown, own, accents = _matrix(rows)
    text = [[f"{value:.1f}" for value in row] for row in means.values]
    figure = annotated_heatmap(means, text, "Viridis_r", colorbar={"title": "WER %"})
    figure.update_layout(
        title="Each expert alone (rows) on each accent's test speakers (columns)",
        xaxis_title="accent of the speech",
        yaxis_title="expert",
    )
    return (
        "WER (%), mean ± spread over seeds, of each MAS-LoRA expert alone (weight 1, the others 0) on each "
        f"accent's held-out test speakers. The own expert is the best single expert for {own} of {accents} "
        f"accents{contrast}:\n\n"
        + "\n".join(own_expert_verdicts(means, rows))
        + "\n\n"
        + table_and_figure(shown, figure, results, name)
    )


def report(results) -> str:
    title = "## The expert x accent matrix\n\n"
    rows = load_rows(results, "matrix")
    if rows.empty:
        return title + "Not run yet.\n"
    return title + matrix_report(rows, results, "matrix")


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
