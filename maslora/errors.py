"""The errors that are about the user's input, not bugs: every door (CLI, app) shows them as one readable line."""

from maslora.audio import AudioError
from maslora.corpora import CorpusError
from maslora.microphone import MicrophoneError
from maslora.peft_io import AdapterError
from maslora.synth.espeak import EspeakError
from maslora.weights import WeightsError
from maslora.whisper_convert import ConversionError
from maslora.whisper_io import ModelNotFoundError

USER_ERRORS = (AudioError, ModelNotFoundError, ConversionError, CorpusError, EspeakError, AdapterError, WeightsError, MicrophoneError)
