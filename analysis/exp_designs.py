"""Where mixing pays: every design of adapters side by side, with the accent unknown, known (beta 2) and read
from the audio, against the regular LoRA; what each forgets of native speech; what each trains.

    python -m analysis.exp_designs [--results assets/results]

The question (beyond the paper): MAS-LoRA's experts each learn the accent-general part of the adaptation
again from a sixth of the data. Does a shared LoRA beside them, which every utterance trains, keep the
regular LoRA's gain and add the accent's on top? The designs are DESIGNS below (train/experiments.py trains
each with every seed; the paper's placement, the LoRA and full fine-tuning are experiment 1's runs).
"""

import json

import pandas as pd

from analysis.bootstrap import Difference, paired_difference
from analysis.exp_curves import read_curves
from analysis.exp_matrix import matrix_report, own_expert_best
from analysis.report_tools import (
    cell,
    grouped_bars,
    load_rows,
    mean_and_spread,
    pivot_cells,
    results_argument,
    table_and_figure,
    wer_per_seed,
)
from maslora.data.splits import NATIVE

PARAMETERS = "parameters.json"  # RESULTS/parameters.json: each training run's trainable weights, by run name
DESIGNS = {  # design -> (what it is, the training run it comes from)
    "paper": ("MAS-LoRA as published: encoder experts r16, shared decoder LoRA r16", "mas-lora"),
    "decoder-mas": ("experts r16 in the encoder and the decoder", "mas-lora-decoder-mas"),
    "shared": ("shared LoRA r16 everywhere + encoder experts r8", "mas-lora-shared"),
    "shared-decoder-mas": ("shared LoRA r16 + experts r8, encoder and decoder", "mas-lora-shared-decoder-mas"),
    "lora": ("regular LoRA r16", "lora"),
    "lora-r32": ("regular LoRA r32 (the parameters of shared + encoder experts)", "lora-r32"),
    "lora-r64": ("regular LoRA r64 (the parameters of shared + experts in both halves)", "lora-r64"),
    "full": ("full fine-tuning", "full"),
}
REAL_SPEECH_RUNS = {  # train.real_speech's run of each design, the real speakers beside (the demo bundles a mixture's)
    "paper": "mas-lora-beside",
    "shared": "shared-beside",
    "shared-decoder-mas": "shared-decoder-mas-beside",
    "lora-r32": "lora-r32-beside",
    "lora-r64": "lora-r64-beside",
}
# One model whatever the accent: design -> its system in the rows.
SINGLE = {"lora": "lora", "lora-r32": "lora", "lora-r64": "lora", "full": "full"}
EQUAL_LORAS = {"lora-r32": "shared", "lora-r64": "shared-decoder-mas"}  # LoRA -> the design of its parameters
WEIGHTINGS = {
    "mas-uniform": "accent unknown",
    "mas-beta2": "accent known (beta 2)",
    "mas-auto-t1": "from the audio (w = p)",
}


def _mixture_rows(rows: pd.DataFrame, design: str) -> pd.DataFrame:
    return rows[rows.system.isin(WEIGHTINGS)].assign(design=design, weighting=rows.system)


def _single_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """A single model's rows once per weighting: it decodes the same whatever is known of the accent."""
    return pd.concat([rows.assign(weighting=weighting) for weighting in WEIGHTINGS])


def design_rows(results) -> pd.DataFrame:
    """Every design's L2 test rows, with `design` and `weighting` columns, and `system` = "design/weighting"
    (what the paired bootstrap compares): experiment 1's runs from main, the first decoder-experts seed from
    the variants, the rest from designs."""
    main, variants, designs = (load_rows(results, name) for name in ("main", "variants", "designs"))
    parts = [_mixture_rows(main, "paper")]
    parts += [_single_rows(main[main.system == system].assign(design=system)) for system in ("lora", "full")]
    if not variants.empty:
        parts.append(_mixture_rows(variants[variants.variant == "decoder-mas"], "decoder-mas"))
    if not designs.empty:
        test = designs[designs.set == "test"]
        single = test.design.isin(SINGLE)
        parts += [_mixture_rows(test[~single], test[~single].design), _single_rows(test[single])]
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[rows.accent != NATIVE]
    return rows.assign(system=rows.design + "/" + rows.weighting)


def native_rows(results) -> pd.DataFrame:
    """Every design's rows on held-out native speech (accent unknown), with a `design` column."""
    forgetting, designs = load_rows(results, "forgetting"), load_rows(results, "designs")
    named = {"mas-uniform": "paper", "lora": "lora", "full": "full"}
    parts = [forgetting[forgetting.system.isin(named)].assign(design=lambda t: t.system.map(named))]
    if not designs.empty:
        parts.append(designs[designs.set != "test"])
    rows = pd.concat(parts, ignore_index=True)
    return rows[rows.set == "cc0-native"]


