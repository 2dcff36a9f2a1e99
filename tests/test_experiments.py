"""The experiments' one command, quick profile: every experiment runs, the report shows them, a rerun redoes nothing."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # the whole experiment pipeline, twice: minutes

SECTIONS = [
    "## 1. Accent unknown",
    "## 2. Accent known",
    "## 3. The expert x accent matrix",
    "## 4. Forgetting",
    "## 5. Unseen accent",
    "## 6. Placement and targets",
    "## 7. Where mixing pays",
    "## 8. Seed spread",
    "## 9. Beyond the paper",
    "### Accent identification",
    "### Accents no expert was trained for",
    "## 10. Learning curves",
]
FIGURES = [
    "accent_unknown",
    "accent_known",
    "matrix",
    "forgetting",
    "unseen_accent",
    "variants",
    "designs",
    "seeds",
    "auto_weights",
    "accent_confusion",
    "curves",
]


def test_quick_profile_seed_by_seed_end_to_end_then_a_rerun_decodes_and_trains_nothing(private_model_cache, tmp_path):
    command = [
        sys.executable,
        "-m",
        "train.experiments",
        "--profile",
        "quick",
        "--runs",
        str(tmp_path / "runs"),
        "--results",
        str(tmp_path / "results"),
    ]
    # One seed per sitting, as the cpu profile runs on 2 cores, and a seed split by --only: seed 0's MAS-LoRA and
    # LoRA, then the rest of seed 0, then the profile finishes seed 1.
    share = subprocess.run(
        [*command, "--seeds", "0", "--only", "mas-lora,lora"], cwd=ROOT, capture_output=True, text=True, timeout=3600
    )
    assert share.returncode == 0, share.stderr[-3000:]
    results = tmp_path / "results"
    assert json.loads((results / "profile.json").read_text())["runs"] == ["fold1/seed0/lora", "fold1/seed0/mas-lora"]
    assert {path.parent.name for path in (tmp_path / "runs").rglob("checkpoint.pt")} == {"mas-lora", "lora"}
    decoded = {json.loads(line)["system"] for line in (results / "rows" / "main.jsonl").read_text().splitlines()}
    assert {"base", "lora", "mas-uniform", "mas-beta2"} <= decoded and "full" not in decoded
    seed_0 = subprocess.run([*command, "--seeds", "0"], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert seed_0.returncode == 0, seed_0.stderr[-3000:]
    described = json.loads((results / "profile.json").read_text())
    assert described["seeds"] == [0] and len(described["runs"]) == 3 + 2 + 4 + 6
    seed_0_checkpoints = {path: path.stat().st_mtime_ns for path in (tmp_path / "runs").rglob("checkpoint.pt")}
    assert seed_0_checkpoints and all("seed0" in str(path) for path in seed_0_checkpoints)
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert json.loads((results / "profile.json").read_text())["seeds"] == [0, 1]
    assert {path: path.stat().st_mtime_ns for path in seed_0_checkpoints} == seed_0_checkpoints, "seed 0 trained again"
    report = (results / "REPORT.md").read_text()
    for section in SECTIONS:
        assert section in report and "Not run yet" not in report.split(section, 1)[1].split("\n## ", 1)[0], section
    assert "## 11. Real accented speech" in report  # its own command (train.real_speech, tests/test_real_speech.py)
    assert "## 12. A new speaker's own expert" in report  # its own command (train.new_expert_experiment)
    for name in FIGURES:
        assert (results / "figures" / f"{name}.png").stat().st_size > 5_000, name
        assert (results / "figures" / f"{name}.html").is_file() and (results / "tables" / f"{name}.md").is_file()
    assert "seed 0" in report and "seed 1" in report and "paper" in report
    rows = {path.name: path.read_bytes() for path in (results / "rows").glob("*.jsonl")}
    expected = {"main", "matrix", "validation", "variants", "designs", "forgetting", "unseen"}
    assert set(rows) == {f"{name}.jsonl" for name in expected}
    checkpoints = {path: path.stat().st_mtime_ns for path in (tmp_path / "runs").rglob("checkpoint.pt")}
    # per seed: MAS-LoRA, LoRA, full, 2 variants, 4 more designs (shared + experts twice, the LoRAs of as many
    # parameters as each; decoder experts is a variant too), 6 left-out accents
    assert len(checkpoints) == 2 * (3 + 2 + 4 + 6)
    assert len(list((results / "curves").glob("fold1-seed*.jsonl"))) == len(checkpoints)  # every run's history kept
    unknown = subprocess.run([*command, "--only", "mas-lora,nonsense"], cwd=ROOT, capture_output=True, text=True)
    assert unknown.returncode != 0 and "--only nonsense: no such run" in unknown.stderr
    heads = {path: path.stat().st_mtime_ns for path in (tmp_path / "runs").rglob("head.json")}
    assert len(heads) == 2 * 2 * (1 + 6)  # per seed: a classifier and a router for MAS-LoRA and each left-out run

    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert {path.name: path.read_bytes() for path in (results / "rows").glob("*.jsonl")} == rows, (
        "a rerun decoded again"
    )
    assert {path: path.stat().st_mtime_ns for path in checkpoints} == checkpoints, "a rerun trained again"
    assert {path: path.stat().st_mtime_ns for path in heads} == heads, "a rerun trained a classifier or router again"
