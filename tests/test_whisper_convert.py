"""CTranslate2 -> transformers conversion: bit-for-bit weights, and loud failures on anything unmapped."""

import dataclasses

import numpy as np
import pytest
import torch

from maslora.errors import ConversionError
from maslora.whisper.convert import load_into_model, whisper_config, whisper_dimensions, whisper_state_dict
from maslora.whisper.ctranslate2_format import CTranslate2Model, CTranslate2Variable, load_model
from maslora.whisper.load import BUNDLED_MODELS, find_ctranslate2_files, package_folder


@pytest.fixture(scope="module")
def raw_tiny() -> CTranslate2Model:
    files = find_ctranslate2_files([package_folder(m) for m in BUNDLED_MODELS["tiny.en"]])
    return load_model(files.model_parts)


def _raw(checkpoint: CTranslate2Model, name: str) -> torch.Tensor:
    return torch.from_numpy(checkpoint.variables[name].array.astype(np.float32))


def test_converted_tensors_equal_the_float16_values_in_model_bin_bit_for_bit(tiny_en, raw_tiny):
    weights = tiny_en.model.state_dict()
    d = tiny_en.model.config.d_model
    fused_self = _raw(raw_tiny, "encoder/layer_2/self_attention/linear_0/weight")
    fused_self_bias = _raw(raw_tiny, "encoder/layer_2/self_attention/linear_0/bias")
    fused_cross = _raw(raw_tiny, "decoder/layer_1/attention/linear_1/weight")
    expected = {
        "model.encoder.conv1.weight": _raw(raw_tiny, "encoder/conv1/weight"),
        "model.encoder.layers.2.self_attn.q_proj.weight": fused_self[:d],
        "model.encoder.layers.2.self_attn.k_proj.weight": fused_self[d : 2 * d],
        "model.encoder.layers.2.self_attn.v_proj.weight": fused_self[2 * d :],
        "model.encoder.layers.2.self_attn.v_proj.bias": fused_self_bias[2 * d :],
        "model.decoder.layers.1.encoder_attn.k_proj.weight": fused_cross[:d],
        "model.decoder.layers.1.encoder_attn.v_proj.weight": fused_cross[d:],
        "model.decoder.layers.3.fc2.weight": _raw(raw_tiny, "decoder/layer_3/ffn/linear_1/weight"),
        "model.decoder.layer_norm.weight": _raw(raw_tiny, "decoder/layer_norm/gamma"),
        "model.decoder.embed_positions.weight": _raw(raw_tiny, "decoder/position_encodings/encodings"),
        "proj_out.weight": _raw(raw_tiny, "decoder/embeddings/weight"),
    }
    for name, tensor in expected.items():
        assert weights[name].dtype == torch.float32
        assert torch.equal(weights[name], tensor), name
    assert tiny_en.model.proj_out.weight.data_ptr() == tiny_en.model.model.decoder.embed_tokens.weight.data_ptr()


def test_dimensions_are_read_from_the_tensors(raw_tiny):
    dims = whisper_dimensions(raw_tiny)
    assert (dims.d_model, dims.encoder_layers, dims.decoder_layers, dims.encoder_heads) == (384, 4, 4, 6)
    assert (dims.vocab_size, dims.n_mels, dims.audio_positions, dims.text_positions) == (51864, 80, 1500, 448)
    assert not dims.is_multilingual


def _edited(checkpoint: CTranslate2Model, **arrays: np.ndarray | None) -> CTranslate2Model:
    """A copy with variables replaced, added, or (given None) removed; names use __ for /."""
    variables = dict(checkpoint.variables)
    for key, array in arrays.items():
        name = key.replace("__", "/")
        if array is None:
            del variables[name]
        else:
            variables[name] = CTranslate2Variable(name, array)
    return dataclasses.replace(checkpoint, variables=variables)


def _convert(checkpoint: CTranslate2Model) -> torch.nn.Module:
    dims = whisper_dimensions(checkpoint)
    special = {"<|endoftext|>": 50256, "<|startoftranscript|>": 50257}
    return load_into_model(whisper_state_dict(checkpoint, dims), whisper_config(dims, special, {}))


def test_the_unedited_checkpoint_converts_into_a_model_made_of_its_tensors(raw_tiny):
    model = _convert(raw_tiny)
    weights = model.state_dict()
    # the model is built on the meta device: a tensor not filled from the checkpoint would still be there
    assert all(tensor.device.type == "cpu" and torch.isfinite(tensor).all() for tensor in weights.values())
    expected = {
        "model.encoder.layers.0.fc1.weight": _raw(raw_tiny, "encoder/layer_0/ffn/linear_0/weight"),
        "model.encoder.layer_norm.bias": _raw(raw_tiny, "encoder/layer_norm/beta"),
        "model.decoder.layers.0.self_attn.out_proj.bias": _raw(
            raw_tiny, "decoder/layer_0/self_attention/linear_1/bias"
        ),
        "model.decoder.layers.2.encoder_attn.q_proj.weight": _raw(
            raw_tiny, "decoder/layer_2/attention/linear_0/weight"
        ),
    }
    for name, tensor in expected.items():
        assert torch.equal(weights[name].float(), tensor), name
    assert model.proj_out.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()


def test_an_unknown_variable_is_reported_not_dropped(raw_tiny):
    with pytest.raises(ConversionError, match="not mapped: encoder/mystery"):
        _convert(_edited(raw_tiny, encoder__mystery=np.zeros(3, np.float16)))


def test_a_missing_variable_is_named(raw_tiny):
    with pytest.raises(ConversionError, match="decoder/layer_2/ffn/linear_0/bias"):
        _convert(_edited(raw_tiny, decoder__layer_2__ffn__linear_0__bias=None))


def test_a_shape_mismatch_is_named(raw_tiny):
    short = raw_tiny.variables["encoder/layer_3/ffn/linear_1/weight"].array[:, :-1]
    with pytest.raises(ConversionError, match="shape mismatch: model.encoder.layers.3.fc2.weight"):
        _convert(_edited(raw_tiny, encoder__layer_3__ffn__linear_1__weight=short))


def test_a_nonzero_k_bias_cannot_be_silently_dropped(raw_tiny):
    bias = raw_tiny.variables["encoder/layer_0/self_attention/linear_0/bias"].array.copy()
    bias[400] = 1.0  # inside the k rows (384..767 for d_model 384)
    with pytest.raises(ConversionError, match="k part of the bias is not zero"):
        _convert(_edited(raw_tiny, encoder__layer_0__self_attention__linear_0__bias=bias))


def test_a_non_whisper_setting_is_refused(raw_tiny):
    with pytest.raises(ConversionError, match="decoder/pre_norm is 0"):
        _convert(_edited(raw_tiny, decoder__pre_norm=np.array(0, np.int8)))
