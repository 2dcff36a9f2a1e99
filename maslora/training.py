"""Training MAS-LoRA, a regular LoRA, or full fine-tuning, from one config; resumable; best checkpoint by WER.

MAS-LoRA: every sample goes through only its own accent's expert (one-hot routing in a mixed-accent
batch, one batched product, no loop over samples) plus the shared decoder LoRA. A regular LoRA pools
all accents into one adapter with the same placement; full fine-tuning trains every weight.

Written to `out/`: `best/` (experts folder, PEFT adapter or HF model, whichever the method makes),
`history.jsonl` (loss and validation WER over steps), `checkpoint.pt` (everything needed to resume
after a kill, written atomically), `config.json`.
"""

import contextlib
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from maslora.atomic import replace_file
from maslora.audio import load_audio
from maslora.augment import AugmentConfig, augment
from maslora.corpora import L2_ARCTIC_SPEAKERS, first_prompts
from maslora.encoder_window import FULL_WINDOW_SECONDS, windowed_whisper
from maslora.experts import AdapterPlacement, inject_adapters, merge, routed, unmerge
from maslora.peft_io import save_adapter, save_experts
from maslora.splits import paper_fold
from maslora.synth.generate import corpus_or_embedded
from maslora.transcribe import log_mel_features, transcribe
from maslora.wer import error_counts
from maslora.whisper_io import DEFAULT_MODEL, Whisper

METHODS = ("mas-lora", "lora", "full")
DECODER_CHOICES = ("shared", "mas", "none")


@dataclass
class TrainConfig:
    out: Path
    method: str = "mas-lora"  # "mas-lora", "lora" (all accents pooled into one adapter) or "full" fine-tuning
    model: str = DEFAULT_MODEL
    corpus: str | None = None  # an L2-ARCTIC-style folder or manifest; None = the embedded synthetic corpus
    fold: int = 1  # which of the paper's 8 speaker/prompt-disjoint folds
    unseen_accent: str | None = None  # leave this accent out of training (the unseen-accent experiment)
    prompts: int | None = None  # keep only the first N prompts (small CPU runs); None = all
    targets: str = "qv"  # the paper's default projections
    decoder: str = "shared"  # the paper: one LoRA shared by all accents; "mas" = experts there too; "none"
    rank: int = 16  # the paper's r
    alpha: float = 16.0  # the paper's alpha
    dropout: float = 0.05  # the paper's LoRA dropout
    learning_rate: float = 5e-5  # the paper's, with AdamW and linear decay to 0
    batch_size: int = 16  # the paper's effective batch
    micro_batch_size: int = 8  # per forward pass; gradients accumulate up to batch_size
    epochs: float = 2.0
    eval_every: int = 50  # steps between validation WER measurements (and at the end)
    validation_limit: int | None = None  # score at most this many validation utterances (None: all)
    encoder_seconds: int = FULL_WINDOW_SECONDS  # < 30 crops the encoder window (see encoder_window)
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)  # None: train on clean audio
    seed: int = 0


def _accent_order(accents: set[str]) -> list[str]:
    """L2-ARCTIC's L1 order first (as the paper lists them), then any others alphabetically."""
    return [a for a in L2_ARCTIC_SPEAKERS if a in accents] + sorted(accents - set(L2_ARCTIC_SPEAKERS))


def _prepare_model(whisper: Whisper, config: TrainConfig, n_accents: int) -> AdapterPlacement | None:
    if config.method not in METHODS or config.decoder not in DECODER_CHOICES:
        raise ValueError(f"method must be one of {METHODS} and decoder one of {DECODER_CHOICES}")
    if config.method == "full":
        for name, parameter in whisper.model.named_parameters():
            parameter.requires_grad_("embed_positions" not in name)  # positions stay sinusoidal/learned as released
        return None
    encoder_experts = n_accents if config.method == "mas-lora" else 1
    decoder_experts = {"shared": 1, "mas": encoder_experts, "none": 0}[config.decoder]
    placement = AdapterPlacement(config.targets, encoder_experts, decoder_experts, config.rank, config.alpha, config.dropout)
    inject_adapters(whisper.model, placement, seed=config.seed)
    return placement


