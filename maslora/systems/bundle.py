"""What ships with the project: trained experts and a regular LoRA per model size, their accent classifier,
and the demo's example clips. The demo, `record` and the benchmarks start from here.

    assets/experts/tiny.en/
      bundle.json            base model, encoder window, how each part was trained, each mixture's expert x
                             accent matrix (train/bundle.py) and automatic weighting (train/auto_heads.py)
      mas-lora/              the default mixture: the MAS-LoRA experts folder (maslora.mixture.peft_io) of the
                             design the validation speakers chose
      mas-lora-paper/        the paper's placement, kept beside it when the default is another design
      lora/                  the regular LoRA (one PEFT adapter)
      accent-classifier/     the automatic weighting's classifier, one for every mixture (train/auto_heads.py)
"""

import json
from pathlib import Path

import pandas as pd

from maslora.auto.accent_id import load_head
from maslora.data.corpora import ASSETS
from maslora.data.speaker_split import SPEECHOCEAN_SPLIT
from maslora.data.speechocean import ACCENT as SPEECHOCEAN_ACCENT
from maslora.data.speechocean import select_age_group
from maslora.errors import AdapterError
from maslora.mixture.peft_io import resolve_settings
from maslora.systems.clip_cache import ClipCache
from maslora.systems.combined_whisper import CombinedWhisper
from maslora.systems.compare import AutoWeighting
from maslora.whisper.load import BUNDLED_MODELS, load_whisper

BUNDLED_EXPERTS = ASSETS / "experts"  # one folder per model size
BUNDLE_MANIFEST = "bundle.json"  # {"model", "encoder_seconds", how it was trained}; see train/bundle.py
BUNDLED_EXAMPLES = ASSETS / "examples" / "examples.csv"  # a manifest; see train/examples.py
DEFAULT_MIXTURE = "mas-lora"  # the experts folder (and bundle.json run) the page, `--experts` and the CLI load
PAPER_MIXTURE = "mas-lora-paper"  # the paper's placement, bundled beside a default of another design
MIXTURES = (DEFAULT_MIXTURE, PAPER_MIXTURE)  # the mixtures a bundle can hold, the default first
# The precision each size runs the page in (maslora.whisper.precision): int8 only where the development
# speakers measured it within analysis.exp_precision's bound (tests/test_precision.py holds this to the rows);
# every other size, and every experiment, float32.
PAGE_PRECISION: dict[str, str] = {}


def bundled_sizes(under: Path | None = None) -> list[str]:
    """Model sizes that ship with trained experts and a regular LoRA (the demo's choices), smallest first
    (BUNDLED_MODELS' order, then any other by name): the first is the page's default, as the fastest."""
    sizes = {manifest.parent.name for manifest in (under or BUNDLED_EXPERTS).glob(f"*/{BUNDLE_MANIFEST}")}
    order = list(BUNDLED_MODELS)
    return sorted(sizes, key=lambda size: (order.index(size) if size in order else len(order), size))


def read_bundle(size: str, under: Path | None = None) -> dict:
    """The bundle.json of `size`'s bundled experts: base model, encoder window, training configs. `under`: the
    demo's bundles by default, or a folder of earlier bundles kept for their results (assets/synthetic-experts)."""
    under = under or BUNDLED_EXPERTS  # resolved here, not as a default, so that tests can point it elsewhere
    path = under / size / BUNDLE_MANIFEST
    if not path.is_file():
        raise AdapterError(
            f"no bundled experts for {size} in {under}; there: {', '.join(bundled_sizes(under)) or 'none'}"
        )
    return json.loads(path.read_text())


def _mixtures(runs: dict) -> list[str]:
    return [mixture for mixture in MIXTURES if mixture in runs]


def bundled_mixtures(size: str) -> list[str]:
    """The MAS-LoRA experts folders `size`'s bundle holds, the default first: the page's mixture choices."""
    return _mixtures(read_bundle(size)["runs"])


