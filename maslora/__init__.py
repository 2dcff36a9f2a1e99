"""maslora: Mixture of Accent-Specific LoRAs for Whisper (arXiv 2505.20006), toolkit and demo core.

The small public API; everything else lives in the module that owns the idea.

    whisper = load_whisper("tiny.en")
    accents = load_experts(whisper.model, "runs/mas/best")
    merge(whisper.model, normalized_weights(beta_weights("korean", 2, accents), accents))
    print(transcribe(whisper, [load_audio("clip.wav")]))

    combined = CombinedWhisper(load_whisper("tiny.en"), "runs/mas/best", "runs/lora/best")  # base, LoRA, MAS-LoRA
    print(compare(combined, load_audio("clip.wav"), uniform_weights(combined.accents), reference="what was said"))
"""

from maslora.data.audio import SAMPLE_RATE, load_audio, to_model_audio
from maslora.data.corpora import load_corpus
from maslora.errors import AudioError, ModelNotFoundError
from maslora.mixture.layer import merge, unmerge
from maslora.mixture.peft_io import load_adapter, load_experts
from maslora.mixture.weights import beta_weights, normalized_weights, uniform_weights
from maslora.systems.bundle import load_bundled_whisper
from maslora.systems.combined_whisper import CombinedWhisper
from maslora.systems.compare import compare
from maslora.systems.evaluation import Models, evaluate
from maslora.systems.system import System
from maslora.whisper.load import DEFAULT_MODEL, Whisper, load_whisper
from maslora.whisper.transcribe import GREEDY, GUARDED, DecodingOptions, transcribe, transcribe_files

__all__ = [
    "SAMPLE_RATE",
    "AudioError",
    "load_audio",
    "to_model_audio",
    "load_corpus",
    "compare",
    "Models",
    "evaluate",
    "System",
    "CombinedWhisper",
    "load_bundled_whisper",
    "merge",
    "unmerge",
    "load_adapter",
    "load_experts",
    "transcribe",
    "transcribe_files",
    "DecodingOptions",
    "GREEDY",
    "GUARDED",
    "beta_weights",
    "normalized_weights",
    "uniform_weights",
    "DEFAULT_MODEL",
    "ModelNotFoundError",
    "Whisper",
    "load_whisper",
]
