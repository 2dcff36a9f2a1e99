"""`python -m maslora transcribe` as a user runs it: transcripts on stdout, one-line errors, exit codes."""

import subprocess
import sys

from tests.conftest import ROOT


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maslora", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_transcribes_one_file_and_several(native_clips):
    (first, _), (second, _) = native_clips[3], native_clips[4]
    one = _run("transcribe", str(first))
    assert one.returncode == 0, one.stderr
    assert "glad to see you again" in one.stdout.lower() and "\t" not in one.stdout
    two = _run("transcribe", str(first), str(second), "--batch-size", "2")
    lines = two.stdout.strip().splitlines()
    assert two.returncode == 0 and len(lines) == 2
    assert lines[0].startswith(f"{first}\t") and "forget it" in lines[1].lower()


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio")
    for args, message in [
        (["transcribe", str(tmp_path / "missing.wav")], "audio file not found"),
        (["transcribe", str(not_audio)], "as audio"),
        (["transcribe", str(not_audio.parent / "x.flac"), "--model", "pypi:nothing_here"], "audio file not found"),
    ]:
        result = _run(*args)
        assert result.returncode == 2
        assert message in result.stderr and "Traceback" not in result.stderr
