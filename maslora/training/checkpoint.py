"""A training run's state on disk: the checkpoint that resumes it after a kill, and its history of steps.

    out/checkpoint.pt    trainable weights, optimizer, schedule, step, best WER, random states, the config
    out/history.jsonl    one line per step: loss (and validation WER on evaluation steps)

The checkpoint is written atomically (a kill leaves the previous one whole); on resume, history lines
after the checkpoint's step are dropped, since those steps are done again.
"""

import json
from dataclasses import asdict
from pathlib import Path

import torch

from maslora.atomic import replace_file

CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "history.jsonl"


def json_config(config) -> dict:
    """A config dataclass as plain JSON values (paths as strings): what config.json and the checkpoint hold."""
    return json.loads(json.dumps(asdict(config), default=str))


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter that trains: the only weights a checkpoint needs (the rest is the base model)."""
    return {name: parameter.detach().clone() for name, parameter in model.named_parameters() if parameter.requires_grad}


def save_checkpoint(out: Path, state: dict) -> None:
    replace_file(out / CHECKPOINT_FILE, lambda path: torch.save(state, path))


def load_checkpoint(config, device: str) -> dict | None:
    """The checkpoint in `config.out` (tensors on `device`), None if there is none; refused if another config
    wrote it."""
    path = config.out / CHECKPOINT_FILE
    if not path.is_file():
        return None
    state = torch.load(path, weights_only=False, map_location=device)
    if state["config"] != json_config(config):
        raise ValueError(f"{path} was written by another configuration; use a new --out or delete it")
    return state


def append_history(out: Path, record: dict) -> None:
    with open(out / HISTORY_FILE, "a", encoding="utf-8") as history:
        history.write(json.dumps(record) + "\n")


def truncate_history(out: Path, last_step: int) -> float:
    """Drop the history lines of steps after `last_step` (they are redone after a resume); returns the
    training seconds the kept lines reached, so that a resumed run's clock goes on from there."""
    path = out / HISTORY_FILE
    if not path.is_file():
        return 0.0
    kept = [record for record in map(json.loads, path.read_text().splitlines()) if record["step"] <= last_step]
    path.write_text("".join(json.dumps(record) + "\n" for record in kept))
    return kept[-1]["seconds"] if kept else 0.0
