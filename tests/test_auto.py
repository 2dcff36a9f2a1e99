"""Weights from the audio: the rules by hand, the accent classifier (deterministic, voice-free), per-block
routing, the learned router, and the bundled classifier on every kind of input, silence included."""

import math

import numpy as np
import pytest
import torch

from maslora.auto.accent_id import (
    ClassifierConfig,
    load_head,
    save_head,
    speaker_directions,
    train_classifier,
    without_directions,
)
from maslora.auto.auto_weights import RULES, TEMPERATURES, auto_weights, confidence_beta, tempered
from maslora.auto.router import RouterConfig, router_weights, train_router
from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.data.corpora import load_manifest
from maslora.errors import AdapterError, WeightsError
from maslora.mixture.layer import routed
from maslora.mixture.peft_io import load_experts
from maslora.systems.bundle import (
    BUNDLED_EXAMPLES,
    BUNDLED_EXPERTS,
    bundled_mixtures,
    load_bundled_auto,
    load_bundled_whisper,
    mixture_record,
)
from maslora.systems.evaluation import Models, evaluate
from maslora.whisper.encoder_window import windowed_whisper
from tests.conftest import ROOT
from tests.test_mixture_layer import ACCENTS, FEATURES, TOKENS, tiny_whisper, trained_looking


def _is_distribution(weights: dict[str, float], accents: list[str]) -> bool:
    values = list(weights.values())
    return (
        sorted(weights) == sorted(accents)
        and all(math.isfinite(v) and v >= 0 for v in values)
        and abs(sum(values) - 1) < 1e-6
    )


def test_the_three_rules_by_hand():
    p = {"arabic": 0.7, "hindi": 0.2, "korean": 0.1}
    assert auto_weights(p, "posterior") == p
    assert auto_weights(p, "beta") == pytest.approx(
        {"arabic": 0.5, "hindi": 0.25, "korean": 0.25}
    )  # beta = clip(1/0.7, 2, 3) = 2
    assert tempered(p, 2.0) == pytest.approx(
        {"arabic": 0.5229, "hindi": 0.2795, "korean": 0.1976}, abs=1e-4
    )  # sqrt(p), renormalized
    assert confidence_beta(1 / 3, 3) == pytest.approx(3.0)  # an unsure classifier: uniform
    assert confidence_beta(0.4, 6) == pytest.approx(2.5)
    unsure = {"arabic": 0.34, "hindi": 0.33, "korean": 0.33}
    assert auto_weights(unsure, "beta") == pytest.approx(
        unsure
    )  # beta = 1/0.34: the matched weight is the confidence, 0.34


def test_rules_give_a_distribution_for_extreme_posteriors_and_refuse_broken_ones():
    for p in ({"arabic": 1.0, "hindi": 0.0, "korean": 0.0}, {"arabic": 1e-30, "hindi": 1 - 2e-30, "korean": 1e-30}):
        for rule in RULES:
            for temperature in (1e-3, *TEMPERATURES, 1e3):
                assert _is_distribution(auto_weights(p, rule, temperature), list(p))
    for broken in ({"arabic": float("nan"), "hindi": 1.0}, {"arabic": 0.5, "hindi": 0.2}, {}):
        with pytest.raises(WeightsError):
            auto_weights(broken, "posterior")
    with pytest.raises(WeightsError, match="temperature"):
        auto_weights({"arabic": 1.0}, "tempered", 0.0)


def _synthetic_features(seed: int = 0) -> tuple[torch.Tensor, list[str], list[str]]:
    """4 speakers x 2 accents, 12 clips each: accent along one axis, a loud speaker offset along others."""
    generator = torch.Generator().manual_seed(seed)
    rows, accents, speakers = [], [], []
    for speaker, accent in enumerate(["arabic", "arabic", "hindi", "hindi"]):
        voice = torch.randn(16, generator=generator) * 5
        for _ in range(12):
            x = voice + torch.randn(16, generator=generator)
            x[0] += 2.0 if accent == "arabic" else -2.0
            rows.append(x)
            accents.append(accent)
            speakers.append(f"S{speaker}")
    return torch.stack(rows), accents, speakers


