"""Experts on disk as standard PEFT LoRA adapters (adapter_config.json + adapter_model.safetensors).

A MAS-LoRA folder holds one PEFT adapter per accent (its encoder expert, and its decoder expert when
the decoder is MAS too), one adapter for the shared decoder LoRA, and a small manifest:

    experts/
      experts.json             {"accents": [...], "placement": {...}, "base_model": "tiny.en", "encoder_seconds": 10}
      arabic/adapter_config.json, arabic/adapter_model.safetensors
      ...
      decoder/...              the shared decoder LoRA (absent when the decoder is not adapted)

The shared + experts design (experts.json "design": "shared+experts", format 2) keeps its shared LoRA,
which every weighting applies in full, in shared/ instead of decoder/: it covers every adapted
projection, the encoder's beside their experts and the decoder's. An accent's adapter alone is then only
its part: with PEFT, load shared/ and the accent's adapter together.

A regular LoRA is one PEFT adapter folder, with maslora.json beside it saying how it runs (base model,
encoder window). Each adapter loads with PEFT alone (`PeftModel.from_pretrained(whisper, "experts/arabic")`), and
adapters someone trained with PEFT load here as experts. Safetensors only: pickled weights can run code.
"""

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from maslora.atomic import replace_folder
from maslora.errors import AdapterError
from maslora.mixture.layer import (
    PAPER_DESIGN,
    SHARED_DESIGN,
    TARGETS,
    AdapterPlacement,
    MixtureLoRALinear,
    adapter_layers,
    inject_adapters,
    module_side,
    targets_covering,
)
from maslora.mixture.lora import lora_scale
from maslora.whisper.encoder_window import FULL_WINDOW_SECONDS

MANIFEST = "experts.json"
ADAPTER_MANIFEST = "maslora.json"  # a regular LoRA's: PEFT's own config has no place for the window
MANIFEST_FORMAT = 2  # the newest experts.json this reads; a later format is refused, never misread
PAPER_FORMAT = 1  # what paper-design folders and maslora.json are written as: earlier maslora reads them
SHARED_DECODER = "decoder"  # the paper's design: the decoder's shared LoRA
SHARED = "shared"  # the shared + experts design: the shared LoRA on every adapted projection
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
KEY_PREFIX = "base_model.model."  # how PEFT names the wrapped model's modules in its files
PLAIN_LORA_ONLY = ("use_rslora", "use_dora", "rank_pattern", "alpha_pattern")  # PEFT options refused when set


@dataclass(frozen=True)
class RunsWith:
    """How adapters must run to behave as trained: on this base model, in this encoder window."""

    base_model: str
    encoder_seconds: int = FULL_WINDOW_SECONDS  # inference pads to it even when training fitted each batch
    # (see maslora.whisper.encoder_window: base Whisper repeats itself in tight windows)


@dataclass(frozen=True, kw_only=True)
class ExpertsManifest:
    """experts.json: the experts in order (expert i is accents[i]), where their adapters sit, how they run."""

    accents: list[str]
    placement: AdapterPlacement
    base_model: str
    encoder_seconds: int | None = None  # None: written before the window was recorded (they ran in 30 s)

    @property
    def window(self) -> int:
        return self.encoder_seconds or FULL_WINDOW_SECONDS

    @property
    def expert_sides(self) -> set[str]:
        """Where each accent's expert sits: the encoder, and the decoder too when it has one expert per accent."""
        return {"encoder", "decoder"} if self.placement.decoder_experts > 1 else {"encoder"}

    @property
    def shared_folder(self) -> str:
        """Where the folder's shared LoRA sits: decoder/ in the paper's design, shared/ in shared + experts."""
        return SHARED_DECODER if self.placement.design == PAPER_DESIGN else SHARED


def _manifest_json(path: Path) -> dict:
    """A manifest's JSON, refused with its path when it is not JSON or is of a later format."""
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AdapterError(f"{path} is not valid JSON ({error}); the folder is damaged") from None
    form = data.get("format", MANIFEST_FORMAT) if isinstance(data, dict) else None
    if not isinstance(form, int) or form > MANIFEST_FORMAT:
        raise AdapterError(f"{path}: format {form!r}; this maslora reads format {MANIFEST_FORMAT}")
    return data


