"""The paper's experiments end to end, from one command: train every system, decode every test set, write the report.

    python -m train.experiments [--profile quick|cpu|paper | --quick] [--seeds 0,1] [--only mas-lora,lora]
                                [--corpus DIR] [--model M] [--librispeech DIR] [--runs runs/experiments]
                                [--results assets/results]

Profiles:
    quick   the whole pipeline in minutes (CI): tiny.en, 20 prompts, one or two training steps per run
    cpu     tiny.en with the CPU recipe on the embedded corpus, fold 1, seeds 0 and 1 (the variant and
            leave-one-accent-out runs with seed 0 only): hours on 2 cores, so `--seeds 0` then `--seeds 1`
            run it one seed per sitting, and `--only` splits a seed into sittings of a few training runs
            (measured times: docs/measurements.md)
    paper   the paper's settings, all 8 folds, seeds 0 and 1: for a GPU, with --model openai/whisper-small
            and --corpus pointing at the real L2-ARCTIC

For each fold and seed it trains MAS-LoRA, a regular LoRA, full fine-tuning, the designs of "where mixing
pays" (experts in the decoder too; shared + experts in both placements; a regular LoRA of as many
parameters), and with the side seeds two MAS-LoRA variants (experts in the decoder too; all four
attention projections) and one MAS-LoRA per left-out accent; on top of each MAS-LoRA, an accent
classifier and a learned router (maslora.auto.heads). Then it writes rows (maslora.systems.evaluation)
for: the test speakers (every system, every beta, the automatic weightings), the validation speakers (to
pick the temperature), the designs, the variants, real native speech held out from training
(forgetting), and each left-out accent. Then every analysis script of analysis/ turns rows into tables,
figures and RESULTS/REPORT.md (analysis.report).

Everything resumes: training from its checkpoints, decoding from the rows already written; a rerun of
a finished profile only redraws the report.
"""

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python train/experiments.py` works too

from analysis.exp_curves import CURVES, curve_name
from analysis.exp_designs import PARAMETERS
from analysis.report import write_report
from analysis.report_tools import profile_of
from maslora.auto.heads import clip_features, fit_classifier, fit_router
from maslora.auto.router import RouterConfig
from maslora.data.corpora import NATIVE_RECORDINGS, load_librispeech, load_manifest
from maslora.data.splits import NATIVE, paper_fold
from maslora.synth.generate import corpus_or_embedded
from maslora.systems.evaluation import (
    Models,
    evaluate,
    lowest_wer_system,
    read_rows,
)
from maslora.systems.system import TEMPERED_SYSTEMS, expert_matrix
from maslora.training.checkpoint import HISTORY_FILE
from maslora.training.loop import trainable_parameters
from maslora.training.recipes import RECIPES, recipe_config
from train.train import train_in_processes

ROOT = Path(__file__).resolve().parent.parent
BETAS = (1, 1.5, 2, 3, 4, 5, 6)  # the paper's accent-known sweep (beta = 1 is the matched expert alone)
HEADLINE_RUNS = ("mas-lora", "lora", "full")  # trained with every seed of a profile
VARIANTS = {
    "decoder-mas": {"decoder": "mas"},
    "qkvo": {"targets": "qkvo"},
}  # beside the default: encoder MAS, shared decoder, qv
# The shared + experts design: the shared LoRA at the paper's rank 16, so that alone it can learn what the
# regular LoRA learns from all the data; each expert at 8, since it hears a sixth of the data and has only
# its accent's remainder to learn. Scale alpha / r = 1 everywhere, as the paper's 16 / 16.
SHARED_EXPERTS = {"shared_rank": 16, "rank": 8, "alpha": 8.0}
# Regular LoRAs with as many trainable parameters as each shared design, the fair baselines; per projection
# r (in + out). Shared + encoder experts: encoder 16 + 6 x 8 = 64, decoder 16, over twice as many decoder
# projections: (8 x 64 + 16 x 16) / 24 = 32. Shared + experts in both halves: 16 + 6 x 8 = 64 everywhere.
EQUAL_LORAS = {"lora-r32": {"rank": 32, "alpha": 32.0}, "lora-r64": {"rank": 64, "alpha": 64.0}}
DESIGNS = {  # run -> (method, overrides, its name in rows/designs.jsonl): where mixing pays, with every seed
    "mas-lora-decoder-mas": ("mas-lora", VARIANTS["decoder-mas"], "decoder-mas"),
    "mas-lora-shared": ("mas-lora", SHARED_EXPERTS, "shared"),
    "mas-lora-shared-decoder-mas": ("mas-lora", {**SHARED_EXPERTS, **VARIANTS["decoder-mas"]}, "shared-decoder-mas"),
    **{name: ("lora", overrides, name) for name, overrides in EQUAL_LORAS.items()},
}
DESIGN_SYSTEMS = ["mas-uniform", "mas-beta2", "mas-auto-t1"]  # accent unknown, known, from the audio (w = p)


@dataclass(frozen=True, kw_only=True)
class Profile:
    """What one sitting of experiments trains and decodes."""

    recipe: str
    model: str
    folds: tuple[int, ...]
    seeds: tuple[int, ...]
    prompts: int | None  # keep only the corpus's first N prompts (None: all)
    native_clips: int  # held-out real native recordings scored for forgetting
    side_seeds: tuple[int, ...]  # seeds of the variant and leave-one-accent-out runs (8 more runs per seed)
    overrides: dict = field(default_factory=dict)  # TrainConfig values on top of the recipe
    router: dict = field(default_factory=dict)  # RouterConfig values (the seed is the run's)
    processes: int = 1  # training processes per run (torchrun); 2 on 2 cores (see train/train.py)
    only: tuple[str, ...] | None = None  # only these training runs (None: all); --only, a sitting's share

    def runs(self, accents: list[str], seed: int) -> dict[str, tuple[str, dict]]:
        """This profile's training runs for one seed: the headline runs with every seed, the others with the
        side seeds, and of those only the ones `only` names."""
        return {
            name: run
            for name, run in training_runs(accents).items()
            if (name in HEADLINE_RUNS or name in DESIGNS or seed in self.side_seeds)
            and (self.only is None or name in self.only)
        }


PROFILES = {
    "quick": Profile(
        recipe="cpu-tiny",
        model="tiny.en",
        folds=(1,),
        seeds=(0, 1),
        prompts=20,
        native_clips=4,
        side_seeds=(0, 1),
        overrides={"epochs": 0.05, "batch_size": 8, "micro_batch_size": 8, "eval_every": 1000, "validation_limit": 4},
        router={"steps": 1, "batch_size": 4, "micro_batch_size": 4},
    ),
    # 2 cores: the variant and leave-one-out runs once (seed 0), the headline systems with both seeds
    "cpu": Profile(
        recipe="cpu-tiny",
        model="tiny.en",
        folds=(1,),
        seeds=(0, 1),
        prompts=None,
        native_clips=100,
        side_seeds=(0,),
        processes=2,
    ),
    "paper": Profile(
        recipe="paper",
        model="openai/whisper-small",
        folds=tuple(range(1, 9)),
        seeds=(0, 1),
        prompts=None,
        native_clips=593,
        side_seeds=(0, 1),
    ),
}


def training_runs(accents: list[str]) -> dict[str, tuple[str, dict]]:
    """{run name: (method, TrainConfig overrides)} for one fold and seed, leave-one-accent-out runs included."""
    runs = {name: (name, {}) for name in HEADLINE_RUNS}
    runs |= {f"mas-lora-{name}": ("mas-lora", overrides) for name, overrides in VARIANTS.items()}
    runs |= {name: (method, overrides) for name, (method, overrides, _) in DESIGNS.items()}
    runs |= {f"mas-lora-without-{accent}": ("mas-lora", {"unseen_accent": accent}) for accent in accents}
    return runs


def planned_runs(profile: Profile, accents: list[str]) -> list[str]:
    """The training runs `profile` covers, as fold/seed/name."""
    return [
        f"fold{fold}/seed{seed}/{name}"
        for fold in profile.folds
        for seed in profile.seeds
        for name in profile.runs(accents, seed)
    ]


def run(
    profile: Profile, table: pd.DataFrame, corpus: str | None, librispeech: str | None, runs_root: Path, results: Path
) -> None:
    """Train, decode and score what `profile` asks for, on `table` (the corpus `corpus` names)."""
    accents = sorted(a for a in table.accent.unique() if a != NATIVE)
    rows = results / "rows"
    record_parameters(profile, accents, results)
    for fold in profile.folds:
        split = paper_fold(table, fold)
        for seed in profile.seeds:
            folder = runs_root / f"fold{fold}" / f"seed{seed}"
            chosen = profile.runs(accents, seed)
            for name, (method, overrides) in chosen.items():
                train_profile_run(profile, name, method, folder / name, results, fold, seed, corpus=corpus, **overrides)
            window = recipe_config(profile.recipe, "mas-lora", folder, **profile.overrides).encoder_seconds
            evaluate_runs(profile, split, folder, chosen, window, rows, {"fold": fold, "seed": seed}, librispeech)


def train_profile_run(
    profile: Profile, name: str, method: str, out: Path, results: Path, fold: int, seed: int, **overrides
) -> None:
    """Train one run with `profile`'s recipe and settings (and `overrides`) to convergence, resuming from its
    checkpoint, and keep its learning curve in results/curves/ under `name` (runs/ is not kept)."""
    print(f"training {name}, fold {fold}, seed {seed}", flush=True)
    config = recipe_config(
        profile.recipe,
        method,
        out,
        model=profile.model,
        fold=fold,
        seed=seed,
        prompts=profile.prompts,
        **profile.overrides,
        **overrides,
    )
    train_in_processes(config, profile.processes)
    curves = results / CURVES
    curves.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config.out / HISTORY_FILE, curves / curve_name(fold, seed, name))


def record_parameters(profile: Profile, accents: list[str], results: Path) -> None:
    """results/parameters.json: the trainable weights of each run the designs section compares (the headline
    runs and the designs), by run name, counted on the model as training prepares it (no training)."""
    path = results / PARAMETERS
    counts = json.loads(path.read_text()) if path.is_file() else {}
    runs = training_runs(accents)
    for name in [*HEADLINE_RUNS, *DESIGNS]:
        if name not in counts:
            method, overrides = runs[name]
            settings = {"model": profile.model, **profile.overrides, **overrides}
            config = recipe_config(profile.recipe, method, Path(), **settings)
            counts[name] = trainable_parameters(config, len(accents))
    path.write_text(json.dumps(dict(sorted(counts.items())), indent=2) + "\n")


def evaluate_runs(
    profile: Profile,
    split,
    folder: Path,
    chosen: dict[str, tuple[str, dict]],
    window: int,
    rows: Path,
    tags: dict,
    librispeech: str | None,
) -> None:
    """Decode what the `chosen` runs of one fold and seed take part in (the untrained base always), into rows."""
    seed = tags["seed"]
    accents = sorted(a for a in split.train.accent.unique() if a != NATIVE)
    features_path = folder.parent / "features.pt"
    router_config = RouterConfig(**{**profile.router, "seed": seed})
    trained = {name: folder / name / "best" if name in chosen else None for name in HEADLINE_RUNS}  # loaded as given
    models = Models(
        model=profile.model,
        experts=trained["mas-lora"],
        adapter=trained["lora"],
        full=trained["full"],
        encoder_seconds=window,
        classifier=folder / "accent-classifier",
        router=folder / "router",
    )
    mas = "mas-lora" in chosen
    single = [name for name in ("full", "lora") if name in chosen]
    if mas:
        features = clip_features(profile.model, window, split.train, features_path)
        fit_classifier(features, split.train, folder / "accent-classifier", seed)
        fit_router(profile.model, window, models.experts, split.train, features, folder / "router", router_config)
        evaluate(split.validation, TEMPERED_SYSTEMS, models, rows / "validation.jsonl", tags)
        evaluate(split.test, expert_matrix(accents), models, rows / "matrix.jsonl", tags)  # the bundle's
    # The matrix (the bundle needs it) and the paper's comparisons before the automatic weightings: what a
    # sitting cut short leaves undone is the least needed.
    mas_systems = ["mas-uniform", *(f"mas-beta{b:g}" for b in BETAS)] if mas else []
    evaluate(split.test, ["base", *single, *mas_systems], models, rows / "main.jsonl", tags)
    forgetting_systems = ["base", *single, *(["mas-uniform"] if mas else [])]
    for set_name, native in held_out_native(split, profile, librispeech).items():
        evaluate(native, forgetting_systems, models, rows / "forgetting.jsonl", tags | {"set": set_name})
    if mas:
        evaluate(split.test, automatic_systems(rows, tags), models, rows / "main.jsonl", tags)
    for variant in VARIANTS:
        if f"mas-lora-{variant}" in chosen and seed in profile.side_seeds:
            variant_models = Models(
                model=profile.model, experts=folder / f"mas-lora-{variant}" / "best", encoder_seconds=window
            )
            variant_tags = tags | {"variant": variant}
            evaluate(split.test, ["mas-uniform", "mas-beta2"], variant_models, rows / "variants.jsonl", variant_tags)
    designs = [name for name in DESIGNS if name in chosen]
    if designs:
        evaluate_designs(profile, split, folder, designs, window, rows / "designs.jsonl", tags, librispeech)
    left_out = [accent for accent in accents if f"mas-lora-without-{accent}" in chosen]
    if left_out:  # read once for every left-out run
        features = clip_features(profile.model, window, split.train, features_path)
        automatic = automatic_systems(rows, tags)
    for accent in left_out:
        run_folder = folder / f"mas-lora-without-{accent}"
        seen = (split.train.accent != accent).to_numpy()
        seen_train, seen_features = split.train[seen], features[torch.from_numpy(seen)]
        fit_classifier(seen_features, seen_train, run_folder / "accent-classifier", seed)  # never hears the accent
        fit_router(
            profile.model, window, run_folder / "best", seen_train, seen_features, run_folder / "router", router_config
        )
        unseen_models = replace(
            models,
            adapter=None,
            full=None,
            experts=run_folder / "best",
            classifier=run_folder / "accent-classifier",
            router=run_folder / "router",
        )
        test = split.test[split.test.accent == accent]
        evaluate(test, ["mas-uniform", *automatic], unseen_models, rows / "unseen.jsonl", tags | {"unseen": accent})


def evaluate_designs(
    profile: Profile,
    split,
    folder: Path,
    designs: list[str],
    window: int,
    rows: Path,
    tags: dict,
    librispeech: str | None,
) -> None:
    """Decode each design run of one fold and seed on the test speakers (accent unknown, known, from the
    audio; a regular LoRA alone) and on held-out native speech (accent unknown), into `rows`, each row
    tagged with its design and set. The weights from the audio come from this seed's accent classifier."""
    classifier = folder / "accent-classifier"
    if not classifier.exists():  # the MAS-LoRA run's evaluation fits it; a sitting of designs alone fits it here
        features = clip_features(profile.model, window, split.train, folder.parent / "features.pt")
        fit_classifier(features, split.train, classifier, tags["seed"])
    native = held_out_native(split, profile, librispeech)
    for name in designs:
        method, _, design = DESIGNS[name]
        best = folder / name / "best"
        lora = method == "lora"
        models = Models(
            model=profile.model,
            experts=None if lora else best,
            adapter=best if lora else None,
            encoder_seconds=window,
            classifier=classifier,
        )
        systems = ["lora"] if lora else DESIGN_SYSTEMS
        design_tags = tags | {"design": design}
        evaluate(split.test, systems, models, rows, design_tags | {"set": "test"})
        for set_name, clips in native.items():
            evaluate(clips, systems[:1], models, rows, design_tags | {"set": set_name})


def automatic_systems(rows: Path, tags: dict) -> list[str]:
    """The automatic weightings decoded on test, picked on this fold and seed's validation rows (written
    when its MAS-LoRA run is evaluated, in this sitting or an earlier one)."""
    validation = [
        row for row in read_rows(rows / "validation.jsonl") if all(row.get(key) == value for key, value in tags.items())
    ]
    if not validation:
        raise SystemExit(
            f"no validation rows for {tags} in {rows}: train and evaluate this seed's mas-lora run first "
            "(the automatic weightings are chosen on them)"
        )
    return tested_automatic_systems(pd.DataFrame(validation))


def tested_automatic_systems(validation: pd.DataFrame) -> list[str]:
    """The automatic weightings decoded on test: w = p (its rows carry the posterior the report reads), the
    temperature the validation speakers picked (analysis.exp_auto reports it), the confidence-beta rule and
    the router; the other temperatures stay on validation, which saves a third of the test decoding."""
    picked, _ = lowest_wer_system(validation, TEMPERED_SYSTEMS)
    return list(dict.fromkeys(["mas-auto-t1", picked, "mas-auto-beta", "mas-router"]))


def held_out_native(split, profile: Profile, librispeech: str | None) -> dict[str, pd.DataFrame]:
    """Real native speech none of the systems trained on: the CC0 recordings of prompts outside the
    training split (and LibriSpeech when given), the first `native_clips` of each."""
    cathy = load_manifest(NATIVE_RECORDINGS)
    sets = {"cc0-native": cathy[~cathy.utterance_id.isin(set(split.train.utterance_id))].head(profile.native_clips)}
    if librispeech:
        sets["librispeech"] = load_librispeech(librispeech).head(profile.native_clips)
    return sets


def describe_sitting(
    args: argparse.Namespace, profile: Profile, before: dict, runs: list[str], seconds: float | None
) -> None:
    """profile.json: what produced the rows, this sitting's seeds, runs and wall time (None while it runs) added
    to `before` (what the earlier sittings of the same profile wrote)."""
    ran = {key: {*getattr(profile, key), *before.get(key, [])} for key in ("seeds", "side_seeds")}
    ran["runs"] = {*runs, *before.get("runs", [])}
    described = {
        "profile": args.profile,
        **{key: value for key, value in asdict(profile).items() if key != "only"},
        **{key: sorted(done) for key, done in ran.items()},  # every seed and run so far, this sitting's or earlier
        "recipe_settings": RECIPES[profile.recipe],  # as they were for this run: the report reads them here
        "corpus": args.corpus or "embedded synthetic corpus",
        "wall_seconds": round(before.get("wall_seconds", 0) + (seconds or 0)),
        "cut_short": seconds is None,  # until the sitting ends: a sitting stopped midway leaves it true
        "threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }
    (args.results / "profile.json").write_text(json.dumps(described, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=list(PROFILES), default="cpu")
    parser.add_argument(
        "--quick", action="store_const", const="quick", dest="profile", help="the same as --profile quick"
    )
    parser.add_argument(
        "--corpus", help="an L2-ARCTIC-style folder or manifest; default: the embedded synthetic corpus"
    )
    parser.add_argument("--model", help="override the profile's Whisper (tiny.en, base, a hub id or a folder)")
    parser.add_argument("--librispeech", help="a LibriSpeech-style folder to score forgetting on as well")
    parser.add_argument(
        "--seeds",
        help="only these of the profile's seeds, comma-separated: one sitting each; the report gathers all rows",
    )
    parser.add_argument(
        "--only",
        help="only these training runs, comma-separated (e.g. mas-lora,lora): a sitting's share of a seed; "
        "what the others take part in is decoded when they run",
    )
    parser.add_argument("--runs", type=Path, help="where training runs go; default runs/experiments/PROFILE")
    parser.add_argument(
        "--results", type=Path, default=ROOT / "assets" / "results", help="rows, tables, figures, REPORT.md"
    )
    args = parser.parse_args()
    profile = PROFILES[args.profile]
    if args.model:
        profile = replace(profile, model=args.model)
    if args.seeds:
        chosen = tuple(int(seed) for seed in args.seeds.split(","))
        if not set(chosen) <= set(profile.seeds):
            parser.error(f"--seeds {args.seeds}: the {args.profile} profile's seeds are {profile.seeds}")
        profile = replace(profile, seeds=chosen, side_seeds=tuple(s for s in profile.side_seeds if s in chosen))
    if args.only:
        profile = replace(profile, only=tuple(args.only.split(",")))
    table = corpus_or_embedded(args.corpus, profile.prompts)
    accents = sorted(a for a in table.accent.unique() if a != NATIVE)
    unknown = set(profile.only or ()) - set(training_runs(accents))
    if unknown:
        parser.error(f"--only {', '.join(sorted(unknown))}: no such run; runs: {', '.join(training_runs(accents))}")
    args.results.mkdir(parents=True, exist_ok=True)
    runs = planned_runs(profile, accents)
    previous = profile_of(args.results)
    before = previous if previous.get("profile") == args.profile else {}  # another sitting of it adds up
    describe_sitting(args, profile, before, runs, None)  # first, so that rows of a sitting cut short are described
    began = time.perf_counter()
    run(
        profile,
        table,
        args.corpus,
        args.librispeech,
        args.runs or ROOT / "runs" / "experiments" / args.profile,
        args.results,
    )
    seconds = time.perf_counter() - began
    describe_sitting(args, profile, before, runs, seconds)
    write_report(args.results)
    print(f"done in {seconds / 60:.1f} min; report: {args.results / 'REPORT.md'}")


if __name__ == "__main__":
    main()
