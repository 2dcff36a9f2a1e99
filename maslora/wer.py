"""Word error rate as ASR papers report it: Whisper's English text normalizer, then jiwer's alignment.

Pooled WER = all errors / all reference words; it weights long utterances more than short ones.
"""

from dataclasses import dataclass

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

_normalizer = EnglishTextNormalizer()  # spelling map and number rules of openai/whisper; builds once


def normalize(text: str) -> str:
    """ "Mr. Smith's colour!" -> "mister smith is color" (and "he'll" -> "he will", "25" stays "25")."""
    return _normalizer(text)


@dataclass(frozen=True)
class ErrorCounts:
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return self.errors / self.reference_words


def error_counts(references: list[str], hypotheses: list[str]) -> ErrorCounts:
    """Pooled error counts after normalization. References that normalize to nothing are an error:
    they have no words to be wrong about, and would silently turn WER into a division by zero."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    normalized_references = [normalize(text) for text in references]
    empty = [text for text, normalized in zip(references, normalized_references) if not normalized.strip()]
    if empty:
        raise ValueError(f"{len(empty)} reference(s) have no words after normalization, e.g. {empty[0]!r}")
    normalized_hypotheses = [normalize(text) for text in hypotheses]
    alignment = jiwer.process_words(normalized_references, normalized_hypotheses)
    return ErrorCounts(
        alignment.substitutions,
        alignment.deletions,
        alignment.insertions,
        alignment.substitutions + alignment.deletions + alignment.hits,
    )


DIFF_KINDS = {"substitute": "substitution", "insert": "insertion", "delete": "deletion"}


def word_diff(reference: str, hypothesis: str) -> list[tuple[str, str | None]]:
    """The hypothesis aligned to the reference after normalization, word by word, as (text, kind):
    kind None for a correct word, "substitution" ("ref -> hyp"), "insertion" or "deletion" (the missed word).

    word_diff("the cat sat", "the bat sat down") ->
        [("the", None), ("cat -> bat", "substitution"), ("sat", None), ("down", "insertion")]
    """
    reference_words, hypothesis_words = normalize(reference).split(), normalize(hypothesis).split()
    if not reference_words:
        return [(word, "insertion") for word in hypothesis_words]
    if not hypothesis_words:
        return [(word, "deletion") for word in reference_words]
    alignment = jiwer.process_words(" ".join(reference_words), " ".join(hypothesis_words)).alignments[0]
    diff: list[tuple[str, str | None]] = []
    for chunk in alignment:
        said = reference_words[chunk.ref_start_idx : chunk.ref_end_idx]
        heard = hypothesis_words[chunk.hyp_start_idx : chunk.hyp_end_idx]
        if chunk.type == "equal":
            diff += [(word, None) for word in heard]
        elif chunk.type == "substitute":
            diff += [(f"{r} -> {h}", "substitution") for r, h in zip(said, heard)]
        else:
            diff += [(word, DIFF_KINDS[chunk.type]) for word in (heard if chunk.type == "insert" else said)]
    return diff
