"""Placement and targets: MAS-LoRA's default (encoder experts, shared decoder LoRA, q and v) against its variants.

    python -m analysis.exp_variants [--results assets/results]
"""

import pandas as pd
import plotly.graph_objects as go

from analysis.report_tools import load_rows, mean_and_spread, pivot_cells, results_argument, save_figure, save_table, wer_per_seed
from maslora.splits import NATIVE

VARIANTS = {"default": "experts in the encoder, shared decoder LoRA, q,v", "decoder-mas": "experts in the encoder and decoder, q,v",
            "qkvo": "experts in the encoder, shared decoder LoRA, q,k,v,out"}
WEIGHTINGS = {"mas-uniform": "accent unknown (uniform)", "mas-beta2": "accent known (beta 2)"}


def report(results) -> str:
    title = "## Placement and targets (variants of experiment 1)\n\n"
    variants, main = load_rows(results, "variants"), load_rows(results, "main")
    if variants.empty or main.empty:
        return title + "Not run yet.\n"
    rows = pd.concat([main[main.system.isin(WEIGHTINGS)].assign(variant="default"), variants])
    rows = rows[rows.accent != NATIVE]
    stats = mean_and_spread(wer_per_seed(rows, ["variant", "system"])).reset_index()
    means, spreads, shown = pivot_cells(stats, "variant", "system", list(WEIGHTINGS))
    shown = shown.loc[[v for v in VARIANTS if v in shown.index]].rename(columns=WEIGHTINGS, index=VARIANTS).rename_axis("MAS-LoRA variant")
    order = [v for v in VARIANTS if v in means.index]
    figure = go.Figure([go.Bar(name=WEIGHTINGS[w], x=order, y=means.loc[order, w], error_y={"type": "data", "array": spreads.loc[order, w]})
                        for w in WEIGHTINGS])
    figure.update_layout(barmode="group", title="MAS-LoRA placement and targets: L2 pooled WER", yaxis_title="WER (%)")
    return (
        title + f"L2 pooled WER (%), mean ± spread over seeds ({variants.seed.nunique()} seed(s) of the variant runs), on the test\n"
        "speakers of the six L2 accents.\n\n"
        + save_table(shown, results, "variants") + "\n\n" + save_figure(figure, results, "variants") + "\n"
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