def decoder_labels(whisper: Whisper, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(decoder inputs, targets): prompt + text + <|endoftext|>, shifted; prompt targets and padding are -100."""
    prompt_length = len(whisper.prompt_ids())
    sequences = [whisper.tokenizer(text).input_ids for text in texts]
    length = max(len(s) for s in sequences) - 1
    inputs = torch.full((len(texts), length), whisper.end_of_text_id)
    targets = torch.full((len(texts), length), -100)
    for row, sequence in enumerate(sequences):
        inputs[row, : len(sequence) - 1] = torch.tensor(sequence[:-1])
        targets[row, prompt_length - 1 : len(sequence) - 1] = torch.tensor(sequence[prompt_length:])
    return inputs, targets


def transcript_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the transcript's tokens (in float32, also under autocast); targets of -100
    (the prompt and the padding, see decoder_labels) do not count."""
    return torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=-100)


def _batches(n_items: int, config: TrainConfig, epoch: int) -> list[list[int]]:
    order = list(range(n_items))
    random.Random(f"{config.seed}/epoch {epoch}").shuffle(order)  # the same order after a resume
    return [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]


def _validation_wer(whisper: Whisper, table: pd.DataFrame, audios: list[np.ndarray], n_accents: int) -> float:
    """WER with the accent unknown (uniform expert weights, merged; single adapters merge in full)."""
    whisper.model.eval()
    merge(whisper.model, torch.full((n_accents,), 1.0 / n_accents))
    hypotheses = transcribe(whisper, audios)
    unmerge(whisper.model)
    whisper.model.train()
    return error_counts(list(table.text), hypotheses).wer


def _save_best(whisper: Whisper, config: TrainConfig, placement: AdapterPlacement | None, accents: list[str]) -> None:
    best = config.out / "best"
    if config.method == "mas-lora":
        save_experts(whisper.model, accents, placement, best, config.model)
    elif config.method == "lora":
        save_adapter(whisper.model, placement, best, config.model)
    else:
        whisper.model.save_pretrained(best)
        whisper.tokenizer.save_pretrained(best)
        whisper.feature_extractor.save_pretrained(best)


def _trainable_state(whisper: Whisper) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in whisper.model.named_parameters() if p.requires_grad}


