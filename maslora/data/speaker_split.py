"""Speaker-disjoint train / validation / test parts of a corpus, fixed in a committed file (speaker,age,gender,part).

speechocean762's sentences almost never repeat across speakers, so there are no prompt folds as in
L2-ARCTIC: a part is a set of whole speakers. `draw_speaker_split` drew the file once, stratified by age
group and gender so that adults and children, women and men are in every part; it is committed so that
every run, machine and reader holds out the same speakers, and no test speaker ever trains, picks a
checkpoint or a weight rule. Speakers of the published corpus's own test half, which the file does not
list (it covers the train half), form one more held-out part, "official-test".
"""

import csv
import random
from dataclasses import replace
from pathlib import Path

import pandas as pd

from maslora.atomic import replace_file
from maslora.data.corpora import ASSETS
from maslora.data.speechocean import age_group, load_speechocean762, select_age_group
from maslora.data.splits import Split
from maslora.errors import CorpusError

SPEECHOCEAN_SPLIT = ASSETS / "splits" / "speechocean762-train.csv"  # the 125 speakers of the shared train half
PARTS = ("train", "validation", "test")
OFFICIAL_TEST = "official-test"  # the published test half's speakers, when a user has the whole corpus
HELD_OUT_FRACTIONS = {"test": 0.24, "validation": 0.12}  # of each stratum: 30 / 15 / 80 speakers of 125
SPLIT_COLUMNS = ["speaker", "age", "gender", "part"]


def draw_speaker_split(speakers: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """speakers (speaker, age, gender) -> the same with `part`: within each (age group, gender) stratum,
    sorted by speaker and shuffled with `seed`, the first round(0.24 n) are test, the next round(0.12 n)
    validation, the rest train (adult women: 41 -> 10 / 5 / 26)."""
    speakers = speakers.sort_values("speaker").reset_index(drop=True)
    parts = pd.Series("train", index=speakers.index)
    for stratum, members in speakers.groupby([age_group(speakers.age), speakers.gender]):
        order = list(members.index)
        random.Random(f"{seed} {stratum}").shuffle(order)
        start = 0
        for part, fraction in HELD_OUT_FRACTIONS.items():
            count = round(fraction * len(order))
            parts.loc[order[start : start + count]] = part
            start += count
    return speakers.assign(part=parts)[SPLIT_COLUMNS]


def speakers_of(table: pd.DataFrame) -> pd.DataFrame:
    """One row per speaker of a corpus table (speaker, age, gender); a speaker given two ages is an error."""
    speakers = table.groupby("speaker").agg(age=("age", "first"), gender=("gender", "first"), ages=("age", "nunique"))
    conflicting = speakers.index[speakers.ages > 1].tolist()
    if conflicting:
        raise CorpusError(f"speaker(s) {', '.join(conflicting)} have rows with different ages")
    return speakers.reset_index()[["speaker", "age", "gender"]]


def write_speaker_split(split: pd.DataFrame, path: Path) -> None:
    """Write the split file in one piece (a kill never leaves half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, lambda temporary: split[SPLIT_COLUMNS].to_csv(temporary, index=False))


def read_speaker_split(path: Path) -> dict[str, tuple[str, str]]:
    """{speaker: (part, "file:line")}; an unknown part or a speaker listed twice is an error naming the line."""
    if not path.is_file():
        raise CorpusError(f"split file not found: {path}")
    parts: dict[str, tuple[str, str]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not {"speaker", "part"} <= set(reader.fieldnames or []):
            raise CorpusError(f"{path}: header must have speaker and part columns, got {reader.fieldnames}")
        for number, row in enumerate(reader, start=2):
            where, speaker, part = f"{path}:{number}", (row["speaker"] or "").strip(), (row["part"] or "").strip()
            if part not in PARTS:
                raise CorpusError(f"{where}: part must be one of {', '.join(PARTS)}, got {part!r}")
            if speaker in parts:
                raise CorpusError(f"{where}: speaker {speaker} is listed again (first at {parts[speaker][1]})")
            parts[speaker] = (part, where)
    return parts


def speaker_parts(table: pd.DataFrame, path: Path = SPEECHOCEAN_SPLIT) -> pd.Series:
    """The part of each row of `table` by the split file: one of PARTS, or OFFICIAL_TEST for the published
    test half's speakers the file does not list. A listed speaker the corpus lacks, or one the file does not
    place, is an error: a split that silently lost speakers would report on a different test set."""
    parts = read_speaker_split(path)
    present = set(table.speaker)
    for speaker, (_, where) in parts.items():
        if speaker not in present:
            raise CorpusError(f"{where}: speaker {speaker} is not in the corpus (is it the right corpus?)")
    official_test = table.get("official_split", pd.Series("", index=table.index)) == "test"
    part = [parts[s][0] if s in parts else OFFICIAL_TEST if o else "" for s, o in zip(table.speaker, official_test)]
    unplaced = sorted({speaker for speaker, p in zip(table.speaker, part) if not p})
    if unplaced:
        raise CorpusError(f"{path} does not place speaker(s) {', '.join(unplaced[:10])}: add them to a part")
    return pd.Series(part, index=table.index)


def speaker_split(table: pd.DataFrame, path: Path = SPEECHOCEAN_SPLIT) -> Split:
    """`table` split by the file's parts (see speaker_parts). Split first, then select adults or children
    within a part. The paper's validation reading (training speakers on held-out sentences) has no
    counterpart here, where each sentence is read once: it stays empty."""
    part = speaker_parts(table, path)
    rows = {name: table[part == name].reset_index(drop=True) for name in PARTS}
    return Split(path.stem, rows["train"], rows["validation"], rows["test"], paper_validation=table.iloc[:0])


def real_speech_split(source: str | Path, split_file: str | Path | None = None, ages: str | None = None) -> Split:
    """speechocean762 at `source` split by `split_file` (None: the committed one), only `ages` ("adults",
    "children"; None: both) in every part."""
    split = speaker_split(load_speechocean762(source), Path(split_file) if split_file else SPEECHOCEAN_SPLIT)
    return replace(
        split,
        train=select_age_group(split.train, ages).reset_index(drop=True),
        validation=select_age_group(split.validation, ages).reset_index(drop=True),
        test=select_age_group(split.test, ages).reset_index(drop=True),
    )


def join_real_speech(split: Split, real: Split, instead: bool, unseen_accent: str | None = None) -> Split:
    """`split` (a fold of the synthetic corpus) with `real`'s training and validation speakers added; with
    `instead`, the synthetic training speakers of the real speakers' accents leave training (that accent
    learns from real speech alone). The test part stays `split`'s: real test speakers are scored apart.
    `unseen_accent` stays out of training and validation, real or not."""
    seen = {
        name: part[part.accent != unseen_accent]
        for name, part in (("train", real.train), ("validation", real.validation))
    }
    synthetic_train = split.train[~split.train.accent.isin(set(seen["train"].accent))] if instead else split.train
    return replace(
        split,
        name=f"{split.name}+{real.name}",
        train=pd.concat([synthetic_train, seen["train"]], ignore_index=True),
        validation=pd.concat([split.validation, seen["validation"]], ignore_index=True),
    )
