"""Benchmark: first load (CTranslate2 -> HF conversion into an empty cache) vs second load (from the cache).

    python -m analysis.bench_loading --models tiny.en,base

Uses a fresh temporary cache folder, so your own cache is neither used nor touched.
"""

import argparse
import os
import tempfile
import time

import transformers

from maslora.whisper.load import load_whisper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="tiny.en,base")
    args = parser.parse_args()
    transformers.logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["MASLORA_CACHE"] = cache
        print(f"{'model':>8} {'first load s':>13} {'second load s':>14} {'first/second':>13}")
        for name in args.models.split(","):
            times = []
            for _ in range(2):
                began = time.perf_counter()
                load_whisper(name, device="cpu")
                times.append(time.perf_counter() - began)
            print(f"{name:>8} {times[0]:>13.2f} {times[1]:>14.2f} {times[0] / times[1]:>13.1f}")


if __name__ == "__main__":
    main()
