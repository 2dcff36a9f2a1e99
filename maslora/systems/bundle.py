"""What ships with the project: trained experts and a regular LoRA per model size, their accent classifier,
and the demo's example clips. The demo, `record` and the benchmarks start from here.

    assets/experts/tiny.en/
      bundle.json            base model, encoder window, how each part was trained, its expert x accent
                             matrix (train/bundle.py)
      mas-lora/              the MAS-LoRA experts folder (maslora.mixture.peft_io)
      lora/                  the regular LoRA (one PEFT adapter)
      accent-classifier/     the automatic weighting's classifier (train/auto_heads.py)
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
from maslora.systems.combined_whisper import CombinedWhisper
from maslora.systems.compare import AutoWeighting
from maslora.whisper.load import load_whisper

BUNDLED_EXPERTS = ASSETS / "experts"  # one folder per model size
BUNDLE_MANIFEST = "bundle.json"  # {"model", "encoder_seconds", how it was trained}; see train/bundle.py
BUNDLED_EXAMPLES = ASSETS / "examples" / "examples.csv"  # a manifest; see train/examples.py


def bundled_sizes(under: Path | None = None) -> list[str]:
    """Model sizes that ship with trained experts and a regular LoRA (the demo's choices)."""
    return sorted(manifest.parent.name for manifest in (under or BUNDLED_EXPERTS).glob(f"*/{BUNDLE_MANIFEST}"))


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


def bundled_folders(size: str, under: Path | None = None) -> tuple[Path, Path]:
    """(the experts folder, the regular LoRA's adapter folder) of `size`'s bundle (see read_bundle for `under`)."""
    root = (under or BUNDLED_EXPERTS) / size
    return root / "mas-lora", root / "lora"


def bundle_fold(size: str, under: Path | None = None) -> int:
    """The paper fold `size`'s experts trained on: its held-out speakers and prompts they never heard."""
    return read_bundle(size, under)["runs"]["mas-lora"]["config"]["fold"]


def load_bundled_whisper(size: str, encoder_seconds: int | None = None) -> CombinedWhisper:
    """The bundled experts and regular LoRA of `size` on its base model, in the window their metadata
    records unless `encoder_seconds` says otherwise (a deliberate choice: no warning)."""
    experts, adapter = bundled_folders(size)
    settings, _ = resolve_settings([experts, adapter], read_bundle(size)["model"], encoder_seconds)
    return CombinedWhisper(load_whisper(settings.base_model), experts, adapter, settings.encoder_seconds)


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


BUNDLED_CLASSIFIER = "accent-classifier"  # folder beside the bundled experts; bundle.json "auto" says how to use it


def load_bundled_auto(size: str) -> AutoWeighting | None:
    """The bundled experts' automatic weighting, or None if `size` ships without one (see train/auto_heads.py)."""
    auto = read_bundle(size).get("auto")
    if auto is None:
        return None
    classifier, _ = load_head(BUNDLED_EXPERTS / size / BUNDLED_CLASSIFIER)
    return AutoWeighting(classifier, auto["rule"], auto["temperature"])


def bundled_matrix(size: str) -> pd.DataFrame | None:
    """The bundled experts' expert x accent matrix: WER (%) of each expert alone (rows) on each accent's
    held-out test speakers (columns), as train/bundle.py recorded it from the experiments' rows; None
    if the bundle was made without one."""
    matrix = read_bundle(size).get("matrix")
    if matrix is None:
        return None
    table = pd.DataFrame(matrix["wer"]).T  # {"wer": {expert: {accent: WER}}}: experts down, accents across
    return table.rename_axis(index="expert", columns="accent")
