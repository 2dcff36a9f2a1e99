"""speechocean762 (Zhang et al., 2021, arXiv 2104.01378; CC BY 4.0): real Mandarin-L1 speakers reading English.

    load_speechocean762("speechocean762/")        the corpus as published: train/ and test/ Kaldi folders
                                                   (text, wav.scp, utt2spk, spk2age, spk2gender) and WAVE/
    load_speechocean762("speechocean762-train/")   a folder with manifest.csv (path,text,accent,speaker,age,...)
    load_speechocean762("my-copy/manifest.csv")    the manifest itself

One table as maslora.data.corpora gives it (COLUMNS), plus age (years) and gender, and for the published
layout official_split: the corpus's own halves ("train", "test"; 125 speakers each). Every speaker's first
language is Mandarin, so the accent label is "mandarin"; transcripts come in sentence case (sentence_case).
A row that cannot be used (no transcript, no speaker, a speaker with no age, a missing audio file) is a
CorpusError naming the file and line, or, with a `skipped` list, described there: never dropped silently.
"""

from pathlib import Path

import pandas as pd

from maslora.data.corpora import corpus_problem, corpus_table, load_manifest
from maslora.errors import CorpusError

ACCENT = "mandarin"  # the first language of all 250 speakers
ADULT_AGE = 18  # adults are 18 and over; the corpus's train half has 67 of them (1,340 utterances) and 58 children
AGE_GROUPS = ("adults", "children")
KALDI_PARTS = ("train", "test")  # the corpus's official halves, each a Kaldi data folder
KALDI_FILES = ("text", "wav.scp", "utt2spk", "spk2age", "spk2gender")
MANIFEST = "manifest.csv"


def sentence_case(text: str) -> str:
    """ "I'M NOT A ACTOR" -> "I'm not a actor". The corpus writes capitals and Whisper sentence case; a training
    target in capitals would teach the decoder capitals. Names lose theirs ("Look at ann's pants"): WER ignores
    case, and a list of names would be a guess."""
    words = [("I" + word[1:]) if word == "i" or word.startswith("i'") else word for word in text.lower().split()]
    sentence = " ".join(words)
    return sentence[:1].upper() + sentence[1:]


def read_kaldi_table(path: Path) -> dict[str, tuple[str, str]]:
    """A Kaldi table, "key value" per line -> {key: (value, "file:line")}: "000010011 WE CALL IT BEAR" ->
    {"000010011": ("WE CALL IT BEAR", ".../text:1")}. A key without a value or a repeated key is an error."""
    if not path.is_file():
        raise CorpusError(f"{path}: missing; a speechocean762 data folder holds {', '.join(KALDI_FILES)}")
    table: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(maxsplit=1)  # spaces or tabs: the published files use both
        where = f"{path}:{number}"
        if len(fields) < 2:
            raise CorpusError(f"{where}: expected a key and a value, got {line.strip()[:60]!r}")
        if fields[0] in table:
            raise CorpusError(f"{where}: {fields[0]} appears again (first at {table[fields[0]][1]})")
        table[fields[0]] = (fields[1].strip(), where)
    return table


def load_kaldi_part(root: Path, part: str, skipped: list[str] | None = None) -> list[dict]:
    """The rows of one official half (`root`/`part`/ Kaldi files, audio paths relative to `root`)."""
    tables = {name: read_kaldi_table(root / part / name) for name in KALDI_FILES}
    rows = []
    for utterance, (audio_path, where) in tables["wav.scp"].items():
        speaker = tables["utt2spk"].get(utterance, ("", ""))[0]
        age, gender = (tables[name].get(speaker, ("", ""))[0] for name in ("spk2age", "spk2gender"))
        audio = root / audio_path
        if utterance not in tables["text"]:
            corpus_problem(f"{where}: {utterance} has no transcript in {root / part / 'text'}", skipped)
        elif not speaker:
            corpus_problem(f"{where}: {utterance} has no speaker in {root / part / 'utt2spk'}", skipped)
        elif not age.isdigit():
            corpus_problem(
                f"{where}: speaker {speaker} of {utterance} has no age in {root / part / 'spk2age'}", skipped
            )
        elif not audio.is_file():
            corpus_problem(f"{where}: audio file not found: {audio}", skipped)
        else:
            rows.append(
                {
                    "path": str(audio),
                    "text": sentence_case(tables["text"][utterance][0]),
                    "speaker": speaker,
                    "accent": ACCENT,
                    "utterance_id": utterance,
                    "age": age,
                    "gender": gender,
                    "official_split": part,
                }
            )
    return rows


def load_speechocean762(source: str | Path, skipped: list[str] | None = None) -> pd.DataFrame:
    """The corpus in either layout (see the module docstring), one row per utterance, with age and gender."""
    source = Path(source)
    if source.is_dir() and (source / MANIFEST).is_file():
        source = source / MANIFEST
    if source.is_file():
        table = load_manifest(source, skipped, required=("speaker", "age"))
        return table.assign(text=table.text.map(sentence_case))
    parts = [part for part in KALDI_PARTS if (source / part / "wav.scp").is_file()]
    if not source.is_dir() or not parts:
        raise CorpusError(
            f"{source}: not a speechocean762 corpus: expected {' or '.join(f'{p}/wav.scp' for p in KALDI_PARTS)} "
            f"(the published layout, beside WAVE/) or a {MANIFEST} with path,text,accent,speaker,age"
        )
    rows = [row for part in parts for row in load_kaldi_part(source, part, skipped)]
    if not rows:
        raise CorpusError(f"{source}: no usable utterances")
    return corpus_table(rows)


def age_group(ages: pd.Series) -> pd.Series:
    """ "adults" (ADULT_AGE and over) or "children" per row; an unknown age is an error, not a guess."""
    if ages.isna().any():
        raise CorpusError(f"{int(ages.isna().sum())} rows have no age: adults and children cannot be told apart")
    return ages.map(lambda age: AGE_GROUPS[0] if age >= ADULT_AGE else AGE_GROUPS[1])


def select_age_group(table: pd.DataFrame, group: str | None) -> pd.DataFrame:
    """Only the rows of "adults" or "children" (None: all of them)."""
    if group is None:
        return table
    if group not in AGE_GROUPS:
        raise ValueError(f"age group must be one of {', '.join(AGE_GROUPS)}, got {group!r}")
    if "age" not in table.columns:
        raise CorpusError("this corpus has no age column: adults and children cannot be told apart")
    return table[age_group(table.age) == group]
