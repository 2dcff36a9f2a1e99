"""Which precision the page may run a size in, measured on development speech only.

    python -m train.precision_dev --real ../shared/data/speechocean762-train [--size tiny.en] [--native 100]
                                  [--results assets/results]

The page's systems of a bundled size (base in its own 30 s window; the regular LoRA and MAS-LoRA, accent
unknown and at beta 2, in their window), decoded as the page decodes (guarded) in float32 and with int8
linear layers (maslora.whisper.precision), on the development sets of train.decoding_dev (no reported figure
is measured on them), into rows/precision.jsonl tagged with size, set and precision; both precisions decode
here, from the same bundle, so each utterance is a pair. analysis.exp_precision compares them. A rerun
decodes only the rows missing.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python train/precision_dev.py` works too

from maslora.systems.bundle import bundle_fold
from maslora.systems.evaluation import evaluate
from maslora.whisper.precision import PRECISIONS
from maslora.whisper.transcribe import GUARDED
from train.decoding_dev import SYSTEMS, development_arguments, development_sets, page_models


def main() -> None:
    args = development_arguments(__doc__)
    for set_name, table in development_sets(args.real, bundle_fold(args.size), args.native).items():
        for precision in PRECISIONS:
            models = page_models(args.size, precision)
            print(f"{args.size}, {set_name}: {len(table)} clips, {precision}", flush=True)
            tags = {"size": args.size, "set": set_name, "precision": precision}
            evaluate(table, SYSTEMS, models, args.results / "rows" / "precision.jsonl", tags, decoding=GUARDED)


if __name__ == "__main__":
    main()
