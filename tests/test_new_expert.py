"""A new accent expert: folders with one expert more or less (the others byte for byte), training one on
real clips with everything else frozen, the CLI (add-expert, remove-expert, experts) and its errors."""

import hashlib
import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch

from maslora.data.speechocean import load_speechocean762
from maslora.errors import AdapterError, AudioError, CorpusError, TrainingCancelled
from maslora.mixture.expert_folders import add_expert, remove_expert
from maslora.mixture.layer import AdapterPlacement, adapter_layers, inject_adapters
from maslora.mixture.peft_io import RunsWith, load_experts, read_adapter, read_experts_manifest, save_experts
from maslora.training.new_expert import ModelShelf, NewExpertConfig, longest_clip_seconds, train_new_expert
from maslora.whisper.load import load_whisper
from tests.conftest import ROOT
from tests.test_mixture_layer import ACCENTS, tiny_whisper, trained_looking

BUNDLED = ROOT / "assets" / "experts" / "tiny.en" / "mas-lora"  # the default mixture: experts in both halves
PAPER = ROOT / "assets" / "experts" / "tiny.en" / "mas-lora-paper"  # encoder experts, a shared decoder LoRA
REAL_CLIPS = ROOT / "tests" / "data" / "speechocean762"  # 6 real Mandarin-L1 clips, CC BY 4.0 (its README)


def _fingerprint(folder) -> dict[str, str]:
    """Every file under `folder` by relative path -> its SHA-256: equal means untouched."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def experts(tmp_path):
    """A tiny random-config experts folder (6 experts, shared decoder LoRA) and a new expert's factors."""
    model = trained_looking(tiny_whisper())
    save_experts(model, ACCENTS, AdapterPlacement(), tmp_path / "experts", RunsWith("tiny-random", 10))
    generator = torch.Generator().manual_seed(7)
    new = {
        name: (torch.randn(layer.lora_A.shape[1:], generator=generator), torch.randn(layer.lora_B.shape[1:]))
        for name, layer in adapter_layers(model).items()
        if ".encoder." in name
    }
    return tmp_path / "experts", new


def test_adding_an_expert_writes_n_plus_1_and_leaves_the_others_byte_for_byte(experts, tmp_path):
    source, new = experts
    before = _fingerprint(source)
    assert add_expert(source, "mine", new, tmp_path / "more") == [*ACCENTS, "mine"]
    assert _fingerprint(source) == before  # the original folder is never modified
    after = _fingerprint(tmp_path / "more")
    assert {path: digest for path, digest in after.items() if not path.startswith(("mine/", "experts.json"))} == {
        path: digest for path, digest in before.items() if path != "experts.json"
    }
    manifest = read_experts_manifest(tmp_path / "more")
    assert manifest.placement.encoder_experts == 7 and manifest.encoder_seconds == 10
    model = tiny_whisper()
    assert load_experts(model, tmp_path / "more") == [*ACCENTS, "mine"]
    for name, (A, B) in new.items():
        layer = adapter_layers(model)[name]
        assert torch.equal(layer.lora_A[6], A) and torch.equal(layer.lora_B[6], B)


def test_removing_an_expert_and_its_limits(experts, tmp_path):
    source, _ = experts
    assert remove_expert(source, "hindi", tmp_path / "fewer") == [a for a in ACCENTS if a != "hindi"]
    assert not (tmp_path / "fewer" / "hindi").exists() and (tmp_path / "fewer" / "decoder").is_dir()
    assert read_experts_manifest(tmp_path / "fewer").placement.encoder_experts == 5
    assert load_experts(tiny_whisper(), tmp_path / "fewer") == [a for a in ACCENTS if a != "hindi"]
    with pytest.raises(AdapterError, match="no expert 'welsh'"):
        remove_expert(source, "welsh", tmp_path / "x")
    two = AdapterPlacement(encoder_experts=2)
    save_experts(trained_looking(tiny_whisper(), two), ACCENTS[:2], two, tmp_path / "two", RunsWith("tiny-random"))
    with pytest.raises(AdapterError, match="at least 2"):
        remove_expert(tmp_path / "two", "arabic", tmp_path / "one")
    assert not (tmp_path / "one").exists()


