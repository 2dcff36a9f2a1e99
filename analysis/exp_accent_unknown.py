"""Experiment 1, accent unknown: WER per accent and overall for every system (the paper's main table).

python -m analysis.exp_accent_unknown [--results assets/results]
"""

from analysis.report_tools import (
    PAPER_L2ARCTIC,
    SYSTEM_NAMES,
    cell,
    grouped_bars,
    load_rows,
    mean_and_spread,
    paper_cell,
    pivot_cells,
    results_argument,
    table_and_figure,
    wer_per_seed,
)
from maslora.data.splits import NATIVE

SYSTEMS = {system: SYSTEM_NAMES[system] for system in ("base", "full", "lora", "mas-uniform")}  # accent unknown


def report(results) -> str:
    title = "## Accent unknown: every system, per accent\n\n"
    rows = load_rows(results, "main")
    if rows.empty:
        return title + "Not run yet.\n"
    rows = rows[rows.system.isin(SYSTEMS)]
    l2 = rows[rows.accent != NATIVE]
    per_accent = mean_and_spread(wer_per_seed(rows, ["system", "accent"]))
    pooled = mean_and_spread(wer_per_seed(l2, ["system"]))
    macro = mean_and_spread(wer_per_seed(l2, ["system", "accent"]).groupby("system").mean())
    accents = sorted(set(l2.accent))
    table, spread, shown = pivot_cells(per_accent.reset_index(), "system", "accent")
    shown = shown[[*accents, *([NATIVE] if NATIVE in shown.columns else [])]]
    shown.insert(len(accents), "L2 pooled", [cell(pooled.loc[s]) for s in shown.index])
    shown.insert(len(accents) + 1, "L2 macro", [cell(macro.loc[s]) for s in shown.index])
    shown["paper (L2-ARCTIC, small)"] = [paper_cell(PAPER_L2ARCTIC, s) for s in shown.index]
    shown = shown.loc[[s for s in SYSTEMS if s in shown.index]].rename(index=SYSTEMS).rename_axis("system")
    drawn = [s for s in SYSTEMS if s in table.index]
    figure = grouped_bars(
        table.loc[drawn].T,
        spread.loc[drawn].T,
        "Accent unknown: WER per accent (mean over seeds, bars: spread)",
        accents,
        SYSTEMS,
    )
    return (
        title
        + 'WER (%), mean ± spread over seeds, on the held-out test speakers and prompts. "L2 pooled" is all errors / '
        'all reference words of the six L2 accents (the paper\'s figure); "L2 macro" the unweighted mean of their '
        "WERs; the native control speakers are shown apart.\n\n"
        + table_and_figure(shown, figure, results, "accent_unknown")
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
