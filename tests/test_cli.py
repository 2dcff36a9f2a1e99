"""`python -m maslora ...` as a user runs it: transcripts on stdout, one-line errors, exit codes.

The commands run in this process (maslora.__main__.cli, what `python -m maslora` calls); one smoke test
starts the real `python -m maslora`, and the recording tests start it too, since ALSA reads its
configuration (here: a file for a microphone) once per process."""

import json
import os
import runpy
import subprocess
import sys
from dataclasses import dataclass

import pandas as pd
import pytest

from maslora.__main__ import cli
from maslora.data.microphone import default_input
from maslora.errors import MicrophoneError
from tests.conftest import ROOT


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(capsys):
    """`python -m maslora ARGS` in this process: its exit code, stdout and stderr."""

    def run(*args: str) -> Ran:
        capsys.readouterr()  # what came before is not this command's
        try:
            code = cli(list(args))
        except SystemExit as exit:  # argparse refusing the arguments
            code = exit.code
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


@pytest.mark.slow
def test_transcribes_one_file_and_several_as_a_user_starts_it(native_clips):
    (first, _), (second, _) = native_clips[3], native_clips[4]

    def _run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "maslora", *args]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)

    one = _run("transcribe", str(first))
    assert one.returncode == 0, one.stderr
    assert "glad to see you again" in one.stdout.lower() and "\t" not in one.stdout
    two = _run("transcribe", str(first), str(second), "--batch-size", "2")
    lines = two.stdout.strip().splitlines()
    assert two.returncode == 0 and len(lines) == 2
    assert lines[0].startswith(f"{first}\t") and "forget it" in lines[1].lower()


@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_code_2(run, tmp_path):
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio")
    for args, message in [
        (["transcribe", str(tmp_path / "missing.wav")], "audio file not found"),
        (["transcribe", str(not_audio)], "as audio"),
        (["transcribe", str(not_audio.parent / "x.flac"), "--model", "pypi:nothing_here"], "audio file not found"),
    ]:
        result = run(*args)
        assert result.returncode == 2
        assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_bad_file_among_good_ones_is_skipped_and_the_others_transcribed(run, native_clips, tmp_path):
    (good, _), (other, _) = native_clips[3], native_clips[4]
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio")
    missing = tmp_path / "missing.wav"
    result = run("transcribe", str(good), str(not_audio), str(missing), str(other))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(good), str(other)]
    assert "glad to see you again" in lines[0].lower() and "forget it" in lines[1].lower()
    assert f"skipped {not_audio}: could not read" in result.stderr and f"skipped {missing}: audio file not found" in (
        result.stderr
    )
    assert "2 of 4 files were skipped" in result.stderr


