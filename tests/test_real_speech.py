"""The real-speech experiment in the quick profile: real speakers train beside the synthetic ones, every system is
scored on held-out real speakers, the report's section reads the rows, and a rerun decodes nothing again."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from analysis.exp_real_speech import report
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # trains and decodes with the real tiny.en: minutes

FIXTURE = ROOT / "tests" / "data" / "speechocean762"  # adults 0739, 2168 and child 0001, two clips each


def _quick_command(tmp_path, *options: str) -> list[str]:
    """The quick sitting of mas-lora-beside on the fixture (plus `options`), its runs and rows under tmp_path; an
    adult and a child held out, so that both age groups are scored."""
    split = tmp_path / "split.csv"
    split.write_text("speaker,age,gender,part\n0739,20,m,test\n0001,6,m,test\n2168,20,f,validation\n")
    return [
        *(sys.executable, "-m", "train.real_speech", "--quick", "--only", "mas-lora-beside", *options),
        *("--corpus", str(FIXTURE), "--split", str(split), "--runs", str(tmp_path / "runs")),
        *("--results", str(tmp_path / "results")),
    ]


def test_real_speech_quick_end_to_end_then_a_rerun_decodes_nothing(private_model_cache, tmp_path):
    results, command = tmp_path / "results", _quick_command(tmp_path)
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert first.returncode == 0, first.stderr[-3000:]
    rows = pd.read_json(results / "rows" / "real.jsonl", lines=True, dtype={"speaker": str})
    decoded = rows.groupby(["set", "trained_on"]).system.agg(set).to_dict()
    mas = {"mas-uniform", "mas-beta2", "mas-matched", "mas-auto-t1", "mas-auto-beta"}
    assert decoded[("speechocean762-test", "none")] == {"base"}
    assert decoded[("speechocean762-test", "synthetic")] == {"lora", *mas}  # the bundle holds no router
    assert decoded[("speechocean762-test", "mas-lora-beside")] == {*mas, "mas-router"}
    assert decoded[("speechocean762-validation", "mas-lora-beside")] == {"mas-uniform", "mas-beta2"}
    assert decoded[("cc0-native", "mas-lora-beside")] == {"mas-uniform"}
    test = rows[rows.set == "speechocean762-test"]
    assert set(test.speaker) == {"0739", "0001"} and (test.groupby(["trained_on", "system"]).size() == 4).all()
    assert (results / "curves" / "fold1-seed0-real-mas-lora-beside.jsonl").is_file()
    matrix = pd.read_json(results / "rows" / "real_matrix.jsonl", lines=True)
    assert set(matrix.trained_on) == {"mas-lora-beside"} and set(matrix.system) == {
        f"expert-{accent}" for accent in ["arabic", "hindi", "korean", "mandarin", "spanish", "vietnamese"]
    }
    assert matrix.groupby("system").size().nunique() == 1  # every expert on the same test clips

    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(pd.read_json(results / "rows" / "real.jsonl", lines=True)) == len(rows)  # resumed: nothing redone
    assert len(pd.read_json(results / "rows" / "real_matrix.jsonl", lines=True)) == len(matrix)

    section = report(results)
    assert "| Whisper | " in section and "adults (1 speakers)" in section and "children (1 speakers)" in section
    assert "Chosen for the bundle on the validation speakers" in section and "target >= 20%" in section
    assert (results / "figures" / "real_speech_speakers.png").is_file()
    assert (results / "tables" / "real_speech_forgetting.csv").is_file()

    wrong = subprocess.run([*command[:5], "lora", *command[6:]], cwd=ROOT, capture_output=True, text=True)
    assert wrong.returncode == 2 and "--only lora: no such run; runs: mas-lora-beside" in wrong.stderr


def test_base_runs_decode_only_the_systems_its_size_keeps(private_model_cache, tmp_path):
    """Whisper base's sittings leave out the automatic weightings with their classifier, the router and the
    matrix (SIZES says why), and a size without synthetic-only experts decodes none."""
    from train.real_speech import SIZES

    results = tmp_path / "results"
    done = subprocess.run(_quick_command(tmp_path, "--size", "base"), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = pd.read_json(results / "rows" / "real.jsonl", lines=True, dtype={"speaker": str})
    decoded = rows[rows.set == "speechocean762-test"].groupby("trained_on").system.agg(set).to_dict()
    assert decoded == {"none": {"base"}, "mas-lora-beside": set(SIZES["base"].mas_systems)}
    run = tmp_path / "runs" / "mas-lora-beside"
    assert not (run / "router").exists() and not (run / "accent-classifier").exists()
    assert not (tmp_path / "runs" / "features.pt").exists()  # no head: no pass over the training clips
    assert not (results / "rows" / "real_matrix.jsonl").exists()
    assert json.loads((run / "config.json").read_text())["model"] == "base"
