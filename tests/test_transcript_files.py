"""Transcripts as txt, json, srt and vtt files: times as the formats write them, cues per decoding window."""

import json

import pytest

from maslora.errors import AudioError
from maslora.whisper.transcribe import Segment
from maslora.whisper.transcript_files import as_json, as_srt, as_text, as_vtt, clock, output_paths, write_transcript

SEGMENTS = [Segment(0.0, 27.3, "First part."), Segment(27.3, 31.0, ""), Segment(31.0, 3725.5, "Last part.")]


def test_clock_writes_hours_minutes_seconds_and_milliseconds():
    assert clock(0.0, ",") == "00:00:00,000"
    assert clock(3725.5, ".") == "01:02:05.500"
    assert clock(59.9996, ",") == "00:01:00,000"  # rounded to the millisecond, carried into the minute


def test_each_format_from_the_same_segments():
    assert as_text(SEGMENTS) == "First part. Last part.\n"
    assert as_srt(SEGMENTS) == (
        "1\n00:00:00,000 --> 00:00:27,300\nFirst part.\n\n2\n00:00:31,000 --> 01:02:05,500\nLast part.\n"
    )  # the silent window has no cue
    assert as_vtt(SEGMENTS).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:27.300\nFirst part.\n")
    body = json.loads(as_json(SEGMENTS))
    assert body["text"] == "First part. Last part." and len(body["segments"]) == 3
    assert body["segments"][2] == {"start": 31.0, "end": 3725.5, "text": "Last part."}


def test_files_are_named_after_the_audio_and_a_clash_is_refused(tmp_path):
    paths = output_paths(["a/one.wav", "b/two.flac"], ["srt", "txt"], tmp_path)
    assert paths["b/two.flac"] == [tmp_path / "two.srt", tmp_path / "two.txt"]
    write_transcript(SEGMENTS, paths["a/one.wav"])
    assert (tmp_path / "one.txt").read_text() == "First part. Last part.\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.srt", "one.txt"]  # no scratch file left behind
    with pytest.raises(AudioError, match="would both write one"):
        output_paths(["a/one.wav", "b/one.flac"], ["txt"], tmp_path)
