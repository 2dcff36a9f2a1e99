"""The mixture layer in a tiny random-config Whisper: routing, merging, gradients, by the formula."""

import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from maslora.mixture.layer import (
    AdapterPlacement,
    MixtureLoRALinear,
    adapter_layers,
    inject_adapters,
    merge,
    routed,
    unmerge,
    without_adapters,
)
from maslora.mixture.lora import merged_weight, mixture_output
from maslora.mixture.weights import beta_weights, normalized_weights, uniform_weights

ACCENTS = ["arabic", "mandarin", "hindi", "korean", "spanish", "vietnamese"]
N = len(ACCENTS)


def tiny_whisper(seed: int = 0) -> WhisperForConditionalGeneration:
    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=96,
        num_mel_bins=80,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=50,
        max_target_positions=24,
        decoder_start_token_id=1,
        pad_token_id=0,
        bos_token_id=0,
        eos_token_id=0,
        begin_suppress_tokens=None,
        suppress_tokens=None,
    )
    return WhisperForConditionalGeneration(config).eval()


def trained_looking(model, placement=AdapterPlacement()) -> WhisperForConditionalGeneration:
    """Inject adapters and give every B random values, as training would (B = 0 would make every test pass)."""
    inject_adapters(model, placement)
    generator = torch.Generator().manual_seed(1)
    for layer in adapter_layers(model).values():
        layer.lora_B.data = torch.randn(layer.lora_B.shape, generator=generator) * 0.5
        if layer.has_shared:
            layer.shared_B.data = torch.randn(layer.shared_B.shape, generator=generator) * 0.5
        layer.dropout.p = 0.0
    return model.eval()


FEATURES = torch.randn(3, 80, 100, generator=torch.Generator().manual_seed(2))
TOKENS = torch.tensor([[1, 5, 9, 11], [1, 7, 7, 3], [1, 2, 4, 8]])


def logits(model, weights=None) -> torch.Tensor:
    with torch.no_grad():
        if weights is None:
            return model(input_features=FEATURES, decoder_input_ids=TOKENS).logits
        with routed(model, weights):
            return model(input_features=FEATURES, decoder_input_ids=TOKENS).logits


def test_the_mixture_formula_by_hand():
    A = torch.randn(2, 3, 4)
    B = torch.randn(2, 5, 3)
    w = torch.tensor([0.25, 0.75])
    expected = 2.0 * (0.25 * B[0] @ A[0] + 0.75 * B[1] @ A[1])
    W0 = torch.randn(5, 4)
    assert torch.allclose(merged_weight(W0, A, B, w, 2.0), W0 + expected, atol=1e-5)
    x = torch.randn(1, 7, 4)
    assert torch.allclose(mixture_output(x, A, B, w, 2.0), x @ expected.T, atol=1e-5)


def test_all_zero_weights_give_the_base_model_and_others_do_not():
    base = logits(tiny_whisper())
    model = trained_looking(tiny_whisper(), AdapterPlacement(decoder_experts=0))
    assert torch.allclose(logits(model, torch.zeros(N)), base, atol=1e-6)
    assert not torch.allclose(logits(model, normalized_weights(uniform_weights(ACCENTS), ACCENTS)), base, atol=1e-3)


def test_one_hot_weights_equal_that_expert_alone():
    k = 3
    mixture = trained_looking(tiny_whisper(), AdapterPlacement(decoder_experts=0))
    alone = trained_looking(tiny_whisper(), AdapterPlacement(encoder_experts=1, decoder_experts=0))
    for name, layer in adapter_layers(alone).items():
        source = adapter_layers(mixture)[name]
        layer.lora_A.data = source.lora_A.data[k : k + 1].clone()
        layer.lora_B.data = source.lora_B.data[k : k + 1].clone()
    one_hot = torch.nn.functional.one_hot(torch.tensor(k), N).float()
    assert torch.allclose(logits(mixture, one_hot), logits(alone), atol=1e-5)
    assert not torch.allclose(logits(alone), logits(tiny_whisper()), atol=1e-3)


@pytest.mark.parametrize("kind", ["uniform", "beta2", "random"])
def test_merged_equals_unmerged(kind):
    model = trained_looking(tiny_whisper())
    weights = {
        "uniform": normalized_weights(uniform_weights(ACCENTS), ACCENTS),
        "beta2": normalized_weights(beta_weights("korean", 2.0, ACCENTS), ACCENTS),
        "random": torch.distributions.Dirichlet(torch.ones(N)).sample(),
    }[kind]
    unmerged = logits(model, weights)
    merge(model, weights)
    merged = logits(model)  # no routing needed: the experts are in the weights now
    assert torch.allclose(merged, unmerged, atol=1e-4)
    assert not torch.allclose(merged, logits(tiny_whisper()), atol=1e-3)


def test_without_adapters_leaves_a_plain_whisper_that_computes_the_merge():
    model = trained_looking(tiny_whisper())
    weights = normalized_weights(beta_weights("korean", 2.0, ACCENTS), ACCENTS)
    with pytest.raises(ValueError, match="not merged"):
        without_adapters(model)  # the experts would be lost, not exported
    merge(model, weights)
    merged = logits(model)
    without_adapters(model)
    assert not adapter_layers(model) and torch.equal(logits(model), merged)
    assert set(model.state_dict()) == set(tiny_whisper().state_dict())  # what transformers saves and loads


