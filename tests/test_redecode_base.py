"""train/redecode_base.py: base rows decoded in the adapters' window are decoded again as Whisper as released,
in place; every other row stays byte for byte."""

import json
import subprocess
import sys

import pytest

from maslora.data.audio import load_audio
from maslora.wer import error_counts
from maslora.whisper.transcribe import GREEDY, transcribe
from tests.conftest import LOOPS_IN_TEN_SECONDS, ROOT

pytestmark = pytest.mark.slow  # a real model decodes


def _row(system: str, seed: int, hypothesis: str) -> dict:
    return {
        "fold": 1,
        "seed": seed,
        "utterance_id": "014190088",
        "speaker": "1419",
        "accent": "mandarin",
        "path": str(LOOPS_IN_TEN_SECONDS),
        "system": system,
        "reference": "SANDY HAS A BEAUTIFUL SHORTS",
        "hypothesis": hypothesis,
        "errors": 35,
        "substitutions": 1,
        "deletions": 0,
        "insertions": 34,
        "reference_words": 5,
        "model": "tiny.en",
        "encoder_seconds": 10,
    }


def test_stale_base_rows_are_decoded_again_in_30_s_and_nothing_else_moves(tiny_en, tmp_path):
    rows_path = tmp_path / "results" / "rows" / "main.jsonl"
    rows_path.parent.mkdir(parents=True)
    loop = "Sandi has a bit for shorts " * 7
    made = [_row("base", 0, loop), _row("lora", 0, "Sandy has a beautiful shorts"), _row("base", 1, loop)]
    rows_path.write_text("".join(json.dumps(row) + "\n" for row in made))
    command = [sys.executable, "-m", "train.redecode_base", "--results", str(tmp_path / "results")]
    command += ["--scratch", str(tmp_path / "scratch")]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=600)
    lines = rows_path.read_text().splitlines()
    assert lines[1] == json.dumps(made[1])  # the LoRA's row, untouched
    expected = transcribe(tiny_en, [load_audio(LOOPS_IN_TEN_SECONDS)], GREEDY)[0]
    counts = error_counts([made[0]["reference"]], [expected])
    for line, seed in ((lines[0], 0), (lines[2], 1)):
        row = json.loads(line)
        assert row["seed"] == seed and row["encoder_seconds"] == 30 and row["hypothesis"] == expected
        assert (row["errors"], row["insertions"]) == (counts.errors, counts.insertions) and row["errors"] < 5
    again = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True, timeout=600)
    assert "already" in again.stdout and rows_path.read_text().splitlines() == lines
