"""Experiment 8, learning curves: how long every run trained, where its checkpoint was picked, and whether it
had converged (the runner copies each run's history.jsonl to curves/ as it finishes).

    python -m analysis.exp_curves [--results assets/results]

Equal footing is checked here: LoRA and MAS-LoRA get the same epochs over the same clips, so their step
counts per epoch match; early stopping may end them at different epochs, which the table shows.
"""

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from analysis.report_tools import FIGURE_SIZE, results_argument, save_figure, save_table
from maslora.systems.evaluation import read_rows

COLORS = qualitative.Plotly  # one colour per run, the same in both panels
CURVES = "curves"  # folder of RESULTS: fold<F>-seed<S>-<run>.jsonl, one run's history each
SCORES = {
    "validation_wer": "held-out speakers, accent unknown (picks the checkpoint)",
    "validation_matched_wer": "held-out speakers, matched expert (MAS-LoRA)",
    "paper_validation_wer": "training speakers' held-out prompts (the paper's validation)",
}


def curve_name(fold: int, seed: int, run: str) -> str:
    """The file name a run's history is kept under in RESULTS/curves/."""
    return f"fold{fold}-seed{seed}-{run}.jsonl"


def read_curves(results: Path) -> dict[str, pd.DataFrame]:
    """{"fold1-seed0-mas-lora": its history, one row per step}, for every curve kept in RESULTS/curves/."""
    return {path.stem: pd.DataFrame(read_rows(path)) for path in sorted((results / CURVES).glob("*.jsonl"))}


def run_summary(history: pd.DataFrame) -> dict:
    """Steps and epochs trained, the best evaluation's step and scores, and how many evaluations followed it."""
    evaluations = history.dropna(subset=["validation_wer"]) if "validation_wer" in history else history.iloc[:0]
    summary = {"steps": int(history.step.max()), "epochs": int(history.epoch.max()) + 1}
    if evaluations.empty:
        return summary
    best = evaluations.loc[evaluations.validation_wer.idxmin()]
    summary |= {"best step": int(best.step), "evaluations after the best": int((evaluations.step > best.step).sum())}
    return summary | {name: 100 * best[name] for name in SCORES if name in best and pd.notna(best[name])}


def curves_figure(curves: dict[str, pd.DataFrame]) -> go.Figure:
    figure = make_subplots(rows=1, cols=2, subplot_titles=("training loss (mean of each epoch)", "validation WER"))
    for index, (name, history) in enumerate(curves.items()):
        color = COLORS[index % len(COLORS)]
        style = {"name": name, "legendgroup": name, "mode": "lines+markers", "line": {"color": color}}
        per_epoch = history.groupby("epoch").agg(loss=("loss", "mean"), step=("step", "max"))
        figure.add_trace(go.Scatter(x=per_epoch.step, y=per_epoch.loss, **style), 1, 1)
        if "validation_wer" in history:
            evaluations = history.dropna(subset=["validation_wer"])
            figure.add_trace(
                go.Scatter(x=evaluations.step, y=100 * evaluations.validation_wer, showlegend=False, **style), 1, 2
            )
    figure.update_xaxes(title_text="step")
    figure.update_yaxes(title_text="loss", row=1, col=1)
    figure.update_yaxes(title_text="WER (%), held-out speakers", row=1, col=2)
    figure.update_layout(title="Learning curves of every run", height=FIGURE_SIZE["height"])
    return figure


def report(results) -> str:
    title = "## Learning curves: how long each run trained\n\n"
    curves = read_curves(results)
    if not curves:
        return title + "Not run yet.\n"
    table = pd.DataFrame({name: run_summary(history) for name, history in curves.items()}).T.rename_axis("run")
    counts = [column for column in ("steps", "epochs", "best step", "evaluations after the best") if column in table]
    table[counts] = table[counts].astype("Int64")
    table = table.rename(columns={name: f"best {name} (%)" for name in SCORES})
    shown = table.astype(object).map(lambda v: "" if pd.isna(v) else (f"{v:.1f}" if isinstance(v, float) else str(v)))
    return (
        title
        + "Each run's steps and epochs, its best evaluation (by `validation_wer`) and the WERs recorded there:\n"
        + "".join(f"`{name}`: {meaning}; " for name, meaning in SCORES.items()).rstrip("; ")
        + ". A run that stopped early shows the evaluations after its best (the patience).\n\n"
        + save_table(shown, results, "curves")
        + "\n\n"
        + save_figure(curves_figure(curves), results, "curves")
        + "\n"
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
