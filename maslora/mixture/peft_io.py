"""Experts on disk as standard PEFT LoRA adapters (adapter_config.json + adapter_model.safetensors).

A MAS-LoRA folder holds one PEFT adapter per accent (its encoder expert, and its decoder expert when
the decoder is MAS too), one adapter for the shared decoder LoRA, and a small manifest:

    experts/
      experts.json             {"accents": [...], "placement": {...}, "base_model": "tiny.en", "encoder_seconds": 10}
      arabic/adapter_config.json, arabic/adapter_model.safetensors
      ...
      decoder/...              the shared decoder LoRA (absent when the decoder is not adapted)

A regular LoRA is one PEFT adapter folder, with maslora.json beside it saying how it runs (base model,
encoder window). Each adapter loads with PEFT alone (`PeftModel.from_pretrained(whisper, "experts/arabic")`), and
adapters someone trained with PEFT load here as experts. Safetensors only: pickled weights can run code.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from maslora.atomic import replace_folder
from maslora.errors import AdapterError
from maslora.mixture.layer import (
    TARGETS,
    AdapterPlacement,
    MixtureLoRALinear,
    adapter_layers,
    inject_adapters,
    module_side,
    targets_covering,
)
from maslora.whisper.encoder_window import FULL_WINDOW_SECONDS

MANIFEST = "experts.json"
ADAPTER_MANIFEST = "maslora.json"  # a regular LoRA's: PEFT's own config has no place for the window
MANIFEST_FORMAT = 1  # what experts.json and maslora.json hold today; a later format is refused, never misread
SHARED_DECODER = "decoder"
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
    except TypeError as error:
        raise AdapterError(f"{path}: placement {data['placement']}: {error}") from None
    return ExpertsManifest(
        accents=list(data["accents"]),
        placement=placement,
        base_model=data["base_model"],
        encoder_seconds=data.get("encoder_seconds"),
    )


def write_experts_manifest(folder: Path, manifest: ExpertsManifest) -> None:
    settings = {"base_model": manifest.base_model}
    if manifest.encoder_seconds is not None:
        settings["encoder_seconds"] = manifest.encoder_seconds
    data = {"format": MANIFEST_FORMAT, **settings, "accents": manifest.accents, "placement": asdict(manifest.placement)}
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
    """One PEFT LoRA adapter folder (adapter_config.json + safetensors) of {module name: (A [r, in], B [out, r])}."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "peft_type": "LORA",
        "task_type": None,
        "base_model_name_or_path": base_model,
        "r": placement.rank,
        "lora_alpha": placement.alpha,
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


def save_experts(
    model: nn.Module, accents: list[str], placement: AdapterPlacement, folder: str | Path, settings: RunsWith
) -> None:
    """Write the model's experts as PEFT adapters plus the manifest, atomically."""
    layers = adapter_layers(model)

    def write(scratch: Path) -> None:
        for index, accent in enumerate(accents):
            own = {
                name: (layer.lora_A[index], layer.lora_B[index])
                for name, layer in layers.items()
                if layer.n_experts == len(accents) > 1
            }
            write_adapter(scratch / accent, own, placement, settings.base_model)
        shared = {n: (layer.lora_A[0], layer.lora_B[0]) for n, layer in layers.items() if layer.n_experts == 1}
        if shared:
            write_adapter(scratch / SHARED_DECODER, shared, placement, settings.base_model)
        manifest = ExpertsManifest(
            accents=accents,
            placement=placement,
            base_model=settings.base_model,
            encoder_seconds=settings.encoder_seconds,
        )
        write_experts_manifest(scratch, manifest)

    replace_folder(Path(folder), write)


