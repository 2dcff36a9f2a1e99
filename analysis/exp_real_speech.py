"""Experiment 9, real accented speech: speechocean762's held-out Mandarin-L1 speakers, adults and children apart;
the systems that heard only synthetic accents beside the ones that also heard real speakers.

    python -m analysis.exp_real_speech [--results assets/results]

Rows: rows/real.jsonl, written by train.real_speech. Ages come from the committed speaker split
(assets/splits/speechocean762-train.csv), so the rows need not carry them.
"""

import pandas as pd
import plotly.graph_objects as go

from analysis.bootstrap import paired_difference, pooled_interval
from analysis.report_tools import load_rows, pooled_wer, results_argument, save_figure, save_table
from maslora.data.speaker_split import SPEECHOCEAN_SPLIT
from maslora.data.speechocean import age_group
from maslora.data.splits import NATIVE as NATIVE_ACCENT
from maslora.synth.accents import ACCENTS

TRAINED_ON = {
    "none": "no fine-tuning",
    "synthetic": "synthetic accents only",
    "lora-beside": "+ real speakers",
    "mas-lora-beside": "+ real speakers beside the synthetic Mandarin ones",
    "mas-lora-instead": "+ real speakers instead of the synthetic Mandarin ones",
    "shared-beside": "shared + encoder experts, + real speakers beside",
    "shared-decoder-mas-beside": "shared + experts in encoder and decoder, + real speakers beside",
    "lora-r32-beside": "rank 32, + real speakers",
    "lora-r64-beside": "rank 64, + real speakers",
}
SYSTEMS = {
    "base": "Whisper",
    "lora": "regular LoRA",
    "mas-uniform": "MAS-LoRA uniform (accent unknown)",
    "mas-beta2": "MAS-LoRA beta 2 (accent known)",
    "mas-matched": "MAS-LoRA, Mandarin expert alone",
    "mas-auto-t1": "MAS-LoRA, auto w = p",
    "mas-auto-beta": "MAS-LoRA, auto beta from confidence",
    "mas-router": "MAS-LoRA, learned router",
}
TEST, VALIDATION, NATIVE = "speechocean762-test", "speechocean762-validation", "cc0-native"
BESIDE, INSTEAD = "mas-lora-beside", "mas-lora-instead"  # the paper's placement, real speakers in two places
PAPER_RUNS = ("synthetic", BESIDE, INSTEAD)  # the paper's placement, however it heard the real speakers
MAS_RUNS = (*PAPER_RUNS, "shared-beside", "shared-decoder-mas-beside")  # the bundle's candidates
REAL_LORA = "lora-beside"  # the regular LoRA that also heard the real speakers: what each MAS-LoRA run is compared with
# The regular LoRAs with the parameters of shared + encoder experts, and of shared + experts in both halves.
EQUAL_LORAS = ("lora-r32-beside", "lora-r64-beside")
EXPERTS = len(set(ACCENTS) - {NATIVE_ACCENT})  # one per L1 of the synthetic corpus: uniform gives each 1/6
TARGET_REDUCTION = 20.0  # the target: beta 2 at least 20% (relative) below Whisper on the held-out adults


LABEL_ORDER = {f"{t}/{s}": i for i, (t, s) in enumerate((t, s) for t in TRAINED_ON for s in SYSTEMS)}  # tables'


