"""The README's results: one table of the headline systems and at most five one-line verdicts, from the rows.

    python -m analysis.readme_results [--results assets/results]   # print them (analysis.report writes them)

The report (analysis.report) writes this block into README.md between the two markers, so the README never
holds a figure copied by hand; everything else about the results is in REPORT.md.
"""

from pathlib import Path

import pandas as pd

from analysis import exp_designs, exp_real_speech
from analysis.bootstrap import paired_difference
from analysis.exp_seeds import headline_rows
from analysis.report_tools import (
    PAPER_L2ARCTIC,
    PAPER_LIBRISPEECH,
    SYSTEM_NAMES,
    cell,
    load_rows,
    markdown_table,
    mean_and_spread,
    pooled_wer,
    profile_of,
    results_argument,
    wer_per_seed,
)
from maslora.data.speaker_split import SPEECHOCEAN_SPLIT

START = "<!-- results: written by `python -m analysis.report` from assets/results/rows; not edited by hand -->"
END = "<!-- end of the written results -->"
REAL_RUNS = {"base": "none", "lora": exp_real_speech.REAL_LORA}  # the MAS-LoRA run is the one validation chose
DESIGN_RUNS = set(exp_real_speech.MAS_RUNS) - set(exp_real_speech.PAPER_RUNS)  # real-speech runs of other designs
COLUMNS = (
    "synthetic L2, ours",
    "L2-ARCTIC, paper",
    "real Mandarin-L1, held out",
    "native, held out (forgetting)",
    "LibriSpeech, paper",
)


def _seed_cells(rows: pd.DataFrame) -> dict[str, str]:
    """Pooled WER per system, "mean ± spread" over seeds (the mean alone from one seed)."""
    if rows.empty:
        return {}
    stats = mean_and_spread(wer_per_seed(rows, ["system"]))
    return {system: cell(stats.loc[system]) for system in stats.index}


def _real_rows(results: Path) -> tuple[pd.DataFrame, str]:
    """The held-out real speakers' rows, labelled (see exp_real_speech), and the run of the paper's placement
    validation chose (the MAS-LoRA rows are the paper's placement; the chosen design has rows of its own)."""
    rows = load_rows(results, "real")
    if rows.empty:
        return rows, ""
    rows = exp_real_speech.labelled(rows)
    validation = rows[rows.set == exp_real_speech.VALIDATION]
    run, _ = exp_real_speech.chosen_run(validation[~validation.trained_on.isin(DESIGN_RUNS)])
    return rows[rows.set == exp_real_speech.TEST], run


def _real_label(system: str, run: str) -> str:
    return f"{REAL_RUNS.get(system, run)}/{system}"


def results_table(results: Path) -> pd.DataFrame:
    """Pooled WER (%) of each headline system: ours on each test set beside the paper's (whisper-small)."""
    main, forgetting = load_rows(results, "main"), load_rows(results, "forgetting")
    synthetic = _seed_cells(headline_rows(main) if not main.empty else main)
    native = _seed_cells(forgetting[forgetting.set == "cc0-native"] if not forgetting.empty else forgetting)
    real, run = _real_rows(results)
    table = pd.DataFrame(index=pd.Index([SYSTEM_NAMES[s] for s in SYSTEM_NAMES], name="WER (%)"), columns=COLUMNS)
    for system, name in SYSTEM_NAMES.items():
        label = _real_label(system, run)
        real_wer = pooled_wer(real[real.label == label]) if label in set(real.get("label", [])) else None
        paper = {COLUMNS[1]: PAPER_L2ARCTIC.get(system), COLUMNS[4]: PAPER_LIBRISPEECH.get(system)}
        ours = {COLUMNS[0]: synthetic.get(system), COLUMNS[2]: real_wer, COLUMNS[3]: native.get(system)}
        values = {**ours, **{column: None if wer is None else f"{wer:.2f}" for column, wer in paper.items()}}
        table.loc[name] = [values[column] for column in COLUMNS]
    return pd.concat([table, chosen_design_rows(results)]).rename_axis(table.index.name).fillna("")


def chosen_design_rows(results: Path) -> pd.DataFrame:
    """The mixture the validation speakers chose among the designs (analysis.exp_designs), when it is not the
    paper's and has been decoded on test: its accent-unknown and beta 2 rows, synthetic L2, held-out real and
    native speech; then the regular LoRA with its trainable parameters (its fair baseline), once that ran."""
    chosen, _, _ = exp_designs.validation_choice(results)
    rows = exp_designs.design_rows(results) if not load_rows(results, "designs").empty else None
    if chosen in (None, "paper") or rows is None or chosen not in set(rows.design):  # not decoded on test yet
        return pd.DataFrame(columns=COLUMNS)
    native = exp_designs.native_rows(results)
    real, _ = _real_rows(results)
    real_labels = set(real.get("label", []))
    run = exp_designs.REAL_SPEECH_RUNS.get(chosen)
    cells = {}  # row name -> its WERs (synthetic, real, native)
    label = exp_designs.DESIGNS[chosen][0]
    synthetic = _seed_cells(rows[rows.design == chosen].assign(system=lambda t: t.weighting))
    for weighting, known in (("mas-uniform", "accent unknown"), ("mas-beta2", "accent known (beta 2)")):
        held_out = f"{run}/{weighting}"
        real_wer = pooled_wer(real[real.label == held_out]) if held_out in real_labels else None
        forgetting = _seed_cells(native[native.design == chosen]) if weighting == "mas-uniform" else {}
        cells[f"{label}, {known}"] = (synthetic.get(weighting), real_wer, forgetting.get("mas-uniform"))
    equal = next((lora for lora, of in exp_designs.EQUAL_LORAS.items() if of == chosen), None)
    if equal in set(rows.design):
        single = _seed_cells(rows[(rows.design == equal) & (rows.weighting == "mas-uniform")].assign(system="lora"))
        held_out = f"{exp_designs.REAL_SPEECH_RUNS[equal]}/lora"
        real_wer = pooled_wer(real[real.label == held_out]) if held_out in real_labels else None
        forgetting = _seed_cells(native[native.design == equal])
        cells[exp_designs.DESIGNS[equal][0]] = (single.get("lora"), real_wer, forgetting.get("lora"))
    ours = (COLUMNS[0], COLUMNS[2], COLUMNS[3])  # the columns of (synthetic, real, native)
    return pd.DataFrame([dict(zip(ours, values)) for values in cells.values()], index=list(cells), columns=COLUMNS)


