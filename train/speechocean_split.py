"""Draw speechocean762's speaker-disjoint train / validation / test split once and write it.

    python train/speechocean_split.py --corpus ../shared/data/speechocean762-train [--seed 0]
                                      [--out assets/splits/speechocean762-train.csv]

The committed file is what every run uses (maslora.data.speaker_split); redrawing with the same corpus
and seed writes the same file, and tests check that the committed one is what the rule draws.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python train/speechocean_split.py` works too

from maslora.data.speaker_split import SPEECHOCEAN_SPLIT, draw_speaker_split, speakers_of, write_speaker_split
from maslora.data.speechocean import load_speechocean762


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--corpus", required=True, help="speechocean762 in either layout (see maslora.data.speechocean)"
    )
    parser.add_argument("--seed", type=int, default=0, help="the shuffle within each (age group, gender) stratum")
    parser.add_argument("--out", type=Path, default=SPEECHOCEAN_SPLIT)
    args = parser.parse_args()
    table = load_speechocean762(args.corpus)
    if "official_split" in table.columns:  # the published layout: the split covers its train half only
        table = table[table.official_split == "train"]
    split = draw_speaker_split(speakers_of(table), args.seed)
    write_speaker_split(split, args.out)
    counts = split.groupby("part").speaker.count().to_dict()
    print(f"{args.out}: {len(split)} speakers, " + ", ".join(f"{part} {n}" for part, n in counts.items()))


if __name__ == "__main__":
    main()
