"""Experts that heard real Mandarin-L1 speech (speechocean762), and every system on
real speakers that none of them heard.

    python -m train.real_speech --corpus ../shared/data/speechocean762-train [--only mas-lora-beside,lora-beside]
                                [--size tiny.en|base] [--quick] [--seed 0] [--synthetic DIR] [--split FILE]
                                [--runs runs/real-speech] [--results assets/results]

Training runs: the cpu profile's recipe (train.experiments; cpu-base with --size base, maslora.training.recipes)
on fold 1 of the embedded corpus, plus the split's real training speakers
(assets/splits/speechocean762-train.csv; maslora.data.speaker_split):
    mas-lora-beside    MAS-LoRA; the Mandarin expert learns from the real and the synthetic Mandarin speakers
    mas-lora-instead   MAS-LoRA; the Mandarin expert learns from the real speakers alone
    lora-beside        the regular LoRA, pooled over mas-lora-beside's data
    shared-beside, shared-decoder-mas-beside, lora-r32-beside, lora-r64-beside
                       the designs of "where mixing pays" (train.experiments.DESIGNS), real speakers beside
and, on top of each MAS-LoRA, an accent classifier and a router on the run's own training clips (where the
size decodes the systems that use them: SIZES). Beside
them, the systems that only heard synthetic speech (--synthetic: the MAS-LoRA, LoRA and classifier the demo bundled
before these runs, kept in assets/synthetic-experts/SIZE so that the comparison stays reproducible after a rebundle;
left out for a size that has none). Each size's rows go to their own results folder (SIZES): tiny.en's are the
report's, base's sit beside them for its section on scaling.

Rows, in rows/real.jsonl, tagged with fold (1), seed, trained_on (none, synthetic, or a run's name) and set:
    speechocean762-test        the split's held-out real speakers (16 adults, 14 children), every system
    speechocean762-validation  its validation speakers: the rows that choose between the runs
    cc0-native                 the held-out real native recordings train.experiments scores (forgetting)
and, in rows/real_matrix.jsonl, each MAS-LoRA run's experts alone on fold 1's synthetic test speakers (the
expert x accent matrix train/bundle.py records if the run is bundled; tiny.en's runs only: SIZES says why).
`--only` splits the runs into sittings of about an hour each (what a sitting cut short leaves, the next
one resumes: training from its checkpoints, decoding from the rows already written). analysis.exp_real_speech
turns the rows into the report's real-speech section.
"""

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python train/real_speech.py` works too

from analysis.exp_scaling import size_results
from maslora.auto.heads import clip_features, fit_classifier, fit_router
from maslora.auto.router import RouterConfig
from maslora.data.corpora import ASSETS
from maslora.data.speaker_split import real_speech_split
from maslora.data.splits import NATIVE, paper_fold
from maslora.synth.generate import corpus_or_embedded
from maslora.systems.evaluation import Models, evaluate
from maslora.systems.system import expert_matrix
from maslora.training.config import TrainConfig, split_of_run
from maslora.training.recipes import recipe_config
from train.experiments import DESIGNS, PROFILES, ROOT, Profile, held_out_native, train_profile_run

RUNS = {
    "mas-lora-beside": ("mas-lora", "beside", {}),
    "mas-lora-instead": ("mas-lora", "instead", {}),
    "lora-beside": ("lora", "beside", {}),
    "shared-beside": ("mas-lora", "beside", DESIGNS["mas-lora-shared"][1]),
    "shared-decoder-mas-beside": ("mas-lora", "beside", DESIGNS["mas-lora-shared-decoder-mas"][1]),
    "lora-r32-beside": ("lora", "beside", DESIGNS["lora-r32"][1]),
    "lora-r64-beside": ("lora", "beside", DESIGNS["lora-r64"][1]),
}  # name: (method, where the real speakers go, the design's TrainConfig values; train.experiments.DESIGNS)
SYNTHETIC_ONLY = ASSETS / "synthetic-experts"  # per size: train/bundle.py output of the synthetic-only runs
TEST, VALIDATION, NATIVE_SET = "speechocean762-test", "speechocean762-validation", "cc0-native"
MAS_SYSTEMS = ("mas-uniform", "mas-beta2", "mas-matched", "mas-auto-t1", "mas-auto-beta", "mas-router")
CHOOSING_SYSTEMS = ["mas-uniform", "mas-beta2"]  # a MAS-LoRA's systems decoded on validation too


def run_name(config: dict) -> str | None:
    """The RUNS name of a training run's config (a bundled run's, say): its method, where its real speakers
    went and every design value equal (a value the config lacks reads as TrainConfig's default); None for a
    run of none of them (one that heard no real speech, for one)."""
    if not config.get("real_corpus"):
        return None
    keys = {key for _, _, design in RUNS.values() for key in design}
    for name, (method, real_speech, design) in RUNS.items():
        expected = {key: getattr(TrainConfig, key) for key in keys} | design
        if (config["method"], config.get("real_speech", TrainConfig.real_speech)) == (method, real_speech) and all(
            config.get(key, getattr(TrainConfig, key)) == value for key, value in expected.items()
        ):
            return name
    return None


@dataclass(frozen=True)
class Size:
    """One Whisper size's runs: the profile they train with, where their rows go, their runs' folder name, and
    what a MAS-LoRA run of that size decodes on the test speakers (its classifier and router are fitted only for
    the systems among them that use them) and whether its expert x accent matrix is decoded."""

    profile: Profile
    results: Path
    runs: str
    mas_systems: tuple[str, ...] = MAS_SYSTEMS
    matrix: bool = True


RESULTS = ROOT / "assets" / "results"
SIZES = {  # each size's rows in its folder of analysis.exp_scaling.SIZE_FOLDERS, which the report reads
    "tiny.en": Size(PROFILES["cpu"], size_results(RESULTS, "tiny.en"), "cpu"),
    # base decodes at about half tiny.en's speed and trains at 1.9x a step (4.35 s a MAS-LoRA step here): a
    # sitting of tiny.en's systems would take about 2 h 40 min, more than a session holds beside CI. Kept: what
    # the scaling section reads (uniform, beta 2) and the matched expert; left out: the automatic weightings
    # and the router, whose classifier features pass all ~12,000 training clips through base's encoder (about
    # 25 min; train/auto_heads.py fits the bundled mixture's classifier once, after bundling), and the
    # 6,780-row matrix (about 30 min a run).
    "base": Size(
        replace(PROFILES["cpu"], recipe="cpu-base", model="base"),
        size_results(RESULTS, "base"),
        "base",
        mas_systems=("mas-uniform", "mas-beta2", "mas-matched"),
        matrix=False,
    ),
}


def fit_heads(run: Path, profile, window: int, seed: int, router: bool) -> None:
    """The run's accent classifier and (with `router`) router, on the clips the run trained on (synthetic and
    real)."""
    train = split_of_run(json.loads((run / "config.json").read_text())).train
    features = clip_features(profile.model, window, train, run.parent / "features.pt")
    fit_classifier(features, train, run / "accent-classifier", seed)
    if router:
        router_config = RouterConfig(**{**profile.router, "seed": seed})
        fit_router(profile.model, window, run / "best", train, features, run / "router", router_config)


def decode(sets: dict, systems: dict[str, tuple[Models, list[str], list[str]]], rows: Path, seed: int) -> None:
    """Every (set, trained_on) row: all systems on the test speakers and the native recordings' forgetting
    systems, the choosing systems on validation."""
    for trained_on, (models, test_systems, choosing) in systems.items():
        tags = {"fold": 1, "seed": seed, "trained_on": trained_on}  # fold: of the synthetic corpus it trained on
        evaluate(sets[VALIDATION], choosing, models, rows, tags | {"set": VALIDATION})
        evaluate(sets[TEST], test_systems, models, rows, tags | {"set": TEST})
        evaluate(sets[NATIVE_SET], choosing[:1], models, rows, tags | {"set": NATIVE_SET})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="speechocean762, either layout (maslora.data.speechocean)")
    parser.add_argument("--split", help="its speaker split file (default: assets/splits/speechocean762-train.csv)")
    parser.add_argument("--only", help=f"only these runs, comma-separated: {', '.join(RUNS)}")
    parser.add_argument("--size", choices=list(SIZES), default="tiny.en", help="which Whisper the runs adapt")
    parser.add_argument("--quick", action="store_true", help="the quick profile: a few steps, for tests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synthetic", type=Path, help="the synthetic-only experts (default: SIZE's, if it has them)")
    parser.add_argument(
        "--runs",
        type=Path,
        help="where training runs go; default runs/real-speech/NAME/seedN (SIZES' NAME; quick-NAME if --quick)",
    )
    parser.add_argument("--results", type=Path, help="rows and curves; default: SIZE's results folder (SIZES)")
    args = parser.parse_args()
    size = SIZES[args.size]
    profile = size.profile
    if args.quick:
        profile = replace(PROFILES["quick"], recipe=profile.recipe, model=profile.model)
    results = args.results or size.results
    synthetic_folder = args.synthetic or SYNTHETIC_ONLY / profile.model
    if args.synthetic and not args.synthetic.is_dir():
        parser.error(f"--synthetic {args.synthetic}: no such folder")
    chosen = args.only.split(",") if args.only else list(RUNS)
    unknown = set(chosen) - set(RUNS)
    if unknown:
        parser.error(f"--only {', '.join(sorted(unknown))}: no such run; runs: {', '.join(RUNS)}")
    runs = (
        args.runs
        or ROOT / "runs" / "real-speech" / (f"quick-{size.runs}" if args.quick else size.runs) / f"seed{args.seed}"
    )
    window = recipe_config(profile.recipe, "mas-lora", runs, **profile.overrides).encoder_seconds
    real = real_speech_split(args.corpus, args.split)
    fold = paper_fold(corpus_or_embedded(None, profile.prompts), 1)
    sets = {
        TEST: real.test,
        VALIDATION: real.validation,
        NATIVE_SET: held_out_native(fold, profile, None)["cc0-native"],
    }
    systems = {"none": (Models(model=profile.model, encoder_seconds=window), ["base"], ["base"])}
    if synthetic_folder.is_dir():
        synthetic = Models(
            model=profile.model,
            experts=synthetic_folder / "mas-lora",
            adapter=synthetic_folder / "lora",
            encoder_seconds=window,
            classifier=synthetic_folder / "accent-classifier",
            router=synthetic_folder / "router" if (synthetic_folder / "router").is_dir() else None,
        )
        synthetic_systems = [s for s in ["lora", *MAS_SYSTEMS] if s != "mas-router" or synthetic.router]
        systems["synthetic"] = (synthetic, synthetic_systems, [*CHOOSING_SYSTEMS, "lora"])
    for name in chosen:
        method, real_speech, design = RUNS[name]
        folder = runs / name
        taking = {"real_corpus": args.corpus, "real_split": args.split, "real_speech": real_speech}
        train_profile_run(profile, f"real-{name}", method, folder, results, 1, args.seed, **taking, **design)
        if method == "lora":
            lora = Models(model=profile.model, adapter=folder / "best", encoder_seconds=window)
            systems[name] = (lora, ["lora"], ["lora"])
            continue
        router = "mas-router" in size.mas_systems
        classifier = router or any(system.startswith("mas-auto") for system in size.mas_systems)
        if classifier:  # the heads' features pass every training clip through the encoder: only if decoded
            fit_heads(folder, profile, window, args.seed, router)
        models = Models(
            model=profile.model,
            experts=folder / "best",
            encoder_seconds=window,
            classifier=folder / "accent-classifier" if classifier else None,
            router=folder / "router" if router else None,
        )
        systems[name] = (models, list(size.mas_systems), CHOOSING_SYSTEMS)
    decode(sets, systems, results / "rows" / "real.jsonl", args.seed)
    experts = expert_matrix(set(fold.train.accent) - {NATIVE})
    for name in chosen if size.matrix else []:
        if RUNS[name][0] == "mas-lora":  # last: the bundle needs it only if this run wins
            tags = {"fold": 1, "seed": args.seed, "trained_on": name}
            evaluate(fold.test, experts, systems[name][0], results / "rows" / "real_matrix.jsonl", tags)
    print(
        f"rows: {results / 'rows' / 'real.jsonl'}"
        + (f", {results / 'rows' / 'real_matrix.jsonl'}" if size.matrix else "")
    )


if __name__ == "__main__":
    main()
