"""Cropping Whisper's encoder window from 30 s to less: an explicit speed option, never a silent default.

Whisper pads every clip to 30 s (1,500 encoder frames), so a 4 s clip costs as much as a 30 s one.
With a 10 s window (500 frames: the first 500 position embeddings, 1,000 mel frames), a tiny.en
training step was measured about 4x cheaper, and zero-shot WER on native speech barely moved
(16.5% -> 15.1%). A cropped model only accepts windows of that length: transcription cuts audio into
windows of the cropped size. Adapters trained in a cropped window run in it; Whisper as released is
compared in its own 30 s window (in 10 s tiny.en loops on some short real accented clips that it
transcribes well in 30 s), so one model serves both windows through in_window on a fitted encoder.

A fitted window goes further, for training: each batch is padded only to its longest clip plus a second
of silence, rounded up to whole seconds (a batch of 3-4 s clips pays for 5 s, not 10), and the encoder
takes the first positions of its window for it. Decoding always pads to the whole window: in tight
windows base tiny.en repeats its sentence (79% WER on real native speech, 5.8% in 10 s), while a LoRA
trained on fitted batches transcribes as well in the whole window (18.2% vs 18.8% fitted, validation).
"""

import dataclasses
import math

import torch
from torch import nn
from transformers import WhisperFeatureExtractor

from maslora.data.audio import SAMPLE_RATE
from maslora.whisper.load import Whisper, load_whisper

FULL_WINDOW_SECONDS = 30
FRAMES_PER_SECOND = 50  # encoder frames after the stride-2 convolution: 1,500 per 30 s
MEL_FRAMES_PER_ENCODER_FRAME = 2  # the encoder's second convolution has stride 2
FIT_MARGIN_SECONDS = 1.0  # silence kept after the longest clip: Whisper ends its text on the silence after
# the speech, and with none tiny.en repeats itself (a 3.3 s clip in a 4 s window: the sentence three times)


def crop_encoder_window(whisper: Whisper, seconds: int) -> None:
    """Shrink the encoder's window to `seconds` (1..30) in place: positions, config, feature extractor."""
    if not 1 <= seconds <= FULL_WINDOW_SECONDS:
        raise ValueError(f"the encoder window must be 1..{FULL_WINDOW_SECONDS} s, got {seconds}")
    positions = seconds * FRAMES_PER_SECOND
    encoder = whisper.model.model.encoder
    if positions > encoder.embed_positions.num_embeddings:
        raise ValueError(
            f"the window is already {encoder.embed_positions.num_embeddings // FRAMES_PER_SECOND} s; cannot grow it"
        )
    cropped = nn.Embedding(positions, encoder.embed_positions.embedding_dim).to(encoder.embed_positions.weight)
    cropped.weight.data.copy_(encoder.embed_positions.weight.data[:positions])
    cropped.requires_grad_(False)
    encoder.embed_positions = cropped
    whisper.model.config.max_source_positions = positions
    encoder.max_source_positions = positions
    whisper.feature_extractor = window_extractor(whisper.feature_extractor, seconds)


def window_extractor(extractor: WhisperFeatureExtractor, seconds: int) -> WhisperFeatureExtractor:
    """`extractor`'s log-mel features, padded (and audio cut into windows) to `seconds` instead of 30."""
    return WhisperFeatureExtractor(
        feature_size=extractor.feature_size, sampling_rate=extractor.sampling_rate, chunk_length=seconds
    )


def in_window(whisper: Whisper, seconds: int) -> Whisper:
    """The same model heard through a `seconds` window: audio cut into and padded to `seconds`, the encoder
    taking its first positions for it (the model must be fitted: fit_encoder_window). Several windows can
    share one model this way, each giving exactly what the model cropped to it gives."""
    return dataclasses.replace(whisper, feature_extractor=window_extractor(whisper.feature_extractor, seconds))


def fit_encoder_window(whisper: Whisper) -> None:
    """Let the encoder also take fewer seconds than its window, for training batches padded only to their
    longest clip (see fitted_features); a whole window runs as before. transformers' encoder insists on
    exactly its window, so around each call the positions and the configured length are narrowed to the
    input's, then put back."""
    encoder = whisper.model.model.encoder
    window = encoder.embed_positions
    config = whisper.model.config

    def narrow(module: nn.Module, args: tuple, kwargs: dict) -> None:
        features = args[0] if args else kwargs["input_features"]
        positions = features.shape[-1] // MEL_FRAMES_PER_ENCODER_FRAME
        if positions > window.num_embeddings:
            raise ValueError(f"{positions} encoder frames do not fit the {window.num_embeddings}-frame window")
        module.embed_positions = nn.Embedding.from_pretrained(window.weight[:positions], freeze=True)
        config.max_source_positions = positions

    def restore(module: nn.Module, args: tuple, kwargs: dict, output: object) -> None:
        module.embed_positions = window  # a saved model keeps its whole window
        config.max_source_positions = window.num_embeddings

    encoder.register_forward_pre_hook(narrow, with_kwargs=True)
    encoder.register_forward_hook(restore, with_kwargs=True, always_call=True)


def fitted_seconds(longest_samples: int, window_seconds: int) -> int:
    """The whole seconds a batch whose longest clip has `longest_samples` pays for, its margin of silence
    included: 3.2 s -> 5, at most the window."""
    return min(window_seconds, math.ceil(longest_samples / SAMPLE_RATE + FIT_MARGIN_SECONDS))


def fitted_features(features: torch.Tensor, longest_samples: int, window_seconds: int) -> torch.Tensor:
    """Log-mel features [batch, mels, frames] of a full window cut to the batch's fitted seconds. Exact:
    Whisper's normalisation depends on the loudest frame, which lies in the speech, not in the padding."""
    frames = fitted_seconds(longest_samples, window_seconds) * FRAMES_PER_SECOND * MEL_FRAMES_PER_ENCODER_FRAME
    return features[..., :frames]


def windowed_whisper(
    model: str, encoder_seconds: int = FULL_WINDOW_SECONDS, device: str | None = None, fit: bool = False
) -> Whisper:
    """load_whisper(model, device), its encoder window cropped to `encoder_seconds` when that is under 30 s,
    and fitted to each batch (see fit_encoder_window) when `fit`."""
    whisper = load_whisper(model, device)
    if encoder_seconds < FULL_WINDOW_SECONDS:
        crop_encoder_window(whisper, encoder_seconds)
    if fit:
        fit_encoder_window(whisper)
    return whisper
