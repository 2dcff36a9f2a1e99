"""The shared + experts design: a LoRA every utterance trains beside the accent experts, by the formula,
through training's routing, merging, the folder on disk, PEFT, and its refusals."""

import json
import shutil

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file, save_file

from maslora.errors import AdapterError
from maslora.mixture.layer import (
    AdapterPlacement,
    adapter_layers,
    inject_adapters,
    merge,
    routed,
    without_adapters,
)
from maslora.mixture.lora import lora_output, lora_weight
from maslora.mixture.peft_io import (
    RunsWith,
    experts_folder,
    load_experts,
    load_peft_experts,
    read_experts_manifest,
    save_experts,
)
from maslora.mixture.weights import beta_weights, normalized_weights
from tests.test_mixture_layer import ACCENTS, FEATURES, TOKENS, N, logits, tiny_whisper, trained_looking

SHARED = AdapterPlacement(rank=4, alpha=4.0, shared_rank=8, decoder_experts=0, dropout=0.0)  # the paper's + shared
SHARED_DECODER_MAS = AdapterPlacement(rank=4, alpha=4.0, shared_rank=8, decoder_experts=N, dropout=0.0)
BETA2 = normalized_weights(beta_weights("korean", 2.0, ACCENTS), ACCENTS)


def test_the_shared_lora_formula_by_hand():
    A, B, W0 = torch.randn(3, 4), torch.randn(5, 3), torch.randn(5, 4)
    x = torch.randn(2, 7, 4)
    assert torch.allclose(lora_output(x, A, B, 2.0), x @ (2.0 * B @ A).T, atol=1e-5)
    assert torch.allclose(lora_weight(W0, A, B, 2.0), W0 + 2.0 * B @ A, atol=1e-5)


def test_the_shared_part_applies_in_full_whatever_the_weights():
    model = trained_looking(tiny_whisper(), SHARED)
    layers = adapter_layers(model)
    encoder = [layer for name, layer in layers.items() if ".encoder." in name]
    decoder = [layer for name, layer in layers.items() if ".decoder." in name]
    assert all(layer.has_shared and layer.n_experts == N for layer in encoder)
    assert all(layer.has_shared and layer.n_experts == 0 for layer in decoder)  # the decoder's shared LoRA alone
    zero_experts = logits(model, torch.zeros(N))
    assert not torch.allclose(zero_experts, logits(tiny_whisper()), atol=1e-3)  # the shared part still runs
    for layer in layers.values():
        layer.shared_B.data.zero_()
    assert torch.allclose(logits(model, torch.zeros(N)), logits(tiny_whisper()), atol=1e-6)


@pytest.mark.parametrize("placement", [SHARED, SHARED_DECODER_MAS], ids=["shared-decoder", "decoder-mas"])
def test_merged_equals_unmerged_and_exports_as_a_plain_whisper(placement):
    model = trained_looking(tiny_whisper(), placement)
    unmerged = logits(model, BETA2)
    merge(model, BETA2, keep_deltas=True)
    merged = logits(model)
    assert torch.allclose(merged, unmerged, atol=1e-4)
    without_adapters(model)
    assert torch.equal(logits(model), merged) and set(model.state_dict()) == set(tiny_whisper().state_dict())


def test_a_sample_routed_to_expert_k_trains_expert_k_and_the_shared_part_only():
    model = inject_adapters(tiny_whisper(), SHARED)
    for layer in adapter_layers(model).values():
        layer.dropout.p = 0.0
        if layer.n_experts:
            layer.lora_B.data.normal_()
    with routed(model, torch.tensor([2, 2, 2])):
        model(input_features=FEATURES, decoder_input_ids=TOKENS).logits.sum().backward()
    for name, layer in adapter_layers(model).items():
        assert layer.shared_A.grad.abs().sum() > 0 or layer.shared_B.grad.abs().sum() > 0, name
        if layer.n_experts:
            moved = layer.lora_A.grad.abs().sum(dim=(1, 2)) > 0
            assert moved.tolist() == [k == 2 for k in range(N)], name
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert all(p.numel() > 0 for p in trainable)  # a side without experts trains no empty factors (DDP syncs all)


@pytest.mark.parametrize("placement", [SHARED, SHARED_DECODER_MAS], ids=["shared-decoder", "decoder-mas"])
def test_the_folder_round_trips_and_says_its_design(tmp_path, placement):
    model = trained_looking(tiny_whisper(), placement)
    save_experts(model, ACCENTS, placement, tmp_path / "experts", RunsWith("tiny-random", 10))
    assert sorted(p.name for p in (tmp_path / "experts").iterdir()) == sorted([*ACCENTS, "shared", "experts.json"])
    manifest = json.loads((tmp_path / "experts" / "experts.json").read_text())
    assert manifest["design"] == "shared+experts" and manifest["format"] == 2
    assert manifest["placement"]["shared_rank"] == 8
    shared_config = json.loads((tmp_path / "experts" / "shared" / "adapter_config.json").read_text())
    assert (shared_config["r"], shared_config["lora_alpha"]) == (8, 8.0)  # the experts' scale, 4 / 4
    assert read_experts_manifest(tmp_path / "experts").placement == placement
    loaded = tiny_whisper()
    assert load_experts(loaded, tmp_path / "experts") == ACCENTS
    assert torch.allclose(logits(loaded.eval(), BETA2), logits(model, BETA2), atol=1e-6)


