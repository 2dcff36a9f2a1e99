r"""Copy trained experts and a regular LoRA into assets/experts/SIZE/, the demo's defaults, with how they were made.

    python -m train.experiments --profile cpu --seeds 0 --only mas-lora,lora
    python train/bundle.py --mas-lora runs/experiments/cpu/fold1/seed0/mas-lora \
        --lora runs/experiments/cpu/fold1/seed0/lora --matrix assets/results/rows/matrix.jsonl
    python train/auto_heads.py

or, with experts that also heard real Mandarin-L1 speakers (the runs the validation speakers chose):

    python -m train.real_speech --corpus ../shared/data/speechocean762-train
    python train/bundle.py --mas-lora runs/real-speech/cpu/seed0/mas-lora-beside \
        --lora runs/real-speech/cpu/seed0/lora-beside --matrix assets/results/rows/real_matrix.jsonl
    python train/auto_heads.py

The experiments' converged CPU-recipe runs of fold 1, seed 0 (their test rows are the report's); any two
finished train/train.py runs do. Both runs must share the base model and encoder window (the demo runs
them side by side in one model). bundle.json records both training configs (what data, what recipe),
their best validation WER and the command that made the bundle; with `--matrix` (rows of the runs' fold
and seed), also the experts' expert x accent matrix, which the demo's explanation shows.
train/auto_heads.py then adds the accent classifier.
"""

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing


from maslora.atomic import replace_folder
from maslora.systems.bundle import BUNDLE_MANIFEST, BUNDLED_EXPERTS
from maslora.systems.evaluation import rows_table, wer_table


def _run(folder: Path, method: str) -> dict:
    config = json.loads((folder / "config.json").read_text())
    config.pop("out")  # where it ran on the training machine says nothing about the experts
    if config["method"] != method or not (folder / "best").is_dir():
        raise SystemExit(f"{folder} holds no finished {method} run (config.json and best/)")
    history = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    scored = [record for record in history if "validation_wer" in record]
    best = min(scored, key=lambda record: record["validation_wer"])
    return {
        "config": config,
        "best_step": best["step"],
        "best_validation_wer": best["validation_wer"],
        "steps": history[-1]["step"],
    }


def expert_matrix(rows_path: Path, fold: int, seed: int, accents: list[str], run: str | None = None) -> dict:
    """{"rows", "fold", "seed", "wer": {expert: {accent: WER %}}}: every expert alone on every accent's test
    speakers, pooled, from the experiments' rows of the bundled run's fold and seed (and, where the rows
    name the run they come from, as train.real_speech's do in `trained_on`, of the run called `run`)."""
    rows = rows_table(rows_path)
    rows = rows[(rows.fold == fold) & (rows.seed == seed)] if not rows.empty else rows
    if "trained_on" in rows:
        rows = rows[rows.trained_on == run]
    if rows.empty:
        of_run = f", run {run}" if run else ""
        raise SystemExit(f"{rows_path} has no rows of fold {fold}, seed {seed}{of_run} (the bundled run's)")
    experts = sorted(set(rows.expert))
    if experts != sorted(accents):
        raise SystemExit(f"{rows_path} scores experts {experts}, but the bundled run has {sorted(accents)}")
    per_accent = wer_table(rows, systems_in="expert").drop(index=["pooled", "macro mean"])  # accents down
    wer = {
        expert: {accent: round(value, 2) for accent, value in column.dropna().items()}
        for expert, column in sorted(per_accent.items())
    }
    return {"rows": str(rows_path), "fold": fold, "seed": seed, "wer": wer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mas-lora", type=Path, required=True, help="a finished train.py --method mas-lora run")
    parser.add_argument("--lora", type=Path, required=True, help="a finished train.py --method lora run")
    parser.add_argument(
        "--matrix",
        type=Path,
        help="rows/matrix.jsonl (train.experiments) or rows/real_matrix.jsonl (train.real_speech) of the mas-lora run",
    )
    args = parser.parse_args()
    runs = {"mas-lora": _run(args.mas_lora, "mas-lora"), "lora": _run(args.lora, "lora")}
    shared = {key: {run["config"][key] for run in runs.values()} for key in ("model", "encoder_seconds", "fold")}
    if any(len(values) > 1 for values in shared.values()):
        raise SystemExit(f"the runs differ in {shared}; the demo needs one base model and one encoder window")
    model, encoder_seconds = runs["lora"]["config"]["model"], runs["lora"]["config"]["encoder_seconds"]
    mas = runs["mas-lora"]["config"]
    accents = json.loads((args.mas_lora / "best" / "experts.json").read_text())["accents"]
    matrix = expert_matrix(args.matrix, mas["fold"], mas["seed"], accents, args.mas_lora.name) if args.matrix else None

    def write(scratch: Path) -> None:
        for method, folder in (("mas-lora", args.mas_lora), ("lora", args.lora)):
            shutil.copytree(folder / "best", scratch / method)
        command = f"python train/bundle.py {shlex.join(sys.argv[1:])}"
        manifest = {"model": model, "encoder_seconds": encoder_seconds, "commands": [command], "runs": runs}
        if matrix is not None:
            manifest["matrix"] = matrix
        (scratch / BUNDLE_MANIFEST).write_text(json.dumps(manifest, indent=2))

    replace_folder(BUNDLED_EXPERTS / model, write)
    print(f"bundled {model} experts in {BUNDLED_EXPERTS / model}")


if __name__ == "__main__":
    main()
