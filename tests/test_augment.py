"""Augmentation: each perturbation does what its name says, measured on signals where it can be measured."""

import numpy as np
import pytest

from maslora.data.audio import SAMPLE_RATE
from maslora.data.augment import (
    AugmentConfig,
    add_noise,
    augment,
    pitch_shift,
    reverberate,
    speed_perturb,
    time_stretch,
)


def _tone(frequency: float = 200.0, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _frequency(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(audio))


def test_speed_perturbation_changes_duration_and_pitch_together():
    fast = speed_perturb(_tone(), 1.1)
    assert len(fast) == pytest.approx(2 * SAMPLE_RATE / 1.1, abs=2)
    assert _frequency(fast) == pytest.approx(220.0, abs=2)


def test_time_stretch_keeps_pitch():
    slow = time_stretch(_tone(), 0.8)
    assert len(slow) == pytest.approx(2 * SAMPLE_RATE / 0.8, abs=2)
    assert _frequency(slow) == pytest.approx(200.0, abs=2)


def test_pitch_shift_keeps_duration():
    shifted = pitch_shift(_tone(), 2.0)
    assert abs(len(shifted) - 2 * SAMPLE_RATE) < 0.01 * SAMPLE_RATE
    assert _frequency(shifted) == pytest.approx(200.0 * 2 ** (2 / 12), abs=3)


def test_noise_is_added_at_the_requested_snr():
    clean = _tone()
    noisy = add_noise(clean, 10.0, np.random.default_rng(0))
    snr = 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))
    assert snr == pytest.approx(10.0, abs=0.01)


def test_reverberation_smears_an_impulse_over_rt60_and_keeps_loudness():
    click = np.zeros(SAMPLE_RATE, np.float32)
    click[1000] = 1.0
    wet = reverberate(click, 0.4, np.random.default_rng(0))
    assert len(wet) == len(click)
    assert np.mean(wet**2) == pytest.approx(np.mean(click**2), rel=1e-3)
    tail = np.abs(wet[1000 + int(0.1 * SAMPLE_RATE) : 1000 + int(0.3 * SAMPLE_RATE)])
    assert tail.max() > 0.001 and np.abs(wet[1000 + int(0.41 * SAMPLE_RATE) :]).max() < 1e-6  # FFT round-off only


def test_augment_is_deterministic_under_a_seed_and_always_finite():
    audio = _tone(seconds=1.0)
    config = AugmentConfig(probability=1.0)
    first = augment(audio, config, np.random.default_rng(5))
    assert np.array_equal(first, augment(audio, config, np.random.default_rng(5)))
    assert not np.array_equal(first, augment(audio, config, np.random.default_rng(6)))
    assert first.dtype == np.float32 and np.isfinite(first).all()
    assert np.array_equal(augment(audio, AugmentConfig(probability=0.0), np.random.default_rng(5)), audio)