def labelled(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with `label` ("trained_on/system": one name per decoded system, for the paired bootstrap) and the
    speaker's age group; ordered as TRAINED_ON x SYSTEMS."""
    ages = rows.speaker.map(pd.read_csv(SPEECHOCEAN_SPLIT, dtype={"speaker": str}).set_index("speaker").age)
    groups = pd.Series("", index=rows.index)  # the native recordings' speaker has no age group
    groups[ages.notna()] = age_group(ages.dropna())
    rows = rows.assign(label=rows.trained_on + "/" + rows.system, age_group=groups)
    return rows.assign(order=rows.label.map(LABEL_ORDER)).sort_values(["order", "speaker", "utterance_id"])


def display_name(label: str) -> str:
    trained_on, system = label.split("/")
    return SYSTEMS[system] if trained_on == "none" else f"{SYSTEMS[system]}, {TRAINED_ON[trained_on]}"


def wer_cells(rows: pd.DataFrame) -> pd.DataFrame:
    """Pooled WER (95% interval over utterances) per system, for adults, children and both."""
    groups = {"adults": rows[rows.age_group == "adults"], "children": rows[rows.age_group == "children"], "all": rows}
    table = pd.DataFrame(index=pd.Index(rows.label.unique(), name="WER (%) on held-out real speakers"))
    for name, part in groups.items():
        cells = {}
        for label, system_rows in part.groupby("label", sort=False):
            wer, low, high = pooled_interval(system_rows)
            cells[label] = f"{wer:.1f} ({low:.1f}-{high:.1f})"
        table[f"{name} ({part.speaker.nunique()} speakers)"] = pd.Series(cells)
    return table.rename(index=display_name)


def chosen_run(validation: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """The MAS-LoRA to bundle: lowest pooled WER, accent unknown (what the demo does first), on the real
    validation speakers; never on test. Returns it and the table it was chosen from (with the regular LoRA
    trained on the same speakers beside it, for context)."""
    shown = validation.trained_on.isin([*MAS_RUNS, REAL_LORA, *EQUAL_LORAS]) | (validation.system == "base")  # context
    candidates = validation[shown]
    table = candidates.groupby(["trained_on", "system"]).apply(pooled_wer, include_groups=False).unstack("system")
    table = table.reindex([t for t in TRAINED_ON if t in table.index])[[s for s in SYSTEMS if s in table.columns]]
    uniform = table["mas-uniform"].dropna() if "mas-uniform" in table else pd.Series(dtype=float)
    winner = uniform.idxmin() if len(uniform) else ""
    return winner, table.rename(index=TRAINED_ON, columns=SYSTEMS).rename_axis("WER (%), validation speakers")


def per_speaker_figure(test: pd.DataFrame, after: str) -> go.Figure:
    """Each held-out speaker's WER before (Whisper) and after (`after`, a label): below the diagonal gains."""
    per_speaker = (
        test[test.label.isin(["none/base", after])]
        .groupby(["speaker", "age_group", "label"])
        .apply(pooled_wer, include_groups=False)
        .unstack("label")
        .reset_index()
    )
    figure = go.Figure()
    for group, members in per_speaker.groupby("age_group"):
        figure.add_trace(
            go.Scatter(x=members["none/base"], y=members[after], mode="markers", name=group, text=members.speaker)
        )
    top = float(per_speaker[["none/base", after]].max().max()) + 5
    figure.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="no change", line={"dash": "dot"}))
    figure.update_layout(
        title=f"Per speaker: Whisper vs {display_name(after)}",
        xaxis_title="WER (%) before adaptation",
        yaxis_title="WER (%) after",
    )
    return figure


def compared(rows: pd.DataFrame, a: str, b: str) -> str:
    """The paired bootstrap of labels `a` minus `b` over the utterances both decoded."""
    return str(paired_difference(rows.assign(system=rows.label), a, b))


def weight_steps(rows: pd.DataFrame, run: str) -> str:
    """A run's WER as the Mandarin expert's weight grows: uniform 1/N, beta 2 1/2, alone 1 ("1/6 25.2%, ...")."""
    weights = {"mas-uniform": f"1/{EXPERTS}", "mas-beta2": "1/2", "mas-matched": "1"}
    return ", ".join(
        f"{weight} {pooled_wer(rows[rows.label == f'{run}/{system}']):.1f}%"
        for system, weight in weights.items()
        if f"{run}/{system}" in set(rows.label)
    )


def mandarin_weight_line(adults: pd.DataFrame, run: str) -> str:
    """Why the uniform mixture can miss: the run's adults' WER as the Mandarin expert's weight grows, beside
    the synthetic-only mixture's (the experts the real speakers did not train)."""
    line = f"  - why: adults' WER by the Mandarin expert's weight in the mixture: {weight_steps(adults, run)}"
    if "synthetic/mas-uniform" in set(adults.label):
        synthetic = pooled_wer(adults[adults.label == "synthetic/mas-uniform"])
        line += (
            f"; the experts trained on synthetic accents alone, mixed uniformly, get {synthetic:.1f}%: in the "
            "uniform mixture the real speakers reach only the Mandarin expert's share"
        )
    return line


def beta_miss_line(test: pd.DataFrame, run: str) -> str:
    """Why beta 2 can lose to the regular LoRA: the run's WER as the Mandarin expert's weight grows, beside
    the paper's placement trained the same way and the LoRA. What beta 2 gives the five other experts (each
    trained on one synthetic accent alone) is what it costs against the Mandarin expert alone."""
    line = f"  - why: every held-out speaker's WER by the Mandarin expert's weight: {weight_steps(test, run)}"
    if run != BESIDE and f"{BESIDE}/mas-beta2" in set(test.label):
        line += f" (the paper's placement, trained the same way: {weight_steps(test, BESIDE)})"
    matched, beta = f"{run}/mas-matched", f"{run}/mas-beta2"
    if {matched, beta} <= set(test.label):
        line += f"; beta 2 minus the Mandarin expert alone: {compared(test, beta, matched)}"
    return line + "\n" + worst_utterance_line(test, beta, f"{REAL_LORA}/lora")


