"""Any audio file or sample array -> 16 kHz mono float32, the only input the models ever see.

Decoding is soundfile's (libsndfile: wav, flac, ogg/vorbis/opus, mp3, aiff, ...), then ffmpeg's when it is
installed, for what libsndfile cannot read (browsers record WebM; phones save m4a); resampling is soxr's.
Every way an input can be unusable raises AudioError with the file name and what was wrong.
"""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile
import soxr

from maslora.errors import AudioError

SAMPLE_RATE = 16_000  # Whisper's front end is fixed at 16 kHz
MAX_SECONDS = 30 * 60  # 30 minutes = 28.8 M samples (115 MB as float32); anything longer is likely a mistake
LOWEST_SAMPLE_RATE = 1_000  # below this nothing resembling speech survives; a smaller value is a caller error
HIGHEST_SAMPLE_RATE = 768_000  # the highest rate audio interfaces offer
SILENCE_DBFS = -60.0  # speech at a normal distance sits around -30 to -15 dBFS RMS; a muted or unplugged
# microphone records its noise floor, below -60


def _integer_to_float(samples: np.ndarray) -> np.ndarray:
    """PCM integers to floats in [-1, 1): int16 / 2**15, int32 / 2**31, uint8 centred on 128."""
    if samples.dtype == np.uint8:
        return (samples.astype(np.float32) - 128.0) / 128.0
    return samples.astype(np.float32) / float(2 ** (8 * samples.itemsize - 1))


def to_model_audio(
    samples: np.ndarray, sample_rate: int, source: str = "audio", max_seconds: float = MAX_SECONDS
) -> np.ndarray:
    """Samples of any dtype, shape (n,) or (n, channels), at any rate -> 16 kHz mono float32.

    Example: an int16 stereo array at 48 kHz of shape (96000, 2) -> float32 of shape (32000,).
    """
    if not isinstance(sample_rate, (int, np.integer)) or not LOWEST_SAMPLE_RATE <= sample_rate <= HIGHEST_SAMPLE_RATE:
        raise AudioError(
            f"{source}: sample rate {sample_rate!r} is not usable; expected an integer number of Hz "
            f"between {LOWEST_SAMPLE_RATE} and {HIGHEST_SAMPLE_RATE}"
        )
    samples = np.asarray(samples)
    if samples.ndim not in (1, 2):
        raise AudioError(f"{source}: expected samples shaped (n,) or (n, channels), got shape {samples.shape}")
    if samples.size == 0:
        raise AudioError(f"{source} has no samples (an empty recording?)")
    if samples.dtype.kind in "iu":
        samples = _integer_to_float(samples)
    elif samples.dtype.kind != "f":
        raise AudioError(f"{source}: samples of dtype {samples.dtype} are not audio")
    seconds = samples.shape[0] / sample_rate
    if seconds > max_seconds:
        raise AudioError(f"{source} is {seconds:.0f} s long; the limit is {max_seconds:.0f} s")
    not_finite = int(np.count_nonzero(~np.isfinite(samples)))
    if not_finite:
        raise AudioError(f"{source}: {not_finite} of {samples.size} samples are NaN or infinite")
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    mono = mono.astype(np.float32, copy=False)
    if sample_rate != SAMPLE_RATE:
        mono = soxr.resample(mono, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)
    return mono


def load_audio(path: str | Path, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Read an audio file and return 16 kHz mono float32 samples."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if not path.is_file():
        raise AudioError(f"{path} is not a file")
    try:
        info = soundfile.info(str(path))
        if info.samplerate > 0 and info.frames / info.samplerate > max_seconds:
            # Refuse before decoding: a long file would otherwise be read whole into memory first.
            raise AudioError(f"{path} is {info.frames / info.samplerate:.0f} s long; the limit is {max_seconds:.0f} s")
        samples, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        return _decode_with_ffmpeg(path, max_seconds, reason=str(error))
    return to_model_audio(samples, sample_rate, source=str(path), max_seconds=max_seconds)


def is_silent(audio: np.ndarray) -> bool:
    """Whether 16 kHz mono samples hold nothing louder than a muted microphone (RMS under SILENCE_DBFS)."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return rms < 10 ** (SILENCE_DBFS / 20)


def audio_seconds(path: str | Path) -> float:
    """A file's duration from its header when libsndfile can read one, else by decoding it."""
    try:
        info = soundfile.info(str(path))
        if info.samplerate > 0 and info.frames > 0:
            return info.frames / info.samplerate
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        pass
    return len(load_audio(path)) / SAMPLE_RATE


def _decode_with_ffmpeg(path: Path, max_seconds: float, reason: str) -> np.ndarray:
    """16 kHz mono float32 decoded by ffmpeg (downmixed and resampled by it), for formats libsndfile lacks."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError(
            f"could not read {path} as audio ({reason}); wav, flac, ogg and mp3 are read directly, "
            "other formats (webm, m4a, ...) need ffmpeg, which is not installed (apt install ffmpeg)"
        )
    # One second past the limit is enough to know the file is too long, without decoding all of it.
    command = [
        ffmpeg,
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-t",
        str(max_seconds + 1),
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-f",
        "f32le",
        "-",
    ]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        said = result.stderr.decode(errors="replace").strip().splitlines()
        raise AudioError(
            f"could not read {path} as audio: neither soundfile nor ffmpeg can ({said[-1] if said else reason})"
        )
    samples = np.frombuffer(result.stdout, dtype="<f4")
    if len(samples) > max_seconds * SAMPLE_RATE:
        raise AudioError(f"{path} is longer than {max_seconds:.0f} s, the limit")
    return to_model_audio(samples, SAMPLE_RATE, source=str(path), max_seconds=max_seconds)
