"""A new speaker's own expert, measured end to end on the quick share: synthetic speakers and the real fixture,
rows, the report's section, and a rerun that trains nothing."""

import subprocess
import sys

import pandas as pd
import pytest

from analysis import exp_new_expert
from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.data.corpora import NATIVE_RECORDINGS, load_manifest
from maslora.mixture.expert_folders import remove_expert
from maslora.systems.evaluation import read_rows
from maslora.training.new_expert import longest_clip_seconds
from tests.conftest import ROOT
from train.new_expert_experiment import clips_that_fit

FIXTURE = ROOT / "tests" / "data" / "speechocean762"  # 3 real held-out test speakers, 2 clips each


def test_only_clips_that_fit_the_window_are_drawn():
    pool = load_manifest(NATIVE_RECORDINGS).head(40)  # real readings of 2-5 s
    seconds = {path: len(load_audio(path)) / SAMPLE_RATE for path in pool.path}
    fit = clips_that_fit(pool, 4)  # a 4 s window takes clips of at most 3.6 s
    assert 0 < len(fit) < len(pool)
    assert all(seconds[path] <= longest_clip_seconds(4) for path in fit.path)
    assert all(seconds[path] > longest_clip_seconds(4) for path in set(pool.path) - set(fit.path))


def test_each_speaker_is_read_at_their_largest_k_and_ties_are_not_gains():
    gains = pd.DataFrame(
        {
            "group": ["real adults"] * 4,
            "speaker": ["a", "b", "c", "d"],
            "clips": [15, 15, 15, 10],  # d's other readings were too long for 15
            "name": [exp_new_expert.NAMES[5]] * 4,
            "change": [-4.0, 0.0, 2.5, -1.5],
        }
    )
    line = exp_new_expert.gains_summary(gains)
    assert line.count("\n") == 1  # one line for the group, whatever k each speaker reached
    assert "with 15 clips (d: 10, lacking 15)" in line
    assert "-0.8 points on average" in line and "over 4 speakers" in line
    assert "better for 2 of 4; tied for b; worse for c (+2.5)" in line


def test_the_section_reads_one_bundle_per_source_the_demos_where_measured():
    older, shipped = "synthetic-experts/tiny.en", exp_new_expert.SHIPPED
    rows = pd.DataFrame(
        {
            "bundle": [older, shipped, shipped, older, older],
            "source": ["real", "real", "real", "synthetic", "add-back"],
        }
    )
    chosen, bundles = exp_new_expert.one_bundle_per_source(rows)
    assert bundles == {"real": shipped, "synthetic": older, "add-back": older}
    assert list(chosen.index) == [1, 2, 3, 4]  # the real speakers' older rows never mix with the demo's
    lines = exp_new_expert.bundle_lines(bundles).splitlines()
    assert len(lines) == 2 and lines[0].startswith("- the real speakers: the experts of assets/experts/tiny.en")
    assert "the demo's" in lines[0] and "real training speakers" in lines[0]  # the bundle's experts heard real speech
    assert lines[1].startswith("- the synthetic speakers, the added-back accent: the experts of assets/synthetic")
    assert "--bundles assets/synthetic-experts" in lines[1] and "only from synthetic voices" in lines[1]


def _run(results) -> subprocess.CompletedProcess:
    split = results / "split.csv"  # the fixture's three speakers, all held out
    split.write_text("speaker,age,gender,part\n0739,20,m,test\n0001,6,m,test\n2168,20,f,test\n")
    without = results / "without-arabic"  # stands in for a leave-one-accent-out run's experts
    if not without.exists():
        remove_expert(ROOT / "assets" / "experts" / "tiny.en" / "mas-lora", "arabic", without)
    command = [sys.executable, "-m", "train.new_expert_experiment", "--quick", "--real", str(FIXTURE)]
    command += ["--split", str(split), "--add-back", str(without), "--results", str(results)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


@pytest.mark.slow
def test_quick_new_expert_experiment_rows_report_and_resume(tmp_path, private_model_cache):
    first = _run(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    rows = pd.DataFrame(read_rows(tmp_path / "rows" / "new_expert.jsonl"))
    assert set(rows.bundle) == {exp_new_expert.SHIPPED}
    synthetic = rows[rows.source == "synthetic"]
    assert synthetic.speaker.nunique() == 2 and set(synthetic.clips) == {0, 5}
    assert set(synthetic[synthetic.clips == 5].system) == {"mas-beta2", "expert-newcomer", "mas-uniform"}
    added = rows[rows.source == "add-back"]
    assert set(added.accent) == {"arabic"} and set(added.clips) == {-1, 0, 5}
    assert set(added[added.clips == 5].system) == {"mas-beta2", "expert-arabic", "mas-uniform"}
    assert set(synthetic[synthetic.clips == 0].system) == {"base", "mas-uniform"}
    real = rows[rows.source == "real"]
    assert set(real.clips) == {0}  # two clips a speaker: nothing to train on, the bundled systems still scored
    section = exp_new_expert.report(tmp_path)
    assert "synthetic accents (2 speakers), 5 own clips" in section and "better for" in section
    assert "real " in section  # the real speakers' bundled rows, by age group
    assert "add-back: arabic, added from 5 clips: alone" in section
    again = _run(tmp_path)
    assert again.returncode == 0 and "clips done" not in again.stdout  # nothing trained twice
    assert len(read_rows(tmp_path / "rows" / "new_expert.jsonl")) == len(rows)


@pytest.mark.slow
def test_skip_synthetic_measures_the_real_speakers_alone(tmp_path, private_model_cache):
    split = tmp_path / "split.csv"
    split.write_text("speaker,age,gender,part\n0739,20,m,test\n0001,6,m,train\n2168,20,f,train\n")
    command = [sys.executable, "-m", "train.new_expert_experiment", "--quick", "--skip-synthetic"]
    command += ["--real", str(FIXTURE), "--split", str(split), "--results", str(tmp_path)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = pd.DataFrame(read_rows(tmp_path / "rows" / "new_expert.jsonl"))
    assert set(rows.source) == {"real"} and set(rows.speaker) == {"0739"}
