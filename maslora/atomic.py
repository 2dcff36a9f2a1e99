"""Writing files and folders so that a crash or a kill never leaves a half-written one under the real name."""

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def replace_file(path: Path, write: Callable[[Path], None]) -> None:
    """Call write(temporary path) in the same folder, then rename it over `path` (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.stem}.partial-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        write(scratch)
        scratch.replace(path)
    finally:
        scratch.unlink(missing_ok=True)


def _write_folder(folder: Path, write: Callable[[Path], None], replace_existing: bool) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = folder.with_name(f".{folder.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        scratch.mkdir()
        write(scratch)
        if replace_existing and folder.exists():
            shutil.rmtree(folder)
        try:
            scratch.rename(folder)
        except OSError:
            if replace_existing or not folder.is_dir():  # not another writer winning the race: a real failure
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def replace_folder(folder: Path, write: Callable[[Path], None]) -> None:
    """Call write(temporary folder) beside `folder`, then swap it in for whatever was there."""
    _write_folder(folder, write, replace_existing=True)


def publish_folder_once(folder: Path, write: Callable[[Path], None]) -> None:
    """Like replace_folder, but a folder already there wins: concurrent writers of the same content
    (two processes converting one model) both succeed and neither replaces the other's result."""
    _write_folder(folder, write, replace_existing=False)
