"""speechocean762: both layouts load the same real clips, adults and children apart, the fixed speaker split,
and every bad input named."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
import soundfile

from maslora.data.audio import load_audio
from maslora.data.corpora import load_corpus
from maslora.data.speaker_split import (
    HELD_OUT_FRACTIONS,
    OFFICIAL_TEST,
    SPEECHOCEAN_SPLIT,
    draw_speaker_split,
    join_real_speech,
    real_speech_split,
    speaker_parts,
    speaker_split,
    speakers_of,
    write_speaker_split,
)
from maslora.data.speechocean import load_speechocean762, select_age_group, sentence_case
from maslora.data.splits import paper_fold
from maslora.errors import CorpusError

FIXTURE = Path(__file__).parent / "data" / "speechocean762"  # 6 real clips: adults 0739 (m), 2168 (f), child 0001


def published_layout(root: Path, test_speakers: tuple[str, ...] = ()) -> Path:
    """The fixture rewritten as the corpus is published: WAVE/SPEAKERnnnn/*.WAV and Kaldi files per half
    (tab- and space-separated, as the real ones are), `test_speakers` in the test half."""
    manifest = pd.read_csv(FIXTURE / "manifest.csv", dtype=str)
    for half in ("train", "test"):
        rows = manifest[manifest.speaker.isin(test_speakers) == (half == "test")]
        if rows.empty:
            continue
        (root / half).mkdir(parents=True)
        for row in rows.itertuples():
            wav = root / "WAVE" / f"SPEAKER{row.speaker}" / f"{row.utterance_id}.WAV"
            wav.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(wav, load_audio(FIXTURE / row.path), 16_000, format="WAV", subtype="PCM_16")
        speakers = rows.drop_duplicates("speaker")
        files = {
            "wav.scp": [f"{r.utterance_id}\tWAVE/SPEAKER{r.speaker}/{r.utterance_id}.WAV" for r in rows.itertuples()],
            "text": [f"{r.utterance_id} {r.text}" for r in rows.itertuples()],
            "utt2spk": [f"{r.utterance_id} {r.speaker}" for r in rows.itertuples()],
            "spk2age": [f"{r.speaker}\t{r.age}" for r in speakers.itertuples()],
            "spk2gender": [f"{r.speaker}\t{r.gender}" for r in speakers.itertuples()],
        }
        for name, lines in files.items():
            (root / half / name).write_text("\n".join(lines) + "\n")
    return root


def test_the_manifest_loads_real_clips_with_age_and_gender():
    table = load_speechocean762(FIXTURE)  # the folder: its manifest.csv
    assert len(table) == 6 and set(table.accent) == {"mandarin"}
    assert table.age.dtype == "Int64" and table.groupby("speaker").age.first().to_dict() == {
        "0001": 6,
        "0739": 20,
        "2168": 20,
    }
    assert table.iloc[0][["text", "speaker", "gender", "utterance_id"]].tolist() == [
        "But it certainly is possible",
        "0739",
        "m",
        "007390013",
    ]
    assert len(load_audio(table.iloc[0].path)) > 16_000  # Opus, read and resampled like any clip
    assert set(select_age_group(table, "adults").speaker) == {"0739", "2168"}
    assert set(select_age_group(table, "children").speaker) == {"0001"}
    assert len(select_age_group(table, None)) == 6


def test_the_published_layout_gives_the_same_rows_and_its_official_halves(tmp_path):
    root = published_layout(tmp_path / "speechocean762", test_speakers=("2168",))
    kaldi, manifest = load_speechocean762(root), load_speechocean762(FIXTURE / "manifest.csv")
    compared = ["text", "speaker", "accent", "utterance_id", "age", "gender"]
    assert (
        kaldi.sort_values("utterance_id")[compared]
        .reset_index(drop=True)
        .equals(manifest.sort_values("utterance_id")[compared].reset_index(drop=True))
    )
    assert kaldi.groupby("speaker").official_split.first().to_dict() == {
        "0001": "train",
        "0739": "train",
        "2168": "test",
    }
    assert all(Path(path).suffix == ".WAV" and Path(path).is_file() for path in kaldi.path)


def test_the_committed_split_is_what_the_rule_draws_and_holds_out_whole_speakers():
    committed = pd.read_csv(SPEECHOCEAN_SPLIT, dtype={"speaker": str})
    assert len(committed) == 125 and committed.speaker.is_unique
    redrawn = draw_speaker_split(committed[["speaker", "age", "gender"]].sample(frac=1, random_state=3))
    assert redrawn.equals(committed.sort_values("speaker").reset_index(drop=True))
    assert committed.part.value_counts().to_dict() == {"train": 80, "test": 30, "validation": 15}
    for part, members in committed.groupby("part"):  # adults and children, women and men, in every part
        assert {(age >= 18, gender) for age, gender in zip(members.age, members.gender)} == {
            (True, "f"),
            (True, "m"),
            (False, "f"),
            (False, "m"),
        }, part
    assert abs((committed.part == "test").mean() - HELD_OUT_FRACTIONS["test"]) < 0.02


def test_a_split_file_places_every_speaker_once_and_the_official_test_half_stays_held_out(tmp_path):
    table = load_speechocean762(published_layout(tmp_path / "corpus", test_speakers=("2168",)))
    split_file = tmp_path / "split.csv"
    write_speaker_split(
        pd.DataFrame({"speaker": ["0739", "0001"], "age": [20, 6], "gender": ["m", "m"], "part": ["train", "test"]}),
        split_file,
    )
    split = speaker_split(table, split_file)
    assert set(split.train.speaker) == {"0739"} and set(split.test.speaker) == {"0001"} and split.validation.empty
    assert split.paper_validation.empty and list(split.paper_validation.columns) == list(table.columns)
    assert set(table.speaker[speaker_parts(table, split_file) == OFFICIAL_TEST]) == {"2168"}
    newcomer = table[table.speaker == "0001"].assign(speaker="0002")  # in the train half, in no part
    with pytest.raises(CorpusError, match="does not place speaker\\(s\\) 0002"):
        speaker_split(pd.concat([table, newcomer]), split_file)


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "speaker,age,gender,part\n0739,20,m,train\n9999,30,f,test\n",
            "split.csv:3: speaker 9999 is not in the corpus",
        ),
        ("speaker,age,gender,part\n0739,20,m,train\n0739,20,m,test\n", "split.csv:3: speaker 0739 is listed again"),
        ("speaker,age,gender,part\n0739,20,m,dev\n", "split.csv:2: part must be one of train, validation, test"),
        ("who,part\n0739,train\n", "header must have speaker and part"),
    ],
)
def test_bad_split_files_name_the_line(tmp_path, content, message):
    (tmp_path / "split.csv").write_text(content)
    with pytest.raises(CorpusError, match=message):
        speaker_split(load_speechocean762(FIXTURE), tmp_path / "split.csv")


def test_a_speaker_without_age_is_named_in_both_layouts_and_reported_when_skipping(tmp_path):
    root = published_layout(tmp_path / "corpus")
    ages = root / "train" / "spk2age"
    ages.write_text("".join(line for line in ages.read_text().splitlines(True) if not line.startswith("0001")))
    with pytest.raises(CorpusError, match="wav.scp:5: speaker 0001 of 000010011 has no age in .*spk2age"):
        load_speechocean762(root)
    skipped: list[str] = []
    assert set(load_speechocean762(root, skipped).speaker) == {"0739", "2168"} and len(skipped) == 2

    manifest = tmp_path / "manifest.csv"
    shutil.copytree(FIXTURE / "audio", tmp_path / "audio")
    lines = (FIXTURE / "manifest.csv").read_text().splitlines(True)
    manifest.write_text("".join([*lines[:3], lines[3].replace(",20,f,", ",,f,"), *lines[4:]]))
    with pytest.raises(CorpusError, match="manifest.csv:4: empty or missing age"):
        load_speechocean762(manifest)
    manifest.write_text("".join([*lines[:3], lines[3].replace(",20,f,", ",twenty,f,"), *lines[4:]]))
    with pytest.raises(CorpusError, match="manifest.csv:4: age must be a whole number"):
        load_speechocean762(manifest)


def test_missing_audio_bad_kaldi_lines_and_folders_in_neither_layout_are_named(tmp_path):
    root = published_layout(tmp_path / "corpus")
    (root / "WAVE" / "SPEAKER0739" / "007390019.WAV").unlink()
    with pytest.raises(CorpusError, match="wav.scp:2: audio file not found: .*007390019.WAV"):
        load_speechocean762(root)
    (root / "train" / "utt2spk").rename(root / "utt2spk")
    with pytest.raises(CorpusError, match="utt2spk: missing"):
        load_speechocean762(root)
    (root / "utt2spk").rename(root / "train" / "utt2spk")
    (root / "train" / "text").write_text("007390013\n")
    with pytest.raises(CorpusError, match="text:1: expected a key and a value"):
        load_speechocean762(root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="not a speechocean762 corpus: expected train/wav.scp or test/wav.scp"):
        load_speechocean762(tmp_path / "empty")
    with pytest.raises(CorpusError, match="not a speechocean762 corpus"):
        load_speechocean762(tmp_path / "no-such-folder")


def test_a_speaker_with_two_ages_cannot_be_split():
    table = load_speechocean762(FIXTURE)
    table.loc[table.index[0], "age"] = 21
    with pytest.raises(CorpusError, match="0739 have rows with different ages"):
        speakers_of(table)


def test_transcripts_in_capitals_become_sentence_case_as_whisper_writes():
    assert sentence_case("I'M NOT A ACTOR") == "I'm not a actor"
    assert sentence_case("LOOK AT ANN'S PANTS AND I") == "Look at ann's pants and I"
    assert sentence_case("  ZERO THREE ") == "Zero three" and sentence_case("") == ""


def test_real_speakers_join_training_and_validation_beside_or_instead_of_the_synthetic_ones(fake_l2arctic, tmp_path):
    split_file = tmp_path / "split.csv"
    parts = {"0739": "train", "2168": "validation", "0001": "test"}
    write_speaker_split(
        pd.DataFrame(
            {"speaker": list(parts), "age": [20, 20, 6], "gender": ["m", "f", "m"], "part": list(parts.values())}
        ),
        split_file,
    )
    real = real_speech_split(FIXTURE, split_file)
    assert real_speech_split(FIXTURE, split_file, ages="children").train.empty  # 0739 is an adult
    fold = paper_fold(load_corpus(fake_l2arctic), 1)
    beside = join_real_speech(fold, real, instead=False)
    assert len(beside.train) == len(fold.train) + 2 and set(beside.train.speaker) >= {"0739", "LXC", "NCC"}
    assert len(beside.validation) == len(fold.validation) + 2 and beside.test.equals(fold.test)
    instead = join_real_speech(fold, real, instead=True)
    mandarin = instead.train[instead.train.accent == "mandarin"]
    assert (
        set(mandarin.speaker) == {"0739"}
        and len(instead.train) == len(beside.train) - (fold.train.accent == "mandarin").sum()
    )
    unseen = join_real_speech(paper_fold(load_corpus(fake_l2arctic), 1, "mandarin"), real, False, "mandarin")
    assert "mandarin" not in set(unseen.train.accent) | set(unseen.validation.accent)
