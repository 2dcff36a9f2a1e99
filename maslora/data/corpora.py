"""Speech corpora -> one table: path, text, speaker, accent, utterance_id (a pandas DataFrame, one row a clip).

    load_corpus("L2-ARCTIC/")           real L2-ARCTIC: <SPK>/wav/*.wav + <SPK>/transcript/*.txt
    load_corpus("data/synthetic/")      the synthetic stand-in: same layout, accents from speakers.csv
    load_corpus("my_data.csv")          a manifest: path,text,accent[,speaker,utterance_id,age,gender] (CSV or .jsonl)
    load_corpus("LibriSpeech/test-clean/")  LibriSpeech folders (*.trans.txt), accent "native"

A malformed row or a missing file raises CorpusError naming the file (and line); pass a list as
`skipped` to have such entries skipped and described in that list instead.
"""

import csv
import json
import re
from pathlib import Path

import pandas as pd

from maslora.errors import CorpusError

ASSETS = Path(__file__).resolve().parents[2] / "assets"  # the project's assets/ folder, beside maslora/
NATIVE_RECORDINGS = ASSETS / "native" / "manifest.csv"  # 593 real CC0 native recordings of ARCTIC prompts
ARCTIC_PROMPTS = ASSETS / "cmuarctic.data"  # the 1,132 CMU ARCTIC prompts every L2-ARCTIC speaker reads
SPEAKERS_FILE = "speakers.csv"  # beside the speaker folders of a synthetic corpus: speaker,accent,...
COLUMNS = ["path", "text", "speaker", "accent", "utterance_id"]
OPTIONAL_COLUMNS = ("speaker", "utterance_id", "age", "gender")  # a manifest may give these; age in years
EXTRA_COLUMNS = ("age", "gender", "official_split")  # kept beside COLUMNS when a corpus has them
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")

# L2-ARCTIC's 24 speakers and their first languages, in the order the paper's folds refer to them.
L2_ARCTIC_SPEAKERS = {
    "arabic": ["ABA", "SKA", "YBAA", "ZHAA"],
    "mandarin": ["BWC", "LXC", "NCC", "TXHC"],
    "hindi": ["ASI", "RRBI", "SVBI", "TNI"],
    "korean": ["HJK", "HKK", "YDCK", "YKWK"],
    "spanish": ["EBVS", "ERMS", "MBMPS", "NJS"],
    "vietnamese": ["HQTV", "PNV", "THV", "TLV"],
}
L2_ARCTIC_ACCENT = {speaker: accent for accent, speakers in L2_ARCTIC_SPEAKERS.items() for speaker in speakers}


def corpus_problem(message: str, skipped: list[str] | None) -> None:
    """Raise `message` as a CorpusError, or, when the caller passed a `skipped` list, add it there and go on."""
    if skipped is None:
        raise CorpusError(message)
    skipped.append(message)


def arctic_prompts(path: Path = ARCTIC_PROMPTS) -> dict[str, str]:
    """{"arctic_a0001": "Author of the danger trail, Philip Steels, etc.", ...} in file order."""
    prompts = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        match = re.fullmatch(r'\(\s*(\S+)\s+"(.*)"\s*\)', line.strip())
        if match is None:
            raise CorpusError(f'{path}:{number}: expected ( arctic_a0001 "text" ), got {line[:60]!r}')
        prompts[match.group(1)] = match.group(2)
    return prompts


def _speaker_accents(root: Path) -> dict[str, str]:
    """The synthetic corpus names its speakers' accents in speakers.csv; real L2-ARCTIC needs no file."""
    table = root / SPEAKERS_FILE
    if not table.is_file():
        return L2_ARCTIC_ACCENT
    with open(table, newline="", encoding="utf-8") as handle:
        return {row["speaker"]: row["accent"] for row in csv.DictReader(handle)}


