"""How much a visitor's own expert, trained on a few of their clips, helps them.

    python -m train.new_expert_experiment [--real ../shared/data/speechocean762-train [--split FILE]]
                                          [--add-back RUN/best] [--skip-synthetic] [--seed 0] [--quick]
                                          [--size tiny.en] [--bundles assets/experts] [--results assets/results]

For each new speaker the bundled experts never heard, an expert is trained on k of their clips
(maslora.training.new_expert, its default recipe: what the app's second tab runs) and added to the
bundled experts as expert 7; every system then decodes the same held-out clips of that speaker:
    base            Whisper as released                            (once per speaker: tagged clips 0)
    mas-uniform     the bundled MAS-LoRA, accent unknown          (once per speaker: tagged clips 0)
    mas-beta2       the 7 experts, beta 2 around the new one      (per k)
    expert-newcomer the new expert alone                           (per k)
    mas-uniform     the 7 experts, uniform                         (per k)
Speakers:
    synthetic   (unless --skip-synthetic, which spares the corpus's synthesis on a fresh machine)
                fold 1's held-out test speaker of each accent (the bundle's fold): k = 5, 10, 20, 40
                clips drawn from the prompts outside the fold's test and validation prompts, scored
                on their reading of the first 40 test prompts
    real        with --real (speechocean762, either layout): the split's held-out test speakers
                (assets/splits/speechocean762-train.csv; adults and children), 20 utterances each:
                k = 5, 10, 15 of their first 15, scored on their last 5 (a speaker has no more)
    add-back    with --add-back RUN (a leave-one-accent-out run's best/ experts, trained without one accent):
                that accent's expert trained from k = 20, 40, 80 clips of its training speakers and added
                to the run's experts, on its held-out test speaker, beside the bundled expert that trained
                with the others (tagged clips -1) and the run's experts alone (clips 0)
Rows go to rows/new_expert.jsonl tagged experiment, bundle (whose experts: "experts/tiny.en" is the demo's),
source, speaker, clips (k) and seed; a rerun skips what is there (a sitting cut short resumes). The committed
rows: the synthetic and real speakers with the demo's bundle and, from before the real-speech rebundle, all three
parts with the synthetic-only experts (--bundles assets/synthetic-experts; the add-back only with them).
analysis.exp_new_expert turns them into the report's section, one bundle per part, the demo's where measured.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python train/new_expert_experiment.py` works too

from maslora.data.audio import audio_seconds
from maslora.data.speaker_split import real_speech_split
from maslora.data.splits import NATIVE, paper_fold, prompt_sets
from maslora.mixture.expert_folders import add_expert
from maslora.mixture.peft_io import read_experts_manifest
from maslora.synth.generate import corpus_or_embedded
from maslora.systems.bundle import BUNDLED_EXPERTS, bundle_fold, bundled_folders, read_bundle
from maslora.systems.evaluation import Models, evaluate, read_rows
from maslora.training.new_expert import NewExpertConfig, longest_clip_seconds, train_new_expert

NEWCOMER = "newcomer"  # the new expert's name; each speaker's utterances take it as their accent
SYNTHETIC_CLIPS, REAL_CLIPS, ADD_BACK_CLIPS = (5, 10, 20, 40), (5, 10, 15), (20, 40, 80)
SYNTHETIC_TEST_CLIPS, REAL_TEST_CLIPS = 40, 5
BUNDLED_SYSTEMS = ["base", "mas-uniform"]
NEW_SYSTEMS = ["mas-beta2", "mas-uniform"]  # beside expert-<the new one's name>: the new expert alone
QUICK = {"synthetic": 2, "real": 1, "clips": (5,), "test": 2, "steps": 2}  # the quick test's share


def synthetic_speakers(fold: int, prompts: int | None) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """{speaker: (their clips to draw from, their test clips)} for the fold's accented test speakers."""
    table = corpus_or_embedded(None, prompts)
    split = paper_fold(table, fold)
    test_prompts, validation_prompts = prompt_sets(list(table.utterance_id), fold)
    speakers = {}
    for speaker, rows in table[table.speaker.isin(set(split.test.speaker))].groupby("speaker"):
        if rows.accent.iloc[0] == NATIVE:
            continue
        rows = rows.sort_values("utterance_id")
        pool = rows[~rows.utterance_id.isin(test_prompts | validation_prompts)]
        speakers[speaker] = (pool, rows[rows.utterance_id.isin(test_prompts)].head(SYNTHETIC_TEST_CLIPS))
    return speakers


