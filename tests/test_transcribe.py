"""Windowing of long audio, token budgets, and batched decoding on the real tiny.en."""

import numpy as np
import pytest

from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.wer import error_counts
from maslora.whisper.decoding import MAX_NEW_TOKENS, token_budget
from maslora.whisper.transcribe import WINDOW_SAMPLES, DecodingOptions, split_into_windows, transcribe


def test_short_audio_is_one_window():
    audio = np.ones(SAMPLE_RATE * 12, np.float32)
    assert [len(w) for w in split_into_windows(audio)] == [len(audio)]


def test_long_audio_is_cut_in_its_pauses_and_nothing_is_lost():
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, 70 * SAMPLE_RATE).astype(np.float32)
    for pause_at in (27.3, 55.0):  # 200 ms of silence inside each window's last 5 s
        start = int(pause_at * SAMPLE_RATE)
        audio[start - 1600 : start + 1600] = 0.0
    windows = split_into_windows(audio)
    assert len(windows) == 3
    assert all(len(w) <= WINDOW_SAMPLES for w in windows)
    cuts = np.cumsum([len(w) for w in windows])[:-1] / SAMPLE_RATE
    assert np.allclose(cuts, [27.3, 55.0], atol=0.1)
    assert np.array_equal(np.concatenate(windows), audio)


def test_token_budget_grows_with_duration_up_to_whispers_limit():
    assert token_budget(0.0) == 10
    assert token_budget(5.0) == 60
    assert token_budget(30.0) == MAX_NEW_TOKENS


@pytest.mark.slow
def test_batched_transcripts_equal_one_by_one(tiny_en, native_clips):
    audios = [load_audio(path) for path, _ in native_clips[100:106]]
    batched = transcribe(tiny_en, audios, DecodingOptions(batch_size=6))
    single = [transcribe(tiny_en, [audio], DecodingOptions(batch_size=1))[0] for audio in audios]
    assert batched == single
    assert all(text for text in batched)


@pytest.mark.slow
def test_audio_longer_than_30_seconds_is_transcribed_whole(tiny_en, native_clips):
    clips = native_clips[200:214]
    pause = np.zeros(SAMPLE_RATE // 3, np.float32)
    audio = np.concatenate([part for path, _ in clips for part in (load_audio(path), pause)])
    assert len(audio) > 40 * SAMPLE_RATE  # two windows at least
    (text,) = transcribe(tiny_en, [audio])
    reference = " ".join(text for _, text in clips)
    assert error_counts([reference], [text]).wer < 0.10