def init_distributed() -> tuple[int, int]:
    """(rank, world size). Launched by torchrun (WORLD_SIZE > 1): join the process group, NCCL on GPUs and
    gloo on CPUs; the long timeout covers rank 0 validating while the others wait at the next step."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=timedelta(hours=2))
    return (dist.get_rank() if world > 1 else 0), world


def _accumulate_gradients(
    whisper: Whisper, trainer: torch.nn.Module, rows: pd.DataFrame, config: TrainConfig, step: int, accent_index: dict[str, int],
    batch_size: int, world: int, weight: float = 1.0,
) -> float:
    """Forward and backward this process's `rows` in micro-batches; returns their share of the batch's mean loss.

    `trainer` is the model, or under torchrun its DistributedDataParallel wrapper: DDP averages the
    processes' gradients in its last backward, so each loss is scaled by `world` to turn that mean into
    the sum of the shares, the gradient of the whole batch's mean loss. A process whose share of a short
    last batch is empty still runs one backward (of a borrowed row, `weight` 0): DDP needs every process
    in every gradient exchange."""
    device = whisper.model.device
    share = 0.0
    starts = list(range(0, len(rows), config.micro_batch_size))
    for start in starts:
        micro = rows.iloc[start : start + config.micro_batch_size]
        audios = [load_audio(path) for path in micro.path]
        if config.augment is not None:  # seeded by (seed, step, sample): the same after a resume
            audios = [augment(a, config.augment, np.random.default_rng([config.seed, step, int(i)])) for i, a in zip(micro.index, audios)]
        features = log_mel_features(whisper, audios).to(device)
        inputs, targets = (t.to(device) for t in decoder_labels(whisper, list(micro.text)))
        routing = torch.tensor([accent_index[a] for a in micro.accent])
        one_hot = torch.nn.functional.one_hot(routing, len(accent_index)).float().to(device)
        synced = start == starts[-1] or not isinstance(trainer, DistributedDataParallel)
        with (contextlib.nullcontext() if synced else trainer.no_sync()), routed(whisper.model, one_hot):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logits = trainer(input_features=features, decoder_input_ids=inputs).logits
            loss = transcript_loss(logits, targets)
            (loss * weight * world * len(micro) / batch_size).backward()
        share += weight * loss.item() * len(micro) / batch_size
    return share


def train(config: TrainConfig) -> dict:
    """Train as `config` says, resuming from `config.out/checkpoint.pt` if present; returns the summary.

    Under torchrun every process takes its slice of each batch and DistributedDataParallel combines the
    gradients before each optimizer step, so N processes compute the same update as one process would.
    """
    rank, world = init_distributed()
    torch.manual_seed(config.seed)
    config.out.mkdir(parents=True, exist_ok=True)
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    whisper = windowed_whisper(config.model, config.encoder_seconds, device)
    table = corpus_or_embedded(config.corpus)
    if config.prompts:
        table = first_prompts(table, config.prompts)
    split = paper_fold(table, config.fold, config.unseen_accent)
    accents = _accent_order(set(split.train.accent))
    accent_index = {accent: index for index, accent in enumerate(accents)}
    validation = split.validation.iloc[: config.validation_limit] if config.validation_limit else split.validation
    validation_audio = [load_audio(path) for path in validation.path] if rank == 0 else []  # read once
    placement = _prepare_model(whisper, config, len(accents))
    parameters = [p for p in whisper.model.parameters() if p.requires_grad]
    # Under torchrun, PyTorch's DistributedDataParallel exchanges gradients (bucketed all-reduce, overlapped
    # with the backward pass); buffers are not broadcast, as Whisper's never change.
    trainer = DistributedDataParallel(whisper.model, broadcast_buffers=False) if world > 1 else whisper.model
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate)
    steps_per_epoch = math.ceil(len(split.train) / config.batch_size)
    total_steps = max(1, round(config.epochs * steps_per_epoch))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total_steps))
    checkpoint_path = config.out / "checkpoint.pt"
    step, best_wer, began = 0, math.inf, time.perf_counter()
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, weights_only=False, map_location=device)
        if state["config"] != _json_config(config):
            raise ValueError(f"{checkpoint_path} was written by another configuration; use a new --out or delete it")
        whisper.model.load_state_dict(state["trainable"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, best_wer = state["step"], state["best_wer"]
        torch.set_rng_state(state["torch_rng"].cpu())  # map_location moved it to the GPU; the CPU generator wants it back
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)  # dropout on the GPU draws from the GPU's generator
        if rank == 0:
            _truncate_history(config.out / "history.jsonl", step)  # steps after the checkpoint are redone
    if rank == 0:
        (config.out / "config.json").write_text(json.dumps(_json_config(config), indent=2))
    whisper.model.train()
    progress = tqdm(total=total_steps, initial=step, desc=f"training {config.method}", unit="step", disable=rank != 0)
    while step < total_steps:
        epoch, index_in_epoch = divmod(step, steps_per_epoch)
        batch = _batches(len(split.train), config, epoch)[index_in_epoch]
        optimizer.zero_grad(set_to_none=True)
        share = batch[rank::world]
        mine = split.train.iloc[share or batch[:1]]  # an empty share borrows a row and weighs it 0
        loss = _accumulate_gradients(whisper, trainer, mine, config, step, accent_index, len(batch), world, 1.0 if share else 0.0)
        if world > 1:
            loss_total = torch.tensor([loss])
            dist.all_reduce(loss_total)
            loss = loss_total.item()
        optimizer.step()
        schedule.step()
        step += 1
        progress.update(1)
        if rank != 0:
            continue
        record = {"step": step, "epoch": epoch, "loss": loss, "seconds": time.perf_counter() - began}
        if step % config.eval_every == 0 or step == total_steps:
            record["validation_wer"] = _validation_wer(whisper, validation, validation_audio, len(accents))
            if record["validation_wer"] < best_wer:
                best_wer = record["validation_wer"]
                _save_best(whisper, config, placement, accents)
            progress.set_postfix(loss=f"{loss:.3f}", wer=f"{record['validation_wer']:.1%}")
            state = {
                "config": _json_config(config), "trainable": _trainable_state(whisper), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "step": step, "best_wer": best_wer, "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.startswith("cuda") else None,
            }
            replace_file(checkpoint_path, lambda path: torch.save(state, path))
        with open(config.out / "history.jsonl", "a", encoding="utf-8") as history:
            history.write(json.dumps(record) + "\n")
    progress.close()
    if world > 1:
        dist.barrier()  # nobody leaves before rank 0 has written the last checkpoint
        dist.destroy_process_group()
    return {"method": config.method, "steps": step, "best_validation_wer": best_wer, "accents": accents}


def _truncate_history(path: Path, last_step: int) -> None:
    if path.is_file():
        kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= last_step]
        path.write_text("".join(f"{line}\n" for line in kept))


def _json_config(config: TrainConfig) -> dict:
    return json.loads(json.dumps(asdict(config), default=str))