def read_experts_manifest(folder: str | Path) -> ExpertsManifest:
    """experts.json of an experts folder (written by save_experts), checked against the folder it describes."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise AdapterError(
            f"{folder}: no {MANIFEST}: not an experts folder (for bare PEFT adapters: load_peft_experts)"
        )
    data = _manifest_json(path)
    missing_keys = [key for key in ("accents", "placement", "base_model") if key not in data]
    if missing_keys:
        raise AdapterError(f"{path}: no {', '.join(map(repr, missing_keys))}")
    missing = [accent for accent in data["accents"] if not (folder / accent).is_dir()]
    if missing:
        raise AdapterError(f"{folder}: experts.json lists {', '.join(missing)} but the folder has no such adapter")
    try:
        placement = AdapterPlacement(**data["placement"])
    except (TypeError, ValueError) as error:
        raise AdapterError(f"{path}: placement {data['placement']}: {error}") from None
    manifest = ExpertsManifest(
        accents=list(data["accents"]),
        placement=placement,
        base_model=data["base_model"],
        encoder_seconds=data.get("encoder_seconds"),
    )
    _check_design(folder, manifest, data.get("design", PAPER_DESIGN))
    return manifest


def _check_design(folder: Path, manifest: ExpertsManifest, design: str) -> None:
    """The design experts.json names is the one its placement describes and its folders hold: a shared part
    present, of the rank it says, in the shared design; none in the paper's."""
    placement = manifest.placement
    if design != placement.design:
        raise AdapterError(f"{folder}: experts.json says design {design!r} but its placement is {placement.design!r}")
    shared = folder / SHARED
    if placement.design == PAPER_DESIGN:
        if shared.is_dir():
            raise AdapterError(
                f"{folder}: has a {SHARED}/ LoRA but experts.json says the paper's design (experts only): "
                "a shared + experts folder whose experts.json was replaced?"
            )
        return
    if not shared.is_dir():
        raise AdapterError(
            f"{folder}: experts.json says design {SHARED_DESIGN!r} (shared rank {placement.shared_rank}) but the "
            f"shared part is missing: no {SHARED}/ folder; without it the experts are not what was trained"
        )
    rank = _adapter_config(shared).get("r")
    if rank != placement.shared_rank:
        raise AdapterError(
            f"{shared}: a LoRA of rank {rank}, but experts.json says the shared part has rank {placement.shared_rank}"
        )


def write_experts_manifest(folder: Path, manifest: ExpertsManifest) -> None:
    """experts.json; a paper-design folder in format 1, as before the shared design, so earlier maslora reads it."""
    settings = {"base_model": manifest.base_model}
    if manifest.encoder_seconds is not None:
        settings["encoder_seconds"] = manifest.encoder_seconds
    placement = asdict(manifest.placement)
    if manifest.placement.design == PAPER_DESIGN:
        del placement["shared_rank"]
        data = {"format": PAPER_FORMAT, **settings, "accents": manifest.accents, "placement": placement}
    else:
        design = {"design": manifest.placement.design}
        data = {"format": MANIFEST_FORMAT, **design, **settings, "accents": manifest.accents, "placement": placement}
    (folder / MANIFEST).write_text(json.dumps(data, indent=2))


def runs_with(folder: str | Path) -> RunsWith | None:
    """What an experts folder or a regular LoRA's folder says about how to run it; None when it says nothing
    (an adapter trained elsewhere, or written before the window was recorded)."""
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        manifest = read_experts_manifest(folder)
        seconds = manifest.encoder_seconds
        return None if seconds is None else RunsWith(manifest.base_model, seconds)
    if (folder / ADAPTER_MANIFEST).is_file():
        data = _manifest_json(folder / ADAPTER_MANIFEST)
        if "encoder_seconds" in data:
            return RunsWith(data["base_model"], data["encoder_seconds"])
    return None


