"""What every experiment script shares: reading rows, WER per seed with its spread, tables and figures on disk.

Numbers are WER in percent, pooled (all errors / all reference words) unless a name says "macro"; a
spread over seeds is written "mean ± half the range" (with 2 seeds: the two values are mean ± spread); a value
from one seed is written alone, with no spread.
"""

import argparse
import json
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from analysis.bootstrap import paired_difference
from maslora.systems.evaluation import rows_table

FIGURE_SIZE = {"width": 900, "height": 480}
SYSTEM_NAMES = {
    "base": "no fine-tuning",
    "full": "full fine-tuning",
    "lora": "regular LoRA",
    "mas-uniform": "MAS-LoRA, accent unknown",
    "mas-beta2": "MAS-LoRA, accent known (beta 2)",
}
# The paper's numbers (whisper-small): pooled test WER on L2-ARCTIC, and WER on LibriSpeech (forgetting).
PAPER_L2ARCTIC = {"lora": 12.32, "full": 12.21, "mas-uniform": 11.77, "mas-beta2": 11.90}
PAPER_LIBRISPEECH = {"base": 5.78, "mas-uniform": 5.95, "full": 7.90}


def load_rows(results: Path, name: str) -> pd.DataFrame:
    """The rows of one experiment (results/rows/NAME.jsonl), with their systems' columns; empty if it has not run."""
    return rows_table(results / "rows" / f"{name}.jsonl")


def pooled_wer(rows: pd.DataFrame) -> float:
    return 100.0 * rows.errors.sum() / rows.reference_words.sum()


