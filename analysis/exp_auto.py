"""Experiment 7, beyond the paper: expert weights found from the audio, and a learned router, against beta.

    python -m analysis.exp_auto [--results assets/results]

Compares, on the held-out test speakers: uniform weights (accent unknown), the oracle beta = 2 (the
true accent given), the accent classifier's posterior as weights (w = p; tempered, with T picked per
seed on the validation speakers; the beta rule around its guess) and the learned router. Then the
classifier itself: accuracy and confusion on the test speakers, and what it does on accents no expert
was trained for (the leave-one-accent-out runs).
"""

import pandas as pd
import plotly.graph_objects as go

from analysis.report_tools import (
    cell,
    load_rows,
    mean_and_spread,
    pivot_cells,
    results_argument,
    save_figure,
    save_table,
    versus,
    wer_per_seed,
)
from maslora.data.splits import NATIVE
from maslora.systems.evaluation import lowest_wer_system
from maslora.systems.figures import annotated_heatmap
from maslora.systems.system import TEMPERED_SYSTEMS

TEMPERED = "mas-auto-tempered"  # the tempered posterior at the temperature validation picked for its seed
AUTO_NAMES = {
    "mas-uniform": "uniform (accent unknown)",
    "mas-beta2": "oracle beta 2 (accent given)",
    "mas-auto-t1": "auto, w = p",
    TEMPERED: "auto, tempered (T on validation)",
    "mas-auto-beta": "auto, beta from confidence",
    "mas-router": "learned router",
}


def picked_temperatures(validation: pd.DataFrame) -> pd.DataFrame:
    """Per (fold, seed): the mas-auto-t<T> system with the lowest pooled validation WER (ties: the lower T)."""
    tempered = [system for system in TEMPERED_SYSTEMS if system in set(validation.system)]  # in rising T
    picks = []
    for (fold, seed), rows in validation.groupby(["fold", "seed"]):
        system, wer = lowest_wer_system(rows, tempered)
        t = rows.temperature[rows.system == system].iloc[0]
        picks.append({"fold": fold, "seed": seed, "system": system, "t": t, "wer": 100 * wer})
    return pd.DataFrame(picks)


def compared_rows(rows: pd.DataFrame, picked: pd.DataFrame) -> pd.DataFrame:
    """The rows of the systems compared here (AUTO_NAMES), with each (fold, seed)'s picked temperature
    relabelled TEMPERED."""
    chosen = rows.merge(picked[["fold", "seed", "system"]], on=["fold", "seed", "system"])
    both = pd.concat([rows, chosen.assign(system=TEMPERED)], ignore_index=True)
    return both[both.system.isin(AUTO_NAMES)]


def guesses(rows: pd.DataFrame) -> pd.DataFrame:
    """The classifier's argmax per utterance and seed, from the w = p rows (their posterior column)."""
    posterior_rows = rows[rows.system == "mas-auto-t1"]
    return posterior_rows.assign(guess=[max(p, key=p.get) for p in posterior_rows.posterior])[
        ["seed", "accent", "guess"]
    ]


