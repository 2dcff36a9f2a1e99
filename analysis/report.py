"""REPORT.md: what ran and for how long, our headline numbers beside the paper's, and every experiment's section.

The comparison sentences are computed from the rows each time the report is drawn, so they always say
what the current numbers say; the reasons listed for differences are facts about the setup.

    python -m analysis.report [--results assets/results]   # redraw from the rows already there

Each experiment's section comes from its own script (SECTIONS, in the report's order, which numbers them); they
only read rows. Drawn from the project's own results, the report also writes the README's results block
(analysis.readme_results).
"""

from pathlib import Path

import pandas as pd

from analysis import (
    exp_accent_known,
    exp_accent_unknown,
    exp_auto,
    exp_curves,
    exp_decoding,
    exp_designs,
    exp_forgetting,
    exp_matrix,
    exp_new_expert,
    exp_precision,
    exp_real_speech,
    exp_scaling,
    exp_seeds,
    exp_unseen_accent,
    exp_variants,
)
from analysis.exp_seeds import headline_rows
from analysis.exp_unseen_accent import unseen_stats
from analysis.exp_variants import against_baselines, variant_rows
from analysis.readme_results import write_readme_block
from analysis.report_tools import (
    PAPER_L2ARCTIC,
    PAPER_LIBRISPEECH,
    SYSTEM_NAMES,
    load_rows,
    mean_and_spread,
    profile_of,
    results_argument,
    versus,
    wer_per_seed,
)

ROOT = Path(__file__).resolve().parent.parent
PROJECT_RESULTS, README = ROOT / "assets" / "results", ROOT / "README.md"

WHY = """Why ours may differ from the paper: (1) the accents here are synthetic, espeak-ng speech with rule-based
L1 transfer, not real L2 speakers, and the native control and the accents share four voices, so part of
any gain is adaptation to the synthesizer; (2) {model}, not whisper-small; (3) the {recipe} recipe ({settings})
where the paper trains about 27 passes at 5e-5 (see maslora/training/recipes.py); (4) the test set holds
{clips} utterances per seed, so a few words move a WER by a point; the seed spread says how much (a value
without "±" comes from one seed and has none); (5) the best checkpoint of a run is picked on {validation},
itself a noisy choice."""


def _headline_rows(results) -> pd.DataFrame:
    """The headline systems' L2 rows (empty if none yet)."""
    rows = load_rows(results, "main")
    return rows if rows.empty else headline_rows(rows)


def _unseen(results) -> str:
    unseen, main = load_rows(results, "unseen"), load_rows(results, "main")
    if unseen.empty or main.empty:
        return ""
    means = unseen_stats(main, unseen).pivot(index="accent", columns="kind", values="mean")
    left_out, seen, base = means.unseen, means.seen, means.base
    better = int((left_out < seen).sum())
    return (
        f"- unseen accent: MAS-LoRA trained without an accent scored below the MAS-LoRA that saw it on {better} of "
        f"{len(left_out)} accents and below no fine-tuning on {int((left_out < base).sum())} (means over accents: "
        f"left out {left_out.mean():.1f}%, seen {seen.mean():.1f}%, no fine-tuning {base.mean():.1f}%)\n"
    )


def _variants(results) -> str:
    variants, main = load_rows(results, "variants"), load_rows(results, "main")
    if variants.empty or main.empty:
        return ""
    lines = against_baselines(variant_rows(main, variants), main).splitlines()
    title = '- where the experts sit (MAS-LoRA, accent unknown, per variant; section "Placement and targets"):\n'
    return title + "".join(f"  {line}\n" for line in lines)


def _forgetting(results) -> str:
    rows = load_rows(results, "forgetting")
    if rows.empty:
        return ""
    stats = mean_and_spread(wer_per_seed(rows[rows.set == "cc0-native"], ["system"]))
    parts = [f"{SYSTEM_NAMES[s]} {stats.loc[s, 'mean']:.1f}%" for s in SYSTEM_NAMES if s in stats.index]
    paper = ", ".join(f"{SYSTEM_NAMES[s]} {w:.2f}%" for s, w in PAPER_LIBRISPEECH.items())
    return f"- native speech held out from training (forgetting): {', '.join(parts)}; paper on LibriSpeech: {paper}\n"


