"""Each size's bundled experts on the synthetic test speakers: the rows of the report's section on scaling.

    python -m train.scaling [--sizes tiny.en,base] [--results assets/results]

For each bundled size (assets/experts/SIZE): Whisper as released (in its own 30 s window), the regular LoRA, and
each bundled mixture with the accent unknown (uniform) and known (beta 2), on the L2 test speakers of the fold
the bundle's runs held out (the embedded corpus). Rows go to RESULTS/rows/scaling.jsonl, tagged with the size,
the run (`trained_on`, named as train.real_speech names it: "none" for Whisper) and its seed. The same
systems on the real held-out speakers and the native recordings are each size's train.real_speech rows, under
the same run names. Resumes from the rows already written.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python train/scaling.py` works too

from maslora.data.splits import NATIVE, paper_fold
from maslora.synth.generate import corpus_or_embedded
from maslora.systems.bundle import bundle_fold, bundled_folders, bundled_mixtures, bundled_sizes, read_bundle
from maslora.systems.evaluation import Models, evaluate
from train.experiments import ROOT
from train.real_speech import run_name

MIXTURE_SYSTEMS = ["mas-uniform", "mas-beta2"]  # accent unknown, known


def decode_size(size: str, rows: Path) -> None:
    """`size`'s bundle on its fold's L2 test speakers: Whisper and the regular LoRA once, each mixture's
    weightings; each row's `trained_on` names its run as train.real_speech's rows do ("none": Whisper)."""
    bundle = read_bundle(size)
    fold = bundle_fold(size)
    test = paper_fold(corpus_or_embedded(None, None), fold).test
    test = test[test.accent != NATIVE]
    for index, mixture in enumerate(bundled_mixtures(size)):
        experts, adapter = bundled_folders(size, mixture=mixture)
        models = Models(
            model=bundle["model"], experts=experts, adapter=adapter, encoder_seconds=bundle["encoder_seconds"]
        )
        decoding = {mixture: MIXTURE_SYSTEMS} | ({"none": ["base"], "lora": ["lora"]} if index == 0 else {})
        for part, systems in decoding.items():
            config = bundle["runs"].get(part, {}).get("config", {})
            trained_on = "none" if part == "none" else run_name(config) or "synthetic"
            tags = {"size": size, "trained_on": trained_on, "fold": fold, "seed": config.get("seed", 0)}
            evaluate(test, systems, models, rows, tags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", help=f"comma-separated; default every bundled size ({', '.join(bundled_sizes())})")
    parser.add_argument("--results", type=Path, default=ROOT / "assets" / "results")
    args = parser.parse_args()
    sizes = args.sizes.split(",") if args.sizes else bundled_sizes()
    missing = set(sizes) - set(bundled_sizes())
    if missing:
        parser.error(
            f"--sizes: no bundled experts for {', '.join(sorted(missing))}; bundled: {', '.join(bundled_sizes())}"
        )
    rows = args.results / "rows" / "scaling.jsonl"
    for size in sizes:
        decode_size(size, rows)
    print(f"rows: {rows}")


if __name__ == "__main__":
    main()
