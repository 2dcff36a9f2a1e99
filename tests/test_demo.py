"""What the page shows, computed without the page: a Compare's weights, its columns, the examples, a visitor's
prompts and takes (the browser test in test_app.py checks the page itself)."""

import zipfile

import numpy as np
import pandas as pd
import pytest
import soundfile

from maslora.data.audio import SAMPLE_RATE
from maslora.errors import AudioError, CorpusError, TextError, WeightsError
from maslora.mixture.weights import beta_weights
from maslora.systems import demo
from maslora.systems.bundle import load_bundled_auto, load_bundled_whisper
from maslora.systems.compare import MAX_REFERENCE_WORDS, Comparison, RouteResult, check_reference, compare, wer_vs_beta
from maslora.systems.visitor_takes import TEST_PROMPTS, TRAINING_PROMPTS, PromptSheet, split_takes, trained_summary
from tests.conftest import NATIVE

ACCENTS = ["arabic", "mandarin", "hindi", "korean", "spanish", "vietnamese"]


@pytest.fixture(scope="module")
def bundled():
    return load_bundled_whisper("tiny.en"), load_bundled_auto("tiny.en")


def choice(source: str, accent: str = demo.UNKNOWN, beta: float = 2.0, sliders=(1, 0, 0, 0, 0, 0, 0)):
    return demo.WeightChoice(source=source, accent=accent, beta=beta, sliders=list(map(float, sliders)))


def test_each_source_of_weights_gives_its_weights_and_the_posterior_is_always_heard(bundled):
    whisper, auto = bundled
    clip = soundfile.read(NATIVE / "arctic_a0001.flac", dtype="float32")[0]
    by_rule, posterior = demo.compare_weights(choice(demo.BY_RULE, "korean"), whisper, whisper, auto, clip)
    assert by_rule == pytest.approx(beta_weights("korean", 2.0, ACCENTS))
    assert sum(posterior.values()) == pytest.approx(1.0) and set(posterior) == set(ACCENTS)
    unknown, _ = demo.compare_weights(choice(demo.BY_RULE, beta=1.0), whisper, whisper, auto, clip)
    assert list(unknown.values()) == pytest.approx([1 / 6] * 6)  # accent unknown: uniform, beta unused
    by_hand, _ = demo.compare_weights(choice(demo.BY_HAND), whisper, whisper, auto, clip)
    assert by_hand == {a: float(a == "arabic") for a in ACCENTS}  # the visitor's slider (7th) has no expert here
    from_audio, heard = demo.compare_weights(choice(demo.BY_AUDIO), whisper, whisper, auto, clip)
    assert (heard, from_audio) == auto.weigh(whisper, clip)
    with pytest.raises(WeightsError, match="without an accent classifier"):
        demo.compare_weights(choice(demo.BY_AUDIO), whisper, whisper, None, clip)
    with pytest.raises(WeightsError, match="no welsh expert here"):
        demo.compare_weights(choice(demo.BY_RULE, "welsh"), whisper, whisper, auto, clip)


def test_a_reference_longer_than_any_clip_is_refused_before_anything_is_decoded(bundled):
    whisper, _ = bundled
    clip = soundfile.read(NATIVE / "arctic_a0001.flac", dtype="float32")[0]
    decoded = whisper.batches.jobs
    for run in (
        lambda reference: compare(whisper, clip, beta_weights("korean", 2.0, ACCENTS), reference),
        lambda reference: wer_vs_beta(whisper, clip, reference, "korean"),
    ):
        with pytest.raises(TextError, match="50,000 words; at most 500 can be scored"):
            run("word " * 50_000)
    assert whisper.batches.jobs == decoded
    check_reference("word " * MAX_REFERENCE_WORDS)  # as long as a clip could say: scored


def test_the_rule_sets_every_slider_and_the_visitors_own_stays_at_zero():
    assert demo.slider_values(ACCENTS, 6, "hindi", 1.0) == [float(a == "hindi") for a in ACCENTS] + [0.0]
    assert demo.slider_values([*ACCENTS, "mine"], 6, "mine", 7.0) == pytest.approx([1 / 7] * 7)


