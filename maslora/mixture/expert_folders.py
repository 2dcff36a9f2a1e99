"""One accent's expert added to, or removed from, an experts folder, the others untouched.

MAS-LoRA's modularity: each expert is its own PEFT adapter, trained on its own accent alone and reached
only through its weight, so adding an accent is one more adapter and one more name in experts.json, and
removing one is one less. Both write a new folder (atomically) and never modify the one they start from:

    experts/                       experts-with-mine/
      experts.json  [6 accents]      experts.json  [7 accents, encoder_experts 7]
      arabic/ ... vietnamese/        arabic/ ... vietnamese/   (copied byte for byte)
      decoder/                       decoder/                  (the shared decoder LoRA, copied)
                                     mine/                     (the new expert)

In the shared + experts design, shared/ (the LoRA beside every expert) is copied as decoder/ is, and
the new expert trains beside it. Where the experts sit in the decoder too (one decoder expert per
accent), the new expert's adapter holds its decoder part as well.
"""

import re
import shutil
from dataclasses import replace
from pathlib import Path

import torch

from maslora.atomic import replace_folder
from maslora.errors import AdapterError
from maslora.mixture.layer import module_side
from maslora.mixture.peft_io import (
    SHARED,
    SHARED_DECODER,
    ExpertsManifest,
    read_experts_manifest,
    write_adapter,
    write_experts_manifest,
)

EXPERT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")  # a folder name on every OS, and a slider label
RESERVED_NAMES = {SHARED_DECODER, SHARED}


def check_expert_name(name: str, accents: list[str]) -> None:
    """A new expert's name: lower-case letters, digits, - and _, not taken, not the shared decoder's folder."""
    if not EXPERT_NAME.fullmatch(name):
        raise AdapterError(
            f"expert name {name!r}: use lower-case letters, digits, - and _ (at most 40, starting with a letter)"
        )
    if name in accents or name in RESERVED_NAMES:
        raise AdapterError(f"there is already an expert called {name!r} (experts: {', '.join(accents)})")


def _check_out(source: Path, out: Path) -> None:
    if out.resolve() == source.resolve():
        raise AdapterError(f"--out {out} is the experts folder itself: the original is never modified")
    if out.exists():
        raise AdapterError(f"{out} already exists: choose a new folder (nothing is overwritten)")


def _write_copy(
    source: Path, manifest: ExpertsManifest, kept: list[str], out: Path, new: tuple[str, dict] | None = None
) -> None:
    """Write `out`: the experts `kept` and the shared decoder copied from `source`, plus `new` (name, {module
    name: (A, B)}) when given, and the manifest updated to match."""
    placement = manifest.placement
    accents = [*kept, new[0]] if new else kept
    decoder_experts = len(accents) if placement.decoder_experts > 1 else placement.decoder_experts
    updated = replace(placement, encoder_experts=len(accents), decoder_experts=decoder_experts)

    def write(scratch: Path) -> None:
        for accent in kept:
            shutil.copytree(source / accent, scratch / accent)
        if (source / manifest.shared_folder).is_dir():
            shutil.copytree(source / manifest.shared_folder, scratch / manifest.shared_folder)
        if new:
            write_adapter(scratch / new[0], new[1], placement, manifest.base_model)
        write_experts_manifest(scratch, replace(manifest, accents=accents, placement=updated))

    replace_folder(out, write)


def check_addition(source: str | Path, name: str, out: str | Path) -> ExpertsManifest:
    """The manifest of `source`, once sure that an expert `name` can be added to it and written to `out`:
    what the CLI checks before it spends a minute training."""
    manifest = read_experts_manifest(source)
    check_expert_name(name, manifest.accents)
    _check_out(Path(source), Path(out))
    return manifest


def add_expert(
    source: str | Path, name: str, layers: dict[str, tuple[torch.Tensor, torch.Tensor]], out: str | Path
) -> list[str]:
    """A copy of the experts folder `source` at `out` with one more expert, `name`, whose encoder LoRA
    factors are `layers` ({module name: (A, B)}, as maslora.training.new_expert trains them). Returns the
    new folder's accents."""
    manifest = check_addition(source, name, out)
    sides, expected = {module_side(module) for module in layers}, manifest.expert_sides
    if sides != expected:
        raise AdapterError(
            f"the new expert {name!r} adapts the {' and '.join(sorted(sides)) or 'nothing'}, but {source}'s experts "
            f"sit in the {' and '.join(sorted(expected))}: train it for this folder (maslora.training.new_expert)"
        )
    accents = [*manifest.accents, name]
    _write_copy(Path(source), manifest, manifest.accents, Path(out), (name, layers))
    return accents


def remove_expert(source: str | Path, name: str, out: str | Path) -> list[str]:
    """A copy of the experts folder `source` at `out` without the expert `name`; returns the accents left."""
    source, out = Path(source), Path(out)
    manifest = read_experts_manifest(source)
    accents = list(manifest.accents)
    if name not in accents:
        raise AdapterError(f"{source} has no expert {name!r} (experts: {', '.join(accents)})")
    if len(accents) < 3:
        raise AdapterError(f"{source} has {len(accents)} experts: a mixture needs at least 2 to stay one")
    _check_out(source, out)
    left = [accent for accent in accents if accent != name]
    _write_copy(source, manifest, left, out)
    return left