def read_adapter(folder: str | Path) -> tuple[dict, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """(adapter_config, {module name: (A [r, in], B [out, r])}) of one PEFT LoRA adapter, checked."""
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file():
        pickled = (
            " (only adapter_model.bin: re-save it as safetensors)" if (folder / "adapter_model.bin").exists() else ""
        )
        raise AdapterError(f"{folder}: no {CONFIG_FILE}{pickled}")
    config = json.loads((folder / CONFIG_FILE).read_text())
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
    configs: list[dict], encoder_experts: int, decoder_experts: int, targets: set[str]
) -> AdapterPlacement:
    ranks = {c["r"] for c in configs}
    alphas = {float(c["lora_alpha"]) for c in configs}
    if len(ranks) != 1 or len(alphas) != 1:
        raise AdapterError(f"adapters disagree on rank {sorted(ranks)} or alpha {sorted(alphas)}")
    kind = targets_covering(targets)
    if kind is None or set(TARGETS[kind]) != targets:
        raise AdapterError(f"adapters target {sorted(targets)}; supported: q,v or q,k,v,out")
    return AdapterPlacement(
        kind, encoder_experts, decoder_experts, ranks.pop(), alphas.pop(), float(configs[0].get("lora_dropout", 0.0))
    )


def fill_expert(
    model: nn.Module, expert_index: int, layers: dict[str, tuple[torch.Tensor, torch.Tensor]], source: Path
) -> None:
    adapted = adapter_layers(model)
    for name, (A, B) in layers.items():
        layer: MixtureLoRALinear | None = adapted.get(name)
        if layer is None:
            raise AdapterError(f"{source}: {name} is not an adapted layer of this model (another base model?)")
        if A.shape != layer.lora_A.shape[1:] or B.shape != layer.lora_B.shape[1:]:
            raise AdapterError(
                f"{source}: {name} has A {tuple(A.shape)}, B {tuple(B.shape)}; this model needs "
                f"{tuple(layer.lora_A.shape[1:])}, {tuple(layer.lora_B.shape[1:])} (a checkpoint of another model "
                "size?)"
            )
        with torch.no_grad():
            layer.lora_A[expert_index] = A.to(layer.lora_A)
            layer.lora_B[expert_index] = B.to(layer.lora_B)


def load_peft_experts(
    model: nn.Module, experts: dict[str, str | Path], shared_decoder: str | Path | None = None
) -> list[str]:
    """Inject and fill experts from PEFT adapters {accent: folder} (+ an optional shared decoder LoRA).

    Every adapter must cover the same projections with the same rank; each expert's encoder modules
    (and decoder modules, for MAS in the decoder) must exist in `model`. Returns the accents in order.
    """
    accents = list(experts)
    read = {accent: read_adapter(folder) for accent, folder in experts.items()}
    shared = read_adapter(shared_decoder) if shared_decoder else None
    expert_modules = {name for _, layers in read.values() for name in layers}
    if any(set(layers) != expert_modules for _, layers in read.values()):
        raise AdapterError("the experts adapt different modules; every expert must cover the same projections")
    shared_modules = set(shared[1]) if shared else set()
    n = len(accents)
    has_encoder = any(module_side(m) == "encoder" for m in expert_modules)
    if not has_encoder:
        raise AdapterError("the expert adapters hold no encoder modules: MAS-LoRA experts live in the encoder")
    decoder_experts = n if any(module_side(m) == "decoder" for m in expert_modules) else (1 if shared_modules else 0)
    targets = {m.rsplit(".", 1)[-1] for m in expert_modules | shared_modules}
    configs = [config for config, _ in read.values()] + ([shared[0]] if shared else [])
    inject_adapters(model, _placement_of(configs, n, decoder_experts, targets))
    for index, accent in enumerate(accents):
        fill_expert(model, index, read[accent][1], Path(experts[accent]))
    if shared:
        fill_expert(model, 0, shared[1], Path(shared_decoder))
    return accents


def experts_folder(folder: str | Path) -> tuple[dict[str, Path], Path | None]:
    """({accent: adapter folder}, the shared decoder's folder or None) of a folder written by save_experts."""
    folder = Path(folder)
    shared = folder / SHARED_DECODER
    return {a: folder / a for a in read_experts_manifest(folder).accents}, (shared if shared.is_dir() else None)


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
