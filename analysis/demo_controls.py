"""What a visitor sees on the demo's examples: the compare a click gives, and whether the controls matter.

    python -m analysis.demo_controls [--size tiny.en] [--mixture mas-lora]

First, every bundled example as a click on it compares it (the example's accent at beta 2, uniform for an
accent without an expert): each system's WER, and whether any transcript loops (more words than twice the
reference's plus 5; the target: none does). Then the demo's lesson, that weights you control
change what MAS-LoRA hears: for each example of an accent the experts know, the whole beta grid around
its accent (beta 1 = the matched expert alone, N = uniform), with WER at beta 1 and N and how many distinct
transcripts the grid gives; then how many examples beta 1 vs N changes at all.
"""

import argparse

import pandas as pd

from analysis.exp_decoding import loops
from maslora.data.audio import load_audio
from maslora.data.corpora import load_manifest
from maslora.mixture.weights import choose_weights
from maslora.systems.bundle import BUNDLED_EXAMPLES, DEFAULT_MIXTURE, PAPER_MIXTURE, load_bundled_whisper
from maslora.systems.combined_whisper import CombinedWhisper
from maslora.systems.compare import compare, wer_vs_beta
from maslora.wer import normalize


def beta_sensitivity(combined: CombinedWhisper) -> pd.DataFrame:
    """One row per accented example: accent, WER (%) at beta 1 and at beta N (N experts: uniform), distinct
    transcripts over the grid, and whether beta 1 and N transcribe it differently."""
    examples = load_manifest(BUNDLED_EXAMPLES)
    rows = []
    for example in examples[examples.accent.isin(combined.accents)].itertuples():
        curve = wer_vs_beta(combined, load_audio(example.path), example.text, example.accent)
        first, last = curve.iloc[0], curve.iloc[-1]
        rows.append(
            {
                "example": example.utterance_id,
                "accent": example.accent,
                "WER beta 1": 100 * first.wer,
                "WER beta N": 100 * last.wer,
                "transcripts": curve.text.nunique(),
                "changed": first.text != last.text,
            }
        )
    return pd.DataFrame(rows)


def page_compares(combined: CombinedWhisper) -> pd.DataFrame:
    """One row per bundled example: each system's WER (%) as a click on it compares it, and its loops."""
    rows = []
    for example in load_manifest(BUNDLED_EXAMPLES).itertuples():
        accent = example.accent if example.accent in combined.accents else None
        comparison = compare(combined, load_audio(example.path), choose_weights(combined.accents, accent), example.text)
        words = len(normalize(example.text).split())  # the reference's words, as WER counts them
        row = {"example": f"{example.accent} {example.speaker} {example.utterance_id}"}
        for result in comparison.results:
            row[f"{result.route} WER"] = 100 * result.wer
            row[f"{result.route} loops"] = loops(result.text, words)
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny.en")
    parser.add_argument("--mixture", default=DEFAULT_MIXTURE, choices=[DEFAULT_MIXTURE, PAPER_MIXTURE])
    args = parser.parse_args()
    combined = load_bundled_whisper(args.size, mixture=args.mixture)
    compares = page_compares(combined)
    print(compares.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    looping = compares.filter(like="loops").sum()
    print("looping transcripts: " + ", ".join(f"{name.split()[0]} {int(n)}" for name, n in looping.items()) + "\n")
    table = beta_sensitivity(combined)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(
        f"\nbeta 1 vs N (uniform) changes MAS-LoRA's transcript on {int(table.changed.sum())} of "
        f"{len(table)} accented examples"
    )


if __name__ == "__main__":
    main()