def validation_choice(results) -> tuple[str | None, pd.Series, list[int]]:
    """The mixture whose runs reached the lowest validation WER (accent unknown, held-out validation speakers,
    best checkpoint), that WER per design, and the seeds it is the mean over: the demo's choice, made without
    test speakers. Only the seeds every mixture design ran count: a design with a seed more would otherwise be
    ranked on a different draw of initialisations and batch orders than the others."""
    best: dict[str, dict[int, float]] = {}  # design -> {seed: its best validation WER}
    for name, history in read_curves(results).items():
        _, seed, run = name.split("-", 2)  # fold1-seed0-mas-lora-shared
        design = next((d for d, (_, r) in DESIGNS.items() if r == run), None)
        if design is not None and "validation_wer" in history:
            best.setdefault(design, {})[int(seed.removeprefix("seed"))] = 100 * history.validation_wer.min()
    mixture_seeds = [set(wers) for design, wers in best.items() if design not in SINGLE]
    seeds = sorted(set.intersection(*mixture_seeds) if mixture_seeds else set())
    seeds = seeds or sorted({seed for wers in best.values() for seed in wers})
    means = pd.Series(
        {
            design: sum(wers[seed] for seed in seeds) / len(seeds)
            for design, wers in best.items()
            if set(seeds) <= set(wers)
        },
        dtype=float,
    ).sort_values()
    mixtures = [design for design in means.index if design not in SINGLE]
    return (mixtures[0] if mixtures else None), means, seeds


def _parameters(results) -> dict[str, str]:
    path = results / PARAMETERS
    counts = json.loads(path.read_text()) if path.is_file() else {}
    return {design: f"{counts[run]:,}" if run in counts else "" for design, (_, run) in DESIGNS.items()}


def share_a_seed(rows: pd.DataFrame, a: str, b: str) -> bool:
    """Whether systems `a` and `b` both have rows of some seed: a paired comparison needs one."""
    return bool(set(rows[rows.system == a].seed) & set(rows[rows.system == b].seed))


def against(rows: pd.DataFrame, baseline: str) -> str:
    """Each mixture design, per weighting, minus `baseline` (a single model's design) with paired intervals,
    over the seeds both ran (a weighting decoded for no seed of the baseline's is left out)."""
    lines = []
    for design in DESIGNS:
        if design in SINGLE or design not in set(rows.design):
            continue
        cells = [
            f"{label} {paired_difference(rows, f'{design}/{weighting}', f'{baseline}/{weighting}')}"
            for weighting, label in WEIGHTINGS.items()
            if share_a_seed(rows, f"{design}/{weighting}", f"{baseline}/{weighting}")
        ]
        if cells:
            lines.append(f"- {DESIGNS[design][0]}: " + "; ".join(cells) + "\n")
    return "".join(lines)


def targets(rows: pd.DataFrame, native: pd.DataFrame, design: str) -> str:
    """The shared design's targets, met or not, from the rows (the LoRA is the regular r16 one)."""
    lines = []
    unknown = paired_difference(rows, f"{design}/mas-uniform", "lora/mas-uniform")
    met = "met" if unknown.high <= 0.5 else "missed"
    lines.append(f"- accent unknown not worse than the LoRA (upper end at most +0.5): {unknown}: {met}\n")
    if f"{design}/mas-beta2" in set(rows.system):
        known = paired_difference(rows, f"{design}/mas-beta2", "lora/mas-beta2")
        met = "met" if known.high < 0 else "missed"
        lines.append(f"- accent known (beta 2) below the LoRA, interval excluding zero: {known}: {met}\n")
    native = native.assign(system=native.design)
    if {design, "lora"} <= set(native.system):
        forgetting = paired_difference(native, design, "lora")
        met = "met" if forgetting.points <= 0 else "missed"
        lines.append(f"- forgetting on native speech no worse than the LoRA's: {forgetting}: {met}\n")
    return "".join(lines)


def _reading(difference: Difference) -> str:
    """Where the interval puts a design against a baseline."""
    if difference.high < 0:
        return "below"
    return "above" if difference.low > 0 else "level with"


def verdict(rows: pd.DataFrame, design: str) -> str:
    """The hypothesis read from the rows for one shared design: accent unknown and known against the LoRA r16
    and against the LoRA with the design's own trainable parameters (the issue's targets against each), and
    what knowing the accent is worth inside the mixture beside what those parameters are worth to one LoRA."""
    equal = next((lora for lora, of in EQUAL_LORAS.items() if of == design), None)
    parts, unknown_ok, known_ok = [], [], {}
    for baseline in ("lora", equal):
        if baseline is None or not share_a_seed(rows, f"{design}/mas-beta2", f"{baseline}/mas-beta2"):
            continue
        unknown = paired_difference(rows, f"{design}/mas-uniform", f"{baseline}/mas-uniform")
        known = paired_difference(rows, f"{design}/mas-beta2", f"{baseline}/mas-beta2")
        unknown_ok.append(unknown.high <= 0.5)
        known_ok[baseline] = known.high < 0
        parts.append(
            f"against the {DESIGNS[baseline][0]}, accent unknown {_reading(unknown)} it ({unknown}) and accent "
            f"known {_reading(known)} it ({known})"
        )
    if not parts:
        return ""
    accent = paired_difference(rows, f"{design}/mas-beta2", f"{design}/mas-uniform")
    worth = f"Inside the mixture, knowing the accent (beta 2 minus uniform) is worth {accent}"
    if equal in known_ok:
        size = paired_difference(rows, f"{equal}/mas-uniform", "lora/mas-uniform")
        worth += f"; the same parameters in one LoRA ({equal} minus r16) are worth {size}"
    if all(unknown_ok) and all(known_ok.values()):
        conclusion = (
            "the hypothesis holds: the mixture keeps the LoRA's gain with the accent unknown and adds the accent's"
        )
    else:
        unknown = (
            "no worse than the LoRA" if all(unknown_ok) else "not shown to match the LoRA (an upper end above +0.5)"
        )
        if all(known_ok.values()):
            known = "it beats every LoRA it is read against"
        elif known_ok["lora"]:
            known = (
                "it beats the r16 LoRA but not one LoRA of its size, which does as well: the gain is the parameters'"
            )
        else:
            known = "it does not beat the LoRA"
        conclusion = f"the hypothesis does not hold in full: with the accent unknown it is {unknown}; known, {known}"
    return f"- `{design}`: " + "; ".join(parts) + f". {worth}. So {conclusion}.\n"


