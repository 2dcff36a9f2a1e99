"""Which accent is this? A linear classifier on the frozen Whisper encoder, and its posterior over the experts.

    features    x = [mean_t h_1(t); ...; mean_t h_L(t)]   every encoder block's output, averaged over the
                frames that hold audio (not the padding), concatenated: tiny.en 4 x 384 = 1,536 numbers
    standardize z = (x - mu) / sigma
    no voices   z' = z - V^T V z   V: the directions in which training speakers of one accent differ
    posterior   p = softmax(W z' + b)   multinomial logistic regression

Why remove voices: a classifier on raw features learns who speaks, not how. In the synthetic corpus
every voice reads every accent and each fold's test speaker of an accent has a voice never heard with
that accent in training, so raw features scored 25% on fold 1's test speakers (chance: 17%). Projecting
out the within-accent speaker directions (nuisance attribute projection, a classic of language and
speaker recognition; 12 directions for 18 training speakers of 6 accents) raised that to 55-58%
(classifier seeds 0 and 1), with the same features, the same training and no tuning on the test speakers.

The encoder stays exactly as released (no expert active), so one encoder pass serves every system, and
the classifier costs one matrix product. Trained on the training speakers' accent labels only; its
posterior becomes expert weights in maslora.auto_weights. Saved as safetensors + JSON (no pickles).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from maslora.atomic import replace_folder
from maslora.errors import AdapterError

WEIGHTS_FILE = "head.safetensors"  # a classifier or a router (see PooledHead)
CONFIG_FILE = "head.json"


@dataclass(frozen=True)
class ClassifierConfig:
    epochs: int = 60  # full passes over the training clips: about a second for 1,530 clips; not tuned
    batch_size: int = 64  # small batches give the seed a say (shuffling) without slowing a 1,500-clip run
    learning_rate: float = 3e-3  # Adam on standardized features
    weight_decay: float = 1e-2  # keeps W small on few speakers per accent (1e-1 scored the same on fold 1)
    seed: int = 0


def speaker_directions(standardized: torch.Tensor, accents: list[str], speakers: list[str]) -> torch.Tensor:
    """[k, width] orthonormal directions spanning how each training speaker's mean differs from their
    accent's mean (k = speakers - accents): what varies with the voice while the accent stays fixed."""
    offsets = []
    for accent in sorted(set(accents)):
        rows = [i for i, a in enumerate(accents) if a == accent]
        accent_mean = standardized[rows].mean(0)
        for speaker in sorted({speakers[i] for i in rows}):
            offsets.append(standardized[[i for i in rows if speakers[i] == speaker]].mean(0) - accent_mean)
    _, singular_values, directions = torch.linalg.svd(torch.stack(offsets), full_matrices=False)
    rank = len(offsets) - len(set(accents))  # the offsets of one accent sum to zero: one dimension less per accent
    return directions[: max(rank, 0)][singular_values[: max(rank, 0)] > 1e-6]


def without_directions(z: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """z - V^T V z: the part of each row of z orthogonal to the directions V (orthonormal rows)."""
    return z - (z @ directions.T) @ directions


class PooledHead(nn.Module):
    """A linear head on the voice-free pooled encoder states: logits [batch, rows, accents].

    rows = 1: the accent classifier, p = softmax(W z' + b). rows = encoder blocks: a learned router,
    one expert weighting per block (maslora.auto.router). Both load and save the same way."""

    def __init__(self, accents: list[str], rows: int, mean: torch.Tensor, std: torch.Tensor, directions: torch.Tensor):
        super().__init__()
        self.accents = list(accents)
        self.rows = rows
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())
        self.register_buffer("directions", directions.float())
        self.linear = nn.Linear(mean.shape[0], rows * len(accents))

    def check_accents(self, experts: list[str], where: str) -> None:
        """A head only weighs the experts it was trained for (the same accents, in any order)."""
        if sorted(self.accents) != sorted(experts):
            raise AdapterError(f"the {where} knows {', '.join(self.accents)}; the experts are {', '.join(experts)}")

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        z = without_directions((features.float() - self.mean) / self.std, self.directions)
        return self.linear(z).unflatten(-1, (self.rows, len(self.accents)))

    @torch.no_grad()
    def posterior(self, features: torch.Tensor) -> list[dict[str, float]]:
        """One {accent: probability} per clip, from the first row (the classifier's only one)."""
        probabilities = torch.softmax(self.logits(features)[:, 0], dim=-1)
        if not torch.isfinite(probabilities).all():
            raise AdapterError("the accent classifier gave a non-finite posterior (NaN in its weights or the features)")
        return [dict(zip(self.accents, map(float, row))) for row in probabilities]


