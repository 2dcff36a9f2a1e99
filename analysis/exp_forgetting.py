"""Experiment 4, forgetting: WER on native speech none of the systems trained on, before and after adaptation.

    python -m analysis.exp_forgetting [--results assets/results]

Native speech: the real CC0 recordings in assets/native whose prompts were held out from training
(and LibriSpeech when the experiments were given --librispeech).
"""

from analysis.exp_accent_unknown import SYSTEMS
from analysis.report_tools import (
    PAPER_LIBRISPEECH,
    grouped_bars,
    load_rows,
    mean_and_spread,
    paper_cell,
    pivot_cells,
    results_argument,
    table_and_figure,
    wer_per_seed,
)


def report(results) -> str:
    title = "## Forgetting: native speech before and after adaptation\n\n"
    rows = load_rows(results, "forgetting")
    if rows.empty:
        return title + "Not run yet.\n"
    per_set = mean_and_spread(wer_per_seed(rows, ["system", "set"])).reset_index()
    means, spreads, shown = pivot_cells(per_set, "system", "set")
    shown["paper (LibriSpeech, small)"] = [paper_cell(PAPER_LIBRISPEECH, s) for s in shown.index]
    shown = shown.loc[[s for s in SYSTEMS if s in shown.index]].rename(index=SYSTEMS).rename_axis("system")
    clips = rows.groupby("set").path.nunique().to_dict()
    drawn = [s for s in SYSTEMS if s in means.index]
    figure = grouped_bars(means, spreads, "Forgetting: WER on held-out native speech", drawn, SYSTEMS)
    return (
        title + f"WER (%), mean ± spread over seeds, on {', '.join(f'{n} clips of {s}' for s, n in clips.items())} "
        "(cc0-native: real recordings of one U.S. English speaker, prompts outside every training split). A system "
        "that forgets general English scores worse than no fine-tuning here.\n\n"
        + table_and_figure(shown, figure, results, "forgetting")
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