def chosen_matrix(results, chosen: str | None) -> str:
    """The expert x accent matrix of the chosen mixture's real-speech run (the demo's default experts), with
    the paper's placement's own-expert count beside it."""
    run = REAL_SPEECH_RUNS.get(chosen)
    rows = load_rows(results, "real_matrix")
    if run is None or rows.empty or run not in set(rows.trained_on):
        return ""
    paper = rows[rows.trained_on == REAL_SPEECH_RUNS["paper"]]
    contrast = ""
    if not paper.empty:
        own, accents = own_expert_best(paper)
        contrast = f" (the paper's placement, trained the same way: {own} of {accents})"
    return (
        f"\nThe chosen mixture's expert x accent matrix, from its run with real Mandarin-L1 speakers beside the "
        f"synthetic ones (`{run}`, the demo's default experts); each expert alone means its weight 1, the others "
        "0, the shared part applied in full as always. "
        + matrix_report(rows[rows.trained_on == run], results, "designs_matrix", contrast)
    )


def report(results) -> str:
    title = "## Where mixing pays: a shared LoRA beside the experts\n\n"
    designs = load_rows(results, "designs")
    if designs.empty:
        return title + "Not run yet.\n"
    rows, native = design_rows(results), native_rows(results)
    stats = mean_and_spread(wer_per_seed(rows, ["design", "weighting"])).reset_index()
    means, spreads, shown = pivot_cells(stats, "design", "weighting", list(WEIGHTINGS))
    native_stats = mean_and_spread(wer_per_seed(native, ["design"]))
    order = [design for design in DESIGNS if design in shown.index]
    shown = shown.loc[order].rename(columns=WEIGHTINGS)
    shown["native speech (forgetting)"] = [
        cell(native_stats.loc[design]) if design in native_stats.index else "" for design in order
    ]
    seeds = rows.groupby("design").seed.nunique().reindex(order)
    shown["seeds"] = [str(n) for n in seeds]
    shown["trainable parameters"] = [_parameters(results)[design] for design in order]
    shown = shown.rename(index={d: DESIGNS[d][0] for d in order}).rename_axis("design")
    figure = grouped_bars(
        means, spreads, "Where mixing pays: L2 pooled WER per design", order, {**WEIGHTINGS, **{d: d for d in order}}
    )
    chosen, validation, seeds = validation_choice(results)
    choice = ", ".join(f"{design} {wer:.1f}%" for design, wer in validation.items())
    over = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}, the seeds every mixture design ran"
    shared = [design for design in ("shared", "shared-decoder-mas") if design in set(rows.design)]
    return (
        title + "Test speakers of the six L2 accents, L2 pooled WER (%), mean ± spread over seeds (a value alone: one "
        "seed). A single model (LoRA, full fine-tuning) decodes the same whatever is known of the accent, so its "
        "number stands in every column. From the audio: w = p, the accent classifier's posterior at temperature "
        "1, the same untuned rule for every design. Native speech: the held-out real recordings, accent "
        "unknown.\n\n"
        + table_and_figure(shown, figure, results, "designs")
        + "\nEach mixture minus the regular LoRA (r16), in points (negative: fewer errors), 95% paired bootstrap "
        "intervals over the utterances and seeds both decoded:\n\n"
        + against(rows, "lora")
        + "".join(
            f"\nThe same against the {DESIGNS[lora][0]}:\n\n" + against(rows, lora)
            for lora in EQUAL_LORAS
            if lora in set(rows.design)
        )
        + "".join(
            f"\nTargets of `{design}` ({DESIGNS[design][0]}):\n\n" + targets(rows, native, design) for design in shared
        )
        + "\nThe hypothesis, read from the same intervals (below, above or level with: where the 95% interval "
        "lies against zero):\n\n"
        + "".join(verdict(rows, design) for design in shared)
        + f"\nChosen on validation (best checkpoint's WER on the held-out validation speakers, accent unknown, mean "
        f"over {over}): {choice}; the lowest mixture: **{chosen}**.\n" + chosen_matrix(results, chosen)
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