def mixture_record(size: str, mixture: str, under: Path | None = None) -> dict:
    """bundle.json's record of one bundled mixture: its run's config and best step, its matrix and "auto". A
    mixture the bundle lacks is an AdapterError naming the ones it has (see read_bundle for `under`)."""
    runs = read_bundle(size, under)["runs"]
    if mixture not in _mixtures(runs):
        raise AdapterError(f"the {size} bundle has no mixture {mixture!r}; it has {', '.join(_mixtures(runs))}")
    return runs[mixture]


def bundled_folders(size: str, under: Path | None = None, mixture: str = DEFAULT_MIXTURE) -> tuple[Path, Path]:
    """(the experts folder of `mixture`, the regular LoRA's adapter folder) of `size`'s bundle (see read_bundle
    for `under`); a mixture the bundle lacks is named, not a missing folder."""
    mixture_record(size, mixture, under)
    root = (under or BUNDLED_EXPERTS) / size
    return root / mixture, root / "lora"


def bundle_fold(size: str, under: Path | None = None) -> int:
    """The paper fold `size`'s experts trained on: its held-out speakers and prompts they never heard."""
    return read_bundle(size, under)["runs"]["mas-lora"]["config"]["fold"]


def page_precision(size: str) -> str:
    return PAGE_PRECISION.get(size, "float32")


def load_bundled_whisper(
    size: str,
    encoder_seconds: int | None = None,
    mixture: str = DEFAULT_MIXTURE,
    cache: ClipCache | None = None,
    precision: str = "float32",
) -> CombinedWhisper:
    """The bundled experts of `mixture` and regular LoRA of `size` on its base model, in the window their
    metadata records unless `encoder_seconds` says otherwise (a deliberate choice: no warning); with `cache`,
    what it decodes is kept; in `precision` (see CombinedWhisper; the page's is page_precision(size))."""
    experts, adapter = bundled_folders(size, mixture=mixture)
    settings, _ = resolve_settings([experts, adapter], read_bundle(size)["model"], encoder_seconds)
    whisper = load_whisper(settings.base_model)
    return CombinedWhisper(whisper, experts, adapter, settings.encoder_seconds, cache=cache, precision=precision)


def bundled_real_speech(size: str, under: Path | None = None) -> dict[str, dict | None]:
    """What real accented speech each bundled run ("mas-lora", "lora") heard: {"speakers": how many real
    training speakers of accent "accent", "placement": "beside" or "instead" of that accent's synthetic
    voices, "ages"}, or None for synthetic accents only. From the runs' configs (train/real_speech.py)."""
    heard = {}
    for name, run in read_bundle(size, under)["runs"].items():
        config = run["config"]
        if not config.get("real_corpus"):
            heard[name] = None
            continue
        split = pd.read_csv(config.get("real_split") or SPEECHOCEAN_SPLIT, dtype={"speaker": str})
        train = select_age_group(split[split.part == "train"], config.get("real_ages"))
        heard[name] = {
            "speakers": len(train),
            "accent": SPEECHOCEAN_ACCENT,
            "placement": config["real_speech"],
            "ages": config.get("real_ages"),
        }
    return heard


BUNDLED_CLASSIFIER = "accent-classifier"  # beside the bundled experts; each mixture's "auto" says how to use it


def load_bundled_auto(size: str, mixture: str = DEFAULT_MIXTURE) -> AutoWeighting | None:
    """A bundled mixture's automatic weighting, or None if it ships without one (see train/auto_heads.py)."""
    auto = mixture_record(size, mixture).get("auto")
    if auto is None:
        return None
    classifier, _ = load_head(BUNDLED_EXPERTS / size / BUNDLED_CLASSIFIER)
    return AutoWeighting(classifier, auto["rule"], auto["temperature"])


def bundled_matrix(size: str, mixture: str = DEFAULT_MIXTURE) -> pd.DataFrame | None:
    """A bundled mixture's expert x accent matrix: WER (%) of each expert alone (rows) on each accent's
    held-out test speakers (columns), as train/bundle.py recorded it from the experiments' rows; None
    if the bundle was made without one."""
    matrix = mixture_record(size, mixture).get("matrix")
    if matrix is None:
        return None
    table = pd.DataFrame(matrix["wer"]).T  # {"wer": {expert: {accent: WER}}}: experts down, accents across
    return table.rename_axis(index="expert", columns="accent")