def real_speakers(source: str, split: str | None) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """{speaker: (their first 15 utterances, their last 5)} for the real split's held-out test speakers."""
    test = real_speech_split(source, split).test
    speakers = {}
    for speaker, rows in test.groupby("speaker"):
        rows = rows.sort_values("utterance_id")
        speakers[speaker] = (rows.head(len(rows) - REAL_TEST_CLIPS), rows.tail(REAL_TEST_CLIPS))
    return speakers


def row_tags(args, source: str) -> dict:
    """Tags of this run's rows. The bundle they were measured with ("experts/tiny.en",
    "synthetic-experts/tiny.en") among them, so that a rebundle starts new rows instead of resuming the old's."""
    bundle = f"{args.bundles.name}/{args.size}"
    return {"experiment": "new-expert", "bundle": bundle, "source": source, "seed": args.seed}


def measured(rows_path: Path, tags: dict, count: int) -> bool:
    """Whether `rows_path` holds `count` rows with these tags: an earlier sitting measured them."""
    rows = read_rows(rows_path)
    return sum(all(row.get(key) == value for key, value in tags.items()) for row in rows) >= count


def clips_that_fit(pool: pd.DataFrame, encoder_seconds: int) -> pd.DataFrame:
    """The clips of `pool` a new expert may train on (at most longest_clip_seconds): the app asks a visitor to
    record a longer one again; here it is left out of the draw (a few real speechocean762 readings are longer)."""
    limit = longest_clip_seconds(encoder_seconds)
    return pool[[audio_seconds(path) <= limit for path in pool.path]]  # from the header where there is one


def score_new_experts(
    start: Path, name: str, pool: pd.DataFrame, test: pd.DataFrame, sizes: tuple[int, ...], tags: dict, args, config
) -> None:
    """For each k of `sizes` not measured yet: train expert `name` on k clips drawn from `pool`, add it to the
    experts folder `start`, and decode `test` with NEW_SYSTEMS and the new expert alone (rows tagged clips k);
    a k larger than the clips that fit is skipped."""
    bundle = read_bundle(args.size, args.bundles)
    pool = clips_that_fit(pool, bundle["encoder_seconds"])
    rows_path = args.results / "rows" / "new_expert.jsonl"
    for k in sizes:
        if k > len(pool) or measured(rows_path, tags | {"clips": k}, len(test) * (len(NEW_SYSTEMS) + 1)):
            continue
        clips = pool.sample(n=k, random_state=args.seed).sort_values("utterance_id")
        layers = train_new_expert(start, clips, config)
        with tempfile.TemporaryDirectory() as scratch:
            experts = Path(scratch) / "experts"
            add_expert(start, name, layers, experts)
            models = Models(model=bundle["model"], experts=experts, encoder_seconds=bundle["encoder_seconds"])
            evaluate(test, NEW_SYSTEMS + [f"expert-{name}"], models, rows_path, tags | {"clips": k}, progress=False)
        print(f"{tags['source']} {test.speaker.iloc[0]}: {k} clips done", flush=True)


def measure_speaker(
    speaker: str, source: str, pool: pd.DataFrame, test: pd.DataFrame, sizes: tuple[int, ...], args, config
) -> None:
    """The bundled systems once, then for each k a new expert trained on k of `pool` and its systems."""
    bundle = read_bundle(args.size, args.bundles)
    experts, _ = bundled_folders(args.size, args.bundles)
    test = test.assign(accent=NEWCOMER)
    tags = row_tags(args, source) | {"speaker": speaker}
    rows_path = args.results / "rows" / "new_expert.jsonl"
    bundled = Models(model=bundle["model"], experts=experts, encoder_seconds=bundle["encoder_seconds"])
    evaluate(test, BUNDLED_SYSTEMS, bundled, rows_path, tags | {"clips": 0}, progress=False)
    score_new_experts(experts, NEWCOMER, pool, test, sizes, tags, args, config)


