"""Experiment 5, unseen accent: MAS-LoRA trained without one accent, tested on it with uniform weights.

    python -m analysis.exp_unseen_accent [--results assets/results]

For every accent: no fine-tuning, MAS-LoRA that saw the accent (experiment 1) and MAS-LoRA that did not,
all with uniform weights, on that accent's held-out test speakers.
"""

import pandas as pd

from analysis.bootstrap import paired_difference
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


def unseen_rows(main: pd.DataFrame, unseen: pd.DataFrame) -> pd.DataFrame:
    """The left-out accents' test rows, each with `kind` base / seen / unseen (see COLUMNS)."""
    accents = sorted(set(unseen.unseen))
    return pd.concat(
        [
            main[(main.system == "base") & main.accent.isin(accents)].assign(kind="base"),
            main[(main.system == "mas-uniform") & main.accent.isin(accents)].assign(kind="seen"),
            unseen[(unseen.accent == unseen.unseen) & (unseen.system == "mas-uniform")].assign(kind="unseen"),
        ]
    )


def unseen_stats(main: pd.DataFrame, unseen: pd.DataFrame) -> pd.DataFrame:
    """mean_and_spread per (accent, kind) for kind base / seen / unseen (see COLUMNS), flat."""
    return mean_and_spread(wer_per_seed(unseen_rows(main, unseen), ["accent", "kind"])).reset_index()


def differences(main: pd.DataFrame, unseen: pd.DataFrame) -> str:
    """Per left-out accent and pooled over them: the left-out MAS-LoRA against no fine-tuning (does it help
    an accent it never heard?) and against the MAS-LoRA that heard it (what leaving it out costs), each with
    its paired bootstrap interval over the accent's test utterances."""
    rows = unseen_rows(main, unseen)
    rows = rows.assign(system=rows.kind)
    parts = [(accent, part) for accent, part in rows.groupby("accent")]
    if len(parts) > 1:
        parts.append((f"the {len(parts)} left-out accents pooled", rows))
    return "".join(
        f"- {name}: left out minus no fine-tuning {paired_difference(part, 'unseen', 'base')}; left out minus "
        f"seen {paired_difference(part, 'unseen', 'seen')}\n"
        for name, part in parts
    )


def report(results) -> str:
    title = "## Unseen accent: leave one accent out of training\n\n"
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
        "weights, on each accent's held-out test speakers.\n\n"
        + table_and_figure(shown, figure, results, "unseen_accent")
        + "\nWER differences in points (negative: the left-out MAS-LoRA makes fewer errors), 95% paired bootstrap "
        "intervals over the utterances:\n\n" + differences(main, unseen)
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
