"""Training MAS-LoRA, a regular LoRA, or full fine-tuning, from one config; resumable; best checkpoint by WER.

MAS-LoRA: every sample goes through only its own accent's expert (expert indices routed in a
mixed-accent batch, one gathered batched product, no loop over samples) plus the shared decoder LoRA.
A regular LoRA pools all accents into one adapter with the same placement; full fine-tuning trains
every weight.

Written to `out/`: `best/` (experts folder, PEFT adapter or HF model, whichever the method makes),
`history.jsonl` (loss and validation WER over steps), `checkpoint.pt` (everything needed to resume
after a kill, written atomically), `config.json`.
"""

import contextlib
import json
import math
import multiprocessing
import os
import random
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from maslora.data.audio import audio_seconds, load_audio
from maslora.data.augment import training_audio
from maslora.data.corpora import L2_ARCTIC_SPEAKERS
from maslora.mixture.layer import AdapterPlacement, inject_adapters, merge, routed, unmerge
from maslora.mixture.peft_io import RunsWith, save_adapter, save_experts
from maslora.training.checkpoint import (
    append_history,
    json_config,
    load_checkpoint,
    save_checkpoint,
    trainable_state,
    truncate_history,
)
from maslora.training.config import TrainConfig, split_of_run
from maslora.wer import error_counts
from maslora.whisper.encoder_window import fitted_features, windowed_whisper
from maslora.whisper.load import Whisper, load_whisper
from maslora.whisper.targets import decoder_labels, transcript_loss
from maslora.whisper.transcribe import GREEDY, log_mel_features, transcribe


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
    # a shared decoder is one single-expert LoRA; in the shared design it is the shared part alone
    shared_decoder = 0 if config.shared_rank else 1
    decoder_experts = {"shared": shared_decoder, "mas": encoder_experts, "none": 0}[config.decoder]
    placement = AdapterPlacement(
        config.targets,
        encoder_experts,
        decoder_experts,
        config.rank,
        config.alpha,
        config.dropout,
        config.shared_rank,
    )
    inject_adapters(whisper.model, placement, seed=config.seed)
    return placement


def trainable_parameters(config: TrainConfig, n_accents: int) -> int:
    """How many weights a run of `config` trains (its adapters; for full fine-tuning, all of Whisper but the
    positions), counted on the model as training prepares it."""
    whisper = load_whisper(config.model, device="cpu")
    _prepare_model(whisper, config, n_accents)
    return sum(parameter.numel() for parameter in whisper.model.parameters() if parameter.requires_grad)


LENGTH_GROUP_BATCHES = 8  # clips are sorted by length within random draws of 8 batches: on the embedded
# corpus a fitted batch then pays for 4.2 s instead of 5.4 s, and each batch still comes from 128 random clips


def _batches(seconds: list[float], config: TrainConfig, epoch: int) -> list[list[int]]:
    """An epoch's batches of row indices, shuffled by (seed, epoch), so the same after a resume; with
    group_by_length, clips of similar length share a batch (less padding in a fitted window)."""
    order = list(range(len(seconds)))
    shuffler = random.Random(f"{config.seed}/epoch {epoch}")
    shuffler.shuffle(order)
    if config.group_by_length:
        draw = config.batch_size * LENGTH_GROUP_BATCHES
        order = [
            i
            for start in range(0, len(order), draw)
            for i in sorted(order[start : start + draw], key=seconds.__getitem__)
        ]
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    if config.group_by_length:
        shuffler.shuffle(batches)  # short and long batches interleave instead of rising within each draw
    return batches


@dataclass(kw_only=True)
class _State:
    """Where a training run stands: what each step and evaluation changes, and what a checkpoint keeps."""

    step: int = 0
    best_wer: float = math.inf
    best_step: int = 0
    stale_evaluations: int = 0  # evaluations since the best one (early stopping counts these)
    seconds: float = 0.0  # training time before this process: a resumed run's history goes on counting
    next_audio: tuple[int, Future] | None = None  # (step, its clips being prepared by `workers`)
    epoch_batches: tuple[int, list[list[int]]] | None = None  # (epoch, its batches): built once an epoch


@dataclass(frozen=True, kw_only=True)
class _Run:
    """What one training run holds while it trains: the model and its optimizer, the data, and its state."""

    config: TrainConfig
    whisper: Whisper
    trainer: torch.nn.Module  # the model, or under torchrun its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    placement: AdapterPlacement | None  # None for full fine-tuning
    train_table: pd.DataFrame
    accents: list[str]  # expert order: expert index i is accents[i]
    validation: pd.DataFrame
    validation_audio: list[np.ndarray]  # read once: this process's share of the clips (see _share)
    paper_validation: pd.DataFrame  # training speakers' validation prompts, as many clips (empty if the same)
    paper_validation_audio: list[np.ndarray]  # this process's share
    train_seconds: list[float]  # each training clip's duration, for length grouping (zeros without it)
    workers: ProcessPoolExecutor | None  # prepares the next step's clips while this one trains (prefetch)
    steps_per_epoch: int
    total_steps: int
    rank: int
    world: int
    device: str
    state: _State = field(default_factory=_State)


