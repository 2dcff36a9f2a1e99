"""Recording from the system microphone with sounddevice (PortAudio), for the local `record` command.

sounddevice is a thin wrapper: importing it fails when the PortAudio C library is missing, and a
machine without a microphone has no default input device. Both become a MicrophoneError that says
which one it is, so the command can print one line instead of a traceback.
"""

import numpy as np

from maslora.data.audio import to_model_audio
from maslora.errors import MicrophoneError


def default_input() -> dict:
    """The default input device (sounddevice's description: name, default_samplerate, ...)."""
    try:
        import sounddevice  # imported here: its import fails without PortAudio, and only recording needs it
    except ImportError as error:
        raise MicrophoneError(
            f"recording needs the Python package sounddevice: pip install sounddevice ({error})"
        ) from error
    except OSError as error:
        raise MicrophoneError(
            f"recording needs the PortAudio library, which is missing ({error}); install the system package "
            "libportaudio2 (Debian and Ubuntu: apt-get install libportaudio2)"
        ) from error
    try:
        return sounddevice.query_devices(kind="input")
    except sounddevice.PortAudioError as error:
        raise MicrophoneError(f"no input device (microphone) to record from: {error}") from error


def record(seconds: float, device: dict) -> np.ndarray:
    """`seconds` of mono audio from `device` (see default_input), as 16 kHz float32."""
    import sounddevice

    rate = int(device["default_samplerate"])
    samples = sounddevice.rec(
        int(seconds * rate), samplerate=rate, channels=1, dtype="float32", device=device["index"], blocking=True
    )
    return to_model_audio(samples, rate, source=f"the microphone ({device['name']})")
