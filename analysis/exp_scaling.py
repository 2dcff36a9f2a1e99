"""Scaling: the same systems on tiny.en and on Whisper base, on the synthetic test speakers and the real held-out
Mandarin-L1 speakers, with paired intervals. Does the gap between MAS-LoRA and the regular LoRA (and the shared
part's gain) grow or shrink with the model? And what each forgets of native speech at both sizes.

    python -m analysis.exp_scaling [--results assets/results]

Rows: rows/scaling.jsonl (train.scaling: each size's bundle on the synthetic test speakers) and each size's
train.real_speech rows, tiny.en's in RESULTS/rows/real.jsonl and base's in RESULTS/base/rows/real.jsonl
(SIZE_FOLDERS), read for the same runs. Rows pair across sizes by utterance: the same clips, another model.
"""

import textwrap
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from analysis.bootstrap import gap_change, paired_difference
from analysis.exp_real_speech import LABEL_ORDER, NATIVE, PAPER_RUNS, TEST, display_name
from analysis.report_tools import (
    cell,
    grouped_bars,
    load_rows,
    mean_and_spread,
    pooled_wer,
    results_argument,
    table_and_figure,
    wer_per_seed,
)

SIZE_FOLDERS = {"tiny.en": "", "base": "base"}  # where each size's train.real_speech rows go, under RESULTS
SETS = {"synthetic": "synthetic L2 test", "real": "real held-out", "native": "native (forgetting)"}
TARGET_REDUCTION = 30.0  # base's mixture at beta 2: at least 30% (relative) below base as released, real held-out


def size_results(results: Path, size: str) -> Path:
    """The results folder of one size's train.real_speech rows and curves."""
    return results / SIZE_FOLDERS[size]


def scaling_rows(results: Path) -> pd.DataFrame:
    """Every size's rows of the same runs on the three sets, with `size`, `part` (a SETS key), `label`
    ("trained_on/system", as exp_real_speech names them) and `system` = "size/label" (what the bootstrap pairs)."""
    synthetic = load_rows(results, "scaling")
    if synthetic.empty:
        return synthetic
    parts = []
    for size, ran in synthetic.groupby("size", sort=False):
        parts.append(ran.assign(part="synthetic"))
        real = load_rows(size_results(results, size), "real")
        if real.empty:
            continue
        real = real[real.trained_on.isin(set(ran.trained_on))].assign(size=size)
        parts += [real[real.set == TEST].assign(part="real"), real[real.set == NATIVE].assign(part="native")]
    rows = pd.concat(parts, ignore_index=True)
    rows["label"] = rows.trained_on + "/" + rows.system
    return rows.assign(system=rows["size"] + "/" + rows.label)


def runs_of(rows: pd.DataFrame, size: str) -> dict[str, str]:
    """The size's runs by role: "lora", "shipped" (the bundle's default mixture) and "paper" (its placement)."""
    mixtures = set(rows[(rows["size"] == size) & rows.label.str.endswith("/mas-beta2")].trained_on)
    roles = {"lora": next(iter(set(rows[(rows["size"] == size) & rows.label.str.endswith("/lora")].trained_on)), None)}
    roles["paper"] = next((run for run in mixtures if run in PAPER_RUNS), None)
    roles["shipped"] = next((run for run in mixtures if run not in PAPER_RUNS), roles["paper"])
    return roles


def table_order(labels: Iterable[str]) -> list[str]:
    """Systems' labels in the order the tables list them (LABEL_ORDER; any other last)."""
    return sorted(labels, key=lambda label: LABEL_ORDER.get(label, len(LABEL_ORDER)))


def size_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (label, size, part): WER mean over seeds, spread, seeds, and `column` ("size, set") to show it in.
    Whisper as released counts once: it has no training seed, and its rows repeat under each run's seed only so
    that paired differences pair by seed (greedy decoding writes the same transcripts), so a spread would be a
    zero that measured nothing."""
    first_seed = rows.groupby(["size", "part", "trained_on"]).seed.transform("min")
    once = rows[(rows.trained_on != "none") | (rows.seed == first_seed)]
    stats = mean_and_spread(wer_per_seed(once, ["label", "size", "part"])).reset_index()
    return stats.assign(column=stats["size"] + ", " + stats.part.map(SETS))


def wer_table(rows: pd.DataFrame, stats: pd.DataFrame) -> pd.DataFrame:
    """WER (%) of every system (down) on each size's sets (across), mean over seeds (± spread from two)."""
    cells = stats.assign(text=[cell(row) for _, row in stats.iterrows()]).pivot(
        index="label", columns="column", values="text"
    )
    order = [f"{size}, {SETS[part]}" for size in rows["size"].unique() for part in SETS]
    labels = table_order(set(stats.label))
    table = cells.reindex(index=labels, columns=[c for c in order if c in cells.columns]).fillna("")
    return table.rename(index=display_name).rename_axis("WER (%)")


def figure_of(stats: pd.DataFrame):
    """Bars of every system on the synthetic and real test speakers at each size, seed spreads as error bars,
    the systems in the table's order; their long names wrapped, as tilted they left the bars a sliver."""
    shown = stats[stats.part != "native"]
    means, spreads = (shown.pivot(index="label", columns="column", values=v) for v in ("mean", "spread"))
    labels = table_order(means.index)
    order = [f"{size}, {SETS[part]}" for size in SIZE_FOLDERS for part in ("synthetic", "real")]  # small first
    columns = [column for column in order if column in means.columns]
    names = {label: "<br>".join(textwrap.wrap(display_name(label), 16)) for label in labels}
    figure = grouped_bars(
        means[columns], spreads[columns].fillna(0), "The same systems at both sizes", rows=labels, names=names
    )
    return figure.update_xaxes(tickangle=0, tickfont_size=10)