def _share(table: pd.DataFrame, rank: int, world: int) -> pd.DataFrame:
    """The validation rows process `rank` of `world` decodes: every world-th, from its rank."""
    return table.iloc[rank::world]


def _transcribe_validation(run: _Run, audios: list[np.ndarray], table: pd.DataFrame, matched: bool) -> list[str]:
    """Transcripts of the model as it stands: each clip through its own accent's expert alone (`matched`,
    MAS-LoRA only), or with the accent unknown (uniform expert weights, merged; single adapters in full).
    Greedy, as the test rows are decoded (maslora.whisper.transcribe.GREEDY), so validation predicts them."""
    model = run.whisper.model
    if not audios:  # a process with no share of a tiny validation part still joins the gather
        return []
    if matched:
        experts = torch.tensor([run.accents.index(accent) for accent in table.accent], device=model.device)
        return transcribe(run.whisper, audios, GREEDY, lambda clips: routed(model, experts[clips]))
    merge(model, torch.full((len(run.accents),), 1.0 / len(run.accents)))
    try:
        return transcribe(run.whisper, audios, GREEDY)
    finally:
        unmerge(model)


def _gathered(run: _Run, mine: list[str], total: int) -> list[str]:
    """Every process's transcripts of its share, back in the order of the whole validation table."""
    if run.world == 1:
        return mine
    shares: list[list[str]] = [[] for _ in range(run.world)]
    dist.all_gather_object(shares, mine)
    ordered = [""] * total
    for rank, texts in enumerate(shares):
        ordered[rank :: run.world] = texts
    return ordered


def _validation_wers(run: _Run) -> dict[str, float]:
    """validation_wer (held-out speakers, accent unknown: what picks the checkpoint), and for MAS-LoRA
    validation_matched_wer (each clip through its own expert); paper_validation_wer when the validation
    speakers are held out: the training speakers' validation prompts, through their matched experts as
    the paper validates. Every process decodes its share of the clips (a second core halves the wait)."""
    mas = run.config.method == "mas-lora"
    run.whisper.model.eval()
    wers = {}
    parts = [("validation_wer", run.validation, run.validation_audio, False)]
    if mas:
        parts.append(("validation_matched_wer", run.validation, run.validation_audio, True))
    if len(run.paper_validation):
        parts.append(("paper_validation_wer", run.paper_validation, run.paper_validation_audio, mas))
    for name, table, audios, matched in parts:
        mine = _transcribe_validation(run, audios, _share(table, run.rank, run.world), matched)
        wers[name] = error_counts(list(table.text), _gathered(run, mine, len(table))).wer
    run.whisper.model.train()
    return wers


def _save_best(whisper: Whisper, config: TrainConfig, placement: AdapterPlacement | None, accents: list[str]) -> None:
    best = config.out / "best"
    settings = RunsWith(config.model, config.encoder_seconds)
    if config.method == "mas-lora":
        save_experts(whisper.model, accents, placement, best, settings)
    elif config.method == "lora":
        save_adapter(whisper.model, placement, best, settings)
    else:
        whisper.model.save_pretrained(best)
        whisper.tokenizer.save_pretrained(best)
        whisper.feature_extractor.save_pretrained(best)