def resolve_settings(
    folders: list[str | Path | None], model: str, encoder_seconds: int | None = None
) -> tuple[RunsWith, str | None]:
    """How to run `model` with the adapters in `folders` (None entries skipped): in the window they were
    trained in, unless `encoder_seconds` overrides it (then with a one-line warning, returned for the
    caller to show). Refused when they were trained on another base model or in different windows."""
    known = {Path(f): settings for f in folders if f is not None and (settings := runs_with(f)) is not None}
    for folder, settings in known.items():
        if settings.base_model != model:
            raise AdapterError(
                f"{folder} was trained on {settings.base_model}, not {model}: use --model {settings.base_model}"
            )
    windows = {s.encoder_seconds for s in known.values()}
    if len(windows) > 1:
        raise AdapterError(f"these adapters were trained in different encoder windows: {sorted(windows)}")
    trained = RunsWith(model, windows.pop()) if windows else RunsWith(model)
    if encoder_seconds is None or encoder_seconds == trained.encoder_seconds:
        return trained, None
    warning = (
        f"warning: running in a {encoder_seconds} s encoder window; the adapters were trained in "
        f"{trained.encoder_seconds} s, so they may do worse than they did in training"
        if known
        else None
    )
    return RunsWith(model, encoder_seconds), warning


