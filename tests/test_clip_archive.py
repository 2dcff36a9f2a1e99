"""A visitor's zip of clips: unpacked inside its folder only, manifest checked row by row, nothing left on error."""

import zipfile

import numpy as np
import pytest
import soundfile

from maslora.data.clip_archive import MAX_MEMBERS, read_clip_archive, write_clip_archive
from maslora.data.corpora import NATIVE_RECORDINGS, load_manifest
from maslora.errors import CorpusError


def _wav(tmp_path, name: str = "clip.wav"):
    path = tmp_path / name
    soundfile.write(path, np.random.default_rng(0).normal(0, 0.1, 16_000).astype(np.float32), 16_000)
    return path


def _zip(tmp_path, members: dict[str, bytes | str], name: str = "clips.zip"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def test_clips_and_parts_come_back_inside_the_folder(tmp_path):
    audio = _wav(tmp_path).read_bytes()
    rows = "path,text\n" + "".join(f"clips/{i}.wav,Sentence {i}.\n" for i in range(5))
    archive = _zip(tmp_path, {"mine/manifest.csv": rows, **{f"mine/clips/{i}.wav": audio for i in range(5)}})
    table = read_clip_archive(archive, tmp_path / "out")
    assert list(table.part) == ["train", "train", "test", "test", "test"]  # no part column: the last 3 test
    assert all(path.startswith(str((tmp_path / "out").resolve())) for path in table.path)
    assert table.text.iloc[0] == "Sentence 0."
    given = _zip(
        tmp_path, {"manifest.csv": "path,text,part\na.wav,A.,test\nb.wav,B.,train\n", "a.wav": audio, "b.wav": audio}
    )
    assert list(read_clip_archive(given, tmp_path / "given").part) == ["test", "train"]


@pytest.mark.parametrize(
    "members, message",
    [
        ({"../evil.wav": b"x", "manifest.csv": "path,text\n../evil.wav,Hi.\n"}, "points outside the zip"),
        ({"/etc/evil.wav": b"x", "manifest.csv": "path,text\n"}, "points outside the zip"),
        ({"clip.wav": b"x"}, "has no manifest.csv"),
        ({"a/manifest.csv": "path,text\n", "b/manifest.csv": "path,text\n"}, "has 2 manifest.csv"),
        ({"manifest.csv": "file,words\nclip.wav,Hi.\n", "clip.wav": b"x"}, "no path, text column"),
        ({"manifest.csv": "path,text\nmissing.wav,Hi.\n"}, "manifest.csv:2: missing.wav is not in the zip"),
        ({"manifest.csv": "path,text\nclip.wav,\n", "clip.wav": b"x"}, "manifest.csv:2: empty text"),
        ({"manifest.csv": "path,text\n../../outside.wav,Hi.\n"}, "manifest.csv:2: ../../outside.wav points outside"),
        ({"manifest.csv": "path,text,part\nclip.wav,Hi.,dev\n", "clip.wav": b"x"}, "part must be train or test"),
        ({"manifest.csv": "path,text,part\nclip.wav,Hi.,train\nclip.wav,Ho.,\n", "clip.wav": b"x"}, "every row a part"),
        ({"manifest.csv": "path,text\n"}, "lists no clips"),
        ({f"{i}.wav": b"" for i in range(MAX_MEMBERS + 1)}, f"at most {MAX_MEMBERS}"),
    ],
)
def test_a_bad_zip_is_refused_by_name_and_leaves_nothing(tmp_path, members, message):
    archive = _zip(tmp_path, members)
    with pytest.raises(CorpusError, match=message):
        read_clip_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.wav").exists()


def test_not_a_zip_and_a_folder_that_exists(tmp_path):
    not_zip = tmp_path / "clips.zip"
    not_zip.write_text("not a zip")
    with pytest.raises(CorpusError, match="clips.zip is not a readable zip"):
        read_clip_archive(not_zip, tmp_path / "out")
    (tmp_path / "taken").mkdir()
    with pytest.raises(CorpusError, match="exists"):
        read_clip_archive(_zip(tmp_path, {"manifest.csv": "path,text\n"}), tmp_path / "taken")
    assert (tmp_path / "taken").is_dir()  # a folder that was there is not removed


def test_a_written_zip_reads_back_as_the_clips_it_was_written_from(tmp_path):
    clips = load_manifest(NATIVE_RECORDINGS).iloc[:4].assign(part=["train", "train", "train", "test"])
    clips.loc[clips.index[0], "text"] = 'Quoted, "with commas", and all.'  # the manifest is real CSV
    write_clip_archive(clips[["path", "text", "part"]], tmp_path / "takes.zip")
    read = read_clip_archive(tmp_path / "takes.zip", tmp_path / "unpacked")
    assert list(read.text) == list(clips.text) and list(read.part) == list(clips.part)
    assert [open(p, "rb").read() for p in read.path] == [open(p, "rb").read() for p in clips.path]