def init_distributed() -> tuple[int, int]:
    """(rank, world size). Launched by torchrun (WORLD_SIZE > 1): join the process group, NCCL on GPUs and
    gloo on CPUs; the long timeout covers rank 0 saving a checkpoint while the others wait at the next step."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=timedelta(hours=2))
    return (dist.get_rank() if world > 1 else 0), world


def _start(config: TrainConfig, rank: int, world: int) -> _Run:
    """Load the model and the fold, make what trains trainable, and build the optimizer and its schedule."""
    torch.manual_seed(config.seed)
    config.out.mkdir(parents=True, exist_ok=True)
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    whisper = windowed_whisper(config.model, config.encoder_seconds, device, config.fit_window)
    split = split_of_run(json_config(config))  # the heads trained on a run later read the same split
    accents = _accent_order(set(split.train.accent))
    validation = split.validation.iloc[: config.validation_limit] if config.validation_limit else split.validation
    # The paper's reading, reported beside ours at the same cost: as many clips, drawn at random once.
    paper_validation = (
        split.paper_validation.sample(n=min(len(validation), len(split.paper_validation)), random_state=0)
        if config.validation == "speakers"
        else split.paper_validation.iloc[:0]
    )
    validation_audio = [load_audio(path) for path in _share(validation, rank, world).path]
    paper_validation_audio = [load_audio(path) for path in _share(paper_validation, rank, world).path]
    train_seconds = [audio_seconds(p) for p in split.train.path] if config.group_by_length else [0.0] * len(split.train)
    # spawn, not fork: a forked copy of a process running torch's thread pools can deadlock
    workers = ProcessPoolExecutor(1, multiprocessing.get_context("spawn")) if config.prefetch else None
    placement = _prepare_model(whisper, config, len(accents))
    parameters = [p for p in whisper.model.parameters() if p.requires_grad]
    # Under torchrun, PyTorch's DistributedDataParallel exchanges gradients (bucketed all-reduce, overlapped
    # with the backward pass); buffers are not synced before each forward, as Whisper's never change.
    trainer = DistributedDataParallel(whisper.model, forward_sync_buffers=False) if world > 1 else whisper.model
    if config.compile:
        trainer = torch.compile(trainer)
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate)
    steps_per_epoch = math.ceil(len(split.train) / config.batch_size)
    total_steps = min(max(1, round(config.epochs * steps_per_epoch)), config.max_steps or math.inf)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total_steps))
    return _Run(
        config=config,
        whisper=whisper,
        trainer=trainer,
        optimizer=optimizer,
        schedule=schedule,
        placement=placement,
        train_table=split.train,
        accents=accents,
        validation=validation,
        validation_audio=validation_audio,
        paper_validation=paper_validation,
        paper_validation_audio=paper_validation_audio,
        train_seconds=train_seconds,
        workers=workers,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        rank=rank,
        world=world,
        device=device,
    )


def _resume(run: _Run) -> None:
    """Continue from the checkpoint in `out`, if there is one: weights, optimizer, schedule, step, random states."""
    state = load_checkpoint(run.config, run.device)
    if state is None:
        return
    run.whisper.model.load_state_dict(state["trainable"], strict=False)
    run.optimizer.load_state_dict(state["optimizer"])
    run.schedule.load_state_dict(state["schedule"])
    run.state.step, run.state.best_wer = state["step"], state["best_wer"]
    run.state.best_step, run.state.stale_evaluations = state["best_step"], state["stale_evaluations"]
    torch.set_rng_state(state["torch_rng"].cpu())  # map_location moved it to the GPU; the CPU generator wants it back
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(
            state["cuda_rng"].cpu(), run.device
        )  # dropout on the GPU draws from the GPU's generator
    if run.rank == 0:
        run.state.seconds = truncate_history(run.config.out, run.state.step)  # steps after the checkpoint are redone


def _checkpoint(run: _Run) -> None:
    save_checkpoint(
        run.config.out,
        {
            "config": json_config(run.config),
            "trainable": trainable_state(run.whisper.model),
            "optimizer": run.optimizer.state_dict(),
            "schedule": run.schedule.state_dict(),
            "step": run.state.step,
            "best_wer": run.state.best_wer,
            "best_step": run.state.best_step,
            "stale_evaluations": run.state.stale_evaluations,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(run.device) if run.device.startswith("cuda") else None,
        },
    )


def _step_rows(run: _Run, step: int) -> tuple[pd.DataFrame, int, bool]:
    """(this process's rows of step `step`'s batch, the batch's size, whether the share is its own): a
    process whose share of a short last batch is empty borrows a row (see _accumulate_gradients)."""
    epoch, index_in_epoch = divmod(step, run.steps_per_epoch)
    if run.state.epoch_batches is None or run.state.epoch_batches[0] != epoch:
        run.state.epoch_batches = (epoch, _batches(run.train_seconds, run.config, epoch))
    batch = run.state.epoch_batches[1][index_in_epoch]
    share = batch[run.rank :: run.world]
    return run.train_table.iloc[share or batch[:1]], len(batch), bool(share)


def _step_audio_job(run: _Run, step: int) -> tuple:
    """training_audio's arguments for step `step`: augmentation is seeded by (seed, step, sample), so the
    clips are the same whenever and wherever they are prepared, also after a resume."""
    rows = _step_rows(run, step)[0]
    seeds = [[run.config.seed, step, int(i)] for i in rows.index]
    return list(rows.path), run.config.augment, seeds


def _step_audio(run: _Run) -> list[np.ndarray]:
    """This step's clips (prepared during the last step when prefetching), and the next step's put in hand."""
    if run.workers is None:
        return training_audio(*_step_audio_job(run, run.state.step))
    ready = run.state.next_audio
    audios = (
        ready[1].result()
        if ready and ready[0] == run.state.step
        else training_audio(*_step_audio_job(run, run.state.step))
    )
    if run.state.step + 1 < run.total_steps:
        run.state.next_audio = (
            run.state.step + 1,
            run.workers.submit(training_audio, *_step_audio_job(run, run.state.step + 1)),
        )
    return audios


def _accumulate_gradients(
    run: _Run, rows: pd.DataFrame, audios: list[np.ndarray], batch_size: int, weight: float = 1.0
) -> float:
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
        micro_audios = audios[start : start + config.micro_batch_size]
        features = log_mel_features(whisper, micro_audios)
        if config.fit_window:
            features = fitted_features(features, max(len(a) for a in micro_audios), config.encoder_seconds)
        features = features.to(device)
        inputs, targets = (t.to(device) for t in decoder_labels(whisper, list(micro.text)))
        experts = torch.tensor([run.accents.index(a) for a in micro.accent], device=device)
        synced = start == starts[-1] or not isinstance(trainer, DistributedDataParallel)
        with contextlib.nullcontext() if synced else trainer.no_sync(), routed(whisper.model, experts):
            bf16 = config.bf16 if config.bf16 is not None else device.type == "cuda"
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = trainer(input_features=features, decoder_input_ids=inputs).logits
            loss = transcript_loss(logits, targets)
            (loss * weight * run.world * len(micro) / batch_size).backward()
        share += weight * loss.item() * len(micro) / batch_size
    return share


def _train_step(run: _Run) -> float:
    """One optimizer step on the next batch (this process's share of it); returns the whole batch's mean loss."""
    mine, batch_size, own = _step_rows(run, run.state.step)
    audios = _step_audio(run)
    run.optimizer.zero_grad(set_to_none=True)
    loss = _accumulate_gradients(run, mine, audios, batch_size, 1.0 if own else 0.0)  # a borrowed row weighs 0
    if run.world > 1:
        loss_total = torch.tensor([loss])
        dist.all_reduce(loss_total)
        loss = loss_total.item()
    run.optimizer.step()
    run.schedule.step()
    run.state.step += 1
    return loss


def _keep_score(run: _Run, wers: dict[str, float]) -> None:
    """Keep score of the validation WERs just measured (see _validation_wers): a new best is saved to
    out/best, and every evaluation writes a checkpoint."""
    if wers["validation_wer"] < run.state.best_wer:
        run.state.best_wer, run.state.best_step, run.state.stale_evaluations = wers["validation_wer"], run.state.step, 0
        _save_best(run.whisper, run.config, run.placement, run.accents)
    else:
        run.state.stale_evaluations += 1
    _checkpoint(run)


def _patience_ran_out(run: _Run) -> bool:
    """Whether to stop early: rank 0 knows (it keeps score) and tells every other process."""
    stop = torch.tensor([run.config.patience is not None and run.state.stale_evaluations >= run.config.patience])
    if run.world > 1:
        dist.broadcast(stop, src=0)
    return bool(stop.item())


def train(config: TrainConfig) -> dict:
    """Train as `config` says, resuming from `config.out/checkpoint.pt` if present; returns the summary.

    Under torchrun every process takes its slice of each batch and DistributedDataParallel combines the
    gradients before each optimizer step, so N processes compute the same update as one process would.
    Every process decodes its share of the validation clips; only rank 0 keeps score, saves and writes
    the history.
    """
    rank, world = init_distributed()
    run = _start(config, rank, world)
    _resume(run)
    began = time.perf_counter() - run.state.seconds
    if rank == 0:
        (config.out / "config.json").write_text(json.dumps(json_config(config), indent=2))
    run.whisper.model.train()
    progress = tqdm(
        total=run.total_steps, initial=run.state.step, desc=f"training {config.method}", unit="step", disable=rank != 0
    )
    while run.state.step < run.total_steps and not _patience_ran_out(run):
        epoch = run.state.step // run.steps_per_epoch
        loss = _train_step(run)
        progress.update(1)
        evaluating = (
            run.state.step % (config.eval_every or run.steps_per_epoch) == 0 or run.state.step == run.total_steps
        )
        record = {"step": run.state.step, "epoch": epoch, "loss": loss, "seconds": time.perf_counter() - began}
        wers = _validation_wers(run) if evaluating else None  # every process decodes its share
        if rank != 0:
            continue
        if wers is not None:
            _keep_score(run, wers)
            record |= wers
            progress.set_postfix(loss=f"{loss:.3f}", wer=f"{record['validation_wer']:.1%}")
        append_history(config.out, record)
    progress.close()
    if run.workers is not None:
        run.workers.shutdown(cancel_futures=True)
    if world > 1:
        dist.barrier()  # nobody leaves before rank 0 has written the last checkpoint
        dist.destroy_process_group()
    return {
        "method": config.method,
        "steps": run.state.step,
        "best_step": run.state.best_step,
        "best_validation_wer": run.state.best_wer,
        "accents": run.accents,
        "clips": {"train": len(run.train_table), "validation": len(run.validation)},  # what the split gave
    }
