"""Audio -> English text: long audio cut into 30-second windows, windows decoded in batches, text re-joined."""

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.whisper.decoding import greedy_decode, token_budget
from maslora.whisper.load import Whisper

WINDOW_SECONDS = 30  # Whisper's encoder sees exactly 30 s (3000 mel frames); longer audio must be cut
WINDOW_SAMPLES = WINDOW_SECONDS * SAMPLE_RATE  # 480,000 samples
CUT_SEARCH_SECONDS = 5  # look for a pause in the last 5 s of a window, so a cut rarely splits a word
CUT_FRAME_SAMPLES = SAMPLE_RATE // 10  # loudness is compared over 100 ms frames
DEFAULT_BATCH_SIZE = 8  # every window costs a full 30 s encoder pass; 8 keeps CPU memory under ~1 GB on base


def split_into_windows(audio: np.ndarray, window_samples: int = WINDOW_SAMPLES) -> list[np.ndarray]:
    """Cut audio longer than a window (30 s) at the quietest 100 ms frame of each window's last 5 s.

    Example: 70 s of speech with pauses at 27.3 s and 55.0 s -> windows of 27.3 s, 27.7 s and 15.0 s.
    """
    windows = []
    start = 0
    search_samples = min(CUT_SEARCH_SECONDS * SAMPLE_RATE, window_samples // 2)
    while len(audio) - start > window_samples:
        search_from = start + window_samples - search_samples
        region = audio[search_from : start + window_samples]
        frames = region[: len(region) // CUT_FRAME_SAMPLES * CUT_FRAME_SAMPLES].reshape(-1, CUT_FRAME_SAMPLES)
        quietest = int(np.argmin(np.square(frames).mean(axis=1)))
        cut = search_from + quietest * CUT_FRAME_SAMPLES + CUT_FRAME_SAMPLES // 2
        windows.append(audio[start:cut])
        start = cut
    windows.append(audio[start:])
    return windows


def log_mel_features(whisper: Whisper, windows: list[np.ndarray]) -> torch.Tensor:
    """[batch, mels, 3000] log-mel features, each window zero-padded to 30 s (or the cropped window)."""
    return whisper.feature_extractor(windows, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features


def transcribe(
    whisper: Whisper,
    audios: list[np.ndarray],
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
    batch_context: Callable[[list[int]], AbstractContextManager] | None = None,
) -> list[str]:
    """One transcript per 16 kHz mono clip (see maslora.data.audio); clips of any length, batched by window.

    `batch_context(clips)` is entered around each batch's decoding, given the clip index of every window
    in the batch: how a caller gives each clip its own adapter weights (maslora.systems routes the
    experts this way); None runs the model as it is.
    """
    windows: list[tuple[int, int, np.ndarray]] = []  # (clip index, window index, samples)
    window_counts = []
    for clip_index, audio in enumerate(audios):
        clip_windows = split_into_windows(audio, whisper.feature_extractor.n_samples)  # 30 s unless cropped
        window_counts.append(len(clip_windows))
        windows += [(clip_index, window_index, window) for window_index, window in enumerate(clip_windows)]
    # Longest first: rows of a batch then need similar token counts, so few steps are spent on finished rows.
    windows.sort(key=lambda item: -len(item[2]))
    texts: dict[tuple[int, int], str] = {}
    starts = range(0, len(windows), batch_size)
    for batch_start in tqdm(starts, desc="transcribing", unit="batch", disable=not progress):
        batch = windows[batch_start : batch_start + batch_size]
        samples = [window for _, _, window in batch]
        budgets = [token_budget(len(window) / SAMPLE_RATE) for window in samples]
        clips = [clip_index for clip_index, _, _ in batch]
        with batch_context(clips) if batch_context is not None else contextlib.nullcontext():
            token_rows = greedy_decode(whisper, log_mel_features(whisper, samples), budgets)
        for (clip_index, window_index, _), tokens in zip(batch, token_rows):
            texts[clip_index, window_index] = whisper.tokenizer.decode(tokens, skip_special_tokens=True).strip()
    return [" ".join(texts[i, w] for w in range(count) if texts[i, w]) for i, count in enumerate(window_counts)]


def transcribe_files(whisper: Whisper, paths: list[str | Path], batch_size: int = DEFAULT_BATCH_SIZE) -> list[str]:
    """Read every file first (so a bad file fails before any decoding), then transcribe them together."""
    return transcribe(whisper, [load_audio(path) for path in paths], batch_size)