def load_l2arctic(root: str | Path, skipped: list[str] | None = None) -> pd.DataFrame:
    """Every <SPK>/wav/<id>.wav with its <SPK>/transcript/<id>.txt, for the speakers that are present."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"corpus folder not found: {root}")
    accents = _speaker_accents(root)
    rows = []
    for speaker_folder in sorted(p for p in root.iterdir() if (p / "wav").is_dir()):
        speaker = speaker_folder.name
        if speaker not in accents:
            raise CorpusError(f"{speaker_folder}: unknown speaker {speaker}; known: {', '.join(accents)}")
        for wav in sorted((speaker_folder / "wav").glob("*.wav")):
            if wav.name.startswith("."):
                continue  # a hidden partial file left by a killed writer, not a recording
            transcript = speaker_folder / "transcript" / f"{wav.stem}.txt"
            if not transcript.is_file():
                corpus_problem(f"{wav}: no transcript at {transcript}", skipped)
                continue
            text = transcript.read_text(encoding="utf-8").strip()
            if not text:
                corpus_problem(f"{transcript}: empty transcript", skipped)
                continue
            rows.append((str(wav), text, speaker, accents[speaker], wav.stem))
    if not rows:
        raise CorpusError(f"{root}: no <SPEAKER>/wav/*.wav files with transcripts found")
    return pd.DataFrame(rows, columns=COLUMNS)


def _manifest_records(path: Path) -> list[tuple[int, dict]]:
    """(line number, record) from a CSV with a header row or from JSON lines."""
    if path.suffix == ".jsonl":
        records = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    records.append((number, json.loads(line)))
                except json.JSONDecodeError as error:
                    raise CorpusError(f"{path}:{number}: not valid JSON ({error.msg})") from error
        return records
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "text", "accent"} - set(reader.fieldnames or [])
        if missing:
            raise CorpusError(
                f"{path}: header lacks column(s) {', '.join(sorted(missing))}; need path,text,accent[,speaker,...]"
            )
        return [(number, row) for number, row in enumerate(reader, start=2)]


def load_manifest(path: str | Path, skipped: list[str] | None = None, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """A manifest of anyone's data: path,text,accent[,speaker,utterance_id,age,gender]; relative paths are
    relative to the manifest. `required` names optional columns that every row of this corpus must fill."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"manifest not found: {path}")
    rows = []
    for number, record in _manifest_records(path):
        where = f"{path}:{number}"
        values = {key: str(record.get(key) or "").strip() for key in ("path", "text", "accent", *OPTIONAL_COLUMNS)}
        empty = [key for key in ("path", "text", "accent", *required) if not values[key]]
        if empty:
            corpus_problem(f"{where}: empty or missing {', '.join(empty)}", skipped)
            continue
        if values["age"] and not values["age"].isdigit():
            corpus_problem(f"{where}: age must be a whole number of years, got {values['age']!r}", skipped)
            continue
        audio = Path(values["path"]) if Path(values["path"]).is_absolute() else path.parent / values["path"]
        if not audio.is_file():
            corpus_problem(f"{where}: audio file not found: {audio}", skipped)
            continue
        rows.append(
            {
                "path": str(audio),
                "text": values["text"],
                "speaker": values["speaker"] or values["accent"],
                "accent": values["accent"],
                "utterance_id": values["utterance_id"] or audio.stem,
                **{key: values[key] for key in ("age", "gender") if values[key]},
            }
        )
    if not rows:
        raise CorpusError(f"{path}: no usable rows")
    return corpus_table(rows)


def corpus_table(rows: list[dict]) -> pd.DataFrame:
    """Rows (dicts) -> the corpus table: COLUMNS, then whichever of EXTRA_COLUMNS some row has; ages as
    nullable integers (a row without one gets <NA>)."""
    table = pd.DataFrame(rows)
    if "age" in table.columns:
        table = table.assign(age=pd.to_numeric(table.age).astype("Int64"))
    return table[COLUMNS + [key for key in EXTRA_COLUMNS if key in table.columns]]


def load_librispeech(root: str | Path, skipped: list[str] | None = None) -> pd.DataFrame:
    """LibriSpeech-style folders: <speaker>/<chapter>/<speaker>-<chapter>.trans.txt lines "ID TEXT", ID.flac beside."""
    root = Path(root)
    rows = []
    for transcripts in sorted(root.rglob("*.trans.txt")):
        for number, line in enumerate(transcripts.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            utterance_id, _, text = line.strip().partition(" ")
            audio = next(
                (
                    transcripts.parent / f"{utterance_id}{s}"
                    for s in AUDIO_SUFFIXES
                    if (transcripts.parent / f"{utterance_id}{s}").is_file()
                ),
                None,
            )
            if not text or audio is None:
                corpus_problem(
                    f"{transcripts}:{number}: {'no text' if not text else f'no audio file for {utterance_id}'}", skipped
                )
                continue
            rows.append((str(audio), text, utterance_id.split("-")[0], "native", utterance_id))
    if not rows:
        raise CorpusError(f"{root}: no *.trans.txt files with audio found")
    return pd.DataFrame(rows, columns=COLUMNS)


def load_corpus(source: str | Path, skipped: list[str] | None = None) -> pd.DataFrame:
    """Pick the loader by what `source` is: a manifest file, LibriSpeech folders, or the L2-ARCTIC layout."""
    source = Path(source)
    if source.is_file():
        return load_manifest(source, skipped)
    if source.is_dir() and next(source.rglob("*.trans.txt"), None) is not None:
        return load_librispeech(source, skipped)
    return load_l2arctic(source, skipped)


def first_prompts(table: pd.DataFrame, count: int) -> pd.DataFrame:
    """Only the rows of the first `count` prompts (by utterance id), for quick runs on a subset."""
    return table[table.utterance_id.isin(sorted(table.utterance_id.unique())[:count])]
