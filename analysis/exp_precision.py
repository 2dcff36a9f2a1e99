"""Precision: whether int8 linear layers cost the page's systems accuracy, on development speakers only.

Reads rows/precision.jsonl (train/precision_dev.py: each bundled size's page systems, float32 and int8, on
the development sets). The rule, chosen before the rows: a size may run in int8 when, pooled over the
development sets, no system's WER rises by more than MAX_COST points over float32 (the paired difference over
the same utterances; its 95% bootstrap interval is shown beside it). maslora.systems.bundle.PAGE_PRECISION
holds the page's choice; tests/test_precision.py holds it to these rows.

    python -m analysis.exp_precision [--results assets/results]
"""

import pandas as pd

from analysis.bootstrap import paired_difference
from analysis.report_tools import SYSTEM_NAMES, load_rows, pooled_wer, results_argument, save_table
from maslora.whisper.precision import PRECISIONS

MAX_COST = 0.3  # points of WER int8 may add to any system (the bound)


def costs(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per (size, system): pooled WER in each precision, int8 minus float32 with its paired
    interval, and how many transcripts int8 changed, pooled over the development sets."""
    lines = []
    for (size, system), group in rows.groupby(["size", "system"], sort=False):
        paired = group.assign(system=group.precision, seed=0, fold=group.set)
        difference = paired_difference(paired, "int8", "float32")
        texts = group.pivot_table(index=["set", "path"], columns="precision", values="hypothesis", aggfunc="first")
        texts = texts.dropna()
        lines.append(
            {
                "size": size,
                "system": SYSTEM_NAMES.get(system, system),
                **{f"{p} WER": pooled_wer(group[group.precision == p]) for p in PRECISIONS},
                "int8 - float32": f"{difference.points:+.2f} ({difference.low:+.2f} to {difference.high:+.2f})",
                "cost": difference.points,
                "transcripts changed": f"{int((texts.int8 != texts.float32).sum())} of {len(texts)}",
            }
        )
    return pd.DataFrame(lines)


def int8_allowed(rows: pd.DataFrame, size: str) -> bool:
    """The rule of the module's docstring, for `size`; False without its rows."""
    mine = rows[rows["size"] == size] if "size" in rows else rows.iloc[:0]
    return not mine.empty and bool((costs(mine).cost <= MAX_COST).all())


def report(results) -> str:
    title = "## Precision: int8 linear layers on the page, measured on development speakers\n\n"
    rows = load_rows(results, "precision")
    if rows.empty:
        return title + "Not run yet (`python -m train.precision_dev --real ../shared/data/speechocean762-train`).\n"
    table = costs(rows)
    shown = table.drop(columns="cost").set_index(table["size"] + ", " + table.system).drop(columns=["size", "system"])
    shown.index.name = "size, system"
    clips = rows.groupby("set").path.nunique()
    verdicts = [
        f"- {size}: int8 {'may' if int8_allowed(rows, size) else 'may not'} run the page "
        f"(largest cost {table[table['size'] == size].cost.max():+.2f} points; the bound is +{MAX_COST})"
        for size in table["size"].unique()
    ]
    return (
        title + "The page's systems as the page decodes them (guarded; Whisper in its own 30 s window) in float32 and "
        "with int8 linear layers (`maslora.whisper.precision`), on "
        + ", ".join(f"{n} clips of {s}" for s, n in clips.items())
        + " (the development sets of `train/decoding_dev.py`: no reported figure is measured on them). Pooled "
        f"over the sets; int8 - float32 is the paired difference in points with its 95% interval. The rule: int8 "
        f"may run a size's page when no system loses more than {MAX_COST} points. Every other figure of this "
        "report is float32.\n\n" + save_table(shown, results, "precision") + "\n\n" + "\n".join(verdicts) + "\n"
    )


def main() -> None:
    print(report(results_argument(__doc__)))


if __name__ == "__main__":
    main()
