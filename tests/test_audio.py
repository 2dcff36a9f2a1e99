"""Audio in: every format and layout becomes 16 kHz mono float32; every bad input gets a clear error."""

import subprocess

import numpy as np
import pytest
import soundfile

from maslora.data.audio import SAMPLE_RATE, load_audio, to_model_audio
from maslora.errors import AudioError


def _tone(seconds: float, rate: int, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _dominant_frequency(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(samples))


@pytest.mark.parametrize(
    "suffix, rate, channels, subtype",
    [
        (".wav", 44_100, 2, "PCM_16"),
        (".wav", 48_000, 1, "FLOAT"),
        (".flac", 8_000, 1, "PCM_16"),
        (".flac", 22_050, 3, "PCM_24"),
        (".ogg", 32_000, 2, "VORBIS"),
        (".mp3", 24_000, 1, "MPEG_LAYER_III"),
    ],
)
def test_files_of_any_format_rate_and_channel_count_become_16k_mono(tmp_path, suffix, rate, channels, subtype):
    tone = _tone(2.0, rate)
    path = tmp_path / f"tone{suffix}"
    soundfile.write(path, np.stack([tone] * channels, axis=1), rate, subtype=subtype)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 2 * SAMPLE_RATE) <= 0.06 * SAMPLE_RATE  # mp3 adds encoder padding
    assert abs(_dominant_frequency(audio) - 440.0) < 2.0


def test_integer_arrays_are_scaled_and_channels_averaged():
    stereo = np.array([[16384, -16384], [32767, 32767]], dtype=np.int16).repeat(8000, axis=0)
    audio = to_model_audio(stereo, SAMPLE_RATE)
    assert audio.dtype == np.float32
    assert audio[0] == 0.0 and np.isclose(audio[-1], 32767 / 32768)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(AudioError, match="audio file not found: .*nope.wav"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="is not a file"):
        load_audio(tmp_path)


def test_non_audio_file_is_named(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are meeting notes, not audio")
    with pytest.raises(AudioError, match="could not read .*notes.wav as audio"):
        load_audio(path)


def test_zero_samples(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0, np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="empty.wav has no samples"):
        load_audio(path)


def test_all_nan_and_partly_infinite(tmp_path):
    path = tmp_path / "nan.wav"
    soundfile.write(path, np.full(1600, np.nan, np.float32), SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match="1600 of 1600 samples are NaN or infinite"):
        load_audio(path)
    partly = _tone(0.1, SAMPLE_RATE)
    partly[5] = np.inf
    with pytest.raises(AudioError, match="1 of 1600 samples"):
        to_model_audio(partly, SAMPLE_RATE)


def test_too_long_is_refused_before_decoding(tmp_path):
    path = tmp_path / "long.flac"
    soundfile.write(path, _tone(3.0, SAMPLE_RATE), SAMPLE_RATE)
    with pytest.raises(AudioError, match="long.flac is 3 s long; the limit is 2 s"):
        load_audio(path, max_seconds=2)


@pytest.mark.parametrize("rate", [0, -16000, 16000.5, 100, 10_000_000])
def test_unusable_sample_rates(rate):
    with pytest.raises(AudioError, match="sample rate"):
        to_model_audio(_tone(0.1, SAMPLE_RATE), rate)


def test_wrong_shapes_and_dtypes():
    with pytest.raises(AudioError, match="shape"):
        to_model_audio(np.zeros((2, 2, 2), np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="dtype"):
        to_model_audio(np.array(["a", "b"]), SAMPLE_RATE)


def _webm(tmp_path, seconds: float, name: str = "recording.webm"):
    """A browser-style recording: 48 kHz stereo Opus in WebM, which libsndfile cannot read."""
    wav = tmp_path / "source.wav"
    soundfile.write(wav, np.stack([_tone(seconds, 48_000)] * 2, axis=1), 48_000)
    webm = tmp_path / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "libopus", str(webm)], check=True)
    return webm


@pytest.mark.ffmpeg
def test_webm_is_decoded_by_ffmpeg(tmp_path):
    samples = load_audio(_webm(tmp_path, 1.5))
    assert abs(len(samples) - 1.5 * SAMPLE_RATE) < 0.05 * SAMPLE_RATE
    assert abs(_dominant_frequency(samples) - 440) < 5


@pytest.mark.ffmpeg  # the clip itself is made with ffmpeg
def test_webm_without_ffmpeg_names_what_is_missing(tmp_path, monkeypatch):
    webm = _webm(tmp_path, 0.5)
    monkeypatch.setattr("maslora.data.audio.shutil.which", lambda name: None)
    with pytest.raises(AudioError, match="need ffmpeg, which is not installed"):
        load_audio(webm)


@pytest.mark.ffmpeg
def test_too_long_webm_is_refused(tmp_path):
    with pytest.raises(AudioError, match="long.webm is longer than 2 s, the limit"):
        load_audio(_webm(tmp_path, 4, "long.webm"), max_seconds=2)
