"""Benchmark: the costs MAS-LoRA adds, measured side by side in one run on the same 6 experts of tiny.en.

    python -m analysis.bench_experts [--threads 1] [--repeats 20]

P1  re-merge for new weights: ours, from the LoRA factors (one addmm per layer from the kept W0) and
    from kept per-expert deltas (one addmv per layer; merge(..., keep_deltas=True)), vs PEFT (delete
    the old mixture, add_weighted_adapter(combination_type="cat"), set_adapter) vs the floor (one copy
    of every touched weight);
P2  decoding 8 clips with merged experts / with the base model;
P3  one training step on a mixed-accent batch: MAS-LoRA (6 experts, one-hot routing) / regular LoRA.
The experts are random (B != 0), which costs exactly what trained ones cost.
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
import transformers
from peft import PeftModel

from maslora.data.audio import load_audio
from maslora.mixture.layer import AdapterPlacement, adapter_layers, inject_adapters, merge, routed, unmerge
from maslora.mixture.peft_io import RunsWith, save_experts
from maslora.whisper.load import load_whisper
from maslora.whisper.targets import decoder_labels
from maslora.whisper.transcribe import log_mel_features, transcribe

ACCENTS = ["arabic", "mandarin", "hindi", "korean", "spanish", "vietnamese"]
NATIVE = Path(__file__).resolve().parent.parent / "assets" / "native"


def _random_experts(whisper, placement: AdapterPlacement) -> None:
    inject_adapters(whisper.model, placement)
    generator = torch.Generator().manual_seed(0)
    for layer in adapter_layers(whisper.model).values():
        layer.lora_B.data = torch.randn(layer.lora_B.shape, generator=generator) * 0.01


def _mean_seconds(action, repeats: int) -> float:
    action()  # warm-up
    began = time.perf_counter()
    for _ in range(repeats):
        action()
    return (time.perf_counter() - began) / repeats


def remerge(repeats: int) -> None:
    whisper = load_whisper("tiny.en", device="cpu")
    _random_experts(whisper, AdapterPlacement(encoder_experts=len(ACCENTS), decoder_experts=0))
    weightings = torch.distributions.Dirichlet(torch.ones(len(ACCENTS))).sample((repeats + 1,))
    counter = iter(range(10**9))
    ours = _mean_seconds(lambda: merge(whisper.model, weightings[next(counter) % len(weightings)]), repeats)
    kept = _mean_seconds(
        lambda: merge(whisper.model, weightings[next(counter) % len(weightings)], keep_deltas=True), repeats
    )
    layers = list(adapter_layers(whisper.model).values())
    floor = _mean_seconds(lambda: [layer.base.weight.data.copy_(layer.original_weight) for layer in layers], repeats)
    unmerge(whisper.model)
    with tempfile.TemporaryDirectory() as folder:
        save_experts(whisper.model, ACCENTS, AdapterPlacement(decoder_experts=0), Path(folder), RunsWith("tiny.en"))
        peft = PeftModel.from_pretrained(
            load_whisper("tiny.en", device="cpu").model, Path(folder) / ACCENTS[0], adapter_name=ACCENTS[0]
        )
        for accent in ACCENTS[1:]:
            peft.load_adapter(Path(folder) / accent, adapter_name=accent)

        def peft_remerge() -> None:
            if "mixture" in peft.peft_config:
                peft.delete_adapter("mixture")  # PEFT keeps the old one otherwise
            weights = weightings[next(counter) % len(weightings)].tolist()
            peft.add_weighted_adapter(ACCENTS, weights, adapter_name="mixture", combination_type="cat")
            peft.set_adapter("mixture")

        theirs = _mean_seconds(peft_remerge, repeats)
    print(
        f"P1 re-merge, 6 experts: ours from factors {ours * 1e3:.2f} ms (PEFT/ours {theirs / ours:.1f}x), "
        f"ours from kept deltas {kept * 1e3:.2f} ms (PEFT/ours {theirs / kept:.1f}x), "
        f"PEFT cat {theirs * 1e3:.2f} ms, floor (copy touched weights) {floor * 1e3:.2f} ms"
    )


def decode_ratio() -> None:
    clips = [load_audio(path) for path in sorted(NATIVE.glob("*.flac"))[:8]]
    base = load_whisper("tiny.en", device="cpu")
    mixed = load_whisper("tiny.en", device="cpu")
    _random_experts(mixed, AdapterPlacement())
    merge(mixed.model, torch.full((len(ACCENTS),), 1 / len(ACCENTS)))
    times = {"base": 0.0, "mixed": 0.0}
    for _ in range(2):  # interleaved, so drift in machine load hits both alike
        for name, whisper in (("base", base), ("mixed", mixed)):
            began = time.perf_counter()
            transcribe(whisper, clips)
            times[name] += time.perf_counter() - began
    print(
        f"P2 decode 8 clips: merged MAS {times['mixed'] / 2:.2f} s, base {times['base'] / 2:.2f} s, "
        f"ratio {times['mixed'] / times['base']:.3f}"
    )


def training_step_ratio(repeats: int) -> None:
    clips = [load_audio(path) for path in sorted(NATIVE.glob("*.flac"))[:8]]
    texts = ["placeholder text for the step"] * len(clips)
    one_hot = torch.nn.functional.one_hot(torch.arange(len(clips)) % len(ACCENTS), len(ACCENTS)).float()
    results = {}
    for name, placement in (("mas", AdapterPlacement()), ("lora", AdapterPlacement(encoder_experts=1))):
        whisper = load_whisper("tiny.en", device="cpu")
        inject_adapters(whisper.model, placement)
        whisper.model.train()
        features = log_mel_features(whisper, clips)
        inputs, targets = decoder_labels(whisper, texts)

        def step() -> None:
            with routed(whisper.model, one_hot):
                logits = whisper.model(input_features=features, decoder_input_ids=inputs).logits
            torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100).backward()

        results[name] = _mean_seconds(step, repeats)
    print(
        f"P3 training step, batch 8: MAS-LoRA {results['mas']:.2f} s, regular LoRA {results['lora']:.2f} s, "
        f"ratio {results['mas'] / results['lora']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    print(f"tiny.en, {args.threads} thread(s)")
    remerge(args.repeats)
    decode_ratio()
    training_step_ratio(max(2, args.repeats // 10))


if __name__ == "__main__":
    main()