def worst_utterance_line(rows: pd.DataFrame, a: str, b: str) -> str:
    """How much of `a`'s errors over `b`'s one utterance makes (a decoding loop shows here: greedy decoding,
    as every reported row, has no guard against repeating itself), and `a` minus `b` without it."""
    errors = {label: rows[rows.label == label].set_index("path") for label in (a, b)}
    extra = (errors[a].errors - errors[b].errors).dropna()
    worst = extra.idxmax()
    said, heard = errors[a].loc[worst, "reference_words"], len(str(errors[a].loc[worst, "hypothesis"]).split())
    without = rows[rows.path != worst]
    return (
        f"  - one utterance makes {extra[worst]:.0f} of the {extra.sum():.0f} errors {display_name(a)} makes beyond "
        f"{display_name(b)} ({heard} words heard for {said} said); without it: {compared(without, a, b)}"
    )


def lora_lines(test: pd.DataFrame, run: str) -> list[str]:
    """The run's beta 2 against each regular LoRA that heard the same real speakers (target: below it, the
    interval excluding zero), on every held-out speaker."""
    lines = []
    for lora in (f"{REAL_LORA}/lora", *(f"{equal}/lora" for equal in EQUAL_LORAS)):
        label = f"{run}/mas-beta2"
        if {label, lora} <= set(test.label):
            difference = paired_difference(test.assign(system=test.label), label, lora)
            met = difference.separable and difference.points < 0
            lines.append(
                f"- {display_name(label)} minus {display_name(lora)}, every held-out speaker: {difference} "
                f"(target: below it, the interval excluding zero: {'met' if met else 'missed'})"
            )
            if not met and lora == f"{REAL_LORA}/lora":
                lines.append(beta_miss_line(test, run))
    return lines


def targets(test: pd.DataFrame, native: pd.DataFrame, run: str) -> str:
    """The targets for the chosen run, measured: beta 2 vs Whisper on adults and vs the regular LoRAs,
    uniform vs Whisper, forgetting within a point."""
    adults = test[test.age_group == "adults"]
    if adults.empty:
        return "- no adult speaker among the test rows: nothing to measure the targets on\n"
    lines = lora_lines(test, run)
    base = pooled_wer(adults[adults.label == "none/base"])
    for system in ("mas-beta2", "mas-uniform"):
        label = f"{run}/{system}"
        if label not in set(adults.label):
            continue
        wer = pooled_wer(adults[adults.label == label])
        reduction = 100 * (base - wer) / base
        goal = f"target >= {TARGET_REDUCTION:.0f}%" if system == "mas-beta2" else "target: below Whisper"
        met = reduction >= TARGET_REDUCTION if system == "mas-beta2" else reduction > 0
        change = f"{reduction:.1f}% lower" if reduction >= 0 else f"{-reduction:.1f}% higher"
        lines.append(
            f"- {display_name(label)}, adults: {wer:.1f}% vs Whisper {base:.1f}%, {change} "
            f"({goal}: {'met' if met else 'missed'}); {compared(adults, label, 'none/base')}"
        )
        if system == "mas-uniform" and not met:
            lines.append(mandarin_weight_line(adults, run))
    uniform = f"{run}/mas-uniform"
    if {uniform, "none/base"} <= set(native.label):
        change = pooled_wer(native[native.label == uniform]) - pooled_wer(native[native.label == "none/base"])
        lines.append(
            f"- forgetting, real native recordings: {change:+.1f} points against Whisper (target: at most +1.0: "
            f"{'met' if change <= 1 else 'missed'}); {compared(native, uniform, 'none/base')}"
        )
    return "\n".join(lines) + "\n"


def placement_lines(test: pd.DataFrame) -> str:
    """Both placements: the real speakers instead of the synthetic Mandarin ones minus beside them, per
    system, on every held-out speaker and on the adults (paired over the utterances both decoded)."""
    adults = test[test.age_group == "adults"]
    lines = []
    for system in ("mas-uniform", "mas-beta2", "mas-matched"):
        a, b = f"{INSTEAD}/{system}", f"{BESIDE}/{system}"
        if {a, b} <= set(test.label):
            lines.append(
                f"- {SYSTEMS[system]}: {pooled_wer(test[test.label == a]):.1f}% instead vs "
                f"{pooled_wer(test[test.label == b]):.1f}% beside, {compared(test, a, b)}; "
                f"adults {compared(adults, a, b)}"
            )
    return "\n".join(lines) + "\n" if lines else ""


