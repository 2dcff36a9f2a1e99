"""Training the heads that weigh MAS-LoRA's experts from the audio, for one set of experts: the accent
classifier and the learned router, each saved to a folder (skipped when the folder is already there).

    features = clip_features("tiny.en", 10, split.train, runs / "features.pt")   # the base encoder, once per fold
    fit_classifier(features, split.train, run / "accent-classifier", seed=0)
    fit_router("tiny.en", 10, run / "mas-lora" / "best", split.train, features, run / "router")
"""

from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from maslora.atomic import replace_file
from maslora.auto.accent_id import CONFIG_FILE, ClassifierConfig, save_head, train_classifier
from maslora.auto.router import RouterConfig, train_router
from maslora.data.audio import load_audio
from maslora.mixture.peft_io import load_experts
from maslora.whisper.encoder_states import pooled_encoder_states
from maslora.whisper.encoder_window import windowed_whisper

FEATURE_BATCH = 16  # clips per encoder pass when extracting features (no decoding, so larger than decoding's 8)


def clip_features(model: str, encoder_seconds: int, table: pd.DataFrame, cache: Path) -> torch.Tensor:
    """Pooled base-encoder features of every clip of `table`, in its order; clips already in `cache`
    (a file of {path: features}) are not encoded again, new ones are added to it."""
    known = torch.load(cache) if cache.is_file() else {}
    if known.get("model") != [model, encoder_seconds]:
        known = {"model": [model, encoder_seconds], "clips": {}}
    missing = [str(path) for path in table.path if str(path) not in known["clips"]]
    if missing:
        features = pooled_encoder_states(
            windowed_whisper(model, encoder_seconds), [load_audio(p) for p in missing], FEATURE_BATCH
        )
        known["clips"].update(zip(missing, features))
        replace_file(cache, lambda path: torch.save(known, path))
    return torch.stack([known["clips"][str(path)] for path in table.path])


def fit_classifier(
    features: torch.Tensor, table: pd.DataFrame, out: Path, seed: int, about: dict | None = None
) -> None:
    """Train and save the accent classifier on `table`'s clips (accent and speaker columns) unless `out` exists."""
    if (out / CONFIG_FILE).is_file():  # saved atomically: there means complete
        return
    config = ClassifierConfig(seed=seed)
    classifier = train_classifier(features, list(table.accent), list(table.speaker), config)
    save_head(
        classifier,
        out,
        {"kind": "accent classifier", "training_clips": len(table), "config": asdict(config), **(about or {})},
    )


def fit_router(
    model: str,
    encoder_seconds: int,
    experts: Path,
    table: pd.DataFrame,
    features: torch.Tensor,
    out: Path,
    config: RouterConfig = RouterConfig(),
) -> None:
    """Train and save a router over the experts in `experts` on `table`'s clips unless `out` exists."""
    if (out / CONFIG_FILE).is_file():  # saved atomically: there means complete
        return
    whisper = windowed_whisper(model, encoder_seconds)
    accents = load_experts(whisper.model, experts)
    router, losses = train_router(whisper, accents, table, features, config)
    about = {
        "kind": "router",
        "experts": str(experts),
        "model": model,
        "encoder_seconds": encoder_seconds,
        "training_clips": len(table),
        "config": asdict(config),
        "losses": losses,
    }
    save_head(router, out, about)
