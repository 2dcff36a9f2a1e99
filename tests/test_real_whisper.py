"""End to end on real speech: the converted bundled models transcribe real native recordings accurately."""

import pytest

from maslora.data.audio import load_audio
from maslora.wer import error_counts
from maslora.whisper.transcribe import transcribe

pytestmark = pytest.mark.slow  # hundreds of real recordings through real models


def test_tiny_en_wer_on_all_593_real_native_recordings_is_under_6_percent(tiny_en, native_clips):
    # All of them, not a chosen subset: per-subset WER varies (3.7% on the first 60, 6.8% on every 10th).
    clips = native_clips
    assert len(clips) == 593
    hypotheses = transcribe(tiny_en, [load_audio(path) for path, _ in clips])
    counts = error_counts([text for _, text in clips], hypotheses)
    print(f"tiny.en WER on {len(clips)} native clips: {counts.wer:.2%} ({counts.errors}/{counts.reference_words})")
    assert counts.wer < 0.06


def test_base_transcribes_real_native_recordings(base, native_clips):
    clips = native_clips[5:605:50]  # 12 prompts
    hypotheses = transcribe(base, [load_audio(path) for path, _ in clips])
    counts = error_counts([text for _, text in clips], hypotheses)
    print(f"base WER on {len(clips)} native clips: {counts.wer:.2%} ({counts.errors}/{counts.reference_words})")
    assert counts.wer < 0.08