def _why(results, profile: dict) -> str:
    rows = load_rows(results, "main")
    clips = rows.groupby("seed").path.nunique().max() if not rows.empty else 0
    settings = {**profile.get("recipe_settings", {}), **(profile.get("overrides") or {})}
    if "recipe_settings" not in profile:  # results written before the runner recorded its recipe
        validation = "the validation clips each run's config.json names"
    else:
        readers = "held-out speakers" if settings.get("validation", "speakers") == "speakers" else "training speakers"
        validation = f"{settings.get('validation_limit') or 'all the'} validation clips of {readers}"
    shown = ", ".join(f"{key} {value}" for key, value in settings.items()) or "settings not recorded"
    return WHY.format(
        model=profile.get("model", "?"),
        recipe=profile.get("recipe", "?"),
        settings=shown,
        clips=clips,
        validation=validation,
    )


SECTIONS = (
    exp_accent_unknown,
    exp_accent_known,
    exp_matrix,
    exp_forgetting,
    exp_unseen_accent,
    exp_variants,
    exp_designs,
    exp_seeds,
    exp_auto,
    exp_curves,
    exp_real_speech,
    exp_new_expert,
    exp_decoding,
    exp_scaling,
    exp_precision,
)


def numbered(number: int, section: str) -> str:
    """A section's text with its number in its heading ("## Title" -> "## 3. Title")."""
    return section.replace("## ", f"## {number}. ", 1)


def section_number(experiment) -> int:
    return SECTIONS.index(experiment) + 1


def write_report(results: Path) -> None:
    """Every section's tables and figures, then REPORT.md, from the rows in `results`; and the README's results
    block when `results` are the project's own."""
    sections = [numbered(number, experiment.report(results)) for number, experiment in enumerate(SECTIONS, 1)]
    profile = profile_of(results)
    headline = _headline_rows(results)
    ran = (
        (
            f"Profile **{profile.get('profile', '?')}**: {profile.get('model')} on the {profile.get('corpus')}, folds "
            f"{profile.get('folds')}, seeds {profile.get('seeds')}, recipe {profile.get('recipe')}, "
            f"{len(profile.get('runs', []))} training runs so far (section {section_number(exp_curves)}); wall time "
            f"{profile.get('wall_seconds', 0) / 60:.0f} min on {profile.get('device')} with {profile.get('threads')} "
            "threads (sittings that ran to the end, summed"
            + ("; the last one was cut short and its time is not counted" if profile.get("cut_short") else "")
            + ")."
        )
        if profile
        else "No run recorded yet."
    )
    comparisons = "".join(
        versus(headline, a, b, SYSTEM_NAMES)
        for a, b in [
            ("mas-uniform", "lora"),
            ("mas-uniform", "full"),
            ("mas-beta2", "mas-uniform"),
            ("lora", "base"),
            ("mas-uniform", "base"),
        ]
    )
    text = (
        "# MAS-LoRA experiments: report\n\n"
        "Written by `python -m train.experiments` (tables in `tables/`, figures in `figures/`, every decoded "
        "utterance in `rows/`). " + ran + "\n\n"
        "## Ours beside the paper\n\n"
        "The paper (whisper-small), L2-ARCTIC: "
        + ", ".join(f"{SYSTEM_NAMES[s]} {w:.2f}%" for s, w in PAPER_L2ARCTIC.items())
        + "; LibriSpeech: "
        + ", ".join(f"{SYSTEM_NAMES[s]} {w:.2f}%" for s, w in PAPER_LIBRISPEECH.items())
        + ". Ours, L2 pooled WER, mean over seeds:\n\n"
        + (
            comparisons
            + _variants(results)
            + _forgetting(results)
            + _unseen(results)
            + exp_real_speech.summary(results)
            if comparisons
            else "(no rows yet)\n"
        )
        + "\n"
        + _why(results, profile)
        + "\n\n"
        + "\n".join(sections)
    )
    (results / "REPORT.md").write_text(text)
    if results.resolve() == PROJECT_RESULTS:
        write_readme_block(results, README)


if __name__ == "__main__":
    write_report(results_argument(__doc__))
