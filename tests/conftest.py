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


REAL_MODELS = ("tiny_en", "base")  # the fixtures below that load a real Whisper


def pytest_collection_modifyitems(items) -> None:
    """A test that loads a real Whisper says so (marker real_model), whichever file it is in."""
    for item in items:
        if set(REAL_MODELS) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_model)


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
def fake_l2arctic(tmp_path_factory, native_clips) -> Path:
    """A real-layout L2-ARCTIC tree: the 24 speaker codes, 12 prompts each, at 44.1 kHz as the corpus ships.

    Every speaker reads with the real CC0 native recordings of those prompts (no L2 voice can be shared
    here; the layout, the transcripts and the speech are real). As in the real corpus, one speaker (ABA)
    lacks two prompts, and the folders hold other files too.
    """
    import numpy as np
    import soundfile
    import soxr

    from maslora.data.corpora import L2_ARCTIC_SPEAKERS

    root = tmp_path_factory.mktemp("L2-ARCTIC")
    (root / "LICENSE").write_text("not a speaker")
    spoken = {}
    for path, text in native_clips[:12]:
        samples, rate = soundfile.read(path, dtype="float32")
        spoken[path.stem] = (soxr.resample(samples, rate, 44_100).astype(np.float32), text)
    for speakers in L2_ARCTIC_SPEAKERS.values():
        for speaker in speakers:
            (root / speaker / "wav").mkdir(parents=True)
            (root / speaker / "transcript").mkdir()
            (root / speaker / "annotation").mkdir()
            for uid, (samples, text) in spoken.items():
                if speaker == "ABA" and uid in ("arctic_a0003", "arctic_a0007"):
                    continue
                soundfile.write(root / speaker / "wav" / f"{uid}.wav", samples, 44_100, subtype="PCM_16")
                (root / speaker / "transcript" / f"{uid}.txt").write_text(text)
    return root
