"""The demo's example clips: held-out test speakers and prompts of the fold the bundled experts trained on.

    python train/examples.py                # after train/bundle.py; writes assets/examples/

Per accent, the first prompts of the fold's test split read by one test speaker of the embedded
synthetic corpus, plus the real CC0 native recordings (assets/native) of the same prompts. No example
prompt or speaker was seen in training. FLAC, 16 kHz, with examples.csv (path, text, accent, speaker,
source): a manifest any command reads (--manifest).
"""

import argparse
import sys
from pathlib import Path

import pandas as pd
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from maslora.atomic import replace_folder
from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.data.corpora import NATIVE_RECORDINGS, load_manifest
from maslora.data.splits import paper_fold
from maslora.synth.generate import corpus_or_embedded
from maslora.systems.bundle import BUNDLED_EXAMPLES, read_bundle

EXAMPLES = BUNDLED_EXAMPLES.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny.en", help="whose bundle's fold to hold out")
    parser.add_argument("--per-accent", type=int, default=2)
    args = parser.parse_args()
    fold = read_bundle(args.size)["runs"]["mas-lora"]["config"]["fold"]
    test = paper_fold(corpus_or_embedded(None), fold).test
    prompts = sorted(set(test.utterance_id))[: args.per_accent]
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
    native = load_manifest(NATIVE_RECORDINGS)
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
