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
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from maslora.data.audio import load_audio
from maslora.data.augment import augment
from maslora.data.corpora import L2_ARCTIC_SPEAKERS, first_prompts
from maslora.data.splits import paper_fold
from maslora.mixture.layer import AdapterPlacement, inject_adapters, merge, routed, unmerge
from maslora.mixture.peft_io import save_adapter, save_experts
from maslora.synth.generate import corpus_or_embedded
from maslora.training.checkpoint import (
    append_history,
    json_config,
    load_checkpoint,
    save_checkpoint,
    trainable_state,
    truncate_history,
)
from maslora.training.config import TrainConfig
from maslora.wer import error_counts
from maslora.whisper.encoder_window import windowed_whisper
from maslora.whisper.load import Whisper
from maslora.whisper.targets import decoder_labels, transcript_loss
from maslora.whisper.transcribe import log_mel_features, transcribe


def _accent_order(accents: set[str]) -> list[str]:
    """L2-ARCTIC's L1 order first (as the paper lists them), then any others alphabetically."""
    return [a for a in L2_ARCTIC_SPEAKERS if a in accents] + sorted(accents - set(L2_ARCTIC_SPEAKERS))


def _prepare_model(whisper: Whisper, config: TrainConfig, n_accents: int) -> AdapterPlacement | None:
    """Make what the method trains trainable: adapters injected (MAS-LoRA, LoRA), or every weight (full)."""
    if config.method == "full":
        for name, parameter in whisper.model.named_parameters():
            parameter.requires_grad_("embed_positions" not in name)  # positions stay sinusoidal/learned as released
        return None
    encoder_experts = n_accents if config.method == "mas-lora" else 1
    decoder_experts = {"shared": 1, "mas": encoder_experts, "none": 0}[config.decoder]
    placement = AdapterPlacement(
        config.targets, encoder_experts, decoder_experts, config.rank, config.alpha, config.dropout
    )
    inject_adapters(whisper.model, placement, seed=config.seed)
    return placement


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


