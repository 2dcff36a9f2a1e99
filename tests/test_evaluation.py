"""The evaluation runner: system names, WER tables from rows, resuming an interrupted run."""

import json
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from maslora.data.corpora import load_manifest
from maslora.errors import WeightsError
from maslora.mixture.weights import beta_weights
from maslora.systems.evaluation import Models, evaluate, request_for, wer_by
from maslora.systems.system import COLUMNS, System
from tests.conftest import ROOT


def test_pooled_and_macro_mean_differ_as_they_should():
    rows = pd.DataFrame({"accent": ["a", "a", "b"], "errors": [1, 0, 3], "reference_words": [10, 10, 5]})
    table = wer_by(rows, "accent")
    assert table.loc["a", "wer"] == pytest.approx(1 / 20)
    assert table.loc["b", "wer"] == pytest.approx(3 / 5)
    assert table.loc["pooled", "wer"] == pytest.approx(4 / 25)  # every word counts once
    assert table.loc["macro mean", "wer"] == pytest.approx((1 / 20 + 3 / 5) / 2)  # every accent counts once
    assert table.loc["pooled", "utterances"] == 3


EXAMPLES = ROOT / "assets" / "examples" / "examples.csv"
BUNDLE = ROOT / "assets" / "experts" / "tiny.en"
SYSTEMS = ["base", "lora", "mas-uniform", "mas-beta2"]
ACCENTS = ["arabic", "mandarin", "hindi", "korean", "spanish", "vietnamese"]


def request(name: str, accent: str):
    return request_for(System.parse(name), accent, ACCENTS)


def test_systems_map_to_requests_and_accent_known_systems_skip_accents_without_an_expert():
    assert request("mas-matched", "korean") == ("mas-lora", beta_weights("korean", 1.0, ACCENTS))
    assert request("mas-beta1.5", "hindi").weights["hindi"] == pytest.approx(1 / 1.5)
    assert request("mas-beta2", "native") is None
    assert request("mas-uniform", "native").weights["arabic"] == pytest.approx(1 / 6)
    assert request("full", "native") == ("base", None)  # the fine-tuned model, run as it is
    arabic_alone = request("expert-arabic", "native")  # one expert on any accent, native too
    assert arabic_alone == ("mas-lora", {a: float(a == "arabic") for a in ACCENTS})
    assert request("mas-auto-t2", "native") == ("mas-lora", None)  # weighed once the clip is read
    with pytest.raises(WeightsError, match="no welsh expert"):
        request("expert-welsh", "korean")


@pytest.fixture(scope="module")
def bundled_models(tiny_en):
    return Models(model="tiny.en", experts=BUNDLE / "mas-lora", adapter=BUNDLE / "lora", encoder_seconds=10)


@pytest.mark.slow
def test_a_rerun_decodes_only_missing_rows_and_drops_a_torn_line(bundled_models, tmp_path):
    table = load_manifest(EXAMPLES)
    rows_path = tmp_path / "rows.jsonl"
    first = evaluate(table.iloc[:3], SYSTEMS, bundled_models, rows_path, {"seed": 0}, progress=False)
    assert len(first) == 3 * 4 and rows_path.read_text().count("\n") == 12
    for written in map(json.loads, rows_path.read_text().splitlines()):  # each row names its system's fields
        assert {column: written[column] for column in COLUMNS} == System.parse(written["system"]).columns()
    finished = rows_path.read_bytes()
    with open(rows_path, "ab") as handle:
        handle.write(b'{"seed": 0, "utterance_id": "torn mid-wri')  # what a kill during a write leaves
    both = evaluate(table.iloc[:6], SYSTEMS, bundled_models, rows_path, {"seed": 0}, progress=False)
    after = rows_path.read_bytes()
    assert after.startswith(finished), "finished rows were rewritten"
    appended = [json.loads(line) for line in after[len(finished) :].decode().splitlines()]
    assert len(appended) == len(both) - len(first) == 12
    assert {row["path"] for row in appended} == set(table.path.iloc[3:6])
    evaluate(table.iloc[:6], SYSTEMS, bundled_models, rows_path, {"seed": 0}, progress=False)
    assert rows_path.read_bytes() == after, "a complete run decoded again"
    other_seed = evaluate(table.iloc[:1], ["base"], bundled_models, rows_path, {"seed": 1}, progress=False)
    assert len(other_seed) == 1 and rows_path.read_bytes() != after  # tags are part of a row's identity


@pytest.mark.slow
def test_a_killed_evaluate_command_resumes_to_exactly_one_row_each(bundled_models, tmp_path):
    rows_path = tmp_path / "rows.jsonl"
    command = [
        sys.executable,
        "-m",
        "maslora",
        "evaluate",
        "--manifest",
        str(EXAMPLES),
        "--rows",
        str(rows_path),
        "--experts",
        str(BUNDLE / "mas-lora"),
        "--adapter",
        str(BUNDLE / "lora"),
        "--systems",
        ",".join(SYSTEMS),
    ]  # no --encoder-seconds: the bundle's folders say they were trained in 10 s
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while (
        not (rows_path.is_file() and rows_path.stat().st_size)
        and time.monotonic() < deadline
        and process.poll() is None
    ):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted = rows_path.read_text().count("\n")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    keys = [(row["path"], row["system"]) for row in rows]
    examples = load_manifest(EXAMPLES)
    expected = len(examples) * len(SYSTEMS) - (examples.accent == "native").sum()  # no mas-beta2 for native clips
    assert 0 < interrupted < expected and len(keys) == len(set(keys)) == expected
    windows = {row["system"]: row["encoder_seconds"] for row in rows}  # the adapters' 10 s; base as released
    assert windows == {"base": 30, "lora": 10, "mas-uniform": 10, "mas-beta2": 10} and "warning" not in result.stderr
    assert "pooled" in result.stdout and "mas-beta2" in result.stdout
