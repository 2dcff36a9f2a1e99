"""maslora: Mixture of Accent-Specific LoRAs for Whisper (arXiv 2505.20006), toolkit and demo core.

The small public API; everything else lives in the module that owns the idea.
"""

from maslora.audio import SAMPLE_RATE, AudioError, load_audio, to_model_audio
from maslora.transcribe import transcribe, transcribe_files
from maslora.whisper_io import DEFAULT_MODEL, ModelNotFoundError, Whisper, load_whisper

__all__ = [
    "SAMPLE_RATE",
    "AudioError",
    "load_audio",
    "to_model_audio",
    "transcribe",
    "transcribe_files",
    "DEFAULT_MODEL",
    "ModelNotFoundError",
    "Whisper",
    "load_whisper",
]