@pytest.mark.parametrize(
    "name, out, message",
    [
        ("arabic", "new", "already an expert called 'arabic'"),
        ("decoder", "new", "already an expert called 'decoder'"),
        ("My Accent", "new", "lower-case letters"),
        ("../escape", "new", "lower-case letters"),
        ("mine", "experts", "the experts folder itself"),
        ("mine", "taken", "already exists"),
    ],
)
def test_a_bad_name_or_out_folder_writes_nothing(experts, tmp_path, name, out, message):
    source, new = experts
    (tmp_path / "taken").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(AdapterError, match=message):
        add_expert(source, name, new, tmp_path / out)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("shared_rank", [0, 8], ids=["experts only", "shared + experts"])
def test_folders_with_an_expert_per_accent_in_the_decoder_take_one_with_its_decoder_part(tmp_path, shared_rank):
    placement = AdapterPlacement(decoder_experts=6, rank=4, alpha=4.0, shared_rank=shared_rank)
    model = trained_looking(tiny_whisper(), placement)
    save_experts(model, ACCENTS, placement, tmp_path / "mas", RunsWith("t"))
    both = _new_factors(model, 4, sides=("encoder", "decoder"))
    encoder_only = {name: factors for name, factors in both.items() if ".encoder." in name}
    with pytest.raises(AdapterError, match="adapts the encoder, but .* sit in the decoder and encoder"):
        add_expert(tmp_path / "mas", "mine", encoder_only, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    add_expert(tmp_path / "mas", "mine", both, tmp_path / "more")
    more = read_experts_manifest(tmp_path / "more").placement
    assert (more.encoder_experts, more.decoder_experts, more.shared_rank) == (7, 7, shared_rank)
    loaded = tiny_whisper()
    assert load_experts(loaded, tmp_path / "more") == [*ACCENTS, "mine"]
    for name, (A, B) in both.items():  # the new expert's factors, in both halves, as expert 7
        assert torch.equal(adapter_layers(loaded)[name].lora_A[6], A) and torch.equal(
            adapter_layers(loaded)[name].lora_B[6], B
        )
    remove_expert(tmp_path / "mas", "korean", tmp_path / "fewer")  # removing keeps decoder and encoder in step
    assert read_experts_manifest(tmp_path / "fewer").placement.decoder_experts == 5
    assert load_experts(tiny_whisper(), tmp_path / "fewer") == [a for a in ACCENTS if a != "korean"]


SHARED_EXPERTS = AdapterPlacement(rank=4, alpha=4.0, shared_rank=8, decoder_experts=0)


def _new_factors(model, rank: int, sides=("encoder",)) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(7)
    return {
        name: (
            torch.randn(rank, layer.base.in_features, generator=generator),
            torch.randn(layer.base.out_features, rank, generator=generator),
        )
        for name, layer in adapter_layers(model).items()
        if any(f".{side}." in name for side in sides)
    }


def test_a_shared_experts_folder_takes_a_new_expert_beside_its_shared_part(tmp_path):
    model = trained_looking(tiny_whisper(), SHARED_EXPERTS)
    save_experts(model, ACCENTS, SHARED_EXPERTS, tmp_path / "shared", RunsWith("tiny-random", 10))
    new = _new_factors(model, rank=4)
    before = _fingerprint(tmp_path / "shared")
    add_expert(tmp_path / "shared", "mine", new, tmp_path / "more")
    after = _fingerprint(tmp_path / "more")
    assert {p: d for p, d in after.items() if p.startswith("shared/")} == {
        p: d for p, d in before.items() if p.startswith("shared/")
    }  # the shared part copied byte for byte
    manifest = read_experts_manifest(tmp_path / "more")
    assert manifest.placement == AdapterPlacement(
        rank=4, alpha=4.0, shared_rank=8, decoder_experts=0, encoder_experts=7
    )
    loaded = tiny_whisper()
    assert load_experts(loaded, tmp_path / "more") == [*ACCENTS, "mine"]
    for name, (A, B) in new.items():
        layer, source = adapter_layers(loaded)[name], adapter_layers(model)[name]
        assert torch.equal(layer.lora_A[6], A) and torch.equal(layer.lora_B[6], B)
        assert torch.equal(layer.shared_B, source.shared_B)
    with pytest.raises(AdapterError, match="there is already an expert called 'shared'"):
        add_expert(tmp_path / "shared", "shared", new, tmp_path / "again")


@pytest.fixture(scope="module")
def real_clips() -> pd.DataFrame:
    return load_speechocean762(REAL_CLIPS)


@pytest.mark.slow
def test_a_new_expert_learns_its_clips_with_everything_else_frozen(real_clips, private_model_cache):
    losses, pauses = [], []
    config = NewExpertConfig(steps=5, batch_size=len(real_clips), augment=None)  # the same 6 clips every step
    layers = train_new_expert(
        PAPER, real_clips, config, on_step=lambda p: losses.append(p.loss), pause=lambda: pauses.append(len(losses))
    )
    assert pauses == [0, 1, 2, 3, 4]  # before each step (the page gives way to compares there)
    assert losses[-1] < losses[0] - 0.1, losses  # it learns (B starts at 0: step 1 is Whisper + the decoder LoRA)
    assert all(".encoder." in name for name in layers) and len(layers) == 8  # q, v of tiny.en's 4 encoder blocks
    assert all(B.abs().sum() > 0 for _, B in layers.values())
    shared = read_adapter(PAPER / "decoder")[1]
    assert not set(shared) & set(layers)  # the shared decoder LoRA is not among what it returns: it stayed frozen


@pytest.mark.slow
def test_the_default_mixture_takes_a_new_expert_in_both_halves_beside_its_frozen_shared_part(real_clips, tmp_path):
    config = NewExpertConfig(steps=3, batch_size=len(real_clips), augment=None)
    losses = []
    layers = train_new_expert(BUNDLED, real_clips, config, on_step=lambda p: losses.append(p.loss))
    assert losses[-1] < losses[0], losses
    shared = read_adapter(BUNDLED / "shared")[1]
    assert set(layers) == set(shared) and {".encoder." in name for name in layers} == {True, False}  # both halves
    add_expert(BUNDLED, "mine", layers, tmp_path / "more")
    loaded = load_whisper("tiny.en", device="cpu")
    assert load_experts(loaded.model, tmp_path / "more")[-1] == "mine"
    for name, (A, B) in layers.items():
        layer = adapter_layers(loaded.model)[name]
        assert torch.equal(layer.lora_A[-1], A) and torch.equal(layer.lora_B[-1], B)
        assert torch.equal(layer.shared_B, shared[name][1])  # the shared part as bundled: it stayed frozen


@pytest.mark.slow
@pytest.mark.real_model
def test_a_new_expert_trains_beside_the_frozen_shared_part_of_a_shared_experts_folder(real_clips, tmp_path):
    whisper = load_whisper("tiny.en", device="cpu")
    placement = AdapterPlacement(rank=4, alpha=4.0, shared_rank=8, decoder_experts=0, dropout=0.0)
    inject_adapters(whisper.model, placement)
    for layer in adapter_layers(whisper.model).values():  # a shared part that changes the model, a little
        layer.shared_B.data = torch.randn(layer.shared_B.shape, generator=torch.Generator().manual_seed(3)) * 0.01
    save_experts(whisper.model, ACCENTS, placement, tmp_path / "shared", RunsWith("tiny.en", 10))
    config = NewExpertConfig(steps=3, batch_size=len(real_clips), augment=None)
    losses = []
    layers = train_new_expert(tmp_path / "shared", real_clips, config, on_step=lambda p: losses.append(p.loss))
    assert losses[-1] < losses[0], losses
    assert len(layers) == 8 and all(A.shape[0] == 4 and B.abs().sum() > 0 for A, B in layers.values())
    add_expert(tmp_path / "shared", "mine", layers, tmp_path / "more")
    loaded = load_whisper("tiny.en", device="cpu")
    assert load_experts(loaded.model, tmp_path / "more") == [*ACCENTS, "mine"]
    for name, layer in adapter_layers(loaded.model).items():
        assert torch.equal(layer.shared_B, adapter_layers(whisper.model)[name].shared_B)  # as saved: it stayed frozen


@pytest.mark.slow
def test_trainings_on_a_shelf_load_the_model_once_and_give_what_a_freshly_loaded_model_gives(real_clips):
    config = NewExpertConfig(steps=2, batch_size=len(real_clips))  # augmented, with dropout: as on the page
    fresh = train_new_expert(BUNDLED, real_clips, config)
    shelf = ModelShelf()
    steps = []
    with pytest.raises(TrainingCancelled):  # a training that stops half way leaves the model as it was lent
        train_new_expert(BUNDLED, real_clips, config, on_step=steps.append, cancelled=lambda: bool(steps), shelf=shelf)
    model = shelf._kept[1]
    lent = [train_new_expert(BUNDLED, real_clips, config, shelf=shelf) for _ in range(2)]
    assert shelf._kept[1] is model  # lent again each time, never loaded again
    for layers in lent:
        assert layers.keys() == fresh.keys()
        assert all(torch.equal(layers[n][0], A) and torch.equal(layers[n][1], B) for n, (A, B) in fresh.items())
    other = train_new_expert(BUNDLED, real_clips, replace(config, seed=1), shelf=shelf)
    assert shelf._kept[1] is not model  # another seed: another model, and only one kept
    assert any(not torch.equal(other[n][1], B) for n, (_, B) in fresh.items())


@pytest.mark.slow
def test_bad_clips_are_named_before_any_training(real_clips, tmp_path):
    with pytest.raises(CorpusError, match="at least 5"):
        train_new_expert(BUNDLED, real_clips.iloc[:4])
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(16_000, dtype=np.float32), 16_000)
    with pytest.raises(AudioError, match="silent.wav is silent.*record"):
        train_new_expert(BUNDLED, pd.concat([real_clips, pd.DataFrame([{"path": str(silent), "text": "Hi."}])]))
    long = tmp_path / "long.wav"
    soundfile.write(long, np.random.default_rng(0).normal(0, 0.1, 16_000 * 10).astype(np.float32), 16_000)
    with pytest.raises(AudioError, match=f"at most {longest_clip_seconds(10)} s"):
        train_new_expert(BUNDLED, pd.concat([real_clips, pd.DataFrame([{"path": str(long), "text": "Hi."}])]))
    with pytest.raises(TrainingCancelled, match="after 0 of"):
        train_new_expert(BUNDLED, real_clips, NewExpertConfig(steps=2), cancelled=lambda: True)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maslora", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.slow