def report(results) -> str:
    title = "## Beyond the paper: weights from the audio, and a learned router\n\n"
    main, validation = load_rows(results, "main"), load_rows(results, "validation")
    if main.empty or validation.empty or "mas-router" not in set(main.system):
        return title + "Not run yet.\n"
    main = main[main.seed.isin(set(main.seed[main.system == "mas-router"]))]  # compare on the seeds every system ran
    picked = picked_temperatures(validation)
    rows = compared_rows(main, picked)
    l2 = rows[rows.accent != NATIVE]
    per_accent = mean_and_spread(wer_per_seed(rows, ["system", "accent"])).reset_index()
    per_seed = wer_per_seed(l2, ["system"])
    pooled = mean_and_spread(per_seed)
    order = [s for s in AUTO_NAMES if s in pooled.index]
    means, spreads, shown = pivot_cells(per_accent, "accent", "system", order)
    shown.loc["L2 pooled"] = [cell(pooled.loc[s]) for s in order]
    shown = shown.rename(columns=AUTO_NAMES).rename_axis("WER (%)")
    figure = go.Figure(
        go.Bar(
            x=[AUTO_NAMES[s] for s in order],
            y=pooled.loc[order, "mean"],
            error_y={"type": "data", "array": pooled.loc[order, "spread"]},
            text=[f"{pooled.loc[s, 'mean']:.1f}" for s in order],
            insidetextanchor="start",
        )
    )
    figure.update_layout(
        title="Held-out speakers: MAS-LoRA's weights from the accent, the audio, or a router (L2 pooled)",
        yaxis_title="WER (%)",
    )
    lines = "".join(
        versus(l2, a, b, AUTO_NAMES)
        for a, b in [
            (TEMPERED, "mas-uniform"),
            (TEMPERED, "mas-beta2"),
            ("mas-auto-t1", "mas-uniform"),
            ("mas-auto-beta", "mas-uniform"),
            ("mas-router", "mas-uniform"),
        ]
    )
    temperatures = ", ".join(f"seed {r.seed}: T = {r.t:g} (validation WER {r.wer:.1f}%)" for r in picked.itertuples())
    return (
        title + "MAS-LoRA's experts, weighted per utterance: WER (%), mean ± spread over seeds, held-out test speakers "
        "(native speakers: the accent-known oracle does not apply to them). Temperatures picked on the validation "
        "speakers: "
        + temperatures
        + ".\n\n"
        + save_table(shown, results, "auto_weights")
        + "\n\n"
        + lines
        + "\n"
        + _verdict(pooled, per_seed, main[main.accent != NATIVE], accuracy_per_seed(main))
        + "\n\n"
        + save_figure(figure, results, "auto_weights")
        + "\n\n"
        + _accent_id(results, main)
        + _unseen(results, picked)
    )


def accuracy_per_seed(main: pd.DataFrame) -> pd.Series:
    """% of held-out L2 utterances whose accent the classifier's argmax names, per seed."""
    guessed = guesses(main[main.accent != NATIVE])
    return (guessed.guess == guessed.accent).groupby(guessed.seed).mean() * 100


def _paired(per_seed: pd.DataFrame, a: str, b: str) -> str:
    """a - b seed by seed (both decode with the same seed's experts, so the experts' own spread cancels)."""
    return ", ".join(f"{per_seed.loc[a, seed] - per_seed.loc[b, seed]:+.1f}" for seed in per_seed.columns)


def _verdict(pooled: pd.DataFrame, per_seed: pd.DataFrame, l2: pd.DataFrame, accuracy: pd.Series) -> str:
    """The issue's goal, checked: auto within the oracle's spread and below uniform; if not, by how much and why."""
    if not {TEMPERED, "mas-uniform", "mas-beta2"} <= set(pooled.index):
        return ""
    auto, uniform, oracle = (pooled.loc[s, "mean"] for s in (TEMPERED, "mas-uniform", "mas-beta2"))
    noise = pooled.loc[TEMPERED, "spread"] + pooled.loc["mas-beta2", "spread"]
    near_oracle, below_uniform = abs(auto - oracle) <= noise, auto < uniform
    matched = (
        mean_and_spread(wer_per_seed(l2[l2.system == "mas-beta1"], ["system"])).loc["mas-beta1", "mean"]
        if "mas-beta1" in set(l2.system)
        else None
    )
    met = "met" if near_oracle and below_uniform else "not met"
    text = (
        f"**Goal (auto within the spread of oracle beta 2, and below uniform): {met}.** Auto, tempered: {auto:.1f}%; "
        f"oracle beta 2: {oracle:.1f}% ({auto - oracle:+.1f} points, spread ±{noise:.1f}); uniform: {uniform:.1f}% "
        f"({auto - uniform:+.1f} points). Seed by seed (seeds {', '.join(map(str, per_seed.columns))}; each seed's "
        f"systems share its experts): auto - oracle {_paired(per_seed, TEMPERED, 'mas-beta2')}; auto - uniform "
        f"{_paired(per_seed, TEMPERED, 'mas-uniform')}; router - uniform "
        f"{_paired(per_seed, 'mas-router', 'mas-uniform')} points."
    )
    if not met or oracle >= uniform:
        knowing = "helps" if oracle < uniform else "does not help"
        text += (
            f" Why: knowing the true accent itself {knowing} these experts (oracle beta 2 {oracle - uniform:+.1f} "
            "points vs uniform"
            + (f"; the matched expert alone {matched - uniform:+.1f}" if matched is not None else "")
            + "), so a weighting found from the audio has little or nothing to recover; and the classifier names a "
            f"held-out speaker's accent {accuracy.mean():.0f}% of the time, so a sharp posterior often favours the "
            "wrong expert."
        )
    return text


