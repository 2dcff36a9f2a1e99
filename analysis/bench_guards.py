"""Benchmark: greedy decoding against decoding under openai/whisper's guards (maslora.whisper.guards).

    python -m analysis.bench_guards [--model tiny.en] [--clips 100]

Two sets, each decoded both ways in one run:
- robustness: silence (3 s and 5 ms), a 5 ms click, white noise, two tones, --clipped real native clips
  at 50x gain (hard clipping), one at 200x (greedy loops on it), and one native clip said six times over
  (long, legitimately repetitive);
  prints each clip's words against its reference's (0 where nothing is said: every word is invented) and
  flags a transcript longer than twice its reference.
- clean speech: the first --clips real CC0 native recordings: pooled WER both ways, and the seconds each
  took with their ratio (the machine's other load shows in the seconds; read the ratio).
"""

import argparse
import time

import numpy as np
import torch

from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.data.corpora import NATIVE_RECORDINGS, load_manifest
from maslora.wer import error_counts
from maslora.whisper.load import load_whisper
from maslora.whisper.transcribe import GREEDY, transcribe

GAIN = 50.0  # the gain at which plain greedy tiny.en was seen looping ("Plump-plump-plump-...")
LOOPING = ("arctic_a0061", 200.0)  # at 200x, greedy tiny.en writes "It's a bit of a bit of a bit of ..."
REPEATS = 6  # one sentence six times: ~20 s, as repetitive as real speech gets


def robustness_set(clipped: int) -> dict[str, tuple[np.ndarray, str]]:
    """{name: (16 kHz audio, reference text)}; the reference is empty where nothing is said."""
    rng = np.random.default_rng(0)
    seconds = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    clips = {
        "silence 3 s": (np.zeros(3 * SAMPLE_RATE, np.float32), ""),
        "silence 5 ms": (np.zeros(SAMPLE_RATE // 200, np.float32), ""),
        "click 5 ms": ((rng.standard_normal(SAMPLE_RATE // 200) * 0.3).astype(np.float32), ""),
        "white noise 3 s, -26 dBFS": ((rng.standard_normal(3 * SAMPLE_RATE) * 0.05).astype(np.float32), ""),
        "white noise 3 s, -10 dBFS": ((rng.standard_normal(3 * SAMPLE_RATE) * 0.3).astype(np.float32), ""),
        "tone 440 Hz": ((0.3 * np.sin(2 * np.pi * 440 * seconds)).astype(np.float32), ""),
        "tone 1 kHz": ((0.3 * np.sin(2 * np.pi * 1000 * seconds)).astype(np.float32), ""),
    }
    native = load_manifest(NATIVE_RECORDINGS)
    for row in native.head(clipped).itertuples():
        audio = np.clip(load_audio(row.path) * GAIN, -1.0, 1.0).astype(np.float32)
        clips[f"clipped x{GAIN:g} {row.utterance_id}"] = (audio, row.text)
    looping = native.set_index("utterance_id").loc[LOOPING[0]]
    clips[f"clipped x{LOOPING[1]:g} {LOOPING[0]}"] = (
        np.clip(load_audio(looping.path) * LOOPING[1], -1.0, 1.0).astype(np.float32),
        looping.text,
    )
    first = native.iloc[0]
    clips[f"{first.utterance_id} said {REPEATS} times"] = (
        np.concatenate([load_audio(first.path)] * REPEATS),
        " ".join([first.text] * REPEATS),
    )
    return clips


def timed(function) -> tuple[list[str], float]:
    began = time.perf_counter()
    result = function()
    return result, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--clips", type=int, default=100, help="clean native recordings for WER and time")
    parser.add_argument("--clipped", type=int, default=20, help="native clips made into clipped speech")
    args = parser.parse_args()
    whisper = load_whisper(args.model)
    print(f"model {args.model}, {torch.get_num_threads()} threads")

    robustness = robustness_set(args.clipped)
    audios = [audio for audio, _ in robustness.values()]
    greedy, guarded = transcribe(whisper, audios, GREEDY), transcribe(whisper, audios)
    print("\nrobustness set: words written (reference words); * more than twice the reference")
    print(f"{'clip':>34} {'reference':>9} {'greedy':>7} {'guarded':>8}  guarded transcript")
    too_long = {"greedy": 0, "guarded": 0}
    for (name, (_, reference)), before, after in zip(robustness.items(), greedy, guarded):
        limit = 2 * len(reference.split())
        marks = ["*" if len(text.split()) > limit else " " for text in (before, after)]
        too_long["greedy"] += marks[0] == "*"
        too_long["guarded"] += marks[1] == "*"
        counts = f"{len(reference.split()):>9} {len(before.split()):>6}{marks[0]} {len(after.split()):>7}{marks[1]}"
        print(f"{name:>34} {counts}  {after[:60]!r}")
    print(f"clips over twice their reference: greedy {too_long['greedy']}, guarded {too_long['guarded']}")

    native = load_manifest(NATIVE_RECORDINGS).head(args.clips)
    clean = [load_audio(path) for path in native.path]
    greedy, greedy_seconds = timed(lambda: transcribe(whisper, clean, GREEDY))
    guarded, guarded_seconds = timed(lambda: transcribe(whisper, clean))
    references = list(native.text)
    print(f"\n{len(clean)} clean native recordings")
    print(f"{'':>8} {'WER %':>6} {'seconds':>8} {'/ greedy':>9}")
    for name, texts, seconds in (("greedy", greedy, greedy_seconds), ("guarded", guarded, guarded_seconds)):
        wer = error_counts(references, texts).wer * 100
        print(f"{name:>8} {wer:6.2f} {seconds:8.1f} {seconds / greedy_seconds:9.2f}")
    print(f"transcripts that differ: {sum(a != b for a, b in zip(greedy, guarded))} of {len(clean)}")


if __name__ == "__main__":
    main()
