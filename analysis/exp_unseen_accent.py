"""Experiment 5, unseen accent: MAS-LoRA trained without one accent, tested on it with uniform weights.

    python -m analysis.exp_unseen_accent [--results assets/results]

For every accent: no fine-tuning, MAS-LoRA that saw the accent (experiment 1) and MAS-LoRA that did not,
all with uniform weights, on that accent's held-out test speakers.
"""

import pandas as pd

from analysis.report_tools import (
    grouped_bars,
    load_rows,
    mean_and_spread,
    pivot_cells,
    results_argument,
    table_and_figure,
    wer_per_seed,
)

COLUMNS = {"base": "no fine-tuning", "seen": "MAS-LoRA, accent seen", "unseen": "MAS-LoRA, accent left out"}


def unseen_stats(main: pd.DataFrame, unseen: pd.DataFrame) -> pd.DataFrame:
    """mean_and_spread per (accent, kind) for kind base / seen / unseen (see COLUMNS), flat."""
    accents = sorted(set(unseen.unseen))
    tagged = pd.concat(
        [
            main[(main.system == "base") & main.accent.isin(accents)].assign(kind="base"),
            main[(main.system == "mas-uniform") & main.accent.isin(accents)].assign(kind="seen"),
            unseen[(unseen.accent == unseen.unseen) & (unseen.system == "mas-uniform")].assign(kind="unseen"),
        ]
    )
    return mean_and_spread(wer_per_seed(tagged, ["accent", "kind"])).reset_index()


def report(results) -> str:
    title = "## 5. Unseen accent: leave one accent out of training\n\n"
    unseen, main = load_rows(results, "unseen"), load_rows(results, "main")
    if unseen.empty or main.empty:
        return title + "Not run yet.\n"
    accents = sorted(set(unseen.unseen))
    stats = unseen_stats(main, unseen)
    means, spreads, shown = pivot_cells(stats, "accent", "kind", list(COLUMNS))
    shown = shown.rename(columns=COLUMNS)
    figure = grouped_bars(means, spreads, "Unseen accent: WER on an accent left out of training", accents, COLUMNS)
    return (
        title + f"WER (%), mean ± spread over seeds ({unseen.seed.nunique()} seed(s) of the left-out runs), uniform "
        "weights, on\n"
        "each accent's held-out test speakers.\n\n" + table_and_figure(shown, figure, results, "unseen_accent")
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
