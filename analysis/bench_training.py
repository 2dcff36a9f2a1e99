"""Benchmark: training throughput of each speed option, alone and together, side by side in one run.

    python -m analysis.bench_training [--method mas-lora] [--steps 6] [--prompts 100] [--variants baseline,fit,...]

Every variant trains the same recipe (cpu-tiny, tiny.en, batches of 16 on the embedded corpus's first
100 prompts, which synthesize in about a minute) from the same seed for `--steps` timed steps after one
untimed warm-up step (compilation, worker start-up), with the real training loop
(maslora.training.loop.train), and prints clips per second, the ratio to the baseline, and the mean
loss of the timed steps (same seed, so the losses show whether a variant changes what is computed).
Timings on a shared machine are noisy: read the ratios printed in one run.

    baseline     the recipe before the speed work: 10 s window, micro-batches of 8, one process
    fit          each batch padded only to its longest clip + 1 s (maslora.whisper.encoder_window)
    group        fit, and batches of similar-length clips (less padding still)
    micro16      one forward pass of 16 instead of two of 8
    prefetch     the next step's clips read and augmented by a worker process during this step
    1-thread     torch on one thread instead of every core: how much the second core adds
    2-processes  two processes of one thread each under torchrun, each half of every batch
    bf16         autocast to bfloat16 (skipped unless this CPU has bf16 units, or named in --variants)
    compile      torch.compile (its compile time shows in the warm-up column)
    all          the cpu-tiny recipe as it stands (maslora/training/recipes.py) in 2 processes (+ bf16
                 where the CPU has it): how `python -m train.experiments` trains (see docs/method.md)
    base         the cpu-base recipe as it stands, the same way: Whisper base's step beside tiny.en's (`all`),
                 which plans base's sittings (`python -m train.real_speech --size base`)
"""

import argparse
import json
import tempfile
from pathlib import Path

import torch

from maslora.training.checkpoint import HISTORY_FILE
from maslora.training.recipes import RECIPES, recipe_config
from train.train import train_in_processes

BEFORE = {"fit_window": False, "group_by_length": False, "micro_batch_size": 8, "prefetch": False, "bf16": False}
VARIANTS = {
    "baseline": {},
    "fit": {"fit_window": True},
    "group": {"fit_window": True, "group_by_length": True},
    "micro16": {"micro_batch_size": 16},
    "prefetch": {"prefetch": True},
    "1-thread": {},
    "2-processes": {},
    "bf16": {"bf16": True},
    "compile": {"compile": True},
    "all": {},  # the recipe's own settings (BEFORE is not applied)
    "base": {},  # the cpu-base recipe's own settings
}
PROCESSES = {"2-processes": 2, "all": 2, "base": 2}  # the others run in this process
AS_THEY_STAND = {"all": "cpu-tiny", "base": "cpu-base"}  # variants that time a recipe as it is


def has_bf16_units() -> bool:
    """Whether oneDNN runs bfloat16 natively here (AVX512-BF16 or AMX); elsewhere it is emulated, slowly."""
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()


def time_variant(name: str, method: str, steps: int, prompts: int, folder: Path) -> dict:
    settings = {} if name in AS_THEY_STAND else {**BEFORE, **VARIANTS[name]}
    if name in AS_THEY_STAND and has_bf16_units():
        settings["bf16"] = True
    config = recipe_config(
        AS_THEY_STAND.get(name, "cpu-tiny"),
        method,
        folder / name,
        prompts=prompts,
        max_steps=steps + 1,
        eval_every=10**6,
        validation_limit=1,
        **settings,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1 if name == "1-thread" else threads)
    try:
        train_in_processes(config, PROCESSES.get(name, 1))
    finally:
        torch.set_num_threads(threads)
    history = [json.loads(line) for line in (folder / name / HISTORY_FILE).read_text().splitlines()]
    warm_up, timed = history[0]["seconds"], history[-1]["seconds"] - history[0]["seconds"]
    losses = [record["loss"] for record in history[1:]]
    return {
        "variant": name,
        "warm-up s": warm_up,
        "s/step": timed / steps,
        "clips/s": steps * config.batch_size / timed,
        "mean loss": sum(losses) / len(losses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="mas-lora", choices=["mas-lora", "lora"])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per variant (after one warm-up step)")
    parser.add_argument("--prompts", type=int, default=100, help="the embedded corpus's first N prompts")
    parser.add_argument("--variants", help=f"comma-separated, from {', '.join(VARIANTS)}; default: all of them")
    args = parser.parse_args()
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    if not args.variants and not has_bf16_units():
        names.remove("bf16")
        print("bf16 skipped: this CPU has no bf16 units, so oneDNN emulates it (name it in --variants to time it)")
    if "baseline" not in names:
        names.insert(0, "baseline")
    print(
        f"{args.method}, recipe cpu-tiny ({RECIPES['cpu-tiny']['encoder_seconds']} s window), batch 16, "
        f"{args.steps} timed steps per variant, {torch.get_num_threads()} threads"
    )
    with tempfile.TemporaryDirectory() as scratch:
        results = []
        for name in names:
            results.append(time_variant(name, args.method, args.steps, args.prompts, Path(scratch)))
            print(f"  {name}: {results[-1]['clips/s']:.2f} clips/s", flush=True)
    baseline = next(r for r in results if r["variant"] == "baseline")
    print(f"\n{'variant':<12} {'warm-up s':>9} {'s/step':>7} {'clips/s':>8} {'x baseline':>10} {'mean loss':>9}")
    for r in results:
        ratio = r["clips/s"] / baseline["clips/s"]
        print(
            f"{r['variant']:<12} {r['warm-up s']:>9.1f} {r['s/step']:>7.2f} {r['clips/s']:>8.2f} {ratio:>10.2f}"
            f" {r['mean loss']:>9.4f}"
        )
    timed = {r["variant"]: r for r in results}
    if {"all", "base"} <= set(timed):
        ratio = timed["base"]["s/step"] / timed["all"]["s/step"]
        print(f"\nbase / tiny.en, each recipe as it stands: {ratio:.2f}x a step")


if __name__ == "__main__":
    main()
