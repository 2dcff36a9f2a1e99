"""Train MAS-LoRA experts, a regular LoRA, or a fully fine-tuned Whisper.

    python train/train.py --method mas-lora --out runs/mas-lora                  # the paper's settings
    python train/train.py --method mas-lora --out runs/cpu-mas --recipe cpu-tiny  # to convergence on a CPU
    python train/train.py ... --real-corpus ../shared/data/speechocean762-train   # real Mandarin-L1 speakers too
    OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 train/train.py ...  # 2 cores: 2 processes
    python train/train.py --config runs/cpu-mas/config.json                       # exactly a config.json's run

Resumes from OUT/checkpoint.pt when it exists (same settings only). The best checkpoint by validation
WER lands in OUT/best: an experts folder (mas-lora), a PEFT adapter (lora) or a Whisper folder (full).
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from maslora.data.speechocean import AGE_GROUPS
from maslora.data.splits import VALIDATION_READERS
from maslora.mixture.layer import TARGETS
from maslora.training.checkpoint import json_config
from maslora.training.config import DECODER_CHOICES, METHODS, REAL_SPEECH_CHOICES, TrainConfig, config_from_json
from maslora.training.loop import train
from maslora.training.recipes import RECIPES, recipe_config

SCRIPT = Path(__file__).resolve()


def train_in_processes(config: TrainConfig, processes: int) -> dict:
    """train(config) in `processes` processes of one thread each under torchrun, or here when 1; returns
    its summary. On 2 CPU cores two one-thread processes, each half of every batch, train faster than one
    process with two threads (torch's second thread adds little; see analysis/bench_training)."""
    if processes == 1:
        return train(config)
    config.out.mkdir(parents=True, exist_ok=True)
    launch = config.out / "launch.json"  # what every process reads its settings from
    launch.write_text(json.dumps(json_config(config), indent=2))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    finished = subprocess.run(
        [*launcher, str(SCRIPT), "--config", str(launch)],
        check=True,
        stdout=subprocess.PIPE,  # rank 0's summary line, returned instead of printed; progress goes to stderr
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--config", type=Path, help="a config.json of a run: every setting from it, nothing else")
    parser.add_argument("--method", choices=METHODS, default="mas-lora")
    parser.add_argument("--recipe", choices=list(RECIPES), default="paper")
    parser.add_argument("--decoder", choices=DECODER_CHOICES, help="shared LoRA (default), MAS experts, or none")
    parser.add_argument("--model", help="tiny.en, base, a hub id or a folder")
    parser.add_argument("--corpus", help="L2-ARCTIC-style folder or manifest (default: the embedded corpus)")
    parser.add_argument("--fold", type=int, choices=range(1, 9))
    parser.add_argument("--unseen-accent", help="leave this accent out of training")
    parser.add_argument("--real-corpus", help="speechocean762 (either layout): its split's training speakers train too")
    parser.add_argument("--real-split", help="its speaker split file (default: assets/splits/speechocean762-train.csv)")
    parser.add_argument("--real-ages", choices=AGE_GROUPS, help="only the real corpus's adults or children")
    parser.add_argument("--real-speech", choices=REAL_SPEECH_CHOICES, help="beside the synthetic speakers or instead")
    parser.add_argument("--prompts", type=int, help="only the first N prompts")
    parser.add_argument("--train-prompts", type=int, help="train on only the first N of the fold's training prompts")
    parser.add_argument("--validation", choices=VALIDATION_READERS, help="held-out speakers, or the paper's prompts")
    parser.add_argument("--targets", choices=list(TARGETS))
    parser.add_argument("--rank", type=int, help="each expert's (or the regular LoRA's) rank")
    parser.add_argument("--shared-rank", type=int, help="mas-lora: a shared LoRA of this rank beside the experts")
    parser.add_argument("--alpha", type=float)
    parser.add_argument("--dropout", type=float)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--micro-batch-size", type=int)
    parser.add_argument("--epochs", type=float)
    parser.add_argument("--eval-every", type=int, help="steps between validations (default: the recipe's)")
    parser.add_argument("--validation-limit", type=int)
    parser.add_argument("--patience", type=int, help="stop after N validations without a better WER")
    parser.add_argument("--max-steps", type=int, help="stop after N steps whatever --epochs says")
    parser.add_argument("--encoder-seconds", type=int, help="crop the 30 s encoder window (explicit speed option)")
    for option, meaning in (
        ("fit-window", "pad each batch only to its longest clip"),
        ("group-by-length", "batch clips of similar lengths"),
        ("prefetch", "prepare the next batch in a worker process"),
        ("bf16", "autocast to bfloat16 (default: on GPUs)"),
        ("compile", "torch.compile the model"),
    ):
        parser.add_argument(f"--{option}", action=argparse.BooleanOptionalAction, help=meaning)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-augment", action="store_true", help="train on clean audio")
    args = parser.parse_args()
    if args.config:
        config = config_from_json(json.loads(args.config.read_text()))
    elif args.out is None:
        parser.error("give --out (or --config)")
    else:
        skip = ("out", "method", "recipe", "no_augment", "config")
        given = {k: v for k, v in vars(args).items() if k not in skip}
        config = recipe_config(args.recipe, args.method, args.out, **given)
        if args.no_augment:
            config.augment = None
    summary = train(config)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one summary, from the process that validated
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