def test_per_sample_weights_in_one_batch_equal_each_weighting_alone():
    model = trained_looking(tiny_whisper())
    rows = torch.stack(
        [torch.zeros(N), normalized_weights(beta_weights("hindi", 2, ACCENTS), ACCENTS), torch.full((N,), 1 / N)]
    )
    together = logits(model, rows)
    for index, row in enumerate(rows):
        assert torch.allclose(together[index], logits(model, row)[index], atol=1e-5)


def test_a_frozen_model_skips_the_experts_no_sample_weighs_and_computes_the_same():
    model = trained_looking(tiny_whisper())
    rows = torch.zeros(3, N)
    rows[1, 2] = 1.0  # hindi alone; row 0 base; row 2 hindi and spanish
    rows[2, [2, 4]] = 0.5
    every_expert = [logits(model, weights) for weights in (rows, torch.zeros(3, N))]  # trainable: all computed
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    mixtures = [layer for layer in adapter_layers(model).values() if layer.n_experts > 1]
    for weights, expected, used in zip((rows, torch.zeros(3, N)), every_expert, (2, 0)):
        with torch.no_grad(), routed(model, weights):
            skipping = model(input_features=FEATURES, decoder_input_ids=TOKENS).logits
            assert {layer.weighed[0].shape[0] for layer in mixtures} == {used}  # hindi, spanish; then none
        assert torch.allclose(skipping, expected, atol=1e-6)
    assert all(layer.weighed is None for layer in mixtures)  # cleared on the way out


@pytest.mark.parametrize("keep_deltas", [False, True])
def test_unmerge_restores_w0_bit_exactly_after_100_remerges(keep_deltas):
    model = trained_looking(tiny_whisper())
    originals = {name: layer.base.weight.detach().clone() for name, layer in adapter_layers(model).items()}
    generator = torch.Generator().manual_seed(3)
    for _ in range(100):
        merge(model, torch.rand(N, generator=generator), keep_deltas)
    unmerge(model)
    for name, layer in adapter_layers(model).items():
        assert torch.equal(layer.base.weight, originals[name]), name


def test_merging_from_kept_deltas_equals_merging_from_the_factors():
    by_factors, by_deltas = trained_looking(tiny_whisper()), trained_looking(tiny_whisper())
    generator = torch.Generator().manual_seed(4)
    for _ in range(3):
        weights = torch.rand(N, generator=generator)
        merge(by_factors, weights)
        merge(by_deltas, weights, keep_deltas=True)
        assert torch.allclose(logits(by_deltas), logits(by_factors), atol=1e-5)
    assert not torch.allclose(logits(by_deltas), logits(tiny_whisper()), atol=1e-3)


def test_a_sample_routed_to_expert_k_trains_only_expert_k():
    model = trained_looking(tiny_whisper())
    model.train()
    k = 4
    with routed(model, torch.full((3,), k)):  # training's routing: an expert index per sample
        loss = model(input_features=FEATURES, labels=TOKENS).loss
    loss.backward()
    for name, layer in adapter_layers(model).items():
        if layer.n_experts == N:
            for expert in range(N):
                grad_A, grad_B = layer.lora_A.grad[expert], layer.lora_B.grad[expert]
                if expert == k:
                    assert grad_A.abs().sum() > 0 and grad_B.abs().sum() > 0, name
                else:
                    assert torch.count_nonzero(grad_A) == 0 and torch.count_nonzero(grad_B) == 0, name
        else:  # the shared decoder LoRA learns from every sample
            assert layer.lora_B.grad.abs().sum() > 0, name
    assert all(not p.requires_grad for n, p in model.named_parameters() if "lora_" not in n)


def test_expert_indices_compute_what_one_hot_weights_compute_values_and_gradients():
    by_index, by_weights = trained_looking(tiny_whisper()), trained_looking(tiny_whisper())
    for model in (by_index, by_weights):
        model.eval()  # no dropout: the two passes must see the same inputs
    experts = torch.tensor([4, 0, 2])
    with routed(by_index, experts):
        index_loss = by_index(input_features=FEATURES, labels=TOKENS).loss
    with routed(by_weights, torch.nn.functional.one_hot(experts, N).float()):
        weights_loss = by_weights(input_features=FEATURES, labels=TOKENS).loss
    index_loss.backward()
    weights_loss.backward()
    assert torch.allclose(index_loss, weights_loss, atol=1e-6)
    index_layers, weight_layers = adapter_layers(by_index), adapter_layers(by_weights)
    for name in index_layers:
        assert torch.allclose(index_layers[name].lora_A.grad, weight_layers[name].lora_A.grad, atol=1e-6), name
        assert torch.allclose(index_layers[name].lora_B.grad, weight_layers[name].lora_B.grad, atol=1e-6), name
    with pytest.raises(ValueError, match="expert indices"), routed(by_index, torch.tensor([N, 0, 1])):
        pass


def test_placement_variants_and_missing_routing():
    model = inject_adapters(tiny_whisper(), AdapterPlacement(targets="qkvo", decoder_experts=N))
    layers = adapter_layers(model)
    # 2 encoder layers x 4 projections + 2 decoder layers x (self + cross) x 4 projections
    assert len(layers) == 2 * 4 + 2 * 2 * 4
    assert all(isinstance(layer, MixtureLoRALinear) and layer.n_experts == N for layer in layers.values())
    with pytest.raises(RuntimeError, match="inside routed"):
        logits(model)
    with pytest.raises(ValueError, match="targets must be one of"):
        inject_adapters(tiny_whisper(), AdapterPlacement(targets="qk"))
