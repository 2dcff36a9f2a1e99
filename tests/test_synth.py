"""The synthetic corpus generator: layout, determinism, resuming, shared voices, clear errors."""

import csv
import shutil

import numpy as np
import pytest
import soundfile

from maslora.data.corpora import load_corpus
from maslora.errors import EspeakError
from maslora.synth.espeak import Voice, phoneme_text, phonemize, synthesize
from maslora.synth.generate import SynthConfig, generate_corpus
from maslora.synth.speakers import ESPEAK_VOICES, synthetic_speakers

pytestmark = pytest.mark.espeak  # every test speaks through espeak-ng (or checks how its absence is named)


def _config(out, jobs=2, **overrides) -> SynthConfig:
    settings = {
        "prompts": 3,
        "speakers_per_accent": 2,
        "accents": ["spanish", "korean", "native"],
        "seed": 7,
        "jobs": jobs,
    }
    return SynthConfig(out=out, **{**settings, **overrides})


def test_phonemes_round_trip_through_espeak():
    clauses = phonemize("Philip steals the thing.")
    assert clauses == [[["f", "'I", "l", "I", "p"], ["s", "t", "'i:", "l", "z"], ["D", "@2"], ["T", "'I", "N"]]]
    assert phoneme_text(clauses) == "[[f'IlIp st'i:lz D@2 T'IN]]."
    samples, rate = synthesize(clauses, ESPEAK_VOICES[0])
    assert rate == 22_050 and 0.5 < len(samples) / rate < 3.0 and np.abs(samples).max() > 0.05


def test_layout_is_l2arctic_and_the_loader_reads_it(tmp_path):
    assert generate_corpus(_config(tmp_path)) == 3 * 2 * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "KOR1",
        "KOR2",
        "NAT1",
        "NAT2",
        "SPA1",
        "SPA2",
        "speakers.csv",
    ]
    assert (tmp_path / "SPA1" / "wav" / "arctic_a0002.wav").is_file()
    assert (tmp_path / "SPA1" / "transcript" / "arctic_a0002.txt").read_text().startswith("Not at this particular case")
    info = soundfile.info(tmp_path / "KOR2" / "wav" / "arctic_a0003.wav")
    assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
    table = load_corpus(tmp_path)
    assert len(table) == 18 and set(table.accent) == {"spanish", "korean", "native"}
    assert not list(tmp_path.rglob(".*partial*"))


def test_the_same_seed_gives_the_same_bytes_whatever_the_process_count(tmp_path):
    generate_corpus(_config(tmp_path / "a", jobs=1))
    generate_corpus(_config(tmp_path / "b", jobs=2))
    generate_corpus(_config(tmp_path / "c", jobs=2, seed=8))
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.wav"))
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert any(
        (tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes() for f in files if "NAT" not in str(f)
    )
    # The native control has no rules, so its audio does not depend on the seed at all.
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "c" / f).read_bytes() for f in files if "NAT" in str(f))


def test_an_interrupted_run_resumes_with_only_what_is_missing(tmp_path):
    generate_corpus(_config(tmp_path))
    finished = tmp_path / "SPA2" / "wav" / "arctic_a0001.wav"
    before = finished.read_bytes()
    (tmp_path / "KOR1" / "wav" / "arctic_a0002.wav").unlink()
    (tmp_path / "KOR1" / "transcript" / "arctic_a0003.txt").unlink()
    assert generate_corpus(_config(tmp_path)) == 2
    assert finished.read_bytes() == before and len(load_corpus(tmp_path)) == 18


def test_speaker_k_of_every_accent_shares_voice_k(tmp_path):
    generate_corpus(_config(tmp_path))
    with open(tmp_path / "speakers.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    voices = {(row["slot"], row["voice"], row["pitch"], row["words_per_minute"]) for row in rows}
    assert len(voices) == 2  # two slots, each one voice, across three accents
    assert [s.voice for s in synthetic_speakers(["arabic", "native"], 4)] == [*ESPEAK_VOICES, *ESPEAK_VOICES]


def test_accents_change_the_speech_of_the_same_voice(tmp_path):
    generate_corpus(_config(tmp_path, prompts=1, speakers_per_accent=1))
    native, _ = soundfile.read(tmp_path / "NAT1" / "wav" / "arctic_a0001.wav")
    spanish, _ = soundfile.read(tmp_path / "SPA1" / "wav" / "arctic_a0001.wav")
    common = min(len(native), len(spanish))
    # Another sound or an added vowel shifts everything after it: the two waveforms part ways, not a few samples.
    assert np.corrcoef(native[:common], spanish[:common])[0, 1] < 0.5
    loudness = np.sqrt(np.mean(spanish**2)) / np.sqrt(np.mean(native**2))
    assert 0.5 < loudness < 2 and abs(len(spanish) - len(native)) < 0.5 * len(native)  # the same voice, reading


def test_bad_settings_and_a_missing_espeak_are_reported(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="speakers per accent must be 1..4"):
        synthetic_speakers(["arabic"], 5)
    with pytest.raises(ValueError, match="unknown accent"):
        synthetic_speakers(["klingon"], 1)
    with pytest.raises(ValueError, match="unknown voice set"):
        synthetic_speakers(["arabic"], 1, voice_set="festival")
    if shutil.which("mbrola") is None:  # MBROLA is not in Debian main: without it, a clear message, not silence
        with pytest.raises(EspeakError, match="mb-us2 failed: .*MBROLA"):
            generate_corpus(_config(tmp_path / "mbrola", voice_set="mbrola", prompts=1, speakers_per_accent=1))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EspeakError, match="apt-get install espeak-ng"):
        synthesize([[["h", "@"]]], Voice("en-us+m1", 40, 150))
