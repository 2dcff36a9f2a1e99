"""One new accent expert for an existing experts folder, trained on a few clips with everything else frozen.

The new expert learns the way every expert did (maslora.training.loop): each of its clips goes through
its own expert alone, plus the folder's shared LoRA (the decoder's, or in the shared + experts design the
shared part beside every expert). No other expert takes part in such a clip, so what trains here is
Whisper + one expert (the new one: in the encoder, and in the decoder too where the folder's experts sit
in both) + the shared LoRA, frozen: the other experts are not even loaded, and nothing they learned can
move. maslora.mixture.expert_folders then writes the folder with N + 1 experts.

    layers = train_new_expert("assets/experts/tiny.en/mas-lora", clips)   # clips: path, text
    add_expert("assets/experts/tiny.en/mas-lora", "mine", layers, "my-experts")
"""

import contextlib
import ctypes
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from maslora.data.audio import SAMPLE_RATE, is_silent, load_audio
from maslora.data.augment import AugmentConfig, augment
from maslora.errors import AudioError, CorpusError, TrainingCancelled, TrainingError
from maslora.mixture.layer import adapter_layers, inject_adapters, module_side
from maslora.mixture.peft_io import ExpertsManifest, fill_shared, read_adapter, read_experts_manifest
from maslora.whisper.encoder_window import fitted_features, windowed_whisper
from maslora.whisper.load import Whisper
from maslora.whisper.targets import decoder_labels, transcript_loss
from maslora.whisper.transcribe import log_mel_features

MIN_CLIPS = 5  # fewer cannot tell an accent from one sentence's words
SLOWEST_SPEED = 0.9  # augmentation plays clips down to 0.9x speed (AugmentConfig.speed_range), 11% longer


@dataclass(frozen=True)
class NewExpertConfig:
    steps: int = 30  # 30 steps of 8 = 240 clips, 12 passes over 20 clips; its time: analysis/bench_new_expert
    batch_size: int = 8  # several clips per step for a steadier gradient, still small enough for 5 clips
    learning_rate: float = 1e-3  # the CPU recipe's rate for adapters (maslora.training.recipes), linear decay
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)  # a few clips heard 12 times: each
    # hearing perturbed, so the expert learns the accent rather than these recordings' waveforms
    seed: int = 0  # the expert's init, batch order and augmentation

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate}")


@dataclass(frozen=True)
class Progress:
    """Where training stands after a step: what a progress bar shows."""

    step: int
    steps: int
    loss: float
    seconds: float  # since training began (the model's loading excluded)

    @property
    def seconds_left(self) -> float:
        return self.seconds / self.step * (self.steps - self.step)

    @property
    def fraction(self) -> float:
        return self.step / self.steps

    def __str__(self) -> str:
        return f"step {self.step} of {self.steps}: loss {self.loss:.2f}, about {self.seconds_left:.0f} s left"


def longest_clip_seconds(encoder_seconds: int) -> float:
    """The longest clip a new expert trains on: even played at the slowest augmented speed it must fit the
    window, or its last words would be cut from the audio but not from the transcript it learns."""
    return round(encoder_seconds * SLOWEST_SPEED - 0.05, 1)


def checked_clip(path: str | Path, encoder_seconds: int, what: str | None = None) -> np.ndarray:
    """A clip for a new expert: readable, not silent, short enough for the window; `what` names it in errors."""
    what = what or str(path)
    audio = load_audio(path)
    limit = longest_clip_seconds(encoder_seconds)
    if is_silent(audio):
        raise AudioError(f"{what} is silent (nothing was recorded?): record it again")
    if len(audio) / SAMPLE_RATE > limit:
        raise AudioError(
            f"{what} is {len(audio) / SAMPLE_RATE:.1f} s; clips for a new expert must be at most {limit:g} s "
            f"(the experts' {encoder_seconds} s window)"
        )
    return audio


def training_clips(clips: pd.DataFrame, encoder_seconds: int) -> list[np.ndarray]:
    """Each clip's audio, checked (checked_clip); at least MIN_CLIPS of them."""
    if len(clips) < MIN_CLIPS:
        raise CorpusError(f"{len(clips)} clips: a new expert needs at least {MIN_CLIPS}")
    return [checked_clip(path, encoder_seconds) for path in clips.path]


def _trainable_model(experts: Path, manifest: ExpertsManifest, seed: int) -> Whisper:
    """Whisper in the experts' window, one fresh expert (trainable, on the sides the folder's experts sit) and
    the folder's shared LoRA (frozen): the decoder's in the paper's design, or the shared part beside every
    expert in shared + experts."""
    whisper = windowed_whisper(manifest.base_model, manifest.window, fit=True)
    shared = experts / manifest.shared_folder
    shared_decoder = int(shared.is_dir() and not manifest.placement.shared_rank)  # the paper's: a 1-expert side
    decoder_experts = 1 if "decoder" in manifest.expert_sides else shared_decoder
    placement = replace(manifest.placement, encoder_experts=1, decoder_experts=decoder_experts)
    inject_adapters(whisper.model, placement, seed=seed)
    if shared.is_dir():
        fill_shared(whisper.model, read_adapter(shared)[1], shared)
    for parameter in whisper.model.parameters():
        parameter.requires_grad_(False)
    for name, layer in adapter_layers(whisper.model).items():
        if module_side(name) in manifest.expert_sides:
            layer.lora_A.requires_grad_(True)
            layer.lora_B.requires_grad_(True)
    return whisper


