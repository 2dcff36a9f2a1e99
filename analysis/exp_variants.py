"""Placement and targets: MAS-LoRA's default (encoder experts, shared decoder LoRA, q and v) against its variants.

python -m analysis.exp_variants [--results assets/results]
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
from maslora.data.splits import NATIVE

VARIANTS = {
    "default": "experts in the encoder, shared decoder LoRA, q,v",
    "decoder-mas": "experts in the encoder and decoder, q,v",
    "qkvo": "experts in the encoder, shared decoder LoRA, q,k,v,out",
}
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
    shown = (
        shown.loc[[v for v in VARIANTS if v in shown.index]]
        .rename(columns=WEIGHTINGS, index=VARIANTS)
        .rename_axis("MAS-LoRA variant")
    )
    order = [v for v in VARIANTS if v in means.index]
    figure = grouped_bars(means, spreads, "MAS-LoRA placement and targets: L2 pooled WER", order, WEIGHTINGS)
    return (
        title
        + f"L2 pooled WER (%), mean ± spread over seeds ({variants.seed.nunique()} seed(s) of the variant runs), on "
        "the test\n"
        "speakers of the six L2 accents.\n\n" + table_and_figure(shown, figure, results, "variants")
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
