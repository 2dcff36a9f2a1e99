"""`python -m maslora.synth --out DIR [--prompts 100] [--speakers-per-accent 4] [--accents a,b] [--seed 0]
[--voices espeak|mbrola] [--jobs N]`"""

import argparse
import sys
import time
from pathlib import Path

from maslora.errors import EspeakError
from maslora.synth.generate import SynthConfig, generate_corpus
from maslora.synth.speakers import VOICE_SETS


def cli(argv: list[str] | None = None) -> int:
    defaults = SynthConfig(out=Path("."))
    parser = argparse.ArgumentParser(
        prog="python -m maslora.synth", description="Generate a synthetic L2-ARCTIC-style corpus"
    )
    parser.add_argument("--out", type=Path, required=True, help="corpus folder (created; finished clips are kept)")
    parser.add_argument("--prompts", type=int, default=defaults.prompts, help="first N CMU ARCTIC prompts")
    parser.add_argument("--speakers-per-accent", type=int, default=defaults.speakers_per_accent)
    parser.add_argument("--accents", default=",".join(defaults.accents), help="comma-separated")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--voices", choices=list(VOICE_SETS), default=defaults.voice_set, help="espeak-ng's own voices, or MBROLA's"
    )
    parser.add_argument("--jobs", type=int, default=defaults.jobs, help="parallel espeak processes")
    args = parser.parse_args(argv)
    config = SynthConfig(
        out=args.out,
        prompts=args.prompts,
        speakers_per_accent=args.speakers_per_accent,
        accents=args.accents.split(","),
        seed=args.seed,
        voice_set=args.voices,
        jobs=args.jobs,
    )
    began = time.perf_counter()
    try:
        written = generate_corpus(config)
    except (EspeakError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{written} clips written to {args.out} in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
