"""Audio -> English text: long audio cut into 30-second windows, windows decoded in batches, text re-joined."""

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from maslora.data.audio import SAMPLE_RATE, is_silent, load_audio
from maslora.whisper.decoding import Decoded, decode, token_budget
from maslora.whisper.guards import DecodingGuards, decode_with_fallback
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


@dataclass(frozen=True)
class Segment:
    """One decoding window of a clip: where it lies in the clip, and what was said in it ("" for silence)."""

    start: float  # seconds from the clip's start
    end: float
    text: str


@dataclass(frozen=True, kw_only=True)
class DecodingOptions:
    """How clips decode, the same for every caller: one value, passed whole."""

    # None decodes every window greedily once, as the paper's numbers are; see maslora.whisper.guards.
    guards: DecodingGuards | None = DecodingGuards()
    batch_size: int = DEFAULT_BATCH_SIZE  # windows per forward pass
    progress: bool = False  # a bar over the batches, for long runs at a terminal


GUARDED = DecodingOptions()  # what a listener gets: the page, `transcribe`, the `evaluate` command
GREEDY = DecodingOptions(guards=None)  # what every committed result decodes with: the paper's greedy decoding


def transcribe(
    whisper: Whisper,
    audios: list[np.ndarray],
    options: DecodingOptions = GUARDED,
    batch_context: Callable[[list[int]], AbstractContextManager] | None = None,
) -> list[str]:
    """One transcript per 16 kHz mono clip: its segments' texts joined (see transcribe_segments)."""
    clips = transcribe_segments(whisper, audios, options, batch_context)
    return [" ".join(segment.text for segment in segments if segment.text) for segments in clips]


def transcribe_segments(
    whisper: Whisper,
    audios: list[np.ndarray],
    options: DecodingOptions = GUARDED,
    batch_context: Callable[[list[int]], AbstractContextManager] | None = None,
) -> list[list[Segment]]:
    """The segments of each 16 kHz mono clip (see maslora.data.audio): clips of any length, cut into windows
    at pauses (split_into_windows), every window decoded in batches of `options.batch_size`.

    `batch_context(clips)` is entered around each decoding of a batch (or of its rows decoded again),
    given the clip index of every window decoded: how a caller gives each clip its own adapter weights
    (maslora.systems routes the experts this way); None runs the model as it is. The guards of `options`
    (see maslora.whisper.guards) re-decode the windows that loop or guess and empty the silent ones (and
    those with nothing louder than a muted microphone are not decoded at all); without guards every window
    is decoded greedily once, as the paper's numbers are.
    """
    guards, batch_size = options.guards, options.batch_size
    windows: list[tuple[int, int, np.ndarray]] = []  # (clip index, window index, samples)
    bounds: list[list[float]] = []  # per clip, the seconds at which its windows start, and its end
    texts: dict[tuple[int, int], str] = {}
    for clip_index, audio in enumerate(audios):
        clip_windows = split_into_windows(audio, whisper.feature_extractor.n_samples)  # 30 s unless cropped
        bounds.append([0.0] + list(np.cumsum([len(window) for window in clip_windows]) / SAMPLE_RATE))
        for window_index, window in enumerate(clip_windows):
            if guards is not None and is_silent(window):  # nothing recorded: Whisper would still say "you"
                texts[clip_index, window_index] = ""
            else:
                windows.append((clip_index, window_index, window))
    # Longest first: rows of a batch then need similar token counts, so few steps are spent on finished rows.
    windows.sort(key=lambda item: -len(item[2]))
    seed = guards.seed if guards is not None else 0  # only the guards' fallback samples
    starts = range(0, len(windows), batch_size)
    for batch_start in tqdm(starts, desc="transcribing", unit="batch", disable=not options.progress):
        batch = windows[batch_start : batch_start + batch_size]
        samples = [window for _, _, window in batch]
        budgets = [token_budget(len(window) / SAMPLE_RATE) for window in samples]
        clips = [clip_index for clip_index, _, _ in batch]
        features = log_mel_features(whisper, samples)

        def decode_rows(rows: list[int], temperature: float) -> list[Decoded]:
            context = batch_context([clips[row] for row in rows]) if batch_context else contextlib.nullcontext()
            with context:
                return decode(whisper, features[rows], [budgets[row] for row in rows], temperature, seed)

        if guards is None:
            batch_texts = [result.text for result in decode_rows(list(range(len(batch))), 0.0)]
        else:
            batch_texts = decode_with_fallback(decode_rows, len(batch), guards)
        for (clip_index, window_index, _), text in zip(batch, batch_texts):
            texts[clip_index, window_index] = text
    return [
        [Segment(float(times[w]), float(times[w + 1]), texts[i, w]) for w in range(len(times) - 1)]
        for i, times in enumerate(bounds)
    ]


def transcribe_files(whisper: Whisper, paths: list[str | Path], options: DecodingOptions = GUARDED) -> list[str]:
    """Read every file first (so a bad file fails before any decoding), then transcribe them together."""
    return transcribe(whisper, [load_audio(path) for path in paths], options)
