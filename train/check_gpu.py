"""On a CUDA machine: every GPU code path of maslora once, and the same evaluation on the CPU beside it.

    python -m train.check_gpu [--model tiny.en] [--runs /tmp/gpu-check] [--epochs 2]

Trains MAS-LoRA and a regular LoRA under bfloat16 autocast on a manifest of the bundled CC0 native
clips, read as if spoken by L2-ARCTIC's 24 speakers (the accents are labels only: this checks the code,
not accent adaptation), resumes each finished run, compares one batch's loss with and without autocast,
trains the accent classifier and the router, and evaluates eight systems (audio-routed ones included)
on the GPU and then, in a child process that sees no GPU, on the CPU. Prints a JSON report.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from maslora.auto.heads import clip_features, fit_classifier, fit_router
from maslora.auto.router import RouterConfig
from maslora.data.audio import load_audio
from maslora.data.corpora import L2_ARCTIC_SPEAKERS, NATIVE_RECORDINGS, load_corpus
from maslora.data.splits import paper_fold
from maslora.mixture.layer import routed
from maslora.mixture.peft_io import load_experts
from maslora.systems.evaluation import Models, evaluate
from maslora.training.config import TrainConfig
from maslora.training.loop import train
from maslora.whisper.load import load_whisper
from maslora.whisper.targets import decoder_labels, transcript_loss
from maslora.whisper.transcribe import log_mel_features

SYSTEMS = ["base", "lora", "mas-uniform", "mas-beta2", "mas-auto-t1", "mas-auto-t2", "mas-auto-beta", "mas-router"]
PROMPTS = 30  # per speaker: 720 clips, 450 of them for training in fold 1
WINDOW = 10  # seconds: the CPU recipe's window, so the two devices run the same model


def write_manifest(folder: Path) -> Path:
    """The first PROMPTS native recordings, listed once per L2-ARCTIC speaker (with that speaker's accent)."""
    with open(NATIVE_RECORDINGS, newline="", encoding="utf-8") as handle:
        clips = list(csv.DictReader(handle))[:PROMPTS]
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["path", "text", "accent", "speaker"])
        for accent, speakers in L2_ARCTIC_SPEAKERS.items():
            out.writerows(
                [NATIVE_RECORDINGS.parent / clip["path"], clip["text"], accent, speaker]
                for speaker in speakers
                for clip in clips
            )
    return manifest


def evaluate_all(model: str, runs: Path, rows_name: str) -> dict:
    split = paper_fold(load_corpus(runs / "manifest.csv"), 1)
    models = Models(
        model=model,
        experts=runs / "mas" / "best",
        adapter=runs / "lora" / "best",
        encoder_seconds=WINDOW,
        classifier=runs / "classifier",
        router=runs / "router",
    )
    began = time.perf_counter()
    rows = evaluate(split.test, SYSTEMS, models, runs / rows_name, progress=False)
    return {"rows": len(rows), "seconds": time.perf_counter() - began, "hypotheses": list(rows.hypothesis)}


def one_batch_losses(model: str, runs: Path, split) -> dict[str, float]:
    """Cross-entropy of eight training clips through the trained experts (uniform), with and without bf16 autocast."""
    whisper = load_whisper(model)
    load_experts(whisper.model, runs / "mas" / "best")
    batch = split.train.iloc[:8]
    device = whisper.model.device
    features = log_mel_features(whisper, [load_audio(p) for p in batch.path]).to(device)
    inputs, targets = (t.to(device) for t in decoder_labels(whisper, list(batch.text)))
    losses = {}
    for precision in ("bf16", "fp32"):
        with torch.no_grad(), routed(whisper.model, torch.full((6,), 1 / 6, device=device)):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = whisper.model(input_features=features, decoder_input_ids=inputs).logits
            losses[precision] = transcript_loss(logits, targets).item()
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--runs", type=Path, default=Path("/tmp/gpu-check"))
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--cpu-evaluate", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.cpu_evaluate:
        print(json.dumps(evaluate_all(args.model, args.runs, "cpu-rows.jsonl")))
        return
    gpu_name = torch.cuda.get_device_name() if torch.cuda.is_available() else "none: a dry run, CPU against CPU"
    report = {"device": gpu_name, "torch": torch.__version__, "model": args.model}
    manifest = write_manifest(args.runs)
    common = dict(
        model=args.model,
        corpus=str(manifest),
        fold=1,
        epochs=args.epochs,
        eval_every=10,
        encoder_seconds=WINDOW,
        learning_rate=1e-3,
    )
    for name, method in (("mas", "mas-lora"), ("lora", "lora")):
        began = time.perf_counter()
        summary = train(TrainConfig(out=args.runs / name, method=method, **common))
        history = [json.loads(line) for line in (args.runs / name / "history.jsonl").read_text().splitlines()]
        report[f"train {method}"] = {
            "steps": summary["steps"],
            "seconds": time.perf_counter() - began,
            "first loss": history[0]["loss"],
            "last loss": history[-1]["loss"],
            "best validation WER": summary["best_validation_wer"],
        }
        report[f"resume {method} (no step left)"] = (
            train(TrainConfig(out=args.runs / name, method=method, **common))["steps"] == summary["steps"]
        )
    split = paper_fold(load_corpus(manifest), 1)
    report["one-batch loss"] = one_batch_losses(args.model, args.runs, split)
    began = time.perf_counter()
    features = clip_features(args.model, WINDOW, split.train, args.runs / "features.pt")
    fit_classifier(features, split.train, args.runs / "classifier", 0)
    fit_router(
        args.model,
        WINDOW,
        args.runs / "mas" / "best",
        split.train,
        features,
        args.runs / "router",
        RouterConfig(steps=8),
    )
    report["classifier and router seconds"] = time.perf_counter() - began
    gpu = evaluate_all(args.model, args.runs, "gpu-rows.jsonl")
    child = [sys.executable, "-m", "train.check_gpu", "--cpu-evaluate", "--model", args.model, "--runs", str(args.runs)]
    cpu_run = subprocess.run(child, capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    if cpu_run.returncode != 0:
        raise SystemExit(f"the CPU evaluation failed:\n{cpu_run.stderr[-3000:]}")
    cpu = json.loads(cpu_run.stdout.strip().splitlines()[-1])
    same = sum(a == b for a, b in zip(gpu["hypotheses"], cpu["hypotheses"]))
    report["evaluate"] = {
        "rows": gpu["rows"],
        "gpu seconds": gpu["seconds"],
        "cpu seconds": cpu["seconds"],
        "identical transcripts, GPU vs CPU": f"{same}/{gpu['rows']}",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
