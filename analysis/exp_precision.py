"""Precision: whether lighter linear layers (bfloat16, int8) cost the page's systems accuracy, on development
speakers only.

Reads rows/precision.jsonl (train/precision_dev.py: each bundled size's page systems in every precision of
maslora.whisper.precision, on the development sets). The rule, chosen before the rows: a size may run in a
lighter precision when, pooled over the development sets, no system's WER rises by more than MAX_COST points
over float32 (the paired difference over the same utterances; its 95% bootstrap interval is shown beside it).
maslora.systems.bundle.PAGE_PRECISION holds the page's choice; tests/test_precision.py holds it to these rows.

    python -m analysis.exp_precision [--results assets/results]
"""

import pandas as pd

from analysis.bootstrap import paired_difference
from analysis.report_tools import SYSTEM_NAMES, load_rows, pooled_wer, results_argument, save_table
from maslora.whisper.precision import LIGHTER

MAX_COST = 0.3  # points of WER a lighter precision may add to any system (the bound)


def costs(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per (size, lighter precision, system): pooled WER in float32 and in the lighter precision, the
    paired difference with its interval, and how many transcripts it changed, pooled over the development sets."""
    lines = []
    for (size, system), group in rows.groupby(["size", "system"], sort=False):
        paired = group.assign(system=group.precision, seed=0, fold=group.set)
        texts = group.pivot_table(index=["set", "path"], columns="precision", values="hypothesis", aggfunc="first")
        for precision in [p for p in LIGHTER if p in texts]:
            difference = paired_difference(paired, precision, "float32")
            both = texts[["float32", precision]].dropna()
            lines.append(
                {
                    "size": size,
                    "precision": precision,
                    "system": SYSTEM_NAMES.get(system, system),
                    "float32 WER": pooled_wer(group[group.precision == "float32"]),
                    "its WER": pooled_wer(group[group.precision == precision]),
                    "minus float32": f"{difference.points:+.2f} ({difference.low:+.2f} to {difference.high:+.2f})",
                    "cost": difference.points,
                    "transcripts changed": f"{int((both[precision] != both.float32).sum())} of {len(both)}",
                }
            )
    return pd.DataFrame(lines)


def within_bound(lines: pd.DataFrame) -> bool:
    """Whether costs' lines (of one size and precision) keep every system within MAX_COST; False without lines."""
    return not lines.empty and bool((lines.cost <= MAX_COST).all())


def allowed(rows: pd.DataFrame, size: str, precision: str) -> bool:
    """The rule of the module's docstring, for `size` in `precision`; False without its rows."""
    if precision == "float32":
        return True
    if "size" not in rows:
        return False
    mine = rows[(rows["size"] == size) & rows.precision.isin(["float32", precision])]
    return not mine.empty and within_bound(costs(mine))


def report(results) -> str:
    title = "## Precision: lighter linear layers on the page, measured on development speakers\n\n"
    rows = load_rows(results, "precision")
    if rows.empty:
        return title + "Not run yet (`python -m train.precision_dev --real ../shared/data/speechocean762-train`).\n"
    table = costs(rows)
    shown = table.drop(columns="cost").set_index(table["size"] + ", " + table.precision + ", " + table.system)
    shown = shown.drop(columns=["size", "precision", "system"])
    shown.index.name = "size, precision, system"
    clips = rows.groupby("set").path.nunique()
    verdicts = [
        f"- {size}, {precision}: {'may' if within_bound(group) else 'may not'} run the page "
        f"(largest cost {group.cost.max():+.2f} points; the bound is +{MAX_COST})"
        for (size, precision), group in table.groupby(["size", "precision"], sort=False)
    ]
    return (
        title + "The page's systems as the page decodes them (guarded; Whisper in its own 30 s window) in float32 and "
        "with lighter linear layers (`maslora.whisper.precision`: bfloat16 weights and products, or int8 weights "
        "with inputs quantized on the fly), on "
        + ", ".join(f"{n} clips of {s}" for s, n in clips.items())
        + " (the development sets of `train/decoding_dev.py`: no reported figure is measured on them). Pooled "
        "over the sets; minus float32 is the paired difference in points with its 95% interval. The rule: a "
        f"lighter precision may run a size's page when no system loses more than {MAX_COST} points. Every other "
        "figure of this report is float32.\n\n"
        + save_table(shown, results, "precision")
        + "\n\n"
        + "\n".join(verdicts)
        + "\n"
    )


def main() -> None:
    print(report(results_argument(__doc__)))


if __name__ == "__main__":
    main()