def write_adapter(
    folder: Path, layers: dict[str, tuple[torch.Tensor, torch.Tensor]], placement: AdapterPlacement, base_model: str
) -> None:
    """One PEFT LoRA adapter folder (adapter_config.json + safetensors) of {module name: (A [r, in], B [out, r])}:
    rank r as the factors have it, alpha = s r at the placement's scale s (a shared LoRA's rank differs)."""
    folder.mkdir(parents=True, exist_ok=True)
    rank = next(iter(layers.values()))[0].shape[0]
    config = {
        "peft_type": "LORA",
        "task_type": None,
        "base_model_name_or_path": base_model,
        "r": rank,
        "lora_alpha": placement.scale * rank,
        "lora_dropout": placement.dropout,
        "bias": "none",
        "target_modules": sorted(layers),
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    tensors = {}
    for name, (A, B) in layers.items():
        tensors[f"{KEY_PREFIX}{name}.lora_A.weight"] = A.detach().contiguous().cpu()
        tensors[f"{KEY_PREFIX}{name}.lora_B.weight"] = B.detach().contiguous().cpu()
    save_file(tensors, folder / WEIGHTS_FILE)


def shared_layers(model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{module name: (A, B)} of the LoRA every weighting applies in full: the shared parts beside experts
    (shared design), or the single-expert layers (the paper's shared decoder LoRA)."""
    return {
        name: (layer.shared_A, layer.shared_B) if layer.has_shared else (layer.lora_A[0], layer.lora_B[0])
        for name, layer in adapter_layers(model).items()
        if layer.has_shared or layer.n_experts == 1
    }


def save_experts(
    model: nn.Module, accents: list[str], placement: AdapterPlacement, folder: str | Path, settings: RunsWith
) -> None:
    """Write the model's experts as PEFT adapters, its shared LoRA and the manifest, atomically."""
    layers = adapter_layers(model)
    manifest = ExpertsManifest(
        accents=accents,
        placement=placement,
        base_model=settings.base_model,
        encoder_seconds=settings.encoder_seconds,
    )

    def write(scratch: Path) -> None:
        for index, accent in enumerate(accents):
            own = {
                name: (layer.lora_A[index], layer.lora_B[index])
                for name, layer in layers.items()
                if layer.n_experts == len(accents) > 1
            }
            write_adapter(scratch / accent, own, placement, settings.base_model)
        shared = shared_layers(model)
        if shared:
            write_adapter(scratch / manifest.shared_folder, shared, placement, settings.base_model)
        write_experts_manifest(scratch, manifest)

    replace_folder(Path(folder), write)


def _adapter_config(folder: Path) -> dict:
    """adapter_config.json of a PEFT adapter folder, refused with the folder's name when absent or damaged."""
    if not (folder / CONFIG_FILE).is_file():
        pickled = (
            " (only adapter_model.bin: re-save it as safetensors)" if (folder / "adapter_model.bin").exists() else ""
        )
        raise AdapterError(f"{folder}: no {CONFIG_FILE}{pickled}")
    try:
        return json.loads((folder / CONFIG_FILE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AdapterError(f"{folder / CONFIG_FILE} is not valid JSON ({error}); the adapter is damaged") from None


def read_adapter(folder: str | Path) -> tuple[dict, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """(adapter_config, {module name: (A [r, in], B [out, r])}) of one PEFT LoRA adapter, checked."""
    folder = Path(folder)
    config = _adapter_config(folder)
    if config.get("peft_type") != "LORA":
        raise AdapterError(f"{folder}: a {config.get('peft_type')} adapter, not LoRA")
    # Each of these changes what the factors mean (the scale alpha/sqrt(r), a magnitude vector, per-module
    # ranks or alphas): loaded as plain LoRA they would run at the wrong strength, so they are refused.
    variants = [option for option in PLAIN_LORA_ONLY if config.get(option)]
    if variants:
        raise AdapterError(f"{folder}: an adapter with {', '.join(variants)}; only plain LoRA (scale alpha / r) loads")
    if not (folder / WEIGHTS_FILE).is_file():
        raise AdapterError(f"{folder}: no {WEIGHTS_FILE}; only safetensors weights are loaded")
    tensors = load_file(folder / WEIGHTS_FILE)
    layers = {}
    for key, tensor in tensors.items():
        if not key.endswith(".lora_A.weight"):
            continue
        name = key[: -len(".lora_A.weight")].removeprefix(KEY_PREFIX)
        B = tensors.get(f"{key[: -len('.lora_A.weight')]}.lora_B.weight")
        if B is None:
            raise AdapterError(f"{folder}: {name} has lora_A but no lora_B")
        if not (torch.isfinite(tensor).all() and torch.isfinite(B).all()):
            raise AdapterError(f"{folder}: {name} holds NaN or infinite weights")
        layers[name] = (tensor, B)
    if not layers:
        raise AdapterError(f"{folder}: no LoRA weights in {WEIGHTS_FILE}")
    return config, layers


def _placement_of(
    configs: list[dict], encoder_experts: int, decoder_experts: int, targets: set[str], shared: dict | None = None
) -> AdapterPlacement:
    """The placement adapters with these configs describe; `shared`: the shared LoRA's config in the shared
    design, whose rank may differ from the experts' but not its scale alpha / r."""
    ranks = {c["r"] for c in configs}
    alphas = {float(c["lora_alpha"]) for c in configs}
    if len(ranks) != 1 or len(alphas) != 1:
        raise AdapterError(f"adapters disagree on rank {sorted(ranks)} or alpha {sorted(alphas)}")
    kind = targets_covering(targets)
    if kind is None or set(TARGETS[kind]) != targets:
        raise AdapterError(f"adapters target {sorted(targets)}; supported: q,v or q,k,v,out")
    rank, alpha = ranks.pop(), alphas.pop()
    shared_rank = 0
    if shared is not None:
        shared_rank = shared["r"]
        if not math.isclose(lora_scale(float(shared["lora_alpha"]), shared_rank), lora_scale(alpha, rank)):
            raise AdapterError(
                f"the shared LoRA runs at scale {shared['lora_alpha']}/{shared_rank}, the experts at {alpha:g}/{rank}: "
                "the shared + experts design needs one scale"
            )
    dropout = float(configs[0].get("lora_dropout", 0.0))
    return AdapterPlacement(kind, encoder_experts, decoder_experts, rank, alpha, dropout, shared_rank)


def _fill(
    model: nn.Module,
    layers: dict[str, tuple[torch.Tensor, torch.Tensor]],
    source: Path,
    slot: Callable[[MixtureLoRALinear], tuple[torch.Tensor, torch.Tensor]],
) -> None:
    """Copy each module's (A, B) into the `slot` of its adapted layer (an expert's factors, or the shared ones)."""
    adapted = adapter_layers(model)
    for name, (A, B) in layers.items():
        layer: MixtureLoRALinear | None = adapted.get(name)
        if layer is None:
            raise AdapterError(f"{source}: {name} is not an adapted layer of this model (another base model?)")
        target_A, target_B = slot(layer)
        if A.shape != target_A.shape or B.shape != target_B.shape:
            raise AdapterError(
                f"{source}: {name} has A {tuple(A.shape)}, B {tuple(B.shape)}; this model needs "
                f"{tuple(target_A.shape)}, {tuple(target_B.shape)} (a checkpoint of another model size or rank?)"
            )
        with torch.no_grad():
            target_A.copy_(A)
            target_B.copy_(B)


def fill_expert(
    model: nn.Module, expert_index: int, layers: dict[str, tuple[torch.Tensor, torch.Tensor]], source: Path
) -> None:
    _fill(model, layers, source, lambda layer: (layer.lora_A[expert_index], layer.lora_B[expert_index]))


def fill_shared(model: nn.Module, layers: dict[str, tuple[torch.Tensor, torch.Tensor]], source: Path) -> None:
    """The shared LoRA into each layer's shared part, or, in a layer without one, its single expert (the
    paper's shared decoder LoRA)."""

    def slot(layer: MixtureLoRALinear) -> tuple[torch.Tensor, torch.Tensor]:
        if layer.has_shared:
            return layer.shared_A, layer.shared_B
        if layer.n_experts != 1:
            raise AdapterError(f"{source}: a shared LoRA for a layer of {layer.n_experts} experts and no shared part")
        return layer.lora_A[0], layer.lora_B[0]

    _fill(model, layers, source, slot)


def load_peft_experts(model: nn.Module, experts: dict[str, str | Path], shared: str | Path | None = None) -> list[str]:
    """Inject and fill experts from PEFT adapters {accent: folder} (+ an optional shared LoRA: the decoder's in
    the paper's design; with encoder modules too, the shared + experts design's).

    Every expert must cover the same projections with the same rank; each expert's encoder modules
    (and decoder modules, for MAS in the decoder) must exist in `model`. Returns the accents in order.
    """
    accents = list(experts)
    read = {accent: read_adapter(folder) for accent, folder in experts.items()}
    shared_read = read_adapter(shared) if shared else None
    expert_modules = {name for _, layers in read.values() for name in layers}
    if any(set(layers) != expert_modules for _, layers in read.values()):
        raise AdapterError("the experts adapt different modules; every expert must cover the same projections")
    shared_modules = set(shared_read[1]) if shared_read else set()
    n = len(accents)
    if not any(module_side(m) == "encoder" for m in expert_modules):
        raise AdapterError("the expert adapters hold no encoder modules: MAS-LoRA experts live in the encoder")
    shared_design = any(module_side(m) == "encoder" for m in shared_modules)
    missing = sorted(expert_modules - shared_modules) if shared_design else []
    if missing:
        raise AdapterError(
            f"{shared}: the shared LoRA has no {missing[0]} (and {len(missing) - 1} more): in the shared + experts "
            "design it sits beside every expert"
        )
    expert_decoder = any(module_side(m) == "decoder" for m in expert_modules)
    shared_decoder = 0 if shared_design else int(bool(shared_modules))
    decoder_experts = n if expert_decoder else shared_decoder
    targets = {m.rsplit(".", 1)[-1] for m in expert_modules | shared_modules}
    configs = [config for config, _ in read.values()]
    if shared_read and not shared_design:
        configs.append(shared_read[0])
    placement = _placement_of(configs, n, decoder_experts, targets, shared_read[0] if shared_design else None)
    inject_adapters(model, placement)
    for index, accent in enumerate(accents):
        fill_expert(model, index, read[accent][1], Path(experts[accent]))
    if shared_read:
        fill_shared(model, shared_read[1], Path(shared))
    return accents


def experts_folder(folder: str | Path) -> tuple[dict[str, Path], Path | None]:
    """({accent: adapter folder}, the shared LoRA's folder or None) of a folder written by save_experts."""
    folder = Path(folder)
    manifest = read_experts_manifest(folder)
    shared = folder / manifest.shared_folder
    return {a: folder / a for a in manifest.accents}, (shared if shared.is_dir() else None)


def load_experts(model: nn.Module, folder: str | Path) -> list[str]:
    """Load a folder written by save_experts (manifest + PEFT adapters) into `model`; returns the accents."""
    return load_peft_experts(model, *experts_folder(folder))


def save_adapter(model: nn.Module, placement: AdapterPlacement, folder: str | Path, settings: RunsWith) -> None:
    """A regular LoRA (one expert on every adapted layer) as one PEFT adapter folder and how it runs, atomically."""
    layers = {name: (layer.lora_A[0], layer.lora_B[0]) for name, layer in adapter_layers(model).items()}

    def write(scratch: Path) -> None:
        write_adapter(scratch, layers, placement, settings.base_model)
        (scratch / ADAPTER_MANIFEST).write_text(json.dumps({"format": 1, **asdict(settings)}, indent=2))

    replace_folder(Path(folder), write)


def load_adapter(model: nn.Module, folder: str | Path) -> None:
    """Inject and fill a regular LoRA from one PEFT adapter (ours, or trained with PEFT)."""
    config, layers = read_adapter(folder)
    sides = {module_side(name) for name in layers}
    targets = {name.rsplit(".", 1)[-1] for name in layers}
    inject_adapters(model, _placement_of([config], int("encoder" in sides), int("decoder" in sides), targets))
    fill_expert(model, 0, layers, Path(folder))
