"""Train MAS-LoRA experts, a regular LoRA, or a fully fine-tuned Whisper.

    python train/train.py --method mas-lora --out runs/mas-lora                  # the paper's settings
    python train/train.py --method mas-lora --out runs/cpu-mas --recipe cpu-tiny  # minutes on a 2-core CPU

Resumes from OUT/checkpoint.pt when it exists (same settings only). The best checkpoint by validation
WER lands in OUT/best: an experts folder (mas-lora), a PEFT adapter (lora) or a Whisper folder (full).
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from maslora.training.config import DECODER_CHOICES, METHODS
from maslora.training.loop import train
from maslora.training.recipes import RECIPES, recipe_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--method", choices=METHODS, default="mas-lora")
    parser.add_argument("--recipe", choices=list(RECIPES), default="paper")
    parser.add_argument("--decoder", choices=DECODER_CHOICES, help="shared LoRA (default), MAS experts, or none")
    parser.add_argument("--model", help="tiny.en, base, a hub id or a folder")
    parser.add_argument("--corpus", help="L2-ARCTIC-style folder or manifest (default: the embedded corpus)")
    parser.add_argument("--fold", type=int, choices=range(1, 9))
    parser.add_argument("--unseen-accent", help="leave this accent out of training")
    parser.add_argument("--prompts", type=int, help="only the first N prompts")
    parser.add_argument("--targets", choices=["qv", "qkvo"])
    parser.add_argument("--rank", type=int)
    parser.add_argument("--alpha", type=float)
    parser.add_argument("--dropout", type=float)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--micro-batch-size", type=int)
    parser.add_argument("--epochs", type=float)
    parser.add_argument("--eval-every", type=int)
    parser.add_argument("--validation-limit", type=int)
    parser.add_argument("--encoder-seconds", type=int, help="crop the 30 s encoder window (explicit speed option)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-augment", action="store_true", help="train on clean audio")
    args = parser.parse_args()
    given = {k: v for k, v in vars(args).items() if k not in ("out", "method", "recipe", "no_augment")}
    config = recipe_config(args.recipe, args.method, args.out, **given)
    if args.no_augment:
        config.augment = None
    summary = train(config)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one summary, from the process that validated
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