def wer_per_seed(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Pooled WER (%) of every group of `by`, one column per seed."""
    return rows.groupby([*by, "seed"]).apply(pooled_wer, include_groups=False).unstack("seed")


def mean_and_spread(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Columns mean, spread (half the range over seeds) and seeds, from wer_per_seed's table."""
    return pd.DataFrame(
        {
            "mean": per_seed.mean(axis=1),
            "spread": (per_seed.max(axis=1) - per_seed.min(axis=1)) / 2,
            "seeds": per_seed.count(axis=1),
        }
    )


def versus(rows: pd.DataFrame, a: str, b: str, names: dict[str, str]) -> str:
    """'a is X points below/above b' from our numbers (pooled WER of `rows`' systems a and b, mean over the
    seeds both ran: a system with a seed more would otherwise be compared on other training runs), weighed
    against the seed spread and against the paired bootstrap interval over the utterances; then the paper's
    numbers when it has both."""
    per_seed = wer_per_seed(rows[rows.system.isin([a, b])], ["system"])
    if a not in per_seed.index or b not in per_seed.index:
        return ""
    shared = per_seed.loc[[a, b]].dropna(axis=1)  # the seeds both ran
    if shared.empty:
        return ""
    stats = mean_and_spread(shared)
    difference = stats.loc[a, "mean"] - stats.loc[b, "mean"]
    noise = stats.loc[a, "spread"] + stats.loc[b, "spread"]
    if len(shared.columns) < 2:
        only = f" (seed {shared.columns[0]}, the only one both ran)" if len(per_seed.columns) > 1 else ""
        verdict = f"from one seed{only}, so no seed spread to weigh it against"
    else:
        verdict = f"{'within' if abs(difference) <= noise else 'beyond'} the seed spread (±{noise:.1f})"
    paired = paired_difference(rows, a, b)
    sampling = "leaves out" if paired.separable else "includes"
    ours = (
        f"- {names[a]} vs {names[b]}: {stats.loc[a, 'mean']:.1f}% vs {stats.loc[b, 'mean']:.1f}%, "
        f"{abs(difference):.1f} points {'lower' if difference < 0 else 'higher'}, {verdict}; over the "
        f"{paired.utterances} utterances both decoded, {paired}, which {sampling} zero"
    )
    if a in PAPER_L2ARCTIC and b in PAPER_L2ARCTIC:
        paper = PAPER_L2ARCTIC[a] - PAPER_L2ARCTIC[b]
        agree = "same direction as" if (paper < 0) == (difference < 0) else "opposite to"
        ours += f"; {agree} the paper ({PAPER_L2ARCTIC[a]:.2f}% vs {PAPER_L2ARCTIC[b]:.2f}%)"
    return ours + "\n"


def paper_cell(paper: dict[str, float], system: str) -> str:
    return f"{paper[system]:.2f}" if system in paper else ""


def cell(stats: pd.Series) -> str:
    """ "mean ± spread" from one row of mean_and_spread; the mean alone from one seed, which has no spread
    (a "± 0.0" would claim a measured spread of zero)."""
    if pd.isna(stats["mean"]):
        return ""
    return f"{stats['mean']:.1f}" if stats["seeds"] < 2 else f"{stats['mean']:.1f} ± {stats['spread']:.1f}"


def pivot_cells(
    stats: pd.DataFrame, index: str, columns: str, order: list | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(means, spreads, "mean ± spread" cells), each `index` x `columns`, from mean_and_spread(...).reset_index()."""
    table = stats.assign(cell=stats.apply(cell, axis=1)).pivot(index=index, columns=columns)
    means, spreads, cells = (table[v] if order is None else table[v][order] for v in ("mean", "spread", "cell"))
    return means.astype(float), spreads.astype(float), cells.fillna("")


def markdown_table(table: pd.DataFrame) -> str:
    """A pandas table as a Markdown table (strings as they are, numbers with one decimal)."""
    header = [table.index.name or "", *map(str, table.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in table.iterrows():
        values = [v if isinstance(v, str) else ("" if pd.isna(v) else f"{v:.1f}") for v in row]
        lines.append("| " + " | ".join([str(index), *values]) + " |")
    return "\n".join(lines)


def grouped_bars(
    means: pd.DataFrame, spreads: pd.DataFrame, title: str, rows: list | None = None, names: dict | None = None
) -> go.Figure:
    """WER bars: a group per row of `means` (only `rows`, in that order, if given), a bar per column, the
    seed spread (`spreads`, shaped like `means`) as error bars; `names` relabels rows and columns for display."""
    rows, names = list(means.index) if rows is None else rows, names or {}
    groups = [names.get(row, row) for row in rows]
    bars = [
        go.Bar(
            name=names.get(column, str(column)),
            x=groups,
            y=means.loc[rows, column],
            error_y={"type": "data", "array": spreads.loc[rows, column]},
        )
        for column in means.columns
    ]
    figure = go.Figure(bars)
    figure.update_layout(barmode="group", title=title, yaxis_title="WER (%)")
    return figure


def save_figure(figure: go.Figure, results: Path, name: str) -> str:
    """figures/NAME.html (interactive) and figures/NAME.png (for the report); returns the Markdown to show it."""
    folder = results / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    figure.update_layout(**FIGURE_SIZE, template="plotly_white")
    # One plotly.min.js beside them (offline, 4.6 MB once); the div named after the figure, not a random id,
    # so that a redraw from the same rows writes the same file.
    figure.write_html(folder / f"{name}.html", include_plotlyjs="directory", div_id=name)
    figure.write_image(folder / f"{name}.png", **FIGURE_SIZE)
    return f"![{name}](figures/{name}.png)\n\n[interactive version](figures/{name}.html)"


def save_table(table: pd.DataFrame, results: Path, name: str) -> str:
    """tables/NAME.md and tables/NAME.csv; returns the Markdown table."""
    folder = results / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    text = markdown_table(table)
    (folder / f"{name}.md").write_text(text + "\n")
    table.to_csv(folder / f"{name}.csv")
    return text


def table_and_figure(table: pd.DataFrame, figure: go.Figure, results: Path, name: str) -> str:
    """An experiment's table and figure saved under one name; returns the Markdown showing both."""
    return save_table(table, results, name) + "\n\n" + save_figure(figure, results, name) + "\n"


def profile_of(results: Path) -> dict:
    """What produced the rows (written by train.experiments): model, profile, seeds, folds."""
    path = results / "profile.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def results_argument(description: str) -> Path:
    """--results FOLDER for an experiment script run alone (default assets/results)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path(__file__).resolve().parent.parent / "assets" / "results")
    return parser.parse_args().results