def init_distributed() -> tuple[int, int]:
    """(rank, world size). Launched by torchrun (WORLD_SIZE > 1): join the process group, NCCL on GPUs and
    gloo on CPUs; the long timeout covers rank 0 validating while the others wait at the next step."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=timedelta(hours=2))
    return (dist.get_rank() if world > 1 else 0), world


@dataclass
class _Run:
    """What one training run holds while it trains: the model and its optimizer, the data, where it stands."""

    config: TrainConfig
    whisper: Whisper
    trainer: torch.nn.Module  # the model, or under torchrun its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    placement: AdapterPlacement | None  # None for full fine-tuning
    train_table: pd.DataFrame
    accents: list[str]  # expert order: row i of the one-hot routing is accents[i]
    validation: pd.DataFrame
    validation_audio: list[np.ndarray]  # read once; empty on every process but rank 0
    steps_per_epoch: int
    total_steps: int
    rank: int
    world: int
    device: str
    step: int = 0
    best_wer: float = math.inf


def _start(config: TrainConfig, rank: int, world: int) -> _Run:
    """Load the model and the fold, make what trains trainable, and build the optimizer and its schedule."""
    torch.manual_seed(config.seed)
    config.out.mkdir(parents=True, exist_ok=True)
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    whisper = windowed_whisper(config.model, config.encoder_seconds, device)
    table = corpus_or_embedded(config.corpus)
    if config.prompts:
        table = first_prompts(table, config.prompts)
    split = paper_fold(table, config.fold, config.unseen_accent)
    accents = _accent_order(set(split.train.accent))
    validation = split.validation.iloc[: config.validation_limit] if config.validation_limit else split.validation
    validation_audio = [load_audio(path) for path in validation.path] if rank == 0 else []
    placement = _prepare_model(whisper, config, len(accents))
    parameters = [p for p in whisper.model.parameters() if p.requires_grad]
    # Under torchrun, PyTorch's DistributedDataParallel exchanges gradients (bucketed all-reduce, overlapped
    # with the backward pass); buffers are not broadcast, as Whisper's never change.
    trainer = DistributedDataParallel(whisper.model, broadcast_buffers=False) if world > 1 else whisper.model
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate)
    steps_per_epoch = math.ceil(len(split.train) / config.batch_size)
    total_steps = max(1, round(config.epochs * steps_per_epoch))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total_steps))
    return _Run(
        config,
        whisper,
        trainer,
        optimizer,
        schedule,
        placement,
        split.train,
        accents,
        validation,
        validation_audio,
        steps_per_epoch,
        total_steps,
        rank,
        world,
        device,
    )


def _resume(run: _Run) -> None:
    """Continue from the checkpoint in `out`, if there is one: weights, optimizer, schedule, step, random states."""
    state = load_checkpoint(run.config, run.device)
    if state is None:
        return
    run.whisper.model.load_state_dict(state["trainable"], strict=False)
    run.optimizer.load_state_dict(state["optimizer"])
    run.schedule.load_state_dict(state["schedule"])
    run.step, run.best_wer = state["step"], state["best_wer"]
    torch.set_rng_state(state["torch_rng"].cpu())  # map_location moved it to the GPU; the CPU generator wants it back
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(
            state["cuda_rng"].cpu(), run.device
        )  # dropout on the GPU draws from the GPU's generator
    if run.rank == 0:
        truncate_history(run.config.out, run.step)  # steps after the checkpoint are redone


def _checkpoint(run: _Run) -> None:
    save_checkpoint(
        run.config.out,
        {
            "config": json_config(run.config),
            "trainable": trainable_state(run.whisper.model),
            "optimizer": run.optimizer.state_dict(),
            "schedule": run.schedule.state_dict(),
            "step": run.step,
            "best_wer": run.best_wer,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(run.device) if run.device.startswith("cuda") else None,
        },
    )


def _accumulate_gradients(run: _Run, rows: pd.DataFrame, batch_size: int, weight: float = 1.0) -> float:
    """Forward and backward this process's `rows` in micro-batches; returns their share of the batch's mean loss.

    `run.trainer` is the model, or under torchrun its DistributedDataParallel wrapper: DDP averages the
    processes' gradients in its last backward, so each loss is scaled by the world size to turn that mean
    into the sum of the shares, the gradient of the whole batch's mean loss. A process whose share of a
    short last batch is empty still runs one backward (of a borrowed row, `weight` 0): DDP needs every
    process in every gradient exchange."""
    config, whisper, trainer = run.config, run.whisper, run.trainer
    device = whisper.model.device
    share = 0.0
    starts = list(range(0, len(rows), config.micro_batch_size))
    for start in starts:
        micro = rows.iloc[start : start + config.micro_batch_size]
        audios = [load_audio(path) for path in micro.path]
        if config.augment is not None:  # seeded by (seed, step, sample): the same after a resume
            audios = [
                augment(a, config.augment, np.random.default_rng([config.seed, run.step, int(i)]))
                for i, a in zip(micro.index, audios)
            ]
        features = log_mel_features(whisper, audios).to(device)
        inputs, targets = (t.to(device) for t in decoder_labels(whisper, list(micro.text)))
        routing = torch.tensor([run.accents.index(a) for a in micro.accent])
        one_hot = torch.nn.functional.one_hot(routing, len(run.accents)).float().to(device)
        synced = start == starts[-1] or not isinstance(trainer, DistributedDataParallel)
        with contextlib.nullcontext() if synced else trainer.no_sync(), routed(whisper.model, one_hot):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logits = trainer(input_features=features, decoder_input_ids=inputs).logits
            loss = transcript_loss(logits, targets)
            (loss * weight * run.world * len(micro) / batch_size).backward()
        share += weight * loss.item() * len(micro) / batch_size
    return share


def _train_step(run: _Run) -> float:
    """One optimizer step on the next batch (this process's share of it); returns the whole batch's mean loss."""
    epoch, index_in_epoch = divmod(run.step, run.steps_per_epoch)
    batch = _batches(len(run.train_table), run.config, epoch)[index_in_epoch]
    run.optimizer.zero_grad(set_to_none=True)
    share = batch[run.rank :: run.world]
    mine = run.train_table.iloc[share or batch[:1]]  # an empty share borrows a row and weighs it 0
    loss = _accumulate_gradients(run, mine, len(batch), 1.0 if share else 0.0)
    if run.world > 1:
        loss_total = torch.tensor([loss])
        dist.all_reduce(loss_total)
        loss = loss_total.item()
    run.optimizer.step()
    run.schedule.step()
    run.step += 1
    return loss


def _evaluate(run: _Run) -> float:
    """Validation WER now; a new best is saved to out/best, and every evaluation writes a checkpoint."""
    wer = _validation_wer(run.whisper, run.validation, run.validation_audio, len(run.accents))
    if wer < run.best_wer:
        run.best_wer = wer
        _save_best(run.whisper, run.config, run.placement, run.accents)
    _checkpoint(run)
    return wer


def train(config: TrainConfig) -> dict:
    """Train as `config` says, resuming from `config.out/checkpoint.pt` if present; returns the summary.

    Under torchrun every process takes its slice of each batch and DistributedDataParallel combines the
    gradients before each optimizer step, so N processes compute the same update as one process would.
    Only rank 0 validates, saves and writes the history.
    """
    rank, world = init_distributed()
    run = _start(config, rank, world)
    began = time.perf_counter()
    _resume(run)
    if rank == 0:
        (config.out / "config.json").write_text(json.dumps(json_config(config), indent=2))
    run.whisper.model.train()
    progress = tqdm(
        total=run.total_steps, initial=run.step, desc=f"training {config.method}", unit="step", disable=rank != 0
    )
    while run.step < run.total_steps:
        epoch = run.step // run.steps_per_epoch
        loss = _train_step(run)
        progress.update(1)
        if rank != 0:
            continue
        record = {"step": run.step, "epoch": epoch, "loss": loss, "seconds": time.perf_counter() - began}
        if run.step % config.eval_every == 0 or run.step == run.total_steps:
            record["validation_wer"] = _evaluate(run)
            progress.set_postfix(loss=f"{loss:.3f}", wer=f"{record['validation_wer']:.1%}")
        append_history(config.out, record)
    progress.close()
    if world > 1:
        dist.barrier()  # nobody leaves before rank 0 has written the last checkpoint
        dist.destroy_process_group()
    return {"method": config.method, "steps": run.step, "best_validation_wer": run.best_wer, "accents": run.accents}