def fit_normalization(
    features: torch.Tensor, accents_of_clips: list[str], speakers_of_clips: list[str]
) -> dict[str, torch.Tensor]:
    """mean, std and speaker directions of training features: the preprocessing of every PooledHead."""
    if not len(features) == len(accents_of_clips) == len(speakers_of_clips):
        raise ValueError(
            f"{len(features)} feature rows for {len(accents_of_clips)} accents and {len(speakers_of_clips)} speakers"
        )
    mean, std = features.mean(0), features.std(0).clamp_min(1e-6)  # a constant feature must not divide by 0
    return {
        "mean": mean,
        "std": std,
        "directions": speaker_directions((features - mean) / std, accents_of_clips, speakers_of_clips),
    }


def train_classifier(
    features: torch.Tensor,
    accents_of_clips: list[str],
    speakers_of_clips: list[str],
    config: ClassifierConfig = ClassifierConfig(),
) -> PooledHead:
    """Fit the classifier on training clips' features, accent and speaker labels; the same inputs and
    seed give the same weights, bit for bit (seeded init and shuffling)."""
    accents = sorted(set(accents_of_clips))
    if len(accents) < 2:
        raise ValueError(f"an accent classifier needs at least two accents, got {accents}")
    generator = torch.Generator().manual_seed(config.seed)
    classifier = PooledHead(accents, 1, **fit_normalization(features, accents_of_clips, speakers_of_clips))
    with torch.no_grad():
        classifier.linear.weight.copy_(torch.randn(classifier.linear.weight.shape, generator=generator) * 0.01)
        classifier.linear.bias.zero_()
    labels = torch.tensor([accents.index(a) for a in accents_of_clips])
    optimizer = torch.optim.AdamW(
        classifier.linear.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    for _ in range(config.epochs):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss = nn.functional.cross_entropy(classifier.logits(features[batch])[:, 0], labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return classifier


def save_head(head: PooledHead, folder: str | Path, about: dict) -> None:
    """Weights as safetensors; accents, rows and `about` (base model, window, how trained) as JSON."""

    def write(scratch: Path) -> None:
        tensors = {
            "weight": head.linear.weight,
            "bias": head.linear.bias,
            "mean": head.mean,
            "std": head.std,
            "directions": head.directions,
        }
        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, scratch / WEIGHTS_FILE)
        manifest = {"format": 1, "accents": head.accents, "rows": head.rows, **about}
        (scratch / CONFIG_FILE).write_text(json.dumps(manifest, indent=2))

    replace_folder(Path(folder), write)


def load_head(folder: str | Path) -> tuple[PooledHead, dict]:
    """(head, its manifest), checked: files present, shapes consistent, every number finite."""
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise AdapterError(f"{folder}: not an accent classifier or router (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
    manifest = json.loads((folder / CONFIG_FILE).read_text())
    try:
        tensors = load_file(folder / WEIGHTS_FILE)
    except Exception as error:  # safetensors raises its own types for truncated or foreign files
        raise AdapterError(f"{folder / WEIGHTS_FILE}: unreadable ({error})") from error
    accents, rows = manifest.get("accents", []), int(manifest.get("rows", 1))
    width, outputs = tensors.get("mean", torch.empty(0)).shape[0], rows * len(accents)
    shapes = {
        "weight": (outputs, width),
        "bias": (outputs,),
        "mean": (width,),
        "std": (width,),
        "directions": (len(tensors.get("directions", [])), width),
    }
    for name, shape in shapes.items():
        if name not in tensors or tuple(tensors[name].shape) != shape:
            raise AdapterError(f"{folder}: {name} should have shape {shape} for {len(accents)} accents")
        if not torch.isfinite(tensors[name]).all():
            raise AdapterError(f"{folder}: {name} holds NaN or infinite values")
    head = PooledHead(accents, rows, tensors["mean"], tensors["std"], tensors["directions"])
    with torch.no_grad():
        head.linear.weight.copy_(tensors["weight"])
        head.linear.bias.copy_(tensors["bias"])
    return head, manifest