def _accent_id(results, main: pd.DataFrame) -> str:
    guessed = guesses(main[main.accent != NATIVE])
    accuracy = accuracy_per_seed(main)
    labels = sorted(set(guessed.accent) | set(guessed.guess))  # every accent a column, guessed or not
    confusion = (
        pd.crosstab(guessed.accent, guessed.guess)
        .reindex(columns=labels, fill_value=0)
        .rename_axis(index="true accent", columns="guessed")
    )
    shares = confusion.div(confusion.sum(axis=1), axis=0) * 100
    figure = annotated_heatmap(shares, confusion.values, "Blues", zmin=0, zmax=100)
    figure.update_layout(
        title="Accent classifier on held-out speakers: confusion (counts over seeds; colour = % of the true accent)",
        xaxis_title="guessed",
        yaxis_title="true accent",
    )
    per_seed = ", ".join(f"seed {seed}: {value:.0f}%" for seed, value in accuracy.items())
    return (
        "### Accent identification\n\nThe linear classifier on the frozen encoder (voices projected out) names the "
        f"accent of a held-out speaker's utterance correctly {accuracy.mean():.0f}% of the time ({per_seed}; chance "
        f"{100 / len(confusion.index):.0f}%).\n\n"
        + save_table(confusion.astype(str), results, "accent_confusion")
        + "\n\n"
        + save_figure(figure, results, "accent_confusion")
        + "\n\n"
    )


def _unseen(results, picked: pd.DataFrame) -> str:
    unseen = load_rows(results, "unseen")
    if unseen.empty or "mas-router" not in set(unseen.system):
        return "### Accents no expert was trained for\n\nNot run yet.\n"
    rows = compared_rows(unseen[unseen.accent == unseen.unseen], picked)
    stats = mean_and_spread(wer_per_seed(rows, ["accent", "system"])).reset_index()
    order = [s for s in AUTO_NAMES if s in set(stats.system)]
    _, _, shown = pivot_cells(stats, "accent", "system", order)
    pooled = mean_and_spread(wer_per_seed(rows, ["system"]))
    shown.loc["pooled"] = [cell(pooled.loc[s]) for s in order]
    taken = guesses(rows).groupby("accent").guess.agg(lambda g: g.value_counts().index[0])
    return (
        "### Accents no expert was trained for\n\nEach accent's test speakers, decoded by the MAS-LoRA trained "
        "without that accent, with a classifier "
        f"and a router trained without it too ({unseen.seed.nunique()} seed(s)). WER (%):\n\n"
        + save_table(shown.rename(columns=AUTO_NAMES).rename_axis("left-out accent"), results, "auto_unseen")
        + "\n\n"
        "The classifier's most frequent guess for each left-out accent: "
        + ", ".join(f"{a} -> {g}" for a, g in taken.items())
        + ".\n"
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
