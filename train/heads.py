"""Train the accent classifier and the learned router for a finished MAS-LoRA run, on the run's own training data.

    python train/heads.py runs/mas [--router-steps 48]

Reads RUN/config.json (model, corpus, fold, prompts, encoder window, seed, left-out accent) and writes
RUN/accent-classifier/ and RUN/router/ (a folder already there is kept). Then, for example:

    python -m maslora evaluate --fold 1 --experts runs/mas/best --classifier runs/mas/accent-classifier \\
        --router runs/mas/router --systems mas-uniform,mas-auto-t1,mas-auto-beta,mas-router --encoder-seconds 10
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from maslora.auto.heads import clip_features, fit_classifier, fit_router
from maslora.auto.router import RouterConfig
from maslora.training.config import split_of_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a finished train/train.py --method mas-lora run folder")
    parser.add_argument(
        "--router-steps", type=int, default=RouterConfig.steps, help="router training steps (batches of 16)"
    )
    args = parser.parse_args()
    config_path = args.run / "config.json"
    if not config_path.is_file() or not (args.run / "best").is_dir():
        raise SystemExit(f"{args.run} holds no finished training run (config.json and best/)")
    config = json.loads(config_path.read_text())
    if config["method"] != "mas-lora":
        raise SystemExit(f"{args.run} trained {config['method']}; the classifier and router weigh MAS-LoRA experts")
    train = split_of_run(config).train
    window = config["encoder_seconds"]
    features = clip_features(config["model"], window, train, args.run / "features.pt")
    fit_classifier(
        features,
        train,
        args.run / "accent-classifier",
        config["seed"],
        {"model": config["model"], "encoder_seconds": window},
    )
    fit_router(
        config["model"],
        window,
        args.run / "best",
        train,
        features,
        args.run / "router",
        RouterConfig(steps=args.router_steps, seed=config["seed"]),
    )
    print(f"wrote {args.run / 'accent-classifier'} and {args.run / 'router'}")


if __name__ == "__main__":
    main()
