"""The committed base rows decoded again as Whisper as released, in its own 30 s window.

    python -m train.redecode_base [--results assets/results] [--scratch runs/redecode-base]

Rows written before this ran base in the window the adapters beside it were trained in (10 s for the
bundled tiny.en experts), where tiny.en loops on some short clips that it transcribes well in 30 s. Every
base row of the rows files whose `encoder_seconds` is not Whisper's own window is decoded again, greedily
as every experiment decodes, and rewritten in place (the same tags, order and reference; new hypothesis,
error counts and window). Each clip is decoded once, however many rows share it (base rows repeat per seed
and per experiment); the decoded clips wait in --scratch, so an interrupted run resumes where it stopped.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python train/redecode_base.py` works too

import pandas as pd

from maslora.atomic import replace_file
from maslora.systems.evaluation import Models, evaluate, read_rows
from maslora.whisper.encoder_window import FULL_WINDOW_SECONDS
from train.experiments import ROOT

DECODED = ("hypothesis", "errors", "substitutions", "deletions", "insertions", "reference_words", "encoder_seconds")


def stale(row: dict) -> bool:
    """A base row decoded in a window other than Whisper's own."""
    return row["system"] == "base" and row.get("encoder_seconds", FULL_WINDOW_SECONDS) != FULL_WINDOW_SECONDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=ROOT / "assets" / "results")
    parser.add_argument("--scratch", type=Path, default=ROOT / "runs" / "redecode-base")
    args = parser.parse_args()
    files = {path: read_rows(path) for path in sorted((args.results / "rows").glob("*.jsonl"))}
    old = [row for rows in files.values() for row in rows if stale(row)]
    if not old:
        print("every base row is already in Whisper's own window")
        return
    for model in sorted({row["model"] for row in old}):
        clips = pd.DataFrame(old)[lambda rows: rows.model == model].drop_duplicates("path")
        table = clips[["utterance_id", "speaker", "accent", "path"]].assign(text=clips.reference)
        print(f"{model}: {len(old)} base rows, {len(table)} clips", flush=True)
        evaluate(table, ["base"], Models(model=model), args.scratch / f"{model}.jsonl")
    decoded = {
        (row["model"], row["path"]): row for model_rows in args.scratch.glob("*.jsonl") for row in read_rows(model_rows)
    }
    for path, rows in files.items():
        if any(stale(row) for row in rows):
            fresh = [
                {**row, **{k: decoded[row["model"], row["path"]][k] for k in DECODED}} if stale(row) else row
                for row in rows
            ]
            text = "".join(json.dumps(row) + "\n" for row in fresh)
            replace_file(path, lambda scratch, text=text: scratch.write_text(text, encoding="utf-8"))
            print(f"{path}: {sum(stale(row) for row in rows)} base rows decoded again")


if __name__ == "__main__":
    main()
