"""Training on the real tiny.en: loss and routing work, the best checkpoint loads, a killed run resumes exactly."""

import json
from pathlib import Path

import pytest
import torch

from maslora.mixture.layer import adapter_layers
from maslora.mixture.peft_io import RunsWith, load_experts, runs_with
from maslora.training.config import TrainConfig
from maslora.training.loop import train
from maslora.training.recipes import recipe_config
from maslora.whisper.load import load_whisper
from maslora.whisper.targets import decoder_labels


def _config(out, fake_l2arctic, **overrides) -> TrainConfig:
    # 119 training clips in fold 1 of the fake tree; batch 4 -> 30 steps per epoch; 2 steps here.
    settings = dict(
        corpus=str(fake_l2arctic),
        encoder_seconds=10,
        batch_size=4,
        micro_batch_size=2,
        epochs=2 / 30,
        eval_every=1,
        validation_limit=3,
        learning_rate=1e-3,
        rank=4,
        alpha=4.0,
    )
    return TrainConfig(out=out, **{**settings, **overrides})


def _trained_weights(out) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoint.pt", weights_only=False)["trainable"]


def test_labels_mask_the_prompt_and_the_padding(tiny_en):
    inputs, targets = decoder_labels(tiny_en, ["Hi.", "Hello there, friend."])
    prompt = tiny_en.prompt_ids()
    assert inputs[0, : len(prompt)].tolist() == prompt
    assert (targets[:, : len(prompt) - 1] == -100).all()
    first_text = tiny_en.tokenizer("Hi.").input_ids
    assert targets[0, len(prompt) - 1 : len(first_text) - 1].tolist() == first_text[len(prompt) :]
    assert (targets[0, len(first_text) - 1 :] == -100).all()  # padding after <|endoftext|>


@pytest.mark.slow
def test_mas_lora_trains_saves_experts_and_resumes_exactly_after_a_kill(fake_l2arctic, tmp_path, monkeypatch):
    summary = train(_config(tmp_path / "whole", fake_l2arctic))
    assert summary["steps"] == 2 and summary["accents"] == [
        "arabic",
        "mandarin",
        "hindi",
        "korean",
        "spanish",
        "vietnamese",
    ]
    history = [json.loads(line) for line in (tmp_path / "whole" / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [1, 2] and all("validation_wer" in h for h in history)
    experts = load_whisper("tiny.en", device="cpu")
    assert load_experts(experts.model, tmp_path / "whole" / "best") == summary["accents"]
    assert any(layer.lora_B.abs().sum() > 0 for layer in adapter_layers(experts.model).values())  # it learned

    real_step = torch.optim.AdamW.step
    calls = {"n": 0}

    def killed_at_second_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", killed_at_second_step)
    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path / "killed", fake_l2arctic))
    monkeypatch.setattr(torch.optim.AdamW, "step", real_step)
    history_file = tmp_path / "killed" / "history.jsonl"
    before_kill = json.loads(history_file.read_text())
    history_file.write_text(json.dumps(before_kill | {"seconds": 1000.0}) + "\n")  # as if step 1 took 1000 s
    assert train(_config(tmp_path / "killed", fake_l2arctic))["steps"] == 2
    whole, resumed = _trained_weights(tmp_path / "whole"), _trained_weights(tmp_path / "killed")
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole)
    history = [json.loads(line) for line in history_file.read_text().splitlines()]
    assert [h["step"] for h in history] == [1, 2]
    assert 1000.0 < history[1]["seconds"] < 1000.0 + 600  # the clock goes on from the checkpoint, not from 0