def _gap(rows: pd.DataFrame, a: str, b: str) -> str:
    """'d points, 95% interval l to h': a minus b over the utterances (and seeds) both decoded."""
    d = paired_difference(rows, a, b)
    return f"{d.points:+.1f} points, 95% interval {d.low:+.1f} to {d.high:+.1f}"


def _difference(rows: pd.DataFrame, a: str, b: str) -> str:
    """'x% vs y% (d points, 95% interval l to h)': pooled WERs of a and b, then their paired gap."""
    both = rows[rows.system.isin([a, b])]
    wers = {s: pooled_wer(both[both.system == s]) for s in (a, b)}
    return f"{wers[a]:.1f}% vs {wers[b]:.1f}% ({_gap(rows, a, b)})"


def verdicts(results: Path) -> list[str]:
    """At most five one-line verdicts on the paper's claims, each from the rows."""
    main, forgetting, matrix = (load_rows(results, name) for name in ("main", "forgetting", "matrix"))
    lines = []
    if not main.empty:
        l2 = headline_rows(main)
        gap = paired_difference(l2, "mas-uniform", "lora")
        holds = "holds" if gap.high < 0 else "does not hold" if gap.low > 0 else "is not settled"
        lines.append(
            f"MAS-LoRA beats the regular LoRA with the accent unknown (synthetic L2): {holds} here, "
            f"{_difference(l2, 'mas-uniform', 'lora')}."
        )
        beta = main[(main.accent != "native") & main.system.isin(["mas-beta2", "mas-uniform"])]
        lines.append(
            f"Knowing the accent helps, beta 2 against uniform: {_difference(beta, 'mas-beta2', 'mas-uniform')}."
        )
    if not matrix.empty:
        means = wer_per_seed(matrix, ["expert", "accent"]).reset_index()
        own = {
            seed: sum(group.loc[group[seed].idxmin(), "expert"] == accent for accent, group in means.groupby("accent"))
            for seed in means.columns[2:]
        }
        accents = matrix.expert.nunique()
        lines.append(
            "The experts specialise: each accent's own expert is its best single expert for "
            + ", ".join(f"{count} of {accents} accents (seed {seed})" for seed, count in own.items())
            + "."
        )
    real, run = _real_rows(results)
    if run:
        real = real.assign(system=real.label)
        beta, base, lora = (_real_label(s, run) for s in ("mas-beta2", "base", "lora"))
        lines.append(
            f"Real Mandarin-L1 speakers held out: MAS-LoRA beta 2 against Whisper {_difference(real, beta, base)}; "
            f"against the regular LoRA {_gap(real, beta, lora)}."
        )
    if not forgetting.empty:
        native = forgetting[forgetting.set == "cc0-native"]
        lines.append(
            f"Forgetting, native speech held out: MAS-LoRA against the regular LoRA "
            f"{_difference(native, 'mas-uniform', 'lora')}; against Whisper as released "
            f"{_gap(native, 'mas-uniform', 'base')}."
        )
    return lines[:5]


def real_training_speakers() -> int:
    """How many real speakers the speaker split trains on (assets/splits/)."""
    return int((pd.read_csv(SPEECHOCEAN_SPLIT).part == "train").sum())


def readme_block(results: Path) -> str:
    """The README's results between (and with) the markers."""
    table = markdown_table(results_table(results))
    listed = "\n".join(f"- {line}" for line in verdicts(results))
    return (
        f"{START}\n{table}\n\n{listed}\n\nOurs: {profile_of(results).get('model', '?')}, mean over seeds ± half "
        f"their range. The adapted systems of the real-speech column also heard the {real_training_speakers()} real "
        "Mandarin-L1 training speakers (the demo's bundle); the others trained on synthetic accents alone. "
        "Intervals are paired over the utterances both systems decoded. "
        "Every experiment, with its tables, figures and what it leaves open: "
        f"[assets/results/REPORT.md](assets/results/REPORT.md).\n{END}"
    )


def write_readme_block(results: Path, readme: Path) -> None:
    """Replace the block between the README's markers; refused (nothing written) when a marker is missing."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no results markers ({START} ... {END})")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    readme.write_text(before + readme_block(results) + after)


if __name__ == "__main__":
    print(readme_block(results_argument(__doc__)))