@pytest.mark.slow
def test_classifier_training_is_deterministic_under_a_seed_and_depends_on_it():
    features, accents, speakers = _synthetic_features()
    first, again = (train_classifier(features, accents, speakers).linear.weight for _ in range(2))
    other = train_classifier(features, accents, speakers, ClassifierConfig(seed=1)).linear.weight
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_speaker_directions_are_what_varies_within_an_accent():
    features, accents, speakers = _synthetic_features()
    z = (features - features.mean(0)) / features.std(0)
    directions = speaker_directions(z, accents, speakers)
    assert directions.shape == (2, 16)  # 4 speakers - 2 accents
    assert torch.allclose(directions @ directions.T, torch.eye(2), atol=1e-5)
    cleaned = without_directions(z, directions)
    speaker_means = torch.stack(
        [cleaned[[i for i, s in enumerate(speakers) if s == name]].mean(0) for name in ("S0", "S1")]
    )
    assert torch.allclose(
        speaker_means[0], speaker_means[1], atol=1e-4
    )  # two arabic speakers now look alike on average


def test_a_saved_head_loads_back_and_a_damaged_one_is_refused(tmp_path):
    features, accents, speakers = _synthetic_features()
    classifier = train_classifier(features, accents, speakers)
    save_head(classifier, tmp_path / "classifier", {"kind": "accent classifier"})
    loaded, manifest = load_head(tmp_path / "classifier")
    assert manifest["kind"] == "accent classifier"
    assert loaded.posterior(features[:3]) == classifier.posterior(features[:3])
    (tmp_path / "classifier" / "head.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(AdapterError, match="unreadable"):
        load_head(tmp_path / "classifier")
    with pytest.raises(AdapterError, match="not an accent classifier"):
        load_head(tmp_path / "nowhere")


def test_per_block_routing_equals_shared_routing_when_blocks_agree_and_differs_when_they_do_not():
    model = trained_looking(tiny_whisper())
    weights = torch.tensor([[0.5, 0.1, 0.1, 0.1, 0.1, 0.1], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [1 / 6] * 6])
    with torch.no_grad(), routed(model, weights):
        shared = model(input_features=FEATURES, decoder_input_ids=TOKENS).logits
    with torch.no_grad(), routed(model, weights[:, None].expand(-1, 2, -1)):  # 2 encoder blocks, the same row each
        per_block = model(input_features=FEATURES, decoder_input_ids=TOKENS).logits
    assert torch.allclose(shared, per_block, atol=1e-6)
    mixed = torch.stack([weights, weights.flip(0)], dim=1)  # block 0 and block 1 take different rows
    with torch.no_grad(), routed(model, mixed):
        different = model(input_features=FEATURES, decoder_input_ids=TOKENS).logits
    assert not torch.allclose(shared, different, atol=1e-4)


@pytest.mark.slow
def test_router_starts_uniform_and_trains_the_same_way_twice(tiny_en, tmp_path):
    """A router over the bundled experts, two steps on four real clips: same seed, same gate."""
    table = load_manifest(BUNDLED_EXAMPLES)
    table = table[table.accent.isin(ACCENTS)].head(4)
    combined = load_bundled_whisper("tiny.en")
    features = combined.encoder_features([load_audio(p) for p in table.path])
    config = RouterConfig(steps=2, batch_size=4, micro_batch_size=2)
    gates = []
    for _ in range(2):
        whisper = windowed_whisper("tiny.en", combined.encoder_seconds)
        accents = load_experts(whisper.model, BUNDLED_EXPERTS / "tiny.en" / "mas-lora")
        router, losses = train_router(whisper, accents, table, features, config, progress=False)
        assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
        gates.append(router.linear.weight.detach().clone())
        weights = router_weights(router, features)
        assert weights.shape == (4, 4, 6) and torch.allclose(weights.sum(-1), torch.ones(4, 4))
    assert torch.equal(gates[0], gates[1])
    assert gates[0].abs().sum() > 0  # it moved from the uniform start


@pytest.fixture(scope="module")
def bundled(tiny_en):
    auto = load_bundled_auto("tiny.en")
    assert auto is not None, "the bundled tiny.en experts ship with an accent classifier (train/auto_heads.py)"
    return load_bundled_whisper("tiny.en"), auto


@pytest.mark.slow
def test_bundled_auto_weights_are_a_distribution_for_every_input_silence_included(bundled):
    combined, auto = bundled
    rng = np.random.default_rng(0)
    inputs = {
        "silence": np.zeros(3 * SAMPLE_RATE, dtype=np.float32),
        "one sample": np.zeros(1, dtype=np.float32),
        "white noise": rng.normal(0, 0.3, 5 * SAMPLE_RATE).astype(np.float32),
        "full-scale square wave": np.sign(np.sin(np.arange(2 * SAMPLE_RATE) / 8)).astype(np.float32),
        "a native speaker": load_audio(ROOT / "assets" / "native" / "arctic_a0001.flac"),
        "45 s, longer than the window": np.tile(load_audio(ROOT / "assets" / "native" / "arctic_a0002.flac"), 20)[
            : 45 * SAMPLE_RATE
        ],
    }
    for name, audio in inputs.items():
        posterior, weights = auto.weigh(combined, audio)
        assert _is_distribution(posterior, combined.accents), name
        assert _is_distribution(weights, combined.accents), name
        for rule in RULES:
            assert _is_distribution(auto_weights(posterior, rule, 2.0), combined.accents), (name, rule)
    assert all(mixture_record("tiny.en", m)["auto"]["rule"] in RULES for m in bundled_mixtures("tiny.en"))


@pytest.mark.slow
def test_audio_routed_systems_write_their_weights_into_the_rows(bundled, tmp_path):
    combined, _ = bundled
    table = load_manifest(BUNDLED_EXAMPLES).head(3)
    classifier = BUNDLED_EXPERTS / "tiny.en" / "accent-classifier"
    models = Models(
        model="tiny.en",
        experts=BUNDLED_EXPERTS / "tiny.en" / "mas-lora",
        encoder_seconds=combined.encoder_seconds,
        classifier=classifier,
    )
    rows = evaluate(table, ["mas-auto-t1", "mas-auto-beta"], models, tmp_path / "rows.jsonl", progress=False)
    assert len(rows) == 6
    for row in rows.itertuples():
        assert _is_distribution(row.posterior, combined.accents) and _is_distribution(row.weights, combined.accents)
    plain = rows[rows.system == "mas-auto-t1"]
    assert all(r.weights == pytest.approx(r.posterior, abs=1e-6) for r in plain.itertuples())  # T = 1: w = p
    with pytest.raises(WeightsError, match="--router"):
        evaluate(table, ["mas-router"], models, tmp_path / "router-rows.jsonl", progress=False)


@pytest.mark.slow
def test_heads_script_then_the_evaluate_command_with_every_automatic_system(fake_l2arctic, tmp_path):
    """A finished MAS-LoRA run -> train/heads.py -> python -m maslora evaluate with the classifier and router."""
    import subprocess
    import sys

    from maslora.training.loop import train
    from tests.test_training import _config

    run = tmp_path / "mas"
    train(_config(run, fake_l2arctic, epochs=1 / 30))
    heads = subprocess.run(
        [sys.executable, "train/heads.py", str(run), "--router-steps", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert heads.returncode == 0, heads.stderr[-2000:]
    assert (
        load_head(run / "accent-classifier")[0].rows == 1 and load_head(run / "router")[0].rows == 4
    )  # tiny.en: 4 encoder blocks
    systems = "mas-uniform,mas-auto-t1,mas-auto-beta,mas-router"
    command = [
        sys.executable,
        "-m",
        "maslora",
        "evaluate",
        "--corpus",
        str(fake_l2arctic),
        "--fold",
        "1",
        "--encoder-seconds",
        "10",
        "--experts",
        str(run / "best"),
        "--classifier",
        str(run / "accent-classifier"),
        "--router",
        str(run / "router"),
        "--systems",
        systems,
        "--rows",
        str(tmp_path / "rows.jsonl"),
    ]
    table = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert table.returncode == 0, table.stderr[-2000:]
    header = table.stdout.splitlines()[0].split()
    assert header == systems.split(","), table.stdout
    assert "pooled" in table.stdout and "%" in table.stdout


def test_a_classifier_for_other_experts_is_refused(bundled):
    combined, auto = bundled
    features, accents, speakers = _synthetic_features()
    other = type(auto)(train_classifier(features, accents, speakers), "tempered", 1.0)  # knows two accents only
    with pytest.raises(AdapterError, match="the accent classifier knows arabic, hindi; the experts are"):
        other.weigh(combined, np.zeros(SAMPLE_RATE, dtype=np.float32))
