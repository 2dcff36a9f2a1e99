r"""Copy trained experts and a regular LoRA into assets/experts/SIZE/, the demo's defaults, with how they were made.

    python -m train.experiments --profile cpu --seeds 0 --only mas-lora,lora
    python train/bundle.py --mas-lora runs/experiments/cpu/fold1/seed0/mas-lora \
        --lora runs/experiments/cpu/fold1/seed0/lora --matrix assets/results/rows/matrix.jsonl
    python train/auto_heads.py

or, with experts that also heard real Mandarin-L1 speakers (the runs the validation speakers chose), the
mixture of shared + experts as the default and the paper's placement kept beside it:

    python -m train.real_speech --corpus ../shared/data/speechocean762-train
    python train/bundle.py --mas-lora runs/real-speech/cpu/seed0/shared-decoder-mas-beside \
        --paper runs/real-speech/cpu/seed0/mas-lora-beside \
        --lora runs/real-speech/cpu/seed0/lora-beside --matrix assets/results/rows/real_matrix.jsonl
    python train/auto_heads.py --mixture mas-lora
    python train/auto_heads.py --mixture mas-lora-paper

(`--paper bundled` keeps the paper's placement the current bundle holds, with its record, matrix and
automatic weighting, when its run folder is gone; `--lora bundled` keeps the bundle's regular LoRA so, and
`--mas-lora bundled` its default mixture, to add a paper's placement trained later:
`--mas-lora bundled --paper RUN --lora bundled`. Each keeps the bundle's accent classifier and the commands
that made it; the size is the model of the runs given as folders.) The experiments' converged
CPU-recipe runs of fold 1, seed 0 (their test rows are the report's); any finished train/train.py runs
do. All runs must share the
base model and encoder window (the demo runs them side by side in one model). bundle.json records each
run's training config (what data, what recipe), its best validation WER and the command that made the
bundle; with `--matrix` (rows of the runs' fold and seed), each mixture's expert x accent matrix, which
the demo's explanation shows. train/auto_heads.py then adds the accent classifier and each mixture's
automatic weighting.
"""

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing


from maslora.atomic import replace_folder
from maslora.systems.bundle import (
    BUNDLE_MANIFEST,
    BUNDLED_CLASSIFIER,
    BUNDLED_EXPERTS,
    DEFAULT_MIXTURE,
    PAPER_MIXTURE,
    bundled_folders,
    read_bundle,
)
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


def _model_of(given: list[str | None]) -> str:
    """The size being bundled: the model of the first part given as a run folder (not "bundled")."""
    for folder in given:
        if folder and folder != "bundled":
            if not (Path(folder) / "config.json").is_file():
                raise SystemExit(f"{folder} holds no finished run (no config.json)")
            return json.loads((Path(folder) / "config.json").read_text())["model"]
    raise SystemExit("every part is 'bundled': give at least one finished run, or there is nothing to change")


def _mas_run(given: str, size: str, matrix_rows: Path | None) -> tuple[Path, dict]:
    """(experts folder, run record) of the default mixture: a finished run (with its matrix from `matrix_rows`),
    or "bundled": the current bundle's, with its record, matrix and automatic weighting."""
    if given == "bundled":
        return bundled_folders(size, BUNDLED_EXPERTS)[0], read_bundle(size, BUNDLED_EXPERTS)["runs"][DEFAULT_MIXTURE]
    return _mixture_run(Path(given), matrix_rows)


def _bundled_paper(size: str) -> tuple[Path, dict]:
    """The experts folder and run record of the paper's placement in the current bundle of `size` (its default
    mixture or the one kept beside it): what `--paper bundled` keeps when a new winner is bundled."""
    runs = read_bundle(size, BUNDLED_EXPERTS)["runs"]
    for mixture in (PAPER_MIXTURE, DEFAULT_MIXTURE):
        if mixture in runs and not runs[mixture]["config"].get("shared_rank"):
            return bundled_folders(size, BUNDLED_EXPERTS, mixture)[0], runs[mixture]
    raise SystemExit(f"the {size} bundle holds no mixture of the paper's placement to keep: give --paper a run")


def _lora_run(given: str, size: str) -> tuple[Path, dict]:
    """(adapter folder, run record) of the regular LoRA: a finished run, or "bundled": the current bundle's."""
    if given == "bundled":
        return bundled_folders(size, BUNDLED_EXPERTS)[1], read_bundle(size, BUNDLED_EXPERTS)["runs"]["lora"]
    return Path(given) / "best", _run(Path(given), "lora")


