"""The errors that are about the user's input, not bugs: every door (CLI, app) shows them as one readable line.

They live here, at the bottom of the package, so that every floor can raise them and the doors can
catch them all (USER_ERRORS) without importing the modules that raise them.
"""


class AudioError(ValueError):
    """The audio cannot be used: missing, unreadable, empty, not finite, too long, or a bad sample rate."""


class CorpusError(ValueError):
    """A corpus file or folder is malformed or refers to audio that is not there."""


class MicrophoneError(RuntimeError):
    """No way to record: the PortAudio library is missing, or there is no input device."""


class EspeakError(RuntimeError):
    """espeak-ng is missing or failed."""


class ModelNotFoundError(FileNotFoundError):
    """The named model is neither bundled and installed, nor a CTranslate2 or HF folder, nor loadable from the hub."""


class ConversionError(ValueError):
    """The CTranslate2 checkpoint does not map onto transformers' Whisper one-to-one."""


class AdapterError(ValueError):
    """An adapter folder is missing, not PEFT LoRA, not safetensors, holds NaN, or does not fit the model."""


class WeightsError(ValueError):
    """A weighting that cannot be used: unknown accent, negative or non-finite weight, all zero, bad beta."""


class TextError(ValueError):
    """A reference text that cannot be scored: longer than any clip a compare takes could hold."""


class TrainingError(RuntimeError):
    """Training could not finish: its loss stopped being a number, or it was cancelled."""


class TrainingCancelled(TrainingError):
    """The user stopped a training before its end; nothing it trained was saved."""


class SpaceError(RuntimeError):
    """The Space cannot be built or pushed: --out is taken, a bad Space name, no token, the Hub unreachable."""


USER_ERRORS = (
    AudioError,
    ModelNotFoundError,
    ConversionError,
    CorpusError,
    EspeakError,
    AdapterError,
    WeightsError,
    TextError,
    MicrophoneError,
    TrainingError,
    SpaceError,
)
