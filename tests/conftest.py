"""Shared fixtures: real bundled Whisper models converted once per test session into a private cache."""

import csv
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "assets" / "native"
LOOPS_IN_TEN_SECONDS = ROOT / "tests" / "data" / "speechocean762-loop" / "014190088.opus"  # see its README

# No test may reach a model hub: an accidental download must fail loudly, not pass slowly.
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session", autouse=True)
def private_model_cache(tmp_path_factory):
    """Every session converts the bundled models afresh, so the conversion itself is always tested."""
    cache = tmp_path_factory.mktemp("maslora-cache")
    os.environ["MASLORA_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def tiny_en(private_model_cache):
    from maslora.whisper.load import load_whisper

    return load_whisper("tiny.en", device="cpu")


@pytest.fixture(scope="session")
def base(private_model_cache):
    from maslora.whisper.load import load_whisper

    return load_whisper("base", device="cpu")


@pytest.fixture(scope="session")
def native_clips() -> list[tuple[Path, str]]:
    """(path, reference text) for the 593 real native recordings, in prompt order."""
    with open(NATIVE / "manifest.csv", newline="", encoding="utf-8") as handle:
        return [(NATIVE / row["path"], row["text"]) for row in csv.DictReader(handle)]


@pytest.fixture(scope="session")
def fake_l2arctic(tmp_path_factory) -> Path:
    """A real-layout L2-ARCTIC tree: the 24 speaker codes, 12 prompts each, spoken by espeak-ng at 44.1 kHz.

    As in the real corpus, one speaker (ABA) lacks two prompts, and the folders hold other files too.
    """
    import numpy as np
    import soundfile
    import soxr

    from maslora.data.corpora import L2_ARCTIC_SPEAKERS, arctic_prompts
    from maslora.synth.espeak import phonemize, synthesize
    from maslora.synth.speakers import ESPEAK_VOICES

    root = tmp_path_factory.mktemp("L2-ARCTIC")
    (root / "LICENSE").write_text("not a speaker")
    prompts = list(arctic_prompts().items())[:12]
    spoken = {}
    for position in range(4):
        for uid, text in prompts:
            samples, rate = synthesize(phonemize(text), ESPEAK_VOICES[position])
            spoken[position, uid] = soxr.resample(samples, rate, 44_100).astype(np.float32)
    for speakers in L2_ARCTIC_SPEAKERS.values():
        for position, speaker in enumerate(speakers):
            (root / speaker / "wav").mkdir(parents=True)
            (root / speaker / "transcript").mkdir()
            (root / speaker / "annotation").mkdir()
            for uid, text in prompts:
                if speaker == "ABA" and uid in ("arctic_a0003", "arctic_a0007"):
                    continue
                soundfile.write(root / speaker / "wav" / f"{uid}.wav", spoken[position, uid], 44_100, subtype="PCM_16")
                (root / speaker / "transcript" / f"{uid}.txt").write_text(text)
    return root
