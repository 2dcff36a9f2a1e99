"""int8 linear layers: what they replace, that adapters still route on them, and that the page's choice of
precision is the one the development speakers' rows allow."""

import pytest
import torch

from analysis.exp_precision import int8_allowed
from analysis.report_tools import load_rows
from maslora.data.audio import load_audio
from maslora.data.corpora import NATIVE_RECORDINGS, load_manifest
from maslora.mixture.layer import adapter_layers
from maslora.mixture.weights import beta_weights, normalized_weights
from maslora.systems.bundle import PAGE_PRECISION, load_bundled_whisper, page_precision
from maslora.systems.combined_whisper import Request
from maslora.wer import error_counts
from maslora.whisper.precision import with_precision
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


def test_the_page_runs_int8_only_where_the_development_speakers_rows_allow_it():
    rows = load_rows(ROOT / "assets" / "results", "precision")
    assert set(PAGE_PRECISION.values()) <= {"float32", "int8"} and page_precision("no-such-size") == "float32"
    for size, precision in PAGE_PRECISION.items():
        if precision == "int8":
            assert int8_allowed(rows, size), f"{size}: int8 on the page, but its rows do not allow it"


@pytest.mark.slow
def test_int8_tiny_en_transcribes_real_speech_about_as_well_as_float32(private_model_cache):
    clips = load_manifest(NATIVE_RECORDINGS).iloc[:20]
    audios = [load_audio(path) for path in clips.path]
    wer = {}
    for precision in ("float32", "int8"):
        whisper = load_bundled_whisper("tiny.en", precision=precision)
        assert whisper.precision == precision
        wer[precision] = error_counts(list(clips.text), whisper.transcribe(audios, [Request("base")] * 20)).wer
    assert wer["int8"] < wer["float32"] + 0.03, wer  # real native speech: a few points at most, never broken