def _paper_run(given: str, size: str, matrix_rows: Path | None) -> tuple[Path, dict]:
    """(experts folder, run record) of the paper's placement: a finished run, or "bundled" (see _bundled_paper)."""
    if given == "bundled":
        return _bundled_paper(size)
    experts, run = _mixture_run(Path(given), matrix_rows)
    if run["config"].get("shared_rank"):
        raise SystemExit(f"--paper {given}: a shared + experts run; the paper's placement has no shared part")
    return experts, run


def _mixture_run(folder: Path, matrix_rows: Path | None) -> tuple[Path, dict]:
    """(experts folder, run record) of a finished mas-lora run, with its expert x accent matrix from `matrix_rows`."""
    run = _run(folder, "mas-lora")
    if matrix_rows:
        accents = json.loads((folder / "best" / "experts.json").read_text())["accents"]
        run["matrix"] = expert_matrix(matrix_rows, run["config"]["fold"], run["config"]["seed"], accents, folder.name)
    return folder / "best", run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--mas-lora",
        required=True,
        help="a finished train.py --method mas-lora run, or 'bundled': the current bundle's default mixture",
    )
    parser.add_argument(
        "--lora", required=True, help="a finished train.py --method lora run, or 'bundled': the current bundle's"
    )
    parser.add_argument(
        "--matrix",
        type=Path,
        help="rows/matrix.jsonl (train.experiments) or rows/real_matrix.jsonl (train.real_speech) of the mas-lora run",
    )
    parser.add_argument(
        "--paper",
        help="when --mas-lora is another design: the paper's placement to keep beside it, as mas-lora-paper; a "
        "finished run, or 'bundled' for the one the current bundle holds (its record, matrix and auto kept)",
    )
    args = parser.parse_args()
    model = _model_of([args.mas_lora, args.paper, args.lora])
    folders, runs = {}, {}
    folders[DEFAULT_MIXTURE], runs[DEFAULT_MIXTURE] = _mas_run(args.mas_lora, model, args.matrix)
    mas = runs[DEFAULT_MIXTURE]["config"]
    folders["lora"], runs["lora"] = _lora_run(args.lora, model)
    if args.paper:
        if not mas.get("shared_rank"):
            raise SystemExit(f"--paper: {args.mas_lora} is the paper's placement already; one mixture is enough")
        folders[PAPER_MIXTURE], runs[PAPER_MIXTURE] = _paper_run(args.paper, model, args.matrix)
        wers = {name: runs[name]["best_validation_wer"] for name in (DEFAULT_MIXTURE, PAPER_MIXTURE)}
        if wers[PAPER_MIXTURE] <= wers[DEFAULT_MIXTURE]:  # the page's default is the validation speakers' choice
            raise SystemExit(f"the paper's placement did as well on validation ({wers}): bundle it as --mas-lora")
    shared = {key: {run["config"][key] for run in runs.values()} for key in ("model", "encoder_seconds", "fold")}
    if any(len(values) > 1 for values in shared.values()):
        raise SystemExit(f"the runs differ in {shared}; the demo needs one base model and one encoder window")
    encoder_seconds = mas["encoder_seconds"]

    # what made the kept parts stays on record, and so does the classifier their automatic weighting used
    keeping = "bundled" in (args.mas_lora, args.paper, args.lora)
    before = read_bundle(model, BUNDLED_EXPERTS) if keeping else {"commands": []}
    if keeping and (BUNDLED_EXPERTS / model / BUNDLED_CLASSIFIER).is_dir():
        folders[BUNDLED_CLASSIFIER] = BUNDLED_EXPERTS / model / BUNDLED_CLASSIFIER

    def write(scratch: Path) -> None:
        for name, folder in folders.items():
            shutil.copytree(folder, scratch / name)
        commands = [*before["commands"], f"python train/bundle.py {shlex.join(sys.argv[1:])}"]
        manifest = {"model": model, "encoder_seconds": encoder_seconds, "commands": commands, "runs": runs}
        (scratch / BUNDLE_MANIFEST).write_text(json.dumps(manifest, indent=2))

    replace_folder(BUNDLED_EXPERTS / model, write)
    print(f"bundled {model} experts in {BUNDLED_EXPERTS / model}: {', '.join(folders)}")


if __name__ == "__main__":
    main()
