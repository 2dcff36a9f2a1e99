"""A learned router: expert weights for each encoder block, from the audio, trained on the transcription
loss with Whisper and every expert frozen (X-LoRA / MoLE style, on top of trained MAS-LoRA experts).

    w_l = softmax(G_l z' + c_l)      one weighting per encoder block l; z' = the voice-free pooled
                                     encoder states of the clip (maslora.auto.accent_id)

G = 0 and c = 0 at the start: every block weighs the experts 1/N, exactly MAS-LoRA with the accent
unknown, so training starts from the paper's accent-unknown system and moves only where the training
clips' loss says so. Only the gate's weights train (tiny.en: 1,536 x 4 blocks x 6 experts + biases).
The paper's authors tried a trained router and saw no gain over static weights; this one measures that.
"""

import random
from dataclasses import dataclass

import pandas as pd
import torch
from tqdm import tqdm

from maslora.auto.accent_id import PooledHead, fit_normalization
from maslora.data.audio import load_audio
from maslora.mixture.layer import encoder_blocks, routed
from maslora.whisper.load import Whisper
from maslora.whisper.targets import decoder_labels, transcript_loss
from maslora.whisper.transcribe import log_mel_features


@dataclass(frozen=True)
class RouterConfig:
    steps: int = 48  # 768 clips for a gate of ~37k weights, not the experts' millions (longer runs: not measured)
    batch_size: int = 16  # the paper's effective batch
    micro_batch_size: int = 8  # per forward pass, as in training
    learning_rate: float = 1e-4  # G: Adam moves each of 1,536 weights ~lr a step, so a logit by up to ~0.15
    bias_learning_rate: float = 1e-2  # c: each block's overall preference among the experts may move faster
    weight_decay: float = 1e-2  # pulls the gate back towards uniform where the loss does not push
    seed: int = 0  # the order of the training clips (the gate starts at zero, so nothing else is random)


def router_weights(router: PooledHead, features: torch.Tensor) -> torch.Tensor:
    """[clips, blocks, N] expert weights, each block's row a softmax (a distribution whatever the input)."""
    return torch.softmax(router.logits(features), dim=-1)


def as_mappings(router: PooledHead, weights: torch.Tensor) -> list[list[dict[str, float]]]:
    """[clips, blocks, N] -> per clip, one {accent: weight} per block (what maslora.systems.combined_whisper takes)."""
    return [[dict(zip(router.accents, map(float, block))) for block in clip] for clip in weights.detach()]


def train_router(
    whisper: Whisper,
    accents: list[str],
    table: pd.DataFrame,
    features: torch.Tensor,
    config: RouterConfig = RouterConfig(),
    progress: bool = True,
) -> tuple[PooledHead, list[float]]:
    """Train a router for the experts loaded in `whisper` (in `accents` order) on the clips of `table`
    (path, text, accent, speaker), whose pooled features are `features`; returns it and its losses."""
    if len(table) != len(features):
        raise ValueError(f"{len(table)} training clips but {len(features)} feature rows")
    blocks = encoder_blocks(whisper.model)
    router = PooledHead(accents, blocks, **fit_normalization(features, list(table.accent), list(table.speaker)))
    torch.nn.init.zeros_(router.linear.weight)  # uniform in every block: the accent-unknown system
    torch.nn.init.zeros_(router.linear.bias)
    for parameter in whisper.model.parameters():
        parameter.requires_grad_(False)
    whisper.model.eval()  # no dropout: the experts are fixed, only the gate learns
    optimizer = torch.optim.AdamW(
        [
            {"params": [router.linear.weight], "lr": config.learning_rate},
            {"params": [router.linear.bias], "lr": config.bias_learning_rate},
        ],
        weight_decay=config.weight_decay,
    )
    order, rng, losses = [], random.Random(config.seed), []
    device = whisper.model.device
    for _ in tqdm(range(config.steps), desc="training router", unit="step", disable=not progress):
        if len(order) < config.batch_size:  # a fresh shuffle of every clip each epoch
            order += rng.sample(range(len(table)), len(table))
        batch, order = order[: config.batch_size], order[config.batch_size :]
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for start in range(0, len(batch), config.micro_batch_size):
            rows = batch[start : start + config.micro_batch_size]
            micro = table.iloc[rows]
            mel = log_mel_features(whisper, [load_audio(path) for path in micro.path]).to(device)
            inputs, targets = (t.to(device) for t in decoder_labels(whisper, list(micro.text)))
            with routed(whisper.model, router_weights(router, features[rows]).to(device)):
                logits = whisper.model(input_features=mel, decoder_input_ids=inputs).logits
            loss = transcript_loss(logits, targets)
            (loss * len(rows) / len(batch)).backward()
            total += loss.item() * len(rows) / len(batch)
        optimizer.step()
        losses.append(total)
    return router, losses