GAPS = (  # (its name alone, its name in a change, (role, system) of a, of b): a minus b, roles as runs_of's
    (
        "the shipped mixture at beta 2 minus the LoRA",
        "beta 2 minus the LoRA",
        ("shipped", "mas-beta2"),
        ("lora", "lora"),
    ),
    ("uniform minus the LoRA", "uniform minus the LoRA", ("shipped", "mas-uniform"), ("lora", "lora")),
    (
        "the shared part (the shipped mixture minus the paper's placement, beta 2)",
        "the shared part (beta 2)",
        ("shipped", "mas-beta2"),
        ("paper", "mas-beta2"),
    ),
)


def _gap_systems(rows: pd.DataFrame, size: str, a: tuple[str, str], b: tuple[str, str]) -> tuple[str, str] | None:
    """The bootstrap's names of a gap's two systems at `size`; None where they are one (a size whose shipped
    mixture is the paper's placement has no shared part)."""
    runs = runs_of(rows, size)
    first, second = (f"{size}/{runs[role]}/{system}" for role, system in (a, b))
    return None if first == second else (first, second)


def _differences(rows: pd.DataFrame, size: str, part: str) -> str:
    """The size's mixtures against its LoRA, and the shared part's gain, on one set."""
    on, shown = rows[rows.part == part], []
    for name, _, a, b in GAPS:
        systems = _gap_systems(rows, size, a, b)
        if systems and set(systems) <= set(on.system):
            shown.append(f"{name} {paired_difference(on, *systems)}")
    return "; ".join(shown)


def _changes(rows: pd.DataFrame, part: str) -> str:
    """Each gap at base minus the same gap at tiny.en, over the utterances all four systems decoded."""
    on, shown = rows[rows.part == part], []
    for _, name, a, b in GAPS:
        first, second = _gap_systems(rows, "base", a, b), _gap_systems(rows, "tiny.en", a, b)
        if first and second and {*first, *second} <= set(on.system):
            shown.append(f"{name} {gap_change(on, first, second)}")
    return "; ".join(shown)


def targets(rows: pd.DataFrame) -> str:
    """Base's targets on the real held-out speakers: its shipped mixture at beta 2 at least TARGET_REDUCTION%
    below base as released, and below tiny.en's best system there."""
    real, runs = rows[rows.part == "real"], runs_of(rows, "base")
    beta, whisper = f"base/{runs['shipped']}/mas-beta2", "base/none/base"
    if not {beta, whisper} <= set(real.system):
        return ""
    wers = {system: pooled_wer(real[real.system == system]) for system in set(real.system)}
    reduction = 100 * (1 - wers[beta] / wers[whisper])
    met = "met" if reduction >= TARGET_REDUCTION else "missed"
    lines = [
        f"- base's shipped mixture at beta 2: {wers[beta]:.1f}% vs Whisper base as released {wers[whisper]:.1f}%, "
        f"{reduction:.1f}% lower (target >= {TARGET_REDUCTION:.0f}%: {met}); "
        f"{paired_difference(real, beta, whisper)}\n"
    ]
    tiny = {system: wer for system, wer in wers.items() if system.startswith("tiny.en/")}
    if tiny:
        best = min(sorted(tiny), key=tiny.get)  # ties: the first by name
        difference = paired_difference(real, beta, best)
        met = "met" if difference.high < 0 else "missed"
        name = display_name(best.split("/", 1)[1])
        lines.append(
            f"- below tiny.en's best there ({name}, {tiny[best]:.1f}%), the interval excluding zero: "
            f"{difference}: {met}\n"
        )
    return "".join(lines)


def report(results: Path) -> str:
    title = "## Scaling: tiny.en and base\n\n"
    rows = scaling_rows(results)
    if rows.empty:
        return title + "Not run yet (`python -m train.scaling` after each size's train.real_speech runs).\n"
    stats = size_stats(rows[rows.label.isin(set(rows[rows.part == "synthetic"].label))])  # the same systems
    sizes = list(rows["size"].unique())
    lines = [
        f"- {size}, {SETS[part]}: {text}\n"
        for size in sizes
        for part in ("synthetic", "real")
        if (text := _differences(rows, size, part))
    ]
    changes = [f"- {SETS[part]}: {text}\n" for part in ("synthetic", "real") if (text := _changes(rows, part))]
    met = targets(rows)
    return (
        title
        + "Each size's bundled systems (trained on fold 1 of the synthetic corpus with the real Mandarin-L1 training "
        "speakers beside the synthetic ones, checkpoints chosen on validation speakers): the synthetic L2 test "
        "speakers of the fold (`python -m train.scaling`), the held-out real speakers and the native recordings "
        "(`python -m train.real_speech --size SIZE`). Whisper is as released, in its own 30 s window. WER (%), "
        "one seed unless a spread is shown.\n\n"
        + table_and_figure(wer_table(rows, stats), figure_of(stats), results, "scaling")
        + "\nPaired differences in points (negative: fewer errors), 95% bootstrap intervals:\n\n"
        + "".join(lines)
        + (
            "\nHow each gap moves from tiny.en to base (the gap at base minus the gap at tiny.en, the same "
            "utterances drawn for both; negative: the mixture gains more at base):\n\n" + "".join(changes)
            if changes
            else "\nbase has no rows yet: how the gaps move with the model waits for its runs.\n"
        )
        + ("\nTargets:\n\n" + met if met else "")
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
