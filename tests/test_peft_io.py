"""Experts as PEFT adapters: round trip, loadable by PEFT alone, equal to PEFT's `cat` merge, and errors."""

import json

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file

from maslora.errors import AdapterError
from maslora.mixture.layer import AdapterPlacement, adapter_layers
from maslora.mixture.peft_io import (
    RunsWith,
    load_adapter,
    load_experts,
    load_peft_experts,
    read_experts_manifest,
    resolve_settings,
    runs_with,
    save_adapter,
    save_experts,
    write_experts_manifest,
)
from maslora.mixture.weights import beta_weights, normalized_weights
from tests.test_mixture_layer import ACCENTS, FEATURES, TOKENS, logits, tiny_whisper, trained_looking

ENCODER_ONLY = AdapterPlacement(decoder_experts=0, dropout=0.0)


def _peft_logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_features=FEATURES, decoder_input_ids=TOKENS).logits


def test_round_trip_through_the_folder(tmp_path):
    model = trained_looking(tiny_whisper())
    save_experts(model, ACCENTS, AdapterPlacement(), tmp_path / "experts", RunsWith("tiny-random"))
    assert sorted(p.name for p in (tmp_path / "experts").iterdir()) == sorted([*ACCENTS, "decoder", "experts.json"])
    loaded = tiny_whisper()
    assert load_experts(loaded, tmp_path / "experts") == ACCENTS
    weights = normalized_weights(beta_weights("spanish", 2, ACCENTS), ACCENTS)
    assert torch.allclose(logits(loaded.eval(), weights), logits(model, weights), atol=1e-6)


def test_each_expert_loads_in_peft_alone_and_our_mixture_equals_peft_cat(tmp_path):
    model = trained_looking(tiny_whisper(), ENCODER_ONLY)
    save_experts(model, ACCENTS, ENCODER_ONLY, tmp_path / "experts", RunsWith("tiny-random"))
    peft_model = PeftModel.from_pretrained(tiny_whisper(), tmp_path / "experts" / ACCENTS[0], adapter_name=ACCENTS[0])
    one_hot = torch.nn.functional.one_hot(torch.tensor(0), len(ACCENTS)).float()
    assert torch.allclose(_peft_logits(peft_model.eval()), logits(model, one_hot), atol=1e-5)
    for accent in ACCENTS[1:]:
        peft_model.load_adapter(tmp_path / "experts" / accent, adapter_name=accent)
    weights = normalized_weights(beta_weights("korean", 1.5, ACCENTS), ACCENTS)
    peft_model.add_weighted_adapter(ACCENTS, weights.tolist(), adapter_name="mixture", combination_type="cat")
    peft_model.set_adapter("mixture")
    assert torch.allclose(_peft_logits(peft_model.eval()), logits(model, weights), atol=1e-5)


def test_experts_trained_with_peft_load_as_experts(tmp_path):
    folders = {}
    for index, accent in enumerate(ACCENTS[:3]):
        torch.manual_seed(index)
        config = LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=["q_proj", "v_proj"],
            lora_dropout=0.0,
            layers_pattern=None,
            exclude_modules=r".*decoder.*",
            init_lora_weights=False,
        )
        peft_model = get_peft_model(tiny_whisper(), config)
        peft_model.save_pretrained(tmp_path / accent)
        folders[accent] = tmp_path / accent
    reference = PeftModel.from_pretrained(tiny_whisper(), folders["hindi"]).eval()
    ours = tiny_whisper()
    assert load_peft_experts(ours, folders) == ACCENTS[:3]
    placement_rank = {layer.lora_A.shape[1] for layer in adapter_layers(ours).values()}
    assert placement_rank == {4}
    assert torch.allclose(logits(ours.eval(), torch.tensor([0.0, 0.0, 1.0])), _peft_logits(reference), atol=1e-5)


def test_a_regular_lora_round_trips_as_one_adapter(tmp_path):
    placement = AdapterPlacement(encoder_experts=1, decoder_experts=1)
    model = trained_looking(tiny_whisper(), placement)
    save_adapter(model, placement, tmp_path / "lora", RunsWith("tiny-random"))
    loaded = tiny_whisper()
    load_adapter(loaded, tmp_path / "lora")
    assert torch.allclose(logits(loaded.eval()), logits(model), atol=1e-6)
    peft_model = PeftModel.from_pretrained(tiny_whisper(), tmp_path / "lora").eval()
    assert torch.allclose(_peft_logits(peft_model), logits(model), atol=1e-5)


