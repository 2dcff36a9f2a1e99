"""Pooled encoder states: what the encoder makes of a clip, as one vector, for heads that classify or route.

    x = [mean_t h_1(t); ...; mean_t h_L(t)]   every encoder block's output, averaged over the frames that
                                              hold audio (not the padding), concatenated: tiny.en 4 x 384

One pass of the encoder as it runs now: the caller decides which adapters, if any, are active (see
maslora.systems.combined_whisper.CombinedWhisper.encoder_features, which runs it with every adapter off).
"""

import math

import numpy as np
import torch

from maslora.data.audio import SAMPLE_RATE
from maslora.whisper.encoder_window import FRAMES_PER_SECOND
from maslora.whisper.load import Whisper
from maslora.whisper.transcribe import DEFAULT_BATCH_SIZE, log_mel_features


@torch.no_grad()
def pooled_encoder_states(
    whisper: Whisper, audios: list[np.ndarray], batch_size: int = DEFAULT_BATCH_SIZE
) -> torch.Tensor:
    """[clips, blocks * width] features of the encoder as it runs now (the caller routes it; see
    CombinedWhisper.encoder_features). Only each clip's first window is heard: a few seconds tell the accent."""
    window = whisper.feature_extractor.n_samples
    encoder = whisper.model.model.encoder
    pooled = []
    for start in range(0, len(audios), batch_size):
        clips = [audio[:window] for audio in audios[start : start + batch_size]]
        features = log_mel_features(whisper, clips).to(whisper.model.device, whisper.model.dtype)
        states = encoder(features, output_hidden_states=True).hidden_states[
            1:
        ]  # after each block (the last normalized)
        frames = torch.tensor(
            [min(states[0].shape[1], max(1, math.ceil(len(c) / SAMPLE_RATE * FRAMES_PER_SECOND))) for c in clips]
        )
        holds_audio = (torch.arange(states[0].shape[1])[None] < frames[:, None]).to(states[0])[..., None]
        pooled.append(
            torch.cat([(s * holds_audio).sum(1) / frames[:, None].to(s) for s in states], dim=-1).float().cpu()
        )
    return torch.cat(pooled)