class ModelShelf:
    """Keeps the trainable model (_trainable_model) of the last training for the next one, so that a server
    training one visitor's expert after another loads Whisper once, not once a training. It holds one model,
    of one experts folder and seed (the memory each training freed goes back to the system as it ends); a
    training takes it off the shelf and puts it back with the new expert's factors as they were loaded, so a
    training on a lent model gives the same factors as one on a freshly loaded model (tests/test_new_expert.py).
    Trainings at the same time each get a model: the second finds the shelf empty and loads its own."""

    def __init__(self):
        self._kept: tuple[tuple, Whisper, dict[str, torch.Tensor]] | None = None  # (key, model, untrained factors)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def lend(self, experts: Path, manifest: ExpertsManifest, seed: int) -> Iterator[Whisper]:
        key = (experts.resolve(), seed, _folder_stamp(experts))  # a folder changed on disk is loaded again
        with self._lock:
            kept, self._kept = self._kept, None
        if kept is not None and kept[0] == key:
            whisper, untrained = kept[1], kept[2]
        else:
            del kept  # the other folder's model goes before this one loads
            whisper = _trainable_model(experts, manifest, seed)
            untrained = {name: p.detach().clone() for name, p in whisper.model.named_parameters() if p.requires_grad}
        try:
            yield whisper
        finally:
            with torch.no_grad():
                for name, parameter in whisper.model.named_parameters():
                    if name in untrained:
                        parameter.copy_(untrained[name])
                        parameter.grad = None
            with self._lock:
                self._kept = (key, whisper, untrained)
            _give_back_freed_memory()


def _give_back_freed_memory() -> None:
    """Hand the memory a training freed back to the system. glibc keeps what a thread frees in that thread's
    arena; a server whose trainings each run on another of its threads (Gradio's workers) then grew by a
    training's activations with every training (7.9 GB after 10: analysis/bench_class --trainings). Where the
    C library is not glibc there is nothing to do."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.malloc_trim(0)


def _folder_stamp(folder: Path) -> tuple:
    """When each file of an experts folder last changed."""
    return tuple(sorted((str(path), path.stat().st_mtime_ns) for path in folder.rglob("*") if path.is_file()))


def _batches(count: int, config: NewExpertConfig) -> list[list[int]]:
    """config.steps batches of clip indices: passes over the clips, each in its own seeded order."""
    rng = np.random.default_rng(config.seed)
    order: list[int] = []
    while len(order) < config.steps * config.batch_size:
        order.extend(rng.permutation(count).tolist())
    return [order[i * config.batch_size : (i + 1) * config.batch_size] for i in range(config.steps)]


def train_new_expert(
    experts: str | Path,
    clips: pd.DataFrame,
    config: NewExpertConfig | None = None,
    on_step: Callable[[Progress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    pause: Callable[[], None] | None = None,
    shelf: ModelShelf | None = None,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The new expert's LoRA factors {module name: (A, B)} (on the folder's expert_sides), trained on `clips`
    (path, text) for the experts folder `experts`. `on_step` hears every step's Progress; when `cancelled()` turns true,
    TrainingCancelled is raised before the next step (nothing has been written anywhere). `pause()` is called
    before each step and may wait (the page lets visitors' compares go first). With a `shelf`, the trainable
    model is borrowed from it (loaded only the first time) instead of loaded for this training alone."""
    config = config or NewExpertConfig()
    experts = Path(experts)
    manifest = read_experts_manifest(experts)
    audios = training_clips(clips, manifest.window)
    with (shelf or ModelShelf()).lend(experts, manifest, config.seed) as whisper:
        return _trained_expert(whisper, manifest, audios, list(clips.text), config, on_step, cancelled, pause)


def _trained_expert(
    whisper: Whisper,
    manifest: ExpertsManifest,
    audios: list[np.ndarray],
    texts: list[str],
    config: NewExpertConfig,
    on_step: Callable[[Progress], None] | None,
    cancelled: Callable[[], bool] | None,
    pause: Callable[[], None] | None,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """train_new_expert's loop on `whisper`, a model of _trainable_model as it was loaded."""
    torch.manual_seed(config.seed)  # after the model is in hand: a lent model trains as a freshly loaded one
    parameters = [p for p in whisper.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / config.steps)
    whisper.model.train()
    began = time.perf_counter()
    for step, batch in enumerate(_batches(len(audios), config), start=1):
        if pause is not None:
            pause()
        if cancelled is not None and cancelled():
            raise TrainingCancelled(f"training cancelled after {step - 1} of {config.steps} steps; nothing was saved")
        heard = [
            augment(audios[i], config.augment, np.random.default_rng([config.seed, step, i]))
            if config.augment
            else audios[i]
            for i in batch
        ]
        features = fitted_features(log_mel_features(whisper, heard), max(len(a) for a in heard), manifest.window)
        inputs, targets = decoder_labels(whisper, [texts[i] for i in batch])
        features, inputs, targets = (t.to(whisper.model.device) for t in (features, inputs, targets))
        loss = transcript_loss(whisper.model(input_features=features, decoder_input_ids=inputs).logits, targets)
        if not torch.isfinite(loss):
            raise TrainingError(f"the loss became {loss.item()} at step {step}: lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if on_step is not None:
            on_step(Progress(step, config.steps, loss.item(), time.perf_counter() - began))
    return {
        name: (layer.lora_A[0].detach().clone(), layer.lora_B[0].detach().clone())
        for name, layer in adapter_layers(whisper.model).items()
        if module_side(name) in manifest.expert_sides
    }
