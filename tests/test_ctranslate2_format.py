"""The model.bin reader on hand-built bytes (every field checked) and on the real bundled checkpoints."""

import struct

import numpy as np
import pytest

from maslora.whisper.ctranslate2_format import CTranslate2FormatError, load_model, parse_model
from maslora.whisper.load import BUNDLED_MODELS, find_ctranslate2_files, package_folder


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _variable(name: str, array: np.ndarray, dtype_code: int) -> bytes:
    dims = b"".join(struct.pack("<I", d) for d in array.shape)
    data = array.tobytes()
    return _string(name) + struct.pack("<B", array.ndim) + dims + struct.pack("<BI", dtype_code, len(data)) + data


def _model_bytes(version: int = 6) -> bytes:
    weight = np.arange(6, dtype="<f2").reshape(2, 3)
    heads = np.array(6, dtype="<i2")
    body = _variable("encoder/w", weight, 4) + _variable("encoder/num_heads", heads, 2)
    aliases = struct.pack("<I", 1) + _string("decoder/projection/weight") + _string("encoder/w")
    return struct.pack("<I", version) + _string("WhisperSpec") + struct.pack("<II", 3, 2) + body + aliases


def test_parses_every_field_of_a_hand_built_file():
    model = parse_model(_model_bytes())
    assert (model.binary_version, model.spec_name, model.spec_revision) == (6, "WhisperSpec", 3)
    weight = model.variables["encoder/w"].array
    assert weight.dtype == np.float16 and weight.shape == (2, 3)
    assert weight.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert int(model.variables["encoder/num_heads"].array) == 6
    assert model.aliases == {"decoder/projection/weight": "encoder/w"}


def test_truncated_file_names_the_variable_that_runs_past_the_end():
    data = _model_bytes()
    with pytest.raises(CTranslate2FormatError, match="truncated: the data of variable encoder/w"):
        parse_model(data[:55])  # the header and the first variable's fields end at byte 52


def test_trailing_bytes_and_unknown_versions_are_refused():
    with pytest.raises(CTranslate2FormatError, match="unexpected bytes after the last alias"):
        parse_model(_model_bytes() + b"\0\0")
    with pytest.raises(CTranslate2FormatError, match="binary version 99"):
        parse_model(_model_bytes(version=99))


def test_parts_are_read_in_order_and_a_missing_part_is_named(tmp_path):
    data = _model_bytes()
    (tmp_path / "model.bin.part1").write_bytes(data[:50])
    (tmp_path / "model.bin.part2").write_bytes(data[50:])
    (tmp_path / "tokenizer.json").write_text("{}")
    files = find_ctranslate2_files([tmp_path])
    assert [p.name for p in files.model_parts] == ["model.bin.part1", "model.bin.part2"]
    assert load_model(files.model_parts).variables["encoder/w"].array.shape == (2, 3)
    with pytest.raises(CTranslate2FormatError, match="truncated"):
        load_model(files.model_parts[:1])
    with pytest.raises(FileNotFoundError, match="model.bin.part3"):
        load_model([*files.model_parts, tmp_path / "model.bin.part3"])


def test_real_tiny_en_and_base_checkpoints_parse_whole():
    tiny = load_model(find_ctranslate2_files([package_folder(m) for m in BUNDLED_MODELS["tiny.en"]]).model_parts)
    assert len(tiny.variables) == 148
    base_files = find_ctranslate2_files([package_folder(m) for m in BUNDLED_MODELS["base"]])
    assert [p.name for p in base_files.model_parts] == ["model.bin.part1", "model.bin.part2"]
    base = load_model(base_files.model_parts)
    assert len(base.variables) == 212
    assert base.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