def test_peft_alone_computes_the_shared_part_plus_one_expert(tmp_path):
    model = trained_looking(tiny_whisper(), SHARED)
    save_experts(model, ACCENTS, SHARED, tmp_path, RunsWith("tiny-random"))
    peft_model = PeftModel.from_pretrained(tiny_whisper(), tmp_path / "shared", adapter_name="shared")
    peft_model.load_adapter(tmp_path / "korean", adapter_name="korean")
    peft_model.add_weighted_adapter(["shared", "korean"], [1.0, 1.0], adapter_name="both", combination_type="cat")
    peft_model.set_adapter("both")
    with torch.no_grad():
        peft_logits = peft_model.eval()(input_features=FEATURES, decoder_input_ids=TOKENS).logits
    one_hot = torch.nn.functional.one_hot(torch.tensor(ACCENTS.index("korean")), N).float()
    assert torch.allclose(peft_logits, logits(model, one_hot), atol=1e-5)


def test_bare_peft_adapters_with_a_shared_lora_load_as_the_shared_design(tmp_path):
    model = trained_looking(tiny_whisper(), SHARED_DECODER_MAS)
    save_experts(model, ACCENTS, SHARED_DECODER_MAS, tmp_path, RunsWith("tiny-random"))
    loaded = tiny_whisper()
    experts, shared = experts_folder(tmp_path)
    assert shared == tmp_path / "shared"
    load_peft_experts(loaded, experts, shared)
    layer = next(iter(adapter_layers(loaded).values()))
    assert layer.has_shared and layer.shared_A.shape[0] == 8
    assert torch.allclose(logits(loaded.eval(), BETA2), logits(model, BETA2), atol=1e-6)


@pytest.fixture
def shared_folder(tmp_path):
    save_experts(trained_looking(tiny_whisper(), SHARED), ACCENTS, SHARED, tmp_path / "experts", RunsWith("t"))
    return tmp_path / "experts"


def test_a_missing_shared_part_is_refused(shared_folder):
    shutil.rmtree(shared_folder / "shared")
    with pytest.raises(AdapterError, match=r"experts: experts.json says design 'shared\+experts'.*no shared/ folder"):
        load_experts(tiny_whisper(), shared_folder)


def test_a_shared_part_of_another_rank_is_refused(shared_folder):
    config = shared_folder / "shared" / "adapter_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "r": 16}))
    with pytest.raises(
        AdapterError, match="shared: a LoRA of rank 16, but experts.json says the shared part has rank 8"
    ):
        load_experts(tiny_whisper(), shared_folder)


def test_a_folder_of_one_design_read_as_the_other_is_refused(shared_folder):
    manifest = shared_folder / "experts.json"
    data = json.loads(manifest.read_text())
    paper = {**data, "format": 1, "placement": {**data["placement"], "shared_rank": 0}}
    del paper["design"]
    manifest.write_text(json.dumps(paper))
    with pytest.raises(AdapterError, match="experts: has a shared/ LoRA but experts.json says the paper's design"):
        load_experts(tiny_whisper(), shared_folder)
    manifest.write_text(json.dumps({**data, "design": "experts"}))
    with pytest.raises(AdapterError, match="says design 'experts' but its placement is 'shared\\+experts'"):
        read_experts_manifest(shared_folder)


def test_the_shared_lora_must_cover_every_expert_and_run_at_their_scale(shared_folder):
    experts, shared = experts_folder(shared_folder)
    config = shared / "adapter_config.json"
    original = config.read_text()
    config.write_text(json.dumps({**json.loads(original), "lora_alpha": 16.0}))
    with pytest.raises(AdapterError, match="the shared LoRA runs at scale 16.0/8, the experts at 4/4"):
        load_peft_experts(tiny_whisper(), experts, shared)
    config.write_text(original)
    weights = shared / "adapter_model.safetensors"
    tensors = {k: v for k, v in load_file(weights).items() if "encoder.layers.0.self_attn.q_proj" not in k}
    save_file(tensors, weights)
    with pytest.raises(AdapterError, match="shared: the shared LoRA has no model.encoder.layers.0.self_attn.q_proj"):
        load_peft_experts(tiny_whisper(), experts, shared)
