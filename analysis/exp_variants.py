"""Placement and targets: MAS-LoRA's default (encoder experts, shared decoder LoRA, q and v) against its variants.

python -m analysis.exp_variants [--results assets/results]
"""

import pandas as pd

from analysis.bootstrap import paired_difference
from analysis.report_tools import (
    SYSTEM_NAMES,
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
BASELINES = ["lora", "full"]  # the paper's headline claim, MAS-LoRA (accent unknown) against these, per variant


def variant_rows(main: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    """The L2 test rows of every variant's weightings, the default's (experiment 1's MAS-LoRA) included, each
    with a `variant` column."""
    rows = pd.concat([main[main.system.isin(WEIGHTINGS)].assign(variant="default"), variants])
    return rows[rows.accent != NATIVE]


def differences(rows: pd.DataFrame) -> str:
    """Each variant minus the default, per weighting, with its paired bootstrap interval over the L2 test
    utterances both decoded (`rows`: the L2 rows with a `variant` column)."""
    lines = []
    for weighting, label in WEIGHTINGS.items():
        part = rows[rows.system == weighting]
        part = part.assign(system=part.variant)
        for variant in sorted(set(part.variant) - {"default"}, key=list(VARIANTS).index):
            lines.append(f"- {VARIANTS[variant]}, {label}: {paired_difference(part, variant, 'default')}\n")
    return "".join(lines)


def against_baselines(rows: pd.DataFrame, main: pd.DataFrame) -> str:
    """Each variant's accent-unknown mixture minus the regular LoRA and full fine-tuning of experiment 1, with
    paired bootstrap intervals over the L2 test utterances (`rows` as `differences` reads them, `main`: experiment
    1's rows)."""
    uniform = rows[rows.system == "mas-uniform"]
    baselines = main[main.system.isin(BASELINES) & (main.accent != NATIVE)]
    part = pd.concat([uniform.assign(system=uniform.variant), baselines])
    return "".join(
        f"- {VARIANTS[variant]}: "
        + "; ".join(
            f"minus {SYSTEM_NAMES[baseline]} {paired_difference(part, variant, baseline)}"
            for baseline in BASELINES
            if baseline in set(part.system)
        )
        + "\n"
        for variant in VARIANTS
        if variant in set(uniform.variant)
    )


def report(results) -> str:
    title = "## Placement and targets (variants of experiment 1)\n\n"
    variants, main = load_rows(results, "variants"), load_rows(results, "main")
    if variants.empty or main.empty:
        return title + "Not run yet.\n"
    rows = variant_rows(main, variants)
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
        "the test speakers of the six L2 accents.\n\n"
        + table_and_figure(shown, figure, results, "variants")
        + "\nEach variant minus the default in points (negative: the variant makes fewer errors), 95% paired "
        "bootstrap intervals over the utterances:\n\n"
        + differences(rows)
        + "\nThe paper's headline claim for each variant: MAS-LoRA, accent unknown, minus the regular LoRA and full "
        "fine-tuning of experiment 1 (same seeds, same test utterances):\n\n" + against_baselines(rows, main)
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
