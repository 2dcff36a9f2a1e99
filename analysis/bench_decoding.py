"""Benchmark: our cached greedy loop vs transformers' `generate`, same model, same clips, one run.

    python -m analysis.bench_decoding --model tiny.en --clips 24 --batch-sizes 1,8

Prints wall time of each, their ratio, and how many transcripts are identical. Timings on a shared
machine are noisy: compare the ratio printed in one run, not numbers across runs.
"""

import argparse
import time
from pathlib import Path

import torch
import transformers

from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.whisper.decoding import MAX_NEW_TOKENS, decode, token_budget
from maslora.whisper.load import load_whisper
from maslora.whisper.transcribe import log_mel_features

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "native"


def decode_with_generate(whisper, features: torch.Tensor) -> list[str]:
    language = {"language": "en", "task": "transcribe"} if whisper.is_multilingual else {}
    with torch.inference_mode():
        tokens = whisper.model.generate(features, max_new_tokens=MAX_NEW_TOKENS, **language)
    return [text.strip() for text in whisper.tokenizer.batch_decode(tokens, skip_special_tokens=True)]


def decode_with_loop(whisper, features: torch.Tensor, seconds: list[float]) -> list[str]:
    return [result.text for result in decode(whisper, features, [token_budget(s) for s in seconds])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--batch-sizes", default="1,8")
    args = parser.parse_args()

    transformers.logging.set_verbosity_error()  # generate() warns about its own defaults on every call
    torch.manual_seed(0)
    whisper = load_whisper(args.model)
    audios = [load_audio(path) for path in sorted(ASSETS.glob("*.flac"))[: args.clips]]
    print(f"model {args.model}, {len(audios)} clips, {torch.get_num_threads()} threads")
    print(f"{'batch':>5} {'loop s':>8} {'generate s':>11} {'generate/loop':>14} {'identical':>10}")
    for batch_size in [int(size) for size in args.batch_sizes.split(",")]:
        loop_time = generate_time = 0.0
        identical = 0
        for start in range(0, len(audios), batch_size):
            batch = audios[start : start + batch_size]
            features = log_mel_features(whisper, batch)
            began = time.perf_counter()
            ours = decode_with_loop(whisper, features, [len(a) / SAMPLE_RATE for a in batch])
            loop_time += time.perf_counter() - began
            began = time.perf_counter()
            theirs = decode_with_generate(whisper, features)
            generate_time += time.perf_counter() - began
            identical += sum(a == b for a, b in zip(ours, theirs))
        ratio = generate_time / loop_time
        print(f"{batch_size:>5} {loop_time:>8.2f} {generate_time:>11.2f} {ratio:>14.2f} {identical:>5}/{len(audios)}")


if __name__ == "__main__":
    main()