def add_back(run: Path, sizes: tuple[int, ...], prompts: int | None, args, config) -> None:
    """The accent an experts folder was trained without (a leave-one-accent-out run's best/), added back
    from k clips of that accent's training speakers, against the bundled expert that trained with the
    others; on that accent's held-out test speakers (tagged clips -1: the bundled systems, 0: the run's)."""
    bundled_folder, _ = bundled_folders(args.size, args.bundles)
    missing = [a for a in read_experts_manifest(bundled_folder).accents if a not in read_experts_manifest(run).accents]
    if len(missing) != 1:
        raise SystemExit(f"{run} lacks {len(missing)} of the bundled accents; --add-back needs a run without one")
    accent = missing[0]
    split = paper_fold(corpus_or_embedded(None, prompts), bundle_fold(args.size, args.bundles))
    pool, test = split.train[split.train.accent == accent], split.test[split.test.accent == accent]
    test = test.head(SYNTHETIC_TEST_CLIPS) if not args.quick else test.head(QUICK["test"])
    bundle = read_bundle(args.size, args.bundles)
    tags = row_tags(args, "add-back")  # the rows name accent and speaker
    rows_path = args.results / "rows" / "new_expert.jsonl"
    with_others = Models(model=bundle["model"], experts=bundled_folder, encoder_seconds=bundle["encoder_seconds"])
    evaluate(
        test, ["base", "mas-uniform", "mas-beta2", f"expert-{accent}"], with_others, rows_path, tags | {"clips": -1}
    )
    without = Models(model=bundle["model"], experts=run, encoder_seconds=bundle["encoder_seconds"])
    evaluate(test, ["mas-uniform"], without, rows_path, tags | {"clips": 0}, progress=False)
    score_new_experts(run, accent, pool, test, sizes, tags, args, config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", help="speechocean762 (either layout): its split's held-out test speakers too")
    parser.add_argument("--split", help="its speaker split file (default: assets/splits/speechocean762-train.csv)")
    parser.add_argument("--size", default="tiny.en", help="whose bundled experts get the new expert")
    parser.add_argument(
        "--bundles",
        type=Path,
        default=BUNDLED_EXPERTS,
        help="where that bundle lies: the demo's (default), or assets/synthetic-experts (the synthetic-only experts)",
    )
    parser.add_argument("--add-back", type=Path, help="an experts folder trained without one accent: add it back")
    parser.add_argument("--skip-synthetic", action="store_true", help="only --real and --add-back: no corpus synthesis")
    parser.add_argument("--seed", type=int, default=0, help="which clips are drawn, and the expert's training")
    parser.add_argument("--quick", action="store_true", help="a few speakers, 5 clips, 2 steps: for the tests")
    parser.add_argument("--results", type=Path, default=Path(__file__).resolve().parent.parent / "assets" / "results")
    args = parser.parse_args()
    config = NewExpertConfig(seed=args.seed, steps=QUICK["steps"] if args.quick else NewExpertConfig.steps)
    groups = []
    if not args.skip_synthetic:
        synthetic = synthetic_speakers(bundle_fold(args.size, args.bundles), 20 if args.quick else None)
        groups.append(("synthetic", synthetic, SYNTHETIC_CLIPS))
    if args.real:
        groups.append(("real", real_speakers(args.real, args.split), REAL_CLIPS))
    if args.add_back:
        add_back(
            args.add_back, QUICK["clips"] if args.quick else ADD_BACK_CLIPS, 20 if args.quick else None, args, config
        )
    for source, speakers, sizes in groups:
        chosen = list(speakers.items())[: QUICK[source]] if args.quick else list(speakers.items())
        for speaker, (pool, test) in chosen:
            test = test.head(QUICK["test"]) if args.quick else test
            measure_speaker(speaker, source, pool, test, QUICK["clips"] if args.quick else sizes, args, config)
    print(f"rows: {args.results / 'rows' / 'new_expert.jsonl'}")


if __name__ == "__main__":
    main()
