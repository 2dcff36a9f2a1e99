"""Transcripts as files, in the formats the whisper command writes: txt, json, srt and vtt.

A segment here is one decoding window (maslora.whisper.transcribe.Segment): audio cut at pauses into
pieces of at most the encoder's window (30 s; 10 s for the bundled experts), not the phrase-level
segments openai/whisper times with timestamp tokens. Subtitles therefore change at most once a window.
"""

import json
from pathlib import Path

from maslora.atomic import replace_file
from maslora.errors import AudioError
from maslora.whisper.transcribe import Segment

OUTPUT_FORMATS = ("txt", "json", "srt", "vtt")


def clock(seconds: float, decimal: str) -> str:
    """HH:MM:SS<decimal>mmm, as SRT (",") and WebVTT (".") write times."""
    milliseconds = round(seconds * 1000)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    whole, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{decimal}{milliseconds:03d}"


def as_text(segments: list[Segment]) -> str:
    return " ".join(segment.text for segment in segments if segment.text) + "\n"


def as_json(segments: list[Segment]) -> str:
    body = {
        "text": as_text(segments).strip(),
        "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in segments],
    }
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def as_srt(segments: list[Segment]) -> str:
    spoken = [segment for segment in segments if segment.text]  # silent windows get no cue
    return "\n".join(
        f"{number}\n{clock(s.start, ',')} --> {clock(s.end, ',')}\n{s.text}\n" for number, s in enumerate(spoken, 1)
    )


def as_vtt(segments: list[Segment]) -> str:
    spoken = [segment for segment in segments if segment.text]
    return "WEBVTT\n\n" + "\n".join(f"{clock(s.start, '.')} --> {clock(s.end, '.')}\n{s.text}\n" for s in spoken)


WRITERS = {"txt": as_text, "json": as_json, "srt": as_srt, "vtt": as_vtt}


def output_paths(audio_paths: list[str], formats: list[str], folder: Path) -> dict[str, list[Path]]:
    """{audio path: the files its transcript goes to}: <folder>/<audio file's stem>.<format>. Two audio
    files with the same stem would overwrite each other's transcripts: refused before anything is decoded."""
    stems: dict[str, str] = {}
    for path in audio_paths:
        stem = Path(path).stem
        if stem in stems and stems[stem] != path:
            raise AudioError(f"{stems[stem]} and {path} would both write {stem}.*: transcribe them apart")
        stems[stem] = path
    return {path: [folder / f"{Path(path).stem}.{kind}" for kind in formats] for path in audio_paths}


def write_transcript(segments: list[Segment], files: list[Path]) -> None:
    """Each file in its format (its suffix), written whole or not at all."""
    for file in files:
        text = WRITERS[file.suffix.removeprefix(".")](segments)
        replace_file(file, lambda scratch, text=text: scratch.write_text(text, encoding="utf-8"))
