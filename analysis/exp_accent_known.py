"""Experiment 2, accent known: MAS-LoRA's WER as beta goes from 1 (the matched expert alone) to N (uniform).

python -m analysis.exp_accent_known [--results assets/results]
"""

import plotly.graph_objects as go

from analysis.report_tools import (
    PAPER_L2ARCTIC,
    cell,
    load_rows,
    mean_and_spread,
    pivot_cells,
    results_argument,
    table_and_figure,
    versus,
    wer_per_seed,
)


def report(results) -> str:
    title = "## Accent known: WER vs beta\n\n"
    rows = load_rows(results, "main")
    rows = rows[rows.weighting == "beta"] if not rows.empty else rows
    if rows.empty:
        return title + "Not run yet.\n"
    per_accent = mean_and_spread(wer_per_seed(rows, ["beta", "accent"])).reset_index()
    pooled = mean_and_spread(wer_per_seed(rows, ["beta"]))
    means, spreads, shown = pivot_cells(per_accent, "beta", "accent")
    shown["L2 pooled"] = [cell(pooled.loc[b]) for b in shown.index]
    shown.index = [f"{b:g}" for b in shown.index]
    shown = shown.rename_axis("beta")
    figure = go.Figure([go.Scatter(name=a, x=means.index, y=means[a], mode="lines+markers") for a in means.columns])
    figure.add_trace(
        go.Scatter(
            name="L2 pooled",
            x=pooled.index,
            y=pooled["mean"],
            mode="lines+markers",
            line={"width": 4, "color": "black"},
            error_y={"type": "data", "array": pooled["spread"]},
        )
    )
    figure.update_layout(
        title="Accent known: MAS-LoRA WER vs beta (1 = matched expert alone, 6 = uniform)",
        xaxis_title="beta",
        yaxis_title="WER (%)",
    )
    betas = {f"mas-beta{b:g}": f"beta {b:g}" for b in sorted(set(rows.beta))}
    uniform = list(betas)[-1]  # beta = N, the largest beta evaluated
    lines = "".join(
        versus(rows, a, b, betas)
        for a, b in [("mas-beta1", "mas-beta2"), ("mas-beta2", uniform), ("mas-beta1", uniform)]
        if a != b
    )
    return (
        title
        + lines
        + "\n"
        + "WER (%), mean ± spread over seeds; each utterance mixed by the beta rule around its own accent (beta = 6 "
        f"is uniform). The paper reports {PAPER_L2ARCTIC['mas-beta2']:.2f}% at beta = 2 on L2-ARCTIC with "
        "whisper-small.\n\n" + table_and_figure(shown, figure, results, "accent_known")
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
