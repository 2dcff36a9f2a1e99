"""Starting `python app.py` as a visitor's server would run, for the tests that drive it from outside."""

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

START_SECONDS = 180  # the first start converts Whisper's weights: about a minute on 2 cores, three with others busy


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(python: str | Path, folder: Path, log_path: Path) -> Iterator[str]:
    """`python app.py` started in `folder` on a free port; yields its URL once it answers, and stops it after.
    A server that exits or does not answer in time fails the test with the end of its log."""
    port = free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(python), "app.py", "--port", str(port)], cwd=folder, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            urllib.request.urlopen(url, timeout=5)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the app did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