def test_cli_adds_lists_uses_and_removes_an_expert(tmp_path, private_model_cache):
    before = _fingerprint(BUNDLED)
    out = tmp_path / "with-mine"
    manifest = REAL_CLIPS / "manifest.csv"
    added = _cli("add-expert", "--experts", str(BUNDLED), "--name", "mine", "--manifest", str(manifest))
    assert added.returncode == 2 and "--out" in added.stderr  # argparse: a required option missing
    added = _cli(
        "add-expert", "--experts", str(BUNDLED), "--name", "mine", "--manifest", str(manifest), "--out", str(out),
        "--steps", "2",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "7 experts" in added.stdout and _fingerprint(BUNDLED) == before
    listed = _cli("experts", str(out))
    assert listed.returncode == 0 and listed.stdout.split("\n", 1)[1].split() == [*json.loads(
        (BUNDLED / "experts.json").read_text())["accents"], "mine"]  # fmt: skip
    clip = load_speechocean762(REAL_CLIPS).path.iloc[0]
    heard = _cli("transcribe", clip, "--experts", str(out), "--accent", "mine", "--beta", "1")
    assert heard.returncode == 0 and heard.stdout.strip(), heard.stderr
    again = _cli(
        "add-expert", "--experts", str(out), "--name", "mine", "--manifest", str(manifest), "--out", str(tmp_path / "x")
    )
    assert again.returncode == 2 and again.stderr.startswith("error: there is already an expert called 'mine'")
    other_size = _cli(
        "add-expert", "--experts", str(out), "--name", "yours", "--manifest", str(manifest), "--out",
        str(tmp_path / "y"), "--model", "base",
    )  # fmt: skip
    assert other_size.returncode == 2 and not (tmp_path / "y").exists()
    assert other_size.stderr == f"error: {out} was trained on tiny.en, not base: use --model tiny.en\n"
    removed = _cli("remove-expert", "--experts", str(out), "--name", "mine", "--out", str(tmp_path / "back"))
    assert removed.returncode == 0, removed.stderr
    assert {k: v for k, v in _fingerprint(tmp_path / "back").items() if k != "experts.json"} == {
        k: v for k, v in before.items() if k != "experts.json"
    }
    assert json.loads((tmp_path / "back" / "experts.json").read_text()) == json.loads(
        (BUNDLED / "experts.json").read_text()
    )
