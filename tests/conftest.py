"""Shared fixtures: real bundled Whisper models converted once per test session into a private cache."""

import csv
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "assets" / "native"

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
    from maslora.whisper_io import load_whisper

    return load_whisper("tiny.en", device="cpu")


@pytest.fixture(scope="session")
def base(private_model_cache):
    from maslora.whisper_io import load_whisper

    return load_whisper("base", device="cpu")


@pytest.fixture(scope="session")
def native_clips() -> list[tuple[Path, str]]:
    """(path, reference text) for the 593 real native recordings, in prompt order."""
    with open(NATIVE / "manifest.csv", newline="", encoding="utf-8") as handle:
        return [(NATIVE / row["path"], row["text"]) for row in csv.DictReader(handle)]