@pytest.mark.slow
def test_real_speech_trains_the_mandarin_expert_beside_the_synthetic_speakers(fake_l2arctic, tmp_path):
    fixture = Path(__file__).parent / "data" / "speechocean762"
    split_file = tmp_path / "split.csv"
    split_file.write_text("speaker,age,gender,part\n0739,20,m,train\n2168,20,f,validation\n0001,6,m,test\n")
    real = {"real_corpus": str(fixture), "real_split": str(split_file)}
    summary = train(_config(tmp_path / "run", fake_l2arctic, **real))
    assert summary["steps"] == 2 and summary["clips"] == {"train": 119 + 2, "validation": 3}  # limited to 3
    instead = train(_config(tmp_path / "instead", fake_l2arctic, **real, real_speech="instead", max_steps=1))
    assert instead["clips"]["train"] == 119 + 2 - 20  # fold 1's synthetic Mandarin trainers read 10 prompts each
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["real_corpus"] == str(fixture) and saved["real_speech"] == "beside"
    with pytest.raises(ValueError, match="real_speech must be one of beside, instead"):
        _config(tmp_path / "bad", fake_l2arctic, real_speech="only")
    with pytest.raises(ValueError, match="real_ages must be one of adults, children or None"):
        _config(tmp_path / "bad", fake_l2arctic, real_ages="adult")


@pytest.mark.slow
def test_a_checkpoint_of_other_settings_is_not_resumed(fake_l2arctic, tmp_path):
    train(_config(tmp_path / "run", fake_l2arctic, epochs=1 / 30))
    with pytest.raises(ValueError, match="another configuration"):
        train(_config(tmp_path / "run", fake_l2arctic, epochs=1 / 30, rank=8))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lora", "full"])
