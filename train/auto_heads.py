"""Give the bundled experts an accent classifier, and choose how its posterior weighs them (the app's auto mode).

    python train/auto_heads.py [--size tiny.en] [--mixture mas-lora] [--work runs/bundle-auto/SIZE]

Trains the classifier on the training split of the fold and corpus the bundled mixture was trained on
(bundle.json), unless the bundle has one (train/bundle.py keeps it with a kept mixture: one classifier
serves every mixture, as it reads the base model's encoder); decodes that fold's validation clips with
the mixture's experts and every automatic rule (the posterior tempered at each T of the grid, T = 1
being w = p, and the beta rule around the guess), and keeps the rule with the lowest WER: each mixture
gets its own, as its experts differ. Writes accent-classifier/ beside the experts and the mixture's
"auto" (rule, T, the validation WERs) into bundle.json. Work files (features, classifier, each
mixture's validation rows) go to --work and are reused by a rerun.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from maslora.atomic import replace_file, replace_folder
from maslora.auto.heads import clip_features, fit_classifier
from maslora.systems.bundle import (
    BUNDLE_MANIFEST,
    BUNDLED_CLASSIFIER,
    BUNDLED_EXPERTS,
    DEFAULT_MIXTURE,
    PAPER_MIXTURE,
    bundled_folders,
    mixture_record,
    read_bundle,
)
from maslora.systems.evaluation import Models, evaluate, lowest_wer_system
from maslora.systems.system import TEMPERED_SYSTEMS, System
from maslora.training.config import split_of_run

RULE_SYSTEMS = [*TEMPERED_SYSTEMS, "mas-auto-beta"]  # candidates, in tie-breaking order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny.en", help="which bundled experts")
    parser.add_argument(
        "--mixture", default=DEFAULT_MIXTURE, help=f"which bundled mixture: {DEFAULT_MIXTURE} or {PAPER_MIXTURE}"
    )
    parser.add_argument(
        "--work", type=Path, help="features, classifier and validation rows; default runs/bundle-auto/SIZE"
    )
    args = parser.parse_args()
    args.work = args.work or Path("runs/bundle-auto") / args.size  # a size's rows and classifier are its own
    manifest = read_bundle(args.size)
    trained = mixture_record(args.size, args.mixture)["config"]
    split = split_of_run(trained)
    model, window = manifest["model"], manifest["encoder_seconds"]
    folder = BUNDLED_EXPERTS / args.size
    classifier = folder / BUNDLED_CLASSIFIER  # one for every mixture: a second mixture's rule is tuned on it
    if not classifier.is_dir():
        classifier = args.work / BUNDLED_CLASSIFIER
        features = clip_features(model, window, split.train, args.work / "features.pt")
        fit_classifier(features, split.train, classifier, trained["seed"], {"model": model, "encoder_seconds": window})
    models = Models(
        model=model,
        experts=bundled_folders(args.size, mixture=args.mixture)[0],
        encoder_seconds=window,
        classifier=classifier,
    )
    rows = evaluate(split.validation, RULE_SYSTEMS, models, args.work / f"validation-{args.mixture}.jsonl")
    system, wer = lowest_wer_system(rows, RULE_SYSTEMS)
    rule = dict(zip(("rule", "temperature"), System.parse(system).automatic_rule))
    validation = {s: round(lowest_wer_system(rows, [s])[1], 4) for s in RULE_SYSTEMS}
    auto = {
        **rule,
        "chosen_on": f"fold {trained['fold']} validation clips ({len(split.validation)})",
        "validation_wer": validation,
        "command": f"python train/auto_heads.py --size {args.size} --mixture {args.mixture}",
    }
    manifest["runs"][args.mixture]["auto"] = auto
    if classifier != folder / BUNDLED_CLASSIFIER:
        replace_folder(
            folder / BUNDLED_CLASSIFIER, lambda scratch: shutil.copytree(classifier, scratch, dirs_exist_ok=True)
        )
    replace_file(folder / BUNDLE_MANIFEST, lambda path: path.write_text(json.dumps(manifest, indent=2)))
    print(
        f"{args.size} {args.mixture}: automatic weights = {rule} (validation WER {wer:.1%}); classifier in "
        f"{folder / BUNDLED_CLASSIFIER}"
    )


if __name__ == "__main__":
    main()