def test_bad_adapters_are_named(tmp_path):
    model = trained_looking(tiny_whisper(), ENCODER_ONLY)
    save_experts(model, ACCENTS, ENCODER_ONLY, tmp_path / "experts", RunsWith("tiny-random"))
    weights_file = tmp_path / "experts" / "hindi" / "adapter_model.safetensors"
    tensors = load_file(weights_file)
    poisoned = {k: (v * float("nan") if "layers.1.self_attn.q_proj.lora_B" in k else v) for k, v in tensors.items()}
    save_file(poisoned, weights_file)
    with pytest.raises(AdapterError, match="hindi: .*q_proj holds NaN"):
        load_experts(tiny_whisper(), tmp_path / "experts")
    save_file({k: v[..., :-1].contiguous() if "lora_A" in k else v for k, v in tensors.items()}, weights_file)
    with pytest.raises(AdapterError, match="another model size"):
        load_experts(tiny_whisper(), tmp_path / "experts")
    weights_file.unlink()
    (weights_file.parent / "adapter_model.bin").write_bytes(b"pickle")
    with pytest.raises(AdapterError, match="only safetensors"):
        load_experts(tiny_whisper(), tmp_path / "experts")
    (tmp_path / "experts" / "experts.json").unlink()
    with pytest.raises(AdapterError, match="no experts.json"):
        load_experts(tiny_whisper(), tmp_path / "experts")
    config = tmp_path / "experts" / "arabic" / "adapter_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "peft_type": "IA3"}))
    with pytest.raises(AdapterError, match="IA3 adapter, not LoRA"):
        load_adapter(tiny_whisper(), tmp_path / "experts" / "arabic")


@pytest.mark.parametrize("option", ["use_rslora", "use_dora", "rank_pattern", "alpha_pattern"])
def test_peft_adapters_that_are_not_plain_lora_are_refused_not_run_at_the_wrong_scale(tmp_path, option):
    lora = AdapterPlacement(encoder_experts=1, decoder_experts=0)
    save_adapter(trained_looking(tiny_whisper(), lora), lora, tmp_path / "lora", RunsWith("tiny-random"))
    config = tmp_path / "lora" / "adapter_config.json"
    value = {"q_proj": 8} if option.endswith("pattern") else True
    config.write_text(json.dumps({**json.loads(config.read_text()), option: value}))
    with pytest.raises(AdapterError, match=f"an adapter with {option}; only plain LoRA"):
        load_adapter(tiny_whisper(), tmp_path / "lora")


def test_the_experts_manifest_round_trips_and_a_later_or_damaged_one_is_refused(tmp_path):
    save_experts(trained_looking(tiny_whisper(), ENCODER_ONLY), ACCENTS, ENCODER_ONLY, tmp_path, RunsWith("t", 10))
    manifest = read_experts_manifest(tmp_path)
    assert manifest.accents == ACCENTS and manifest.placement == ENCODER_ONLY and manifest.window == 10
    path = tmp_path / "experts.json"
    written = path.read_text()
    write_experts_manifest(tmp_path, manifest)
    assert path.read_text() == written  # read and written back byte for byte
    path.write_text(json.dumps({**json.loads(written), "format": 3}))
    with pytest.raises(AdapterError, match="format 3; this maslora reads format 2"):
        read_experts_manifest(tmp_path)
    path.write_text(written[:40])
    with pytest.raises(AdapterError, match="not valid JSON"):
        load_experts(tiny_whisper(), tmp_path)
    path.write_text(json.dumps({**json.loads(written), "placement": {"rank": 4, "experts": 2}}))
    with pytest.raises(AdapterError, match="placement .*experts"):
        read_experts_manifest(tmp_path)


def test_folders_say_how_they_run_and_an_explicit_window_is_warned_about(tmp_path):
    model = trained_looking(tiny_whisper(), ENCODER_ONLY)
    save_experts(model, ACCENTS, ENCODER_ONLY, tmp_path / "experts", RunsWith("tiny-random", 10))
    lora = trained_looking(tiny_whisper(), AdapterPlacement(encoder_experts=1, decoder_experts=0))
    save_adapter(
        lora,
        AdapterPlacement(encoder_experts=1, decoder_experts=0),
        tmp_path / "lora",
        RunsWith("tiny-random", 10),
    )
    assert json.loads((tmp_path / "experts" / "experts.json").read_text())["encoder_seconds"] == 10
    assert runs_with(tmp_path / "lora") == RunsWith("tiny-random", 10)

    folders = [tmp_path / "experts", tmp_path / "lora"]
    assert resolve_settings(folders, "tiny-random") == (RunsWith("tiny-random", 10), None)
    settings, warning = resolve_settings(folders, "tiny-random", 30)
    assert settings.encoder_seconds == 30 and warning.startswith("warning: running in a 30 s encoder window")
    assert resolve_settings([None], "tiny.en") == (RunsWith("tiny.en"), None)  # nothing recorded: the full window
    with pytest.raises(AdapterError, match="trained on tiny-random, not tiny.en: use --model tiny-random"):
        resolve_settings(folders, "tiny.en")
    save_adapter(
        lora, AdapterPlacement(encoder_experts=1, decoder_experts=0), tmp_path / "lora", RunsWith("tiny-random", 20)
    )
    with pytest.raises(AdapterError, match="different encoder windows"):
        resolve_settings(folders, "tiny-random")
