"""Decoding a table of utterances -> rows with hypotheses and error counts; WER tables from rows.

Rows are the results: one per utterance, with reference, hypothesis and its error counts, so any
grouping (accent, speaker, system) is computed afterwards from the rows, never by decoding again.
"""

import pandas as pd

from maslora.audio import load_audio
from maslora.transcribe import DEFAULT_BATCH_SIZE, transcribe
from maslora.wer import error_counts
from maslora.whisper_io import Whisper


def transcribe_table(whisper: Whisper, table: pd.DataFrame, batch_size: int = DEFAULT_BATCH_SIZE) -> pd.DataFrame:
    """`table` (see maslora.corpora) plus hypothesis, errors and reference_words per row."""
    hypotheses = transcribe(whisper, [load_audio(path) for path in table.path], batch_size, progress=True)
    counts = [error_counts([reference], [hypothesis]) for reference, hypothesis in zip(table.text, hypotheses)]
    return table.assign(
        model=whisper.name,
        hypothesis=hypotheses,
        errors=[c.errors for c in counts],
        reference_words=[c.reference_words for c in counts],
    )


def wer_by(rows: pd.DataFrame, column: str = "accent") -> pd.DataFrame:
    """WER per value of `column`, then two summary lines:
    "pooled" = all errors / all reference words; "macro mean" = the unweighted mean of the groups' WERs."""
    groups = rows.groupby(column).agg(utterances=("errors", "size"), errors=("errors", "sum"), reference_words=("reference_words", "sum"))
    groups["wer"] = groups.errors / groups.reference_words
    pooled = pd.DataFrame(
        {"utterances": [len(rows)], "errors": [rows.errors.sum()], "reference_words": [rows.reference_words.sum()]},
        index=["pooled"],
    )
    pooled["wer"] = pooled.errors / pooled.reference_words
    macro = pd.DataFrame({"utterances": [len(rows)], "errors": [None], "reference_words": [None], "wer": [groups.wer.mean()]}, index=["macro mean"])
    return pd.concat([groups, pooled, macro]).rename_axis(column)
