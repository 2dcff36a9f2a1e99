"""Lighter linear layers (bfloat16, int8): what they replace, that adapters still route on them, and that the
page's choice of precision is one the development speakers' rows allow."""

import pytest
import torch

from analysis.exp_precision import allowed
from analysis.report_tools import load_rows
from maslora.data.audio import load_audio
from maslora.data.corpora import NATIVE_RECORDINGS, load_manifest
from maslora.mixture.layer import adapter_layers
from maslora.mixture.weights import beta_weights, normalized_weights
from maslora.systems.bundle import PAGE_PRECISION, load_bundled_whisper, page_precision
from maslora.systems.combined_whisper import Request
from maslora.systems.demo import precision_note
from maslora.wer import error_counts
from maslora.whisper.precision import LIGHTER, PRECISIONS, BFloat16Linear, with_precision
from tests.conftest import ROOT
from tests.test_mixture_layer import ACCENTS, logits, tiny_whisper, trained_looking


def test_int8_replaces_every_linear_layer_and_the_experts_still_route_on_it():
    model = trained_looking(tiny_whisper())
    weights = torch.stack([torch.zeros(len(ACCENTS)), normalized_weights(beta_weights("hindi", 2, ACCENTS), ACCENTS)])
    full = logits(model, weights[[0, 1, 1]])
    with_precision(model, "int8")
    quantized = [m for m in model.modules() if type(m).__name__ == "Linear" and m.__module__.startswith("torch.ao")]
    assert not [m for m in model.modules() if type(m) is torch.nn.Linear]  # none left in float32
    assert all(
        not isinstance(layer.base, torch.nn.Linear) or layer.base in quantized
        for layer in adapter_layers(model).values()
    )
    eight = logits(model, weights[[0, 1, 1]])
    assert torch.allclose(eight, full, atol=0.05 * full.abs().max())  # close, not equal
    with pytest.raises(ValueError, match="precision must be one of"):
        with_precision(model, "float16")


def test_bfloat16_replaces_every_linear_layer_keeps_the_factors_float32_and_stays_close():
    model = trained_looking(tiny_whisper())
    weights = torch.stack([torch.zeros(len(ACCENTS)), normalized_weights(beta_weights("hindi", 2, ACCENTS), ACCENTS)])
    full = logits(model, weights[[0, 1, 1]])
    with_precision(model, "bfloat16")
    assert not [m for m in model.modules() if type(m) is torch.nn.Linear]
    for layer in adapter_layers(model).values():
        assert isinstance(layer.base, BFloat16Linear) and layer.base.weight.dtype == torch.bfloat16
        assert layer.lora_A.dtype == layer.lora_B.dtype == torch.float32  # the experts as they trained
    light = logits(model, weights[[0, 1, 1]])
    assert light.dtype == torch.float32
    assert torch.allclose(light, full, atol=0.02 * full.abs().max())  # bfloat16's 8 bits of mantissa: close
    assert not torch.equal(light, full)


def test_the_page_runs_a_lighter_precision_only_where_the_development_speakers_rows_allow_it():
    rows = load_rows(ROOT / "assets" / "results", "precision")
    assert set(PAGE_PRECISION.values()) <= set(PRECISIONS) and page_precision("no-such-size") == "float32"
    for size, precision in PAGE_PRECISION.items():
        assert allowed(rows, size, precision), f"{size}: {precision} on the page, but its rows do not allow it"
    assert not allowed(rows, "no-such-size", "bfloat16") and allowed(rows, "no-such-size", "float32")


@pytest.mark.slow
@pytest.mark.parametrize("precision", LIGHTER)
def test_a_lighter_precision_transcribes_real_speech_about_as_well_as_float32(private_model_cache, precision):
    clips = load_manifest(NATIVE_RECORDINGS).iloc[:20]
    audios = [load_audio(path) for path in clips.path]
    wer = {}
    for each in ("float32", precision):
        whisper = load_bundled_whisper("tiny.en", precision=each)
        assert whisper.precision == each
        wer[each] = error_counts(list(clips.text), whisper.transcribe(audios, [Request("base")] * 20)).wer
    assert wer[precision] < wer["float32"] + 0.03, wer  # real native speech: a few points at most, never broken


def test_the_page_says_which_precision_it_runs(monkeypatch):
    for precision in PRECISIONS:
        monkeypatch.setitem(PAGE_PRECISION, "tiny.en", precision)
        note = precision_note("tiny.en")
        assert f"runs {'in' if precision == 'float32' else 'with'} {precision}" in note, note
