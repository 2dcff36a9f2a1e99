"""A visitor's clips as one uploaded zip: audio files and a manifest.csv (path,text[,part]), unpacked safely.

    my-accent.zip
      manifest.csv          path,text,part        (part: train or test; optional)
      clips/01.wav ...      any format load_audio reads

Nothing is extracted outside the folder given: a member whose path is absolute or climbs out with "..",
a link, more than MAX_MEMBERS files or more than MAX_BYTES unpacked, each refuses the whole zip before
anything is unpacked; a bad manifest row removes what was unpacked. Without a part column the last
TEST_CLIPS rows are the test clips.
"""

import csv
import io
import shutil
import zipfile
from pathlib import Path, PurePosixPath

import pandas as pd

from maslora.errors import CorpusError

MANIFEST = "manifest.csv"
MAX_MEMBERS = 200  # 40 prompts' clips and a manifest, with room to spare; more is not one visitor's accent
MAX_BYTES = 200 * 1024 * 1024  # unpacked: 40 ten-second WAVs are 13 MB, so this only stops zip bombs
TEST_CLIPS = 3  # the demo's own test set per visitor
PARTS = ("train", "test")


def _safe_members(archive: zipfile.ZipFile, source: str) -> list[zipfile.ZipInfo]:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise CorpusError(f"{source} holds {len(members)} files; at most {MAX_MEMBERS}")
    if sum(member.file_size for member in members) > MAX_BYTES:
        raise CorpusError(f"{source} unpacks to more than {MAX_BYTES // 2**20} MB")
    for member in members:
        path = PurePosixPath(member.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and path.parts[0].endswith(":")):
            raise CorpusError(f"{source}: {member.filename} points outside the zip; nothing was unpacked")
        if (member.external_attr >> 16) & 0o170000 == 0o120000:
            raise CorpusError(f"{source}: {member.filename} is a link; nothing was unpacked")
    return members


def write_clip_archive(clips: pd.DataFrame, zip_path: str | Path) -> None:
    """The zip read_clip_archive reads, of `clips` (path, text[, part]): each file as clips/NN.<its suffix>."""
    columns = [column for column in ("path", "text", "part") if column in clips]
    rows = []
    with zipfile.ZipFile(zip_path, "w") as archive:
        for index, clip in enumerate(clips.itertuples()):
            member = f"clips/{index:02d}{Path(clip.path).suffix}"
            archive.write(clip.path, member)
            rows.append([member, *(getattr(clip, column) for column in columns[1:])])
        lines = io.StringIO()
        csv.writer(lines).writerows([columns, *rows])
        archive.writestr(MANIFEST, lines.getvalue())


def read_clip_archive(zip_path: str | Path, folder: str | Path) -> pd.DataFrame:
    """Unpack `zip_path` into the new folder `folder` and return its clips: path (absolute, inside `folder`),
    text, part. On any error `folder` is gone again."""
    zip_path, folder = Path(zip_path), Path(folder)
    if folder.exists():
        raise CorpusError(f"{folder} exists: a zip is unpacked into a new folder")
    try:
        return _unpack(zip_path, folder)
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _unpack(zip_path: Path, folder: Path) -> pd.DataFrame:
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise CorpusError(f"{zip_path.name} is not a readable zip ({error})") from error
    with archive:
        members = _safe_members(archive, zip_path.name)
        manifests = [m.filename for m in members if PurePosixPath(m.filename).name == MANIFEST]
        if len(manifests) != 1:
            found = "no" if not manifests else f"{len(manifests)}"
            raise CorpusError(f"{zip_path.name} has {found} {MANIFEST}; it needs one, with path,text[,part]")
        folder.mkdir(parents=True)
        archive.extractall(folder, members)
    manifest = folder / manifests[0]
    with open(manifest, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "text"} - set(reader.fieldnames or [])
        if missing:
            raise CorpusError(f"{MANIFEST}: no {', '.join(sorted(missing))} column; it needs path,text[,part]")
        records = list(enumerate(reader, start=2))
    rows = []
    for number, record in records:
        where = f"{MANIFEST}:{number}"
        path, text = (record.get("path") or "").strip(), (record.get("text") or "").strip()
        part = (record.get("part") or "").strip() or None
        if not path or not text:
            raise CorpusError(f"{where}: empty {'path' if not path else 'text'}")
        audio = (manifest.parent / path).resolve()
        if not audio.is_relative_to(folder.resolve()):
            raise CorpusError(f"{where}: {path} points outside the zip")
        if not audio.is_file():
            raise CorpusError(f"{where}: {path} is not in the zip")
        if part is not None and part not in PARTS:
            raise CorpusError(f"{where}: part must be {' or '.join(PARTS)}, got {part!r}")
        rows.append({"path": str(audio), "text": text, "part": part})
    if not rows:
        raise CorpusError(f"{MANIFEST} lists no clips")
    table = pd.DataFrame(rows)
    if table.part.isna().all():
        table["part"] = ["test" if i >= len(table) - TEST_CLIPS else "train" for i in range(len(table))]
    elif table.part.isna().any():
        raise CorpusError(f"{MANIFEST}: give every row a part, or none (then the last {TEST_CLIPS} are the test)")
    return table
