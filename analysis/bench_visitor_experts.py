"""Benchmark: visitors' own experts held as columns of the page's one model (maslora.systems.visitors).

    python -m analysis.bench_visitor_experts [--size tiny.en] [--visitors 40] [--repeats 5]

Two copies of the page's model of SIZE in one process: one with the bundled experts only, one holding V
visitors' experts beside them, each added as the page adds a trained one (VisitorExperts.add: its folder
written, its column joined to the model; each is a copy of a bundled expert, which costs what a trained one
costs). Prints the memory a visitor's expert adds (the factors its column adds to the layers, and the
process's resident memory before and after the V were added), then the core's compare (base, regular LoRA,
MAS-LoRA) of the example clips on both models in alternating rounds, and the ratio. The bundled systems'
transcripts must be the same on both; a visitor's own expert decodes on the second as well.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from maslora.data.audio import load_audio
from maslora.data.corpora import load_manifest
from maslora.mixture.layer import adapter_layers
from maslora.mixture.peft_io import experts_folder, read_adapter
from maslora.mixture.weights import beta_weights
from maslora.systems.bundle import BUNDLED_EXAMPLES, bundled_folders, load_bundled_whisper, page_precision
from maslora.systems.combined_whisper import CombinedWhisper, Request
from maslora.systems.compare import compare
from maslora.systems.visitors import VisitorExperts

CLIPS = 3  # the first examples of the manifest: a compare each, per round


def factor_bytes(whisper: CombinedWhisper) -> int:
    return sum(layer.lora_A.nbytes + layer.lora_B.nbytes for layer in adapter_layers(whisper.whisper.model).values())


def resident_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) / 1e3


def compares_seconds(whisper: CombinedWhisper, audios: list, accents: list[str]) -> tuple[float, list]:
    began = time.perf_counter()
    results = [
        compare(whisper, audio, beta_weights(accents[i % len(accents)], 2.0, accents)) for i, audio in enumerate(audios)
    ]
    return (time.perf_counter() - began) / len(audios), [[r.text for r in result.results] for result in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny.en")
    parser.add_argument("--visitors", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds; the median is printed")
    args = parser.parse_args()
    torch.set_num_threads(2)  # the free Space's 2 vCPU
    experts, _ = bundled_folders(args.size)
    precision = page_precision(args.size)  # as the page runs it
    empty, held = (load_bundled_whisper(args.size, precision=precision) for _ in range(2))
    accents = empty.accents
    audios = [load_audio(path) for path in load_manifest(BUNDLED_EXAMPLES).path.iloc[:CLIPS]]
    compares_seconds(held, audios[:1], accents)  # warm-up: kernels picked, buffers allocated
    with tempfile.TemporaryDirectory() as folder:
        store = VisitorExperts(experts, Path(folder), held, capacity=args.visitors)
        bytes_before, resident_before = factor_bytes(held), resident_mb()
        expert_folders, _ = experts_folder(experts)
        for visitor in range(args.visitors):
            accent = accents[visitor % len(accents)]
            with store.training(f"visitor-{visitor}"):
                pass  # the capacity check a training passes first
            expert = store.add(f"visitor-{visitor}", f"mine{visitor}", read_adapter(expert_folders[accent])[1])
        added_mb = (factor_bytes(held) - bytes_before) / 1e6
        resident_added = resident_mb() - resident_before
        print(
            f"{args.size}, {args.visitors} visitors' experts held: +{added_mb:.1f} MB of factors "
            f"({added_mb / args.visitors * 1e3:.0f} kB each), resident memory +{resident_added:.0f} MB "
            f"({resident_added / args.visitors:.1f} MB each)"
        )
        seconds = {"bundled experts only": [], f"{args.visitors} visitors' experts held": []}
        texts = {}
        for _ in range(args.repeats):
            for (label, runs), whisper in zip(seconds.items(), (empty, held)):
                took, texts[label] = compares_seconds(whisper, audios, accents)
                runs.append(took)
        medians = {label: statistics.median(runs) for label, runs in seconds.items()}
        for label, median in medians.items():
            print(f"  a compare (mean of {CLIPS} clips, median of {args.repeats} rounds), {label}: {median:.3f} s")
        empty_median, held_median = medians.values()
        print(f"  held / bundled only: {held_median / empty_median:.3f}")
        same = len(set(map(str, texts.values()))) == 1
        print(f"  the bundled systems' transcripts the same on both: {'yes' if same else 'NO'}")
        own = [Request("mas-lora", beta_weights(expert.name, 2.0, expert.whisper.accents))] * len(audios)
        began = time.perf_counter()
        expert.whisper.transcribe(audios, own)
        row = (time.perf_counter() - began) / len(audios)
        print(f"  the last visitor's MAS-LoRA row (beta 2 on their expert): {row:.3f} s a clip")
        if not same:
            raise SystemExit("the visitors' experts changed the bundled systems' transcripts")


if __name__ == "__main__":
    main()
