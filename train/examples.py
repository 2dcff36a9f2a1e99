"""The demo's example clips: held-out test speakers and prompts of the fold the bundled experts trained on.

    python train/examples.py    # after train/bundle.py and the bundle's runs' test rows; writes assets/examples/

The prompts of the fold's test split that the untrained Whisper gets most wrong (its errors summed over the
accented test speakers, in the rows train/experiments.py wrote), among the prompts with a real CC0 native
recording (assets/native); each read by every accent's test speaker of the embedded synthetic corpus, plus
that native recording. Hard prompts, because on easy ones every system is right and no control of the
demo can show anything; picked on the untrained model's errors alone, so that no adapted system's result
chose its own showcase. No example prompt or speaker was seen in training. FLAC, 16 kHz, with examples.csv
(path, text, accent, speaker, source): a manifest any command reads (--manifest).
"""

import argparse
import sys
from pathlib import Path

import pandas as pd
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from maslora.atomic import replace_folder
from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.data.corpora import ASSETS, NATIVE_RECORDINGS, load_manifest
from maslora.data.splits import NATIVE, paper_fold
from maslora.synth.generate import corpus_or_embedded
from maslora.systems.bundle import BUNDLED_EXAMPLES, bundle_fold
from maslora.systems.evaluation import read_rows

EXAMPLES = BUNDLED_EXAMPLES.parent
TEST_ROWS = ASSETS / "results" / "rows" / "main.jsonl"  # the committed experiments' test rows, base among them


def hardest_prompts(rows: Path, fold: int, candidates: set[str], count: int) -> list[str]:
    """The `count` prompts among `candidates` with the most errors of the untrained model ("base") over the
    fold's accented test speakers in `rows` (base rows are the same for every seed: each utterance once)."""
    base = pd.DataFrame(row for row in read_rows(rows) if row["system"] == "base" and row.get("fold") == fold)
    if base.empty:
        raise SystemExit(f"no base rows of fold {fold} in {rows}: run train/experiments.py for the bundle's runs first")
    base = base[(base.accent != NATIVE) & base.utterance_id.isin(candidates)]
    errors = base.drop_duplicates(["speaker", "utterance_id"]).groupby("utterance_id").errors.sum()
    return sorted(errors.sort_values(ascending=False, kind="stable").index[:count])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny.en", help="whose bundle's fold to hold out")
    parser.add_argument("--per-accent", type=int, default=2)
    parser.add_argument("--rows", type=Path, default=TEST_ROWS, help="test rows with base")
    args = parser.parse_args()
    fold = bundle_fold(args.size)
    test = paper_fold(corpus_or_embedded(None), fold).test
    native = load_manifest(NATIVE_RECORDINGS)
    prompts = hardest_prompts(args.rows, fold, set(native.utterance_id), args.per_accent)
    picked = []
    for accent, rows in test[test.utterance_id.isin(prompts)].groupby("accent", sort=False):
        speaker = sorted(rows.speaker)[0]
        for row in rows[rows.speaker == speaker].sort_values("utterance_id").itertuples():
            picked.append(
                {
                    "source_path": row.path,
                    "text": row.text,
                    "accent": accent,
                    "speaker": speaker,
                    "source": "synthetic (embedded corpus)",
                }
            )
    for row in native[native.utterance_id.isin(prompts)].itertuples():
        picked.append(
            {
                "source_path": row.path,
                "text": row.text,
                "accent": "native",
                "speaker": row.speaker,
                "source": "real recording, CC0 (assets/native)",
            }
        )

    def write(scratch: Path) -> None:
        for example in picked:
            name = f"{example['accent']}-{example['speaker']}-{Path(example['source_path']).stem}.flac"
            soundfile.write(scratch / name, load_audio(example.pop("source_path")), SAMPLE_RATE)
            example["path"] = name
        pd.DataFrame(picked)[["path", "text", "accent", "speaker", "source"]].to_csv(
            scratch / BUNDLED_EXAMPLES.name, index=False
        )

    replace_folder(EXAMPLES, write)
    print(f"{len(picked)} examples in {EXAMPLES}")


if __name__ == "__main__":
    main()
