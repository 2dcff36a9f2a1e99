"""A mixture of experts (or a regular LoRA) merged into Whisper's weights, written for other runtimes.

Format "hf": a Hugging Face Whisper folder (safetensors, config, generation config, tokenizer and feature
extractor files) that plain transformers loads with WhisperForConditionalGeneration.from_pretrained and
pipeline("automatic-speech-recognition", model=FOLDER). It keeps the encoder window the experts were
trained in (config max_source_positions, the feature extractor's chunk_length): transformers then runs it
as we do, and audio longer than the window has to be cut by the caller (the pipeline's chunk_length_s).
What the export was made from is recorded in EXPORT_INFO beside the weights.
"""

import json
from pathlib import Path

from maslora.atomic import replace_folder
from maslora.errors import WeightsError
from maslora.mixture.layer import without_adapters
from maslora.whisper.load import Whisper

EXPORT_INFO = "maslora_export.json"
FORMATS = ("hf",)


def export(whisper: Whisper, out: Path, file_format: str, made_from: dict) -> None:
    """Write `whisper` (its adapters merged; they are taken out of the model) to `out`, which must not exist."""
    if file_format not in FORMATS:
        raise WeightsError(f"unknown export format {file_format!r}: {', '.join(FORMATS)}")
    if out.exists():
        raise WeightsError(f"{out} already exists: exports go to a new folder, nothing is overwritten")
    without_adapters(whisper.model)
    info = {**made_from, "format": file_format, "encoder_seconds": whisper.feature_extractor.chunk_length}

    def write(scratch: Path) -> None:
        whisper.model.save_pretrained(scratch)
        whisper.tokenizer.save_pretrained(scratch)
        whisper.feature_extractor.save_pretrained(scratch)
        (scratch / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    replace_folder(out, write)