def test_regular_lora_and_full_fine_tuning_train_one_step(fake_l2arctic, tmp_path, method):
    summary = train(_config(tmp_path / method, fake_l2arctic, method=method, epochs=1 / 30))
    assert summary["steps"] == 1
    best = tmp_path / method / "best"
    assert (best / ("adapter_config.json" if method == "lora" else "model.safetensors")).is_file()


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [3, 1])
def test_two_cpu_processes_under_torchrun_make_the_same_update_as_one(fake_l2arctic, tmp_path, batch_size):
    """Data-parallel smoke test on CPU with the gloo backend: 2 processes, each its share of every batch.
    A batch of 3 in micro-batches of 1 gives the processes 2 and 1 micro-batches (gradients exchanged
    once each); a batch of 1 leaves the second process nothing (it must still join the exchange)."""
    import subprocess
    import sys

    from maslora.training.config import config_from_json
    from tests.conftest import ROOT
    from train.train import train_in_processes

    steps_per_epoch = -(-119 // batch_size)  # 119 training clips in fold 1 of the fake tree
    arguments = [
        "train/train.py",
        "--corpus",
        str(fake_l2arctic),
        "--encoder-seconds",
        "10",
        "--batch-size",
        str(batch_size),
        "--micro-batch-size",
        "1",
        "--epochs",
        str(1 / steps_per_epoch),
        "--eval-every",
        "2",
        "--validation-limit",
        "2",
        "--learning-rate",
        "1e-3",
        "--rank",
        "4",
        "--alpha",
        "4",
        "--dropout",
        "0",
        "--no-augment",
    ]
    one = subprocess.run(
        [sys.executable, *arguments, "--out", str(tmp_path / "one")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    settings = json.loads((tmp_path / "one" / "config.json").read_text())
    summary = train_in_processes(config_from_json({**settings, "out": str(tmp_path / "two")}), 2)
    assert summary["steps"] == json.loads(one.stdout.strip().splitlines()[-1])["steps"]
    # Each process decoded its share of the validation clips: gathered back in order, the WERs are the
    # one process's (a misordered gather would score transcripts against other clips' references).
    scores = [
        [
            {k: v for k, v in r.items() if k.endswith("wer")}
            for r in map(json.loads, open(tmp_path / run / "history.jsonl"))
        ]
        for run in ("one", "two")
    ]
    assert scores[0] == scores[1] and any(scores[0])
    together, alone = _trained_weights(tmp_path / "two"), _trained_weights(tmp_path / "one")
    assert together.keys() == alone.keys()
    differences = torch.cat([(together[k] - alone[k]).abs().flatten() for k in alone])
    # Adam's first step is lr * g / |g|: where a gradient element is ~0, float noise from the different
    # summation order flips its sign (a difference of 2 lr); everywhere else the update is the same.
    # Without the all-reduce, each process would follow half a batch and far more signs would differ.
    assert (differences > 1e-6).float().mean() < 0.01
    assert differences.max() <= 2 * 1e-3 + 1e-6
    assert any(not torch.equal(alone[k], torch.zeros_like(alone[k])) for k in alone if "lora_B" in k)


def test_a_bad_method_or_decoder_fails_before_anything_loads_or_is_written(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(ValueError, match="method must be one of mas-lora, lora, full, got 'mas'"):
        recipe_config("cpu-tiny", "mas", out)
    with pytest.raises(ValueError, match="decoder must be one of shared, mas, none, got 'both'"):
        TrainConfig(out=out, decoder="both")
    with pytest.raises(ValueError, match="a shared LoRA beside experts needs method mas-lora"):
        TrainConfig(out=out, method="lora", shared_rank=16)
    with pytest.raises(ValueError, match="adapts the decoder: decoder 'shared' or 'mas', not 'none'"):
        TrainConfig(out=out, shared_rank=16, decoder="none")
    assert not out.exists()


@pytest.mark.slow
def test_shared_and_experts_train_in_two_processes_and_save_the_shared_part(fake_l2arctic, tmp_path):
    """The decoder of the shared design holds the shared LoRA alone: its layers have no expert factors to
    train, which two processes' gradient exchange (DistributedDataParallel) must not wait for."""
    from train.train import train_in_processes

    config = _config(tmp_path / "shared", fake_l2arctic, shared_rank=8, eval_every=2)  # 2 steps
    summary = train_in_processes(config, 2)
    assert summary["steps"] == 2
    best = tmp_path / "shared" / "best"
    manifest = json.loads((best / "experts.json").read_text())
    assert manifest["design"] == "shared+experts" and manifest["placement"]["decoder_experts"] == 0
    trained = _trained_weights(tmp_path / "shared")
    assert any("shared_B" in name and ".decoder." in name and trained[name].abs().sum() > 0 for name in trained)
    assert any("lora_B" in name and ".encoder." in name and trained[name].abs().sum() > 0 for name in trained)


def test_a_config_that_cannot_stop_or_validate_is_refused(tmp_path):
    with pytest.raises(ValueError, match="patience must be at least 1"):
        TrainConfig(out=tmp_path, patience=0)
    with pytest.raises(ValueError, match="validation must be one of speakers, prompts"):
        TrainConfig(out=tmp_path, validation="voices")
    with pytest.raises(ValueError, match="eval_every must be at least 1"):
        TrainConfig(out=tmp_path, eval_every=0)


@pytest.mark.slow
def test_patience_stops_a_run_that_stopped_improving_and_keeps_its_best(fake_l2arctic, tmp_path):
    # A learning rate of 0 never changes the model, so no evaluation after the first is better.
    config = _config(tmp_path / "flat", fake_l2arctic, learning_rate=0.0, epochs=1.0, patience=2)
    summary = train(config)
    assert (summary["steps"], summary["best_step"]) == (3, 1)  # evaluations at 1 (best), 2 and 3 (stale): stop
    history = [json.loads(line) for line in (tmp_path / "flat" / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [1, 2, 3]
    assert {"validation_wer", "validation_matched_wer", "paper_validation_wer"} <= history[0].keys()
    assert train(config)["steps"] == 3  # resumed after the stop: nothing more to do


@pytest.mark.slow
def test_speed_options_train_the_same_steps_and_the_window_is_recorded(fake_l2arctic, tmp_path):
    plain = train(_config(tmp_path / "plain", fake_l2arctic))
    prefetched = train(_config(tmp_path / "prefetched", fake_l2arctic, prefetch=True))
    assert plain["steps"] == prefetched["steps"] == 2
    plain_weights, prefetched_weights = _trained_weights(tmp_path / "plain"), _trained_weights(tmp_path / "prefetched")
    assert all(torch.equal(plain_weights[k], prefetched_weights[k]) for k in plain_weights)  # the same clips

    fitted = _config(tmp_path / "fitted", fake_l2arctic, fit_window=True, group_by_length=True, method="lora")
    train(fitted)
    assert runs_with(tmp_path / "fitted" / "best") == RunsWith("tiny.en", 10)  # run in the window, not fitted
    assert runs_with(tmp_path / "plain" / "best") == RunsWith("tiny.en", 10)
