"""Benchmark: the page's model in float32 and with lighter linear layers (maslora.whisper.precision), side by side.

    python -m analysis.bench_precision [--size tiny.en] [--clips 8] [--repeats 3]

Every precision of SIZE's bundled model in one process, timed in alternating rounds on the first --clips
examples: Whisper's row in its 30 s window and a MAS-LoRA row (beta 2), each alone (one clip) and as one
batch of all the clips (per row); prints each median, float32's over each lighter precision's, and how
many of the batch's transcripts each changed. What a precision costs in WER is measured on development
speakers, not here (train/precision_dev.py, analysis/exp_precision.py).
"""

import argparse
import statistics
import time

import torch

from maslora.data.audio import load_audio
from maslora.data.corpora import load_manifest
from maslora.mixture.weights import beta_weights
from maslora.systems.bundle import BUNDLED_EXAMPLES, load_bundled_whisper
from maslora.systems.combined_whisper import Request
from maslora.whisper.precision import LIGHTER, PRECISIONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny.en")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds; the median is printed")
    args = parser.parse_args()
    torch.set_num_threads(2)  # the free Space's 2 vCPU
    models = {precision: load_bundled_whisper(args.size, precision=precision) for precision in PRECISIONS}
    accents = models["float32"].accents
    audios = [load_audio(path) for path in load_manifest(BUNDLED_EXAMPLES).path.iloc[: args.clips]]
    rows = {
        "Whisper, 30 s": Request("base"),
        "MAS-LoRA, beta 2": Request("mas-lora", beta_weights(accents[1], 2.0, accents)),
    }
    seconds: dict[tuple, list[float]] = {}
    texts: dict[tuple, list[str]] = {}
    for whisper in models.values():
        whisper.transcribe(audios[:1], [Request("base")])  # warm-up: kernels picked, buffers allocated
    for _ in range(args.repeats):
        for precision, whisper in models.items():
            for label, request in rows.items():
                for clips in (audios[:1], audios):
                    began = time.perf_counter()
                    texts[precision, label] = whisper.transcribe(clips, [request] * len(clips))
                    took = (time.perf_counter() - began) / len(clips)
                    seconds.setdefault((precision, label, len(clips)), []).append(took)
    print(f"{args.size}, seconds a row (median of {args.repeats} alternating rounds); float32 / each:")
    for label in rows:
        for count in (1, len(audios)):
            median = {p: statistics.median(seconds[p, label, count]) for p in PRECISIONS}
            shape = "alone" if count == 1 else f"in a batch of {count}"
            timings = ", ".join(f"{p} {median[p]:.3f} s" for p in PRECISIONS)
            ratios = ", ".join(f"{p} {median['float32'] / median[p]:.2f}" for p in LIGHTER)
            print(f"  {label}, {shape}: {timings}; ratio {ratios}")
        for precision in LIGHTER:
            changed = sum(a != b for a, b in zip(texts["float32", label], texts[precision, label]))
            print(f"  {label}: {precision} changed {changed} of {len(audios)} transcripts")


if __name__ == "__main__":
    main()
