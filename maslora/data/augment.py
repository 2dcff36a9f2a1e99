"""On-the-fly training augmentation: speed, pitch, additive noise at a chosen SNR, simple reverberation.

Synthetic speech is exactly repeatable, so an expert trained on it could learn espeak's waveforms
instead of the accent. Perturbing every training clip differently makes the accent pattern the only
thing that stays constant. All functions take and return 16 kHz mono float32 and are pure given `rng`.
"""

from dataclasses import dataclass

import numpy as np
import soxr

from maslora.data.audio import SAMPLE_RATE, load_audio

WSOLA_FRAME = 400  # 25 ms frames for time stretching: long enough to hold a pitch period of any voice
WSOLA_HOP = 200  # 50% overlap of Hann windows sums to a constant
WSOLA_TOLERANCE = 160  # search +-10 ms for the best-aligned frame, about one pitch period at 100 Hz


@dataclass(frozen=True)
class AugmentConfig:
    speed_range: tuple[float, float] = (0.9, 1.1)  # Kaldi's classic 3-way speed perturbation spans 0.9-1.1
    pitch_semitones: float = 2.0  # +-2 semitones: a different speaker, still the same phonemes
    snr_db_range: tuple[float, float] = (10.0, 30.0)  # from noisy room to near clean
    rt60_range: tuple[float, float] = (0.2, 0.6)  # small office to living room reverberation times, seconds
    probability: float = 0.5  # each perturbation is applied independently with this chance


def speed_perturb(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster: tempo and pitch both change, duration is divided by `factor`."""
    return soxr.resample(audio, SAMPLE_RATE * factor, SAMPLE_RATE).astype(np.float32)


def time_stretch(audio: np.ndarray, rate: float) -> np.ndarray:
    """WSOLA: duration divided by `rate`, pitch kept. Each output frame is the input frame near its
    nominal position whose start best continues the previous output frame (highest cross-correlation)."""
    window = np.hanning(WSOLA_FRAME).astype(np.float32)
    padded = np.concatenate(
        [np.zeros(WSOLA_TOLERANCE, np.float32), audio, np.zeros(WSOLA_FRAME + WSOLA_TOLERANCE, np.float32)]
    )
    n_frames = max(1, int(len(audio) / rate / WSOLA_HOP))
    out = np.zeros(n_frames * WSOLA_HOP + WSOLA_FRAME, np.float32)
    previous_end = WSOLA_TOLERANCE  # where the natural continuation of the last copied frame starts
    for index in range(n_frames):
        nominal = WSOLA_TOLERANCE + int(index * WSOLA_HOP * rate)
        low, high = max(0, nominal - WSOLA_TOLERANCE), min(len(padded) - WSOLA_FRAME, nominal + WSOLA_TOLERANCE)
        target = padded[previous_end : previous_end + WSOLA_FRAME]
        if index and len(target) == WSOLA_FRAME:  # correlate: one C loop, 8x faster than a matmul of strided frames
            start = low + int(np.argmax(np.correlate(padded[low : high + WSOLA_FRAME], target, "valid")))
        else:
            start = nominal
        out[index * WSOLA_HOP : index * WSOLA_HOP + WSOLA_FRAME] += window * padded[start : start + WSOLA_FRAME]
        previous_end = start + WSOLA_HOP
    return out[: int(len(audio) / rate)]


def pitch_shift(audio: np.ndarray, semitones: float) -> np.ndarray:
    """Raise pitch by `semitones` at the same duration: speed up by 2**(s/12), then stretch back."""
    factor = 2.0 ** (semitones / 12.0)
    return time_stretch(speed_perturb(audio, factor), 1.0 / factor)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise so that signal power / noise power = 10**(snr_db / 10)."""
    signal_power = float(np.mean(np.square(audio))) or 1e-10
    noise = rng.standard_normal(len(audio)).astype(np.float32)
    noise *= np.sqrt(signal_power / 10 ** (snr_db / 10) / np.mean(np.square(noise)))
    return audio + noise


def reverberate(audio: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with an exponentially decaying noise impulse response (60 dB down after `rt60` s),
    keeping the direct sound and the input's loudness; the tail beyond the input's length is cut."""
    length = int(rt60 * SAMPLE_RATE)
    decay = np.exp(-6.9 * np.arange(length) / length)  # e**-6.9 = 1/1000 = -60 dB
    response = (rng.standard_normal(length) * decay * 0.3).astype(np.float32)
    response[0] = 1.0
    size = len(audio) + length - 1
    wet = np.fft.irfft(np.fft.rfft(audio, size) * np.fft.rfft(response, size), size)[: len(audio)]
    gain = np.sqrt(np.mean(np.square(audio)) / max(np.mean(np.square(wet)), 1e-12))
    return (wet * gain).astype(np.float32)


def augment(audio: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Apply each perturbation with `config.probability`, in the order a recording would: voice (speed,
    pitch), room (reverb), then microphone (noise)."""
    if rng.random() < config.probability:
        audio = speed_perturb(audio, rng.uniform(*config.speed_range))
    if rng.random() < config.probability:
        audio = pitch_shift(audio, rng.uniform(-config.pitch_semitones, config.pitch_semitones))
    if rng.random() < config.probability:
        audio = reverberate(audio, rng.uniform(*config.rt60_range), rng)
    if rng.random() < config.probability:
        audio = add_noise(audio, rng.uniform(*config.snr_db_range), rng)
    return audio.astype(np.float32, copy=False)


def training_audio(paths: list[str], config: AugmentConfig | None, seeds: list[list[int]]) -> list[np.ndarray]:
    """The clips a training step hears: each read, and perturbed with its own seed unless `config` is None.
    A function of its arguments only, so a worker process can prepare the next step's clips."""
    audios = [load_audio(path) for path in paths]
    if config is None:
        return audios
    return [augment(audio, config, np.random.default_rng(seed)) for audio, seed in zip(audios, seeds)]
