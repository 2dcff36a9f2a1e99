"""Cropped and fitted encoder windows on the real tiny.en, and bf16 autocast on the CPU."""

import copy

import pytest
import torch

from maslora.data.audio import SAMPLE_RATE, audio_seconds, load_audio
from maslora.whisper.encoder_window import crop_encoder_window, fit_encoder_window, fitted_features, fitted_seconds
from maslora.whisper.targets import decoder_labels, transcript_loss
from maslora.whisper.transcribe import log_mel_features


def test_a_fitted_batch_pays_for_its_longest_clip_and_a_second_of_silence():
    assert fitted_seconds(int(3.2 * SAMPLE_RATE), 10) == 5
    assert fitted_seconds(int(0.1 * SAMPLE_RATE), 10) == 2
    assert fitted_seconds(int(9.5 * SAMPLE_RATE), 10) == 10  # never more than the window


@pytest.fixture(scope="module")
def two_clips(native_clips):
    return [load_audio(path) for path, _ in native_clips[:2]], [text for _, text in native_clips[:2]]


def test_a_fitted_window_computes_what_a_window_of_that_size_computes(tiny_en, two_clips):
    audios, _ = two_clips
    fitted, cropped = copy.deepcopy(tiny_en), copy.deepcopy(tiny_en)
    crop_encoder_window(fitted, 10)
    fit_encoder_window(fitted)
    seconds = fitted_seconds(max(len(a) for a in audios), 10)
    crop_encoder_window(cropped, seconds)
    features = fitted_features(log_mel_features(fitted, audios), max(len(a) for a in audios), 10)
    assert features.shape[-1] == seconds * 100  # 100 mel frames a second
    with torch.no_grad():
        ours = fitted.model.model.encoder(features).last_hidden_state
        theirs = cropped.model.model.encoder(log_mel_features(cropped, audios)).last_hidden_state
    assert torch.allclose(ours, theirs, atol=1e-5)
    encoder = fitted.model.model.encoder
    assert encoder.embed_positions.num_embeddings == fitted.model.config.max_source_positions == 500  # put back


def test_bf16_autocast_on_the_cpu_keeps_the_loss_within_a_hundredth(tiny_en, two_clips):
    audios, texts = two_clips
    features = log_mel_features(tiny_en, audios)
    inputs, targets = decoder_labels(tiny_en, texts)
    losses = {}
    for bf16 in (False, True):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = tiny_en.model(input_features=features, decoder_input_ids=inputs).logits
        losses[bf16] = transcript_loss(logits, targets).item()
    assert abs(losses[True] - losses[False]) < 1e-2
    assert all(parameter.dtype == torch.float32 for parameter in tiny_en.model.parameters())  # weights stay fp32


def test_audio_seconds_reads_the_header(native_clips):
    path = native_clips[0][0]
    assert audio_seconds(path) == pytest.approx(len(load_audio(path)) / SAMPLE_RATE, abs=1e-3)