@pytest.mark.slow
def test_a_long_file_gets_subtitles_with_one_cue_per_window(run, native_clips, tmp_path):
    import numpy as np
    import soundfile

    from maslora.data.audio import SAMPLE_RATE, load_audio

    clips = native_clips[200:214]
    pause = np.zeros(SAMPLE_RATE // 3, np.float32)
    audio = np.concatenate([part for path, _ in clips for part in (load_audio(path), pause)])
    soundfile.write(tmp_path / "talk.wav", audio, SAMPLE_RATE)
    out = tmp_path / "subtitles"
    result = run("transcribe", str(tmp_path / "talk.wav"), "--output-format", "all", "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["talk.json", "talk.srt", "talk.txt", "talk.vtt"]
    body = json.loads((out / "talk.json").read_text())
    assert len(body["segments"]) >= 2 and body["segments"][0]["start"] == 0.0
    assert body["segments"][-1]["end"] == pytest.approx(len(audio) / SAMPLE_RATE)
    assert all(a["end"] == b["start"] for a, b in zip(body["segments"], body["segments"][1:]))
    assert (out / "talk.txt").read_text().strip() == body["text"] == result.stdout.strip()
    assert (out / "talk.srt").read_text().startswith("1\n00:00:00,000 --> 00:00:")
    assert (out / "talk.vtt").read_text().count(" --> ") == len(body["segments"])


@pytest.mark.slow
def test_synth_cli_writes_a_corpus_and_reports_bad_settings(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "maslora.synth",
            "--out",
            str(tmp_path),
            "--prompts",
            "1",
            "--accents",
            "spanish,native",
            "--speakers-per-accent",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "2 clips written" in result.stdout
    assert (tmp_path / "SPA1" / "wav" / "arctic_a0001.wav").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "maslora.synth", "--out", str(tmp_path), "--accents", "klingon"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "unknown accent" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_evaluate_prints_wer_per_accent_and_writes_rows(run, fake_l2arctic, tmp_path):
    rows = tmp_path / "rows.jsonl"
    result = run("evaluate", "--corpus", str(fake_l2arctic), "--prompts", "2", "--rows", str(rows))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for label in ["arabic", "hindi", "korean", "mandarin", "spanish", "vietnamese", "pooled", "macro mean"]:
        assert any(line.startswith(label) for line in lines), label
    table = pd.read_json(rows, lines=True)
    assert len(table) == 24 * 2 and set(table.utterance_id) == {"arctic_a0001", "arctic_a0002"}
    assert {"hypothesis", "errors", "reference_words", "model", "system"} <= set(table.columns)
    assert set(table.system) == {"base"}


@pytest.mark.slow
def test_transcribe_with_experts_and_with_an_adapter(run, tiny_en, native_clips, tmp_path):
    import torch

    from maslora.data.audio import load_audio
    from maslora.mixture.layer import AdapterPlacement, adapter_layers, inject_adapters, merge
    from maslora.mixture.peft_io import RunsWith, save_adapter, save_experts
    from maslora.mixture.weights import beta_weights, normalized_weights
    from maslora.whisper.load import load_whisper
    from maslora.whisper.transcribe import transcribe

    accents = ["arabic", "mandarin", "hindi", "korean", "spanish", "vietnamese"]
    path = native_clips[3][0]
    base_text = transcribe(tiny_en, [load_audio(path)])[0]
    adapted = load_whisper("tiny.en", device="cpu")  # its own copy: the session's tiny_en stays unadapted
    model = adapted.model
    inject_adapters(model, AdapterPlacement())
    generator = torch.Generator().manual_seed(0)
    for layer in adapter_layers(model).values():  # small random experts: the transcript changes a little
        layer.lora_B.data = torch.randn(layer.lora_B.shape, generator=generator) * 0.13
    save_experts(model, accents, AdapterPlacement(), tmp_path / "experts", RunsWith("tiny.en"))
    weights = normalized_weights(beta_weights("hindi", 1.5, accents), accents)
    merge(model, weights)
    expected = transcribe(adapted, [load_audio(path)])[0]

    result = run("transcribe", str(path), "--experts", str(tmp_path / "experts"), "--accent", "hindi", "--beta", "1.5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
    assert expected != base_text  # otherwise the comparison could not fail

    zero = AdapterPlacement(encoder_experts=1, decoder_experts=1)
    fresh = tmp_path / "fresh-lora"
    untouched = load_whisper("tiny.en", device="cpu")
    inject_adapters(untouched.model, zero)  # B = 0: a regular LoRA that changes nothing yet
    save_adapter(untouched.model, zero, fresh, RunsWith("tiny.en"))
    assert run("transcribe", str(path), "--adapter", str(fresh)).stdout.strip() == base_text
    bad = run("transcribe", str(path), "--experts", str(tmp_path / "experts"), "--weights", "klingon=1")
    assert bad.returncode == 2 and "no expert for klingon" in bad.stderr
    cropped = run("transcribe", str(path), "--experts", str(tmp_path / "experts"), "--encoder-seconds", "10")
    assert cropped.returncode == 0 and "warning: running in a 10 s encoder window" in cropped.stderr
    assert "the adapters were trained in 30 s" in cropped.stderr  # what experts.json says
    other_model = run("transcribe", str(path), "--experts", str(tmp_path / "experts"), "--model", "base")
    assert other_model.returncode == 2 and "trained on tiny.en, not base: use --model tiny.en" in other_model.stderr


@pytest.mark.slow
def test_the_bundled_base_experts_transcribe_and_export_with_model_base_and_only_with_it(run, base, tmp_path):
    """`--model base` with base's bundled experts: a transcript, and an export whose metadata and config name
    base; the same experts on tiny.en (the default model) are refused in one line."""
    experts = ROOT / "assets" / "experts" / "base" / "mas-lora"
    examples = pd.read_csv(ROOT / "assets" / "examples" / "examples.csv")
    clip = str(ROOT / "assets" / "examples" / examples[examples.accent == "mandarin"].path.iloc[0])
    mandarin = ["--experts", str(experts), "--accent", "mandarin", "--beta", "2"]
    adapted = run("transcribe", clip, "--model", "base", *mandarin)
    assert adapted.returncode == 0 and adapted.stdout.strip(), adapted.stderr
    on_tiny = run("transcribe", clip, *mandarin)
    assert on_tiny.returncode == 2 and on_tiny.stderr.count("\n") == 1
    assert "trained on base, not tiny.en: use --model base" in on_tiny.stderr
    out = tmp_path / "mandarin-base"
    exported = run("export", "--model", "base", *mandarin, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert json.loads((out / "maslora_export.json").read_text())["base_model"] == "base"
    assert json.loads((out / "config.json").read_text())["d_model"] == 512  # base's width (tiny.en's is 384)
    assert run("export", *mandarin, "--out", str(tmp_path / "on-tiny")).returncode == 2
    assert not (tmp_path / "on-tiny").exists()  # refused before anything is written


@pytest.mark.slow
def test_a_shared_experts_folder_transcribes_lists_and_without_its_shared_part_is_refused(
    run, tiny_en, native_clips, tmp_path
):
    import shutil

    import torch

    from maslora.data.audio import load_audio
    from maslora.mixture.layer import AdapterPlacement, adapter_layers, inject_adapters, merge
    from maslora.mixture.peft_io import RunsWith, save_experts
    from maslora.mixture.weights import beta_weights, normalized_weights
    from maslora.whisper.load import load_whisper
    from maslora.whisper.transcribe import transcribe

    accents = ["arabic", "mandarin", "hindi", "korean", "spanish", "vietnamese"]
    path = native_clips[3][0]
    adapted = load_whisper("tiny.en", device="cpu")
    placement = AdapterPlacement(rank=8, alpha=8.0, shared_rank=16, decoder_experts=0)
    inject_adapters(adapted.model, placement)
    generator = torch.Generator().manual_seed(0)
    for layer in adapter_layers(adapted.model).values():  # small random factors: the transcript changes a little
        layer.lora_B.data = torch.randn(layer.lora_B.shape, generator=generator) * 0.13
        layer.shared_B.data = torch.randn(layer.shared_B.shape, generator=generator) * 0.1
    folder = tmp_path / "experts"
    save_experts(adapted.model, accents, placement, folder, RunsWith("tiny.en"))
    merge(adapted.model, normalized_weights(beta_weights("hindi", 1.5, accents), accents))
    expected = transcribe(adapted, [load_audio(path)])[0]
    assert expected != transcribe(tiny_en, [load_audio(path)])[0]  # otherwise the comparison could not fail

    result = run("transcribe", str(path), "--experts", str(folder), "--accent", "hindi", "--beta", "1.5")
    assert result.returncode == 0 and result.stdout.strip() == expected, result.stderr
    listed = run("experts", str(folder))
    assert "design: shared + experts (a shared LoRA of rank 16 beside them); decoder: the shared LoRA alone" in (
        listed.stdout
    )
    shutil.rmtree(folder / "shared")
    refused = run("export", "--experts", str(folder), "--out", str(tmp_path / "export"))
    assert refused.returncode == 2 and not (tmp_path / "export").exists()
    assert f"{folder}: experts.json says design 'shared+experts'" in refused.stderr
    assert "the shared part is missing: no shared/ folder" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


ALSA_FILE_MICROPHONE = """
pcm.!default {{ type plug slave {{ pcm "recording" format S16_LE rate 16000 channels 1 }} }}
pcm.recording {{ type file slave.pcm "null" file "/dev/null" infile "{infile}" format "raw" }}
"""


def _record_from_a_file_microphone(tmp_path, native_clips, *options: str) -> subprocess.CompletedProcess:
    """`python -m maslora record` through PortAudio and ALSA, whose default input device reads a recording
    from a file. ALSA's file plugin (on a null device) hands over the first blocks intact and then skips
    some (measured: samples match the file up to 0.14 s), so only the clip's first word is sure to arrive whole."""
    from maslora.data.audio import load_audio

    path, _ = native_clips[3]  # "Lord, but I'm glad to see you again, Phil."
    raw = tmp_path / "microphone.raw"
    (load_audio(path) * 32767).astype("<i2").tofile(raw)
    (tmp_path / ".asoundrc").write_text(ALSA_FILE_MICROPHONE.format(infile=raw))
    return subprocess.run(
        [sys.executable, "-m", "maslora", "record", "--seconds", "2.5", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HOME": str(tmp_path)},
    )


@pytest.mark.slow
def test_record_hears_a_microphone_and_prints_three_transcripts(tmp_path, native_clips):
    result = _record_from_a_file_microphone(tmp_path, native_clips, "--accent", "korean")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0].strip() for line in lines] == ["base", "lora", "mas-lora"]
    assert all(line.split(":", 1)[1].strip().lower().startswith("lord") for line in lines), lines


@pytest.mark.slow
def test_record_auto_weighs_the_experts_from_the_recording_and_shows_the_posterior(run, tmp_path, native_clips):
    result = _record_from_a_file_microphone(tmp_path, native_clips, "--auto")
    assert result.returncode == 0, result.stderr
    posterior, *transcripts = result.stdout.strip().splitlines()
    shares = dict(item.rsplit(" ", 1) for item in posterior.removeprefix("accent posterior: ").split(", "))
    assert sorted(shares) == ["arabic", "hindi", "korean", "mandarin", "spanish", "vietnamese"]
    assert abs(sum(map(float, shares.values())) - 1) < 0.02  # six shares printed to two decimals
    assert [line.split(":")[0].strip() for line in transcripts] == ["base", "lora", "mas-lora"]
    both = run("record", "--auto", "--accent", "korean")
    assert both.returncode == 2 and "--auto takes the weights from the recording" in both.stderr


def _has_microphone() -> bool:
    """Whether `record` would find an input device here; False without PortAudio too (a fresh machine
    after only `pip install -r requirements.txt`)."""
    try:
        default_input()
        return True
    except MicrophoneError:
        return False


@pytest.mark.skipif(_has_microphone(), reason="this machine has a microphone, so record would record")
def test_record_without_a_microphone_says_what_is_missing(run):
    """CI has no input device; with PortAudio installed that is what the message names."""
    result = run("record", "--seconds", "1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no input device" in result.stderr or "libportaudio2" in result.stderr, result.stderr


@pytest.fixture
def without_portaudio(monkeypatch):
    """This process as on a machine without libportaudio2: sounddevice imported afresh finds no PortAudio
    (it looks the library up through ctypes.util.find_library, which then answers None) and raises OSError."""
    import ctypes.util

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)


def test_this_file_is_collected_on_a_machine_without_portaudio(without_portaudio):
    """After only `pip install -r requirements.txt` (no libportaudio2) the fast lane must still run: the
    module's top level (what collection runs, the microphone probe of a skipif included) works without it."""
    with pytest.raises(MicrophoneError, match="libportaudio2"):
        default_input()  # the fixture does take PortAudio away
    assert runpy.run_path(__file__)["_has_microphone"]() is False


def test_record_without_portaudio_names_the_library(run, without_portaudio):
    result = run("record", "--seconds", "1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "install libportaudio2" in result.stderr, result.stderr
