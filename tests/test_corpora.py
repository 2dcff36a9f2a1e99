"""Corpus loaders: real L2-ARCTIC layout, synthetic corpus, manifests, LibriSpeech; and their errors."""

import json
import shutil

import pytest
import soundfile

from maslora.data.audio import load_audio
from maslora.data.corpora import COLUMNS, L2_ARCTIC_ACCENT, arctic_prompts, load_corpus, load_manifest
from maslora.errors import CorpusError


def test_arctic_prompts_are_all_there():
    prompts = arctic_prompts()
    assert len(prompts) == 1132
    assert prompts["arctic_a0001"] == "Author of the danger trail, Philip Steels, etc."


def test_fake_l2arctic_loads_with_the_right_accents(fake_l2arctic):
    table = load_corpus(fake_l2arctic)
    assert list(table.columns) == COLUMNS
    assert len(table) == 24 * 12 - 2  # ABA lacks two prompts, as real speakers lack some
    assert set(table.speaker) == set(L2_ARCTIC_ACCENT)
    assert all(L2_ARCTIC_ACCENT[s] == a for s, a in zip(table.speaker, table.accent))
    assert table.groupby("accent").speaker.nunique().to_dict() == dict.fromkeys(
        ["arabic", "hindi", "korean", "mandarin", "spanish", "vietnamese"], 4
    )
    row = table[(table.speaker == "HKK") & (table.utterance_id == "arctic_a0001")].iloc[0]
    assert row.text.startswith("Author of the danger trail")
    assert soundfile.info(row.path).samplerate == 44_100 and len(load_audio(row.path)) > 16_000


def test_a_wav_without_transcript_is_named_or_skipped(fake_l2arctic, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(fake_l2arctic, root)
    (root / "TNI" / "transcript" / "arctic_a0005.txt").unlink()
    with pytest.raises(CorpusError, match="TNI/wav/arctic_a0005.wav: no transcript"):
        load_corpus(root)
    skipped: list[str] = []
    table = load_corpus(root, skipped=skipped)
    assert len(table) == 24 * 12 - 3 and len(skipped) == 1 and "arctic_a0005" in skipped[0]


def test_an_unknown_speaker_folder_is_an_error(fake_l2arctic, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(fake_l2arctic, root)
    (root / "XYZ" / "wav").mkdir(parents=True)
    with pytest.raises(CorpusError, match="unknown speaker XYZ"):
        load_corpus(root)


def test_csv_and_jsonl_manifests(fake_l2arctic, tmp_path):
    wav = fake_l2arctic / "ABA" / "wav" / "arctic_a0001.wav"
    (tmp_path / "m.csv").write_text(f"path,text,accent,speaker\n{wav},Hello there,arabic,A1\n")
    shutil.copy(wav, tmp_path / "local.wav")
    records = [{"path": "local.wav", "text": "Hi", "accent": "korean"}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    csv_table, jsonl_table = load_corpus(tmp_path / "m.csv"), load_corpus(tmp_path / "m.jsonl")
    assert csv_table.iloc[0].to_dict() == {
        "path": str(wav),
        "text": "Hello there",
        "speaker": "A1",
        "accent": "arabic",
        "utterance_id": "arctic_a0001",
    }
    assert jsonl_table.iloc[0].path == str(tmp_path / "local.wav") and jsonl_table.iloc[0].speaker == "korean"


@pytest.mark.parametrize(
    "content, message",
    [
        ("path,text\nx.wav,hello\n", "header lacks column\\(s\\) accent"),
        ("path,text,accent\nlocal.wav,,arabic\n", "m.csv:2: empty or missing text"),
        ("path,text,accent\nlocal.wav,hi,arabic\nnope.wav,hi,arabic\n", "m.csv:3: audio file not found: .*nope.wav"),
    ],
)
def test_bad_manifests_name_the_file_and_line(fake_l2arctic, tmp_path, content, message):
    shutil.copy(fake_l2arctic / "ABA" / "wav" / "arctic_a0001.wav", tmp_path / "local.wav")
    (tmp_path / "m.csv").write_text(content)
    with pytest.raises(CorpusError, match=message):
        load_manifest(tmp_path / "m.csv")


def test_bad_rows_can_be_skipped_on_request_and_bad_json_is_named(fake_l2arctic, tmp_path):
    shutil.copy(fake_l2arctic / "ABA" / "wav" / "arctic_a0001.wav", tmp_path / "local.wav")
    (tmp_path / "m.csv").write_text("path,text,accent\nlocal.wav,hi,arabic\nnope.wav,hi,arabic\n")
    skipped: list[str] = []
    assert len(load_manifest(tmp_path / "m.csv", skipped=skipped)) == 1 and "m.csv:3" in skipped[0]
    (tmp_path / "m.jsonl").write_text('{"path": "local.wav", "text": "hi", "accent": "x"}\n{oops\n')
    with pytest.raises(CorpusError, match="m.jsonl:2: not valid JSON"):
        load_manifest(tmp_path / "m.jsonl")
    with pytest.raises(CorpusError, match="manifest not found"):
        load_manifest(tmp_path / "missing.csv")


def test_librispeech_folders(fake_l2arctic, tmp_path):
    chapter = tmp_path / "test-clean" / "121" / "1234"
    chapter.mkdir(parents=True)
    shutil.copy(fake_l2arctic / "ABA" / "wav" / "arctic_a0001.wav", chapter / "121-1234-0000.wav")
    (chapter / "121-1234.trans.txt").write_text(
        "121-1234-0000 AUTHOR OF THE DANGER TRAIL\n121-1234-0001 MISSING AUDIO\n"
    )
    with pytest.raises(CorpusError, match="121-1234.trans.txt:2: no audio file for 121-1234-0001"):
        load_corpus(tmp_path / "test-clean")
    skipped: list[str] = []
    table = load_corpus(tmp_path / "test-clean", skipped=skipped)
    assert table.iloc[0][["speaker", "accent", "utterance_id"]].tolist() == ["121", "native", "121-1234-0000"]
    assert len(skipped) == 1


def test_missing_corpus_folder():
    with pytest.raises(CorpusError, match="corpus folder not found"):
        load_corpus("/no/such/corpus")
