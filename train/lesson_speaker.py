"""The lesson's real speaker: every clip of one held-out speechocean762 test speaker, copied into the project.

    python train/lesson_speaker.py --real ../shared/data/speechocean762-train [--speaker 9630]
    # writes assets/lesson/SPEAKER/ (FLAC, 16 kHz) with manifest.csv; docs/lesson.ipynb step 7 reads it

Step 7 of the lesson trains a personal expert on five clips of one real speaker and scores it on their
other clips, offline, so those clips must ship with the project. The speaker is one of the speaker split's
held-out test speakers (assets/splits/), whom no bundled system heard; by default 9630, the adult of the
page's first example, so that a student meets the same voice on the page and in the notebook. The clips are
converted from the shared Opus files to FLAC; nothing else is changed (CC BY 4.0, Zhang et al., 2021).
"""

import argparse
import sys
from pathlib import Path

import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from maslora.atomic import replace_folder
from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.data.corpora import ASSETS
from maslora.data.speaker_split import real_speech_split

LESSON = ASSETS / "lesson"
CREDIT = "real recording, speechocean762 (CC BY 4.0, Zhang et al., 2021), held-out test speaker"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", required=True, help="speechocean762 (either layout)")
    parser.add_argument("--speaker", default="9630", help="one of the split's held-out test speakers")
    args = parser.parse_args()
    test = real_speech_split(args.real).test
    clips = test[test.speaker == args.speaker].sort_values("utterance_id")
    if clips.empty:
        parser.error(f"--speaker {args.speaker} is not a held-out test speaker; they are {sorted(set(test.speaker))}")

    def write(scratch: Path) -> None:
        names = [f"{row.utterance_id}.flac" for row in clips.itertuples()]
        for name, path in zip(names, clips.path):
            soundfile.write(scratch / name, load_audio(path), SAMPLE_RATE)
        manifest = clips.assign(path=names, source=CREDIT)[["path", "text", "accent", "speaker", "age", "source"]]
        manifest.to_csv(scratch / "manifest.csv", index=False)

    replace_folder(LESSON / args.speaker, write)
    print(f"{len(clips)} clips in {LESSON / args.speaker}")


if __name__ == "__main__":
    main()
