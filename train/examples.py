"""The demo's example clips: held-out test speakers and prompts of the fold the bundled experts trained on,
and real Mandarin-L1 speakers of speechocean762 no training run heard.

    python train/examples.py [--real ../shared/data/speechocean762-train]
    # after train/bundle.py and the bundle's runs' test rows; writes assets/examples/

The prompts of the fold's test split that the untrained Whisper gets most wrong (its errors summed over the
accented test speakers, in the rows train/experiments.py wrote), among the prompts with a real CC0 native
recording (assets/native); each read by every accent's test speaker of the embedded synthetic corpus, plus
that native recording. Hard prompts, because on easy ones every system is right and no control of the
demo can show anything; picked on the untrained model's errors alone, so that no adapted system's result
chose its own showcase. No example prompt or speaker was seen in training. FLAC, 16 kHz, with examples.csv
(path, text, accent, speaker, source): a manifest any command reads (--manifest).

With --real (speechocean762, either layout), real speech comes first, so the demo's first click is a real
voice: per age group, the clips of the speaker split's held-out test speakers (assets/splits/) that the
untrained Whisper, run as the demo runs it, gets most wrong, one clip per speaker, by the same rule (among
the clips that fit the bundle's encoder window).
"""

import argparse
import sys
from pathlib import Path

import pandas as pd
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from maslora.atomic import replace_folder
from maslora.data.audio import SAMPLE_RATE, audio_seconds, load_audio
from maslora.data.corpora import ASSETS, NATIVE_RECORDINGS, load_manifest
from maslora.data.speaker_split import real_speech_split
from maslora.data.speechocean import age_group
from maslora.data.splits import NATIVE, paper_fold
from maslora.synth.generate import corpus_or_embedded
from maslora.systems.bundle import BUNDLED_EXAMPLES, bundle_fold, load_bundled_whisper
from maslora.systems.combined_whisper import Request
from maslora.systems.evaluation import read_rows
from maslora.wer import error_counts

EXAMPLES = BUNDLED_EXAMPLES.parent
TEST_ROWS = ASSETS / "results" / "rows" / "main.jsonl"  # the committed experiments' test rows, base among them
REAL_CREDIT = "real recording, speechocean762 (CC BY 4.0, Zhang et al., 2021), held-out {who}"
WHO = {"adults": "adult speaker", "children": "child speaker"}


def hardest_prompts(rows: Path, fold: int, candidates: set[str], count: int) -> list[str]:
    """The `count` prompts among `candidates` with the most errors of the untrained model ("base") over the
    fold's accented test speakers in `rows` (base rows are the same for every seed: each utterance once)."""
    base = pd.DataFrame(row for row in read_rows(rows) if row["system"] == "base" and row.get("fold") == fold)
    if base.empty:
        raise SystemExit(f"no base rows of fold {fold} in {rows}: run train/experiments.py for the bundle's runs first")
    base = base[(base.accent != NATIVE) & base.utterance_id.isin(candidates)]
    errors = base.drop_duplicates(["speaker", "utterance_id"]).groupby("utterance_id").errors.sum()
    return sorted(errors.sort_values(ascending=False, kind="stable").index[:count])


def hardest_real_clips(source: str, size: str, per_group: int) -> pd.DataFrame:
    """Per age group, the `per_group` clips of the split's held-out real test speakers with the most errors
    of the untrained Whisper (the bundle's base model in its window, as the demo decodes), one per speaker.
    Only clips that fit the window: a longer one is cut, and the short tail left over makes every system
    hallucinate (a 10.7 s reading gave 20 "nice"s), an artefact of the cut rather than of the accent."""
    combined = load_bundled_whisper(size)
    test = real_speech_split(source).test
    test = test[[audio_seconds(path) <= combined.encoder_seconds for path in test.path]]
    hypotheses = combined.transcribe([load_audio(path) for path in test.path], [Request("base")] * len(test))
    errors = [error_counts([text], [hypothesis]).errors for text, hypothesis in zip(test.text, hypotheses)]
    test = test.assign(errors=errors, group=age_group(test.age))
    test = test.sort_values(["group", "errors", "utterance_id"], ascending=[True, False, True], kind="stable")
    return test.drop_duplicates("speaker").groupby("group").head(per_group)  # adults first


def example(source_path: str, text: str, accent: str, speaker: str, source: str) -> dict:
    return {"source_path": source_path, "text": text, "accent": accent, "speaker": speaker, "source": source}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny.en", help="whose bundle's fold to hold out")
    parser.add_argument("--per-accent", type=int, default=2)
    parser.add_argument("--rows", type=Path, default=TEST_ROWS, help="test rows with base")
    parser.add_argument("--real", help="speechocean762 (either layout): its held-out test speakers' clips first")
    parser.add_argument("--real-per-group", type=int, default=2, help="real clips per age group (adults, children)")
    args = parser.parse_args()
    fold = bundle_fold(args.size)
    test = paper_fold(corpus_or_embedded(None), fold).test
    native = load_manifest(NATIVE_RECORDINGS)
    prompts = hardest_prompts(args.rows, fold, set(native.utterance_id), args.per_accent)
    picked = []
    if args.real:
        for row in hardest_real_clips(args.real, args.size, args.real_per_group).itertuples():
            picked.append(example(row.path, row.text, row.accent, row.speaker, REAL_CREDIT.format(who=WHO[row.group])))
    for accent, rows in test[test.utterance_id.isin(prompts)].groupby("accent", sort=False):
        speaker = sorted(rows.speaker)[0]
        for row in rows[rows.speaker == speaker].sort_values("utterance_id").itertuples():
            picked.append(example(row.path, row.text, accent, speaker, "synthetic (embedded corpus)"))
    for row in native[native.utterance_id.isin(prompts)].itertuples():
        picked.append(example(row.path, row.text, "native", row.speaker, "real recording, CC0 (assets/native)"))

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
