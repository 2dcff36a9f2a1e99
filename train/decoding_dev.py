"""How the demo and the commands decode, chosen on development speech only.

    python -m train.decoding_dev --real ../shared/data/speechocean762-train [--size tiny.en] [--native 100]
                                 [--results assets/results]

The demo's bundled systems (base in its own 30 s window; the regular LoRA and MAS-LoRA, accent unknown and
at beta 2, in their 10 s window) decode three development sets, sets that no reported figure is measured on:
    speechocean762-validation  the real Mandarin-L1 validation speakers of the speaker split (assets/splits/),
                               which chose the bundled runs' checkpoints and no run trained on
    synthetic-validation       the validation speakers of the bundle's fold of the embedded corpus
    cc0-native-dev             real native recordings of the fold's training prompts (which synthetic voices
                               read in training): the forgetting experiment scores the 92 of the other prompts
under every decoding of analysis.exp_decoding.DECODINGS, into rows/decoding.jsonl tagged with set and
decoding. A rerun decodes only the rows missing. analysis.exp_decoding turns them into the report's
decoding section.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python train/decoding_dev.py` works too

import pandas as pd

from analysis.exp_decoding import DECODINGS
from maslora.data.corpora import NATIVE_RECORDINGS, load_manifest
from maslora.data.speaker_split import real_speech_split
from maslora.data.splits import paper_fold
from maslora.synth.generate import corpus_or_embedded
from maslora.systems.bundle import bundle_fold, bundled_folders, read_bundle
from maslora.systems.evaluation import Models, evaluate

ROOT = Path(__file__).resolve().parent.parent

SYSTEMS = ["base", "lora", "mas-uniform", "mas-beta2"]


def development_sets(real: str, fold: int, native_clips: int) -> dict[str, pd.DataFrame]:
    """{set name: manifest table} of the three development sets (see the module's docstring)."""
    split = paper_fold(corpus_or_embedded(None), fold)
    cathy = load_manifest(NATIVE_RECORDINGS)
    return {
        "speechocean762-validation": real_speech_split(real).validation,
        "synthetic-validation": split.validation,
        "cc0-native-dev": cathy[cathy.utterance_id.isin(set(split.train.utterance_id))].head(native_clips),
    }


def development_arguments(description: str) -> argparse.Namespace:
    """--real, --size, --native and --results: which development sets, and whose bundled systems decode them."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", required=True, help="speechocean762 (either layout): its validation speakers")
    parser.add_argument("--size", default="tiny.en", help="whose bundled experts decode")
    parser.add_argument("--native", type=int, default=100, help="native development clips")
    parser.add_argument("--results", type=Path, default=ROOT / "assets" / "results")
    return parser.parse_args()


def page_models(size: str, precision: str = "float32") -> Models:
    """The bundled systems of `size` as the page loads them (in `precision`)."""
    bundle, (experts, adapter) = read_bundle(size), bundled_folders(size)
    seconds = bundle["encoder_seconds"]
    return Models(model=bundle["model"], experts=experts, adapter=adapter, encoder_seconds=seconds, precision=precision)


def main() -> None:
    args = development_arguments(__doc__)
    models = page_models(args.size)
    for set_name, table in development_sets(args.real, bundle_fold(args.size), args.native).items():
        for decoding, options in DECODINGS.items():
            print(f"{set_name}: {len(table)} clips, {decoding}", flush=True)
            tags = {"set": set_name, "decoding": decoding}
            evaluate(table, SYSTEMS, models, args.results / "rows" / "decoding.jsonl", tags, decoding=options)


if __name__ == "__main__":
    main()
