"""The scaling section: the same runs at two sizes gathered from each size's rows, each gap with its paired
interval, how the gaps move from tiny.en to base (the same utterances drawn for all four systems), and base's
targets on the real held-out speakers."""

import json

import pytest

from analysis.bootstrap import gap_change
from analysis.exp_real_speech import NATIVE, TEST
from analysis.exp_scaling import figure_of, report, runs_of, scaling_rows, size_stats, targets, wer_table
from maslora.data.corpora import ASSETS
from maslora.systems.bundle import read_bundle
from train.real_speech import run_name

WORDS = 10
UTTERANCES = 20
SHIPPED, PAPER, LORA = "shared-decoder-mas-beside", "mas-lora-beside", "lora-beside"


def _write(path, errors: dict[tuple[str, str], int], tags: dict) -> None:
    """Rows of each (run, system) in `errors` (errors per utterance of WORDS words) on the same utterances."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        for (run, system), count in errors.items():
            for i in range(UTTERANCES):
                row = {"fold": 1, "seed": 0, "speaker": f"S{i % 4}", "utterance_id": f"u{i}", "path": f"clips/{i}"}
                row |= {"accent": "mandarin", "trained_on": run, "system": system, "errors": count}
                out.write(json.dumps(row | {"reference_words": WORDS, **tags}) + "\n")


def _systems(whisper: int, lora: int, shipped: tuple[int, int], paper: tuple[int, int]) -> dict:
    return {
        ("none", "base"): whisper,
        (LORA, "lora"): lora,
        (SHIPPED, "mas-uniform"): shipped[0],
        (SHIPPED, "mas-beta2"): shipped[1],
        (PAPER, "mas-uniform"): paper[0],
        (PAPER, "mas-beta2"): paper[1],
    }


@pytest.fixture
def results(tmp_path):
    _write(tmp_path / "rows" / "scaling.jsonl", _systems(5, 3, (4, 1), (5, 3)), {"size": "tiny.en"})
    _write(tmp_path / "rows" / "real.jsonl", _systems(6, 3, (5, 4), (6, 4)), {"set": TEST})
    _write(tmp_path / "rows" / "real.jsonl", {("none", "base"): 1, (LORA, "lora"): 2}, {"set": NATIVE})
    _write(tmp_path / "rows" / "real.jsonl", {("lora-r64-beside", "lora"): 0}, {"set": TEST})  # not bundled
    _write(tmp_path / "rows" / "real.jsonl", {(SHIPPED, "mas-matched"): 3}, {"set": TEST})  # real speech only
    return tmp_path


def _add_base(results) -> None:
    _write(results / "rows" / "scaling.jsonl", _systems(4, 2, (2, 1), (3, 2)), {"size": "base"})
    _write(results / "base" / "rows" / "real.jsonl", _systems(5, 3, (3, 2), (4, 3)), {"set": TEST})
    _write(
        results / "base" / "rows" / "real.jsonl", {("none", "base"): 1, (SHIPPED, "mas-uniform"): 1}, {"set": NATIVE}
    )


def test_each_size_reads_the_same_runs_from_its_own_rows(results):
    _add_base(results)
    rows = scaling_rows(results)
    assert set(rows["size"]) == {"tiny.en", "base"} and "lora-r64-beside" not in set(rows.trained_on)
    assert runs_of(rows, "base") == {"lora": LORA, "paper": PAPER, "shipped": SHIPPED}
    assert set(rows[rows.part == "real"].label) == set(rows[rows.part == "synthetic"].label) | {
        f"{SHIPPED}/mas-matched"
    }
    report(results)
    table = wer_table(rows, size_stats(rows[rows.label != f"{SHIPPED}/mas-matched"]))
    assert list(table.index[:2]) == ["Whisper", "regular LoRA, + real speakers"]  # then the mixtures
    shown = (results / "tables" / "scaling.csv").read_text()
    assert "Mandarin expert alone" not in shown and "Whisper" in shown  # the table: the systems of both test sets
    assert list(table.columns) == [
        f"{size}, {part}"
        for size in ("tiny.en", "base")
        for part in ("synthetic L2 test", "real held-out", "native (forgetting)")
    ]
    assert (
        table.loc["Whisper", "base, real held-out"] == "50.0"
        and table.loc["Whisper", "tiny.en, native (forgetting)"] == "10.0"
    )


def test_a_gap_change_is_the_difference_of_the_two_paired_gaps(results):
    _add_base(results)
    rows = scaling_rows(results)
    synthetic = rows[rows.part == "synthetic"]
    change = gap_change(
        synthetic,
        (f"base/{SHIPPED}/mas-beta2", f"base/{LORA}/lora"),
        (f"tiny.en/{SHIPPED}/mas-beta2", f"tiny.en/{LORA}/lora"),
    )
    assert (change.points, change.low, change.high) == pytest.approx((10.0, 10.0, 10.0))  # -10 at base, -20 at tiny.en
    with pytest.raises(ValueError, match="no rows of 'base/x/lora'"):
        gap_change(synthetic, ("base/x/lora", f"base/{LORA}/lora"), (f"tiny.en/{LORA}/lora", f"tiny.en/{LORA}/lora"))


def test_base_targets_say_met_or_missed_from_the_real_rows(results):
    assert targets(scaling_rows(results)) == ""  # base not run yet
    _add_base(results)
    lines = targets(scaling_rows(results)).splitlines()
    assert lines[0].startswith(
        "- base's shipped mixture at beta 2: 20.0% vs Whisper base as released 50.0%, 60.0% lower"
    )
    assert lines[0].split("(target >= 30%: ")[1].startswith("met")
    assert "tiny.en's best there (regular LoRA, + real speakers, 30.0%)" in lines[1] and lines[1].endswith(": met")


def test_the_section_waits_for_its_rows_and_then_for_base(results, tmp_path_factory):
    assert "Not run yet" in report(tmp_path_factory.mktemp("empty"))
    text = report(results)
    assert "base has no rows yet" in text and "Targets" not in text
    assert "- tiny.en, synthetic L2 test: the shipped mixture at beta 2 minus the LoRA -20.0 points" in text
    _add_base(results)
    text = report(results)
    assert "- synthetic L2 test: beta 2 minus the LoRA +10.0 points" in text and "Targets:" in text
    assert (results / "tables" / "scaling.csv").is_file() and (results / "figures" / "scaling.png").is_file()


def test_each_bundled_run_is_named_as_its_real_speech_rows_name_it():
    runs = read_bundle("tiny.en")["runs"]
    named = {mixture: run_name(run["config"]) for mixture, run in runs.items()}
    assert named == {"mas-lora": SHIPPED, "mas-lora-paper": PAPER, "lora": LORA}
    synthetic_only = read_bundle("tiny.en", ASSETS / "synthetic-experts")["runs"]["mas-lora"]["config"]
    assert run_name(synthetic_only) is None  # it heard no real speaker
    assert run_name(runs["mas-lora"]["config"] | {"shared_rank": 0}) is None  # a design no run has


def test_whisper_repeated_under_a_second_seed_counts_once_while_a_trained_run_shows_its_spread(results):
    _add_base(results)
    second = {"set": TEST, "seed": 1}
    _write(results / "base" / "rows" / "real.jsonl", {("none", "base"): 5, (LORA, "lora"): 5}, second)
    rows = scaling_rows(results)
    table = wer_table(rows, size_stats(rows[rows.label != f"{SHIPPED}/mas-matched"]))
    assert table.loc["Whisper", "base, real held-out"] == "50.0"  # no "± 0.0": its seeds are one decoding
    assert table.loc["regular LoRA, + real speakers", "base, real held-out"] == "40.0 ± 10.0"  # 30% and 50%


def test_the_figure_shows_the_systems_in_the_tables_order_and_the_small_size_first(results):
    _add_base(results)
    rows = scaling_rows(results)
    stats = size_stats(rows[rows.label != f"{SHIPPED}/mas-matched"])
    figure = figure_of(stats)
    assert [bar.name for bar in figure.data] == [
        "tiny.en, synthetic L2 test",
        "tiny.en, real held-out",
        "base, synthetic L2 test",
        "base, real held-out",
    ]
    groups = list(figure.data[0].x)
    assert groups[:2] == ["Whisper", "regular LoRA, +<br>real speakers"]  # as the table, names wrapped
    assert len(groups) == 6 and all(len(line) <= 16 for group in groups for line in group.split("<br>"))