def summary(results) -> str:
    """The report's summary lines on the held-out real speakers (all 30): the paper's comparisons for the
    MAS-LoRA the validation speakers chose, against the regular LoRA pooled over the same real speakers."""
    rows = load_rows(results, "real")
    if rows.empty:
        return ""
    rows = labelled(rows)
    run, _ = chosen_run(rows[rows.set == VALIDATION])
    if not run:
        return ""
    test = rows[rows.set == TEST]
    lora = f"{REAL_LORA}/lora"
    pairs = [
        (f"{run}/mas-uniform", lora),
        (f"{run}/mas-beta2", lora),
        (f"{run}/mas-beta2", f"{run}/mas-uniform"),
        (f"{run}/mas-uniform", "none/base"),
        (lora, "none/base"),
    ]
    name = {label: SYSTEMS[label.split("/")[1]] for pair in pairs for label in pair}  # the title says which runs
    lines = [
        f"  {name[a]} {pooled_wer(test[test.label == a]):.1f}% vs {name[b]} {pooled_wer(test[test.label == b]):.1f}%: "
        f"{compared(test, a, b)}\n"
        for a, b in pairs
        if {a, b} <= set(test.label)
    ]
    title = (
        f"- real Mandarin-L1 speakers, held out ({test.speaker.nunique()} speakers, the real-speech section; MAS-LoRA "
        f"{TRAINED_ON[run]}, the regular LoRA {TRAINED_ON[REAL_LORA]}):\n"
    )
    return title + "".join(lines) if lines else ""


def report(results) -> str:
    title = "## Real accented speech: held-out Mandarin-L1 speakers (speechocean762)\n\n"
    rows = load_rows(results, "real")
    if rows.empty:
        return title + "Not run yet (`python -m train.real_speech --corpus ../shared/data/speechocean762-train`).\n"
    rows = labelled(rows)
    test, validation, native = (rows[rows.set == name] for name in (TEST, VALIDATION, NATIVE))
    run, choice = chosen_run(validation)
    parts = pd.read_csv(SPEECHOCEAN_SPLIT).part.value_counts()
    tested = test.drop_duplicates("speaker").age_group.value_counts()
    text = (
        title + "speechocean762 (Zhang et al., 2021; CC BY 4.0): real Mandarin-L1 speakers reading English. The split "
        f"(`assets/splits/speechocean762-train.csv`) holds out whole speakers: runs train on {parts.get('train', 0)}, "
        f"choose on {parts.get('validation', 0)} and are tested on {test.speaker.nunique()} "
        f"({tested.get('adults', 0)} adults, {tested.get('children', 0)} children) "
        "whom no run, checkpoint choice or weight rule heard. Pooled WER with its 95% interval "
        f"(bootstrap over utterances); seeds: {sorted(set(rows.seed))}.\n\n"
        + save_table(wer_cells(test), results, "real_speech")
        + "\n\n"
    )
    if run:
        after = f"{run}/mas-beta2" if f"{run}/mas-beta2" in set(test.label) else f"{run}/mas-uniform"
        text += (
            f"Chosen for the bundle on the validation speakers (accent unknown): **{TRAINED_ON[run]}**.\n\n"
            + save_table(choice, results, "real_speech_validation")
            + "\n\nThe targets, with the chosen experts:\n\n"
            + targets(test, native, run)
            + "\n"
            + save_figure(per_speaker_figure(test, after), results, "real_speech_speakers")
            + "\n"
        )
    placement = placement_lines(test)
    if placement:
        text += (
            "\nReal speakers instead of the synthetic Mandarin ones, minus beside them, on the held-out speakers:\n\n"
            + placement
        )
    for other in [r for r in MAS_RUNS if r not in ("synthetic", run) and f"{r}/mas-uniform" in set(test.label)]:
        text += (
            f"\nThe same targets with the experts {TRAINED_ON[other]} (not chosen on validation; for comparison, "
            "the bundle follows the validation speakers):\n\n" + targets(test, native, other)
        )
    if not native.empty:
        forgetting = native.groupby("label", sort=False).apply(pooled_wer, include_groups=False)
        table = forgetting.rename(index=display_name).rename("WER (%)").to_frame()
        text += (
            f"\nForgetting: WER on {native.path.nunique()} held-out real native recordings (those of the forgetting "
            "section).\n\n" + save_table(table.rename_axis("system"), results, "real_speech_forgetting") + "\n"
        )
    return text


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