def test_a_comparison_becomes_three_columns_of_heading_transcript_and_diff():
    results = [
        RouteResult("base", "a cat", 0.5, [("a", None), ("cat", "substitution")]),
        RouteResult("lora", "", None, []),
        RouteResult("mas-lora", "the cat", 0.0, [("the", None), ("cat", None)]),
    ]
    columns = demo.route_columns(Comparison(results, 1.234))
    assert columns[0] == "### Base Whisper\nWER **50.0%** · 1.23 s for all three"
    assert columns[2] == [("a ", None), ("cat ", "substitution")]
    assert columns[3].startswith("### Regular LoRA\nno reference to score against")
    assert columns[4] == "(nothing recognized)" and columns[6].startswith("### MAS-LoRA\nWER **0.0%**")


def test_the_examples_are_read_once_with_their_credits():
    examples = demo.bundled_examples()
    rows = demo.example_rows(examples, ACCENTS)
    assert len(rows) == len(examples) >= 6 and all(row[0].startswith("/") for row in rows)  # paths resolved
    assert {r[2] for r in rows} <= {*ACCENTS, demo.UNKNOWN} and demo.UNKNOWN in {r[2] for r in rows}  # native
    credits = demo.example_credits(examples)
    assert credits.startswith("Examples, in order: real recording, speechocean762") and "CC BY 4.0" in credits
    assert demo.example_credits(examples.iloc[:0]) == ""


@pytest.fixture(scope="module")
def sheet():
    return PromptSheet.for_bundle("tiny.en")


def test_a_visitor_keeps_takes_prompt_by_prompt(sheet, tmp_path):
    assert len(sheet.prompts) == TRAINING_PROMPTS + TEST_PROMPTS and sheet.part(TRAINING_PROMPTS) == "test"
    assert sheet.card(0).startswith(f"**Prompt 1 of {len(sheet.prompts)}** (to train on)")
    assert sheet.step(0, -1) == 0 and sheet.step(len(sheet.prompts) - 1, 1) == len(sheet.prompts) - 1
    takes, following = sheet.keep(0, str(NATIVE / "arctic_a0001.flac"), tmp_path, {})
    assert following == 1 and soundfile.info(takes[sheet.prompts[0][0]]["path"]).samplerate == SAMPLE_RATE
    takes, following = sheet.keep(2, str(NATIVE / "arctic_a0002.flac"), tmp_path, takes)
    assert following == 1  # the first prompt still without a take
    assert list(sheet.table(takes).kept[:3]) == ["yes", "", "yes"]
    with pytest.raises(AudioError, match="record prompt 2 first"):
        sheet.keep(1, None, tmp_path, takes)
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="Prompt 2 is silent"):
        sheet.keep(1, str(silent), tmp_path, takes)


def test_an_uploaded_zip_joins_the_takes_and_too_few_clips_are_refused(sheet, tmp_path):
    archive = tmp_path / "clips.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(NATIVE / "arctic_a0001.flac", "one.flac")
        zipped.write(NATIVE / "arctic_a0002.flac", "two.flac")
        zipped.writestr("manifest.csv", "path,text,part\none.flac,author of the danger trail,train\ntwo.flac,x,test\n")
    takes = sheet.add_archive(str(archive), tmp_path / "visitor", {})
    assert sorted(take["part"] for take in takes.values()) == ["test", "train"]
    assert list(sheet.table(takes)["#"].iloc[-2:]) == ["zip", "zip"]
    with pytest.raises(CorpusError, match="1 training clips kept: record at least 5"):
        split_takes(takes)
    many = {f"p{i}": {"path": f"{i}.wav", "text": "t", "part": "train" if i < 6 else "test"} for i in range(8)}
    training, test = split_takes(many)
    assert len(training) == 6 and list(training.index) == list(range(6)) and len(test) == 2


def test_the_summary_pools_each_systems_errors_over_the_test_clips():
    scored = pd.DataFrame(
        {"clip": [1, 1, 2, 2], "system": ["base", "mine alone"] * 2, "errors": [2, 1, 2, 0], "words": [5, 5, 5, 5]}
    )
    summary = trained_summary("mine", 20, 7, scored)
    assert "expert 7 of the first tab's mixture" in summary
    assert "WER on your 2 test clips, pooled: base **40.0%**; mine alone **10.0%**" in summary
    assert summary.endswith("**10.0%**") and "No test clips" in trained_summary("mine", 20, 7, None)
