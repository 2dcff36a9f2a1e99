"""WER as papers report it: normalized text, pooled counts, contractions and numbers not counted as errors."""

import pytest

from maslora.wer import error_counts, normalize, word_diff


def test_contractions_spelling_numbers_and_punctuation_are_not_errors():
    references = ["He'll pay twenty-five dollars, Mr. Smith.", "The colour of the sea."]
    hypotheses = ["he will pay $25 mister smith", "the color of the sea"]
    assert error_counts(references, hypotheses).errors == 0


def test_pooled_counts_by_hand():
    # ref 1: "a b c" vs "a x c" -> 1 substitution; ref 2: "d e" vs "d e f" -> 1 insertion; 5 reference words
    counts = error_counts(["a b c", "d e"], ["a x c", "d e f"])
    assert (counts.substitutions, counts.deletions, counts.insertions, counts.reference_words) == (1, 0, 1, 5)
    assert counts.wer == pytest.approx(2 / 5)


def test_references_without_words_are_refused():
    assert normalize("(um)") == ""
    with pytest.raises(ValueError, match="no words after normalization"):
        error_counts(["hello", "(um)"], ["hello", "um"])
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        error_counts(["a", "b"], ["a"])


def test_word_diff_marks_each_error_kind_after_normalization():
    assert word_diff("The cat sat, on a mat.", "the bat sat on mat") == [
        ("the", None),
        ("cat -> bat", "substitution"),
        ("sat", None),
        ("on", None),
        ("a", "deletion"),
        ("mat", None),
    ]
    assert word_diff("sit down", "sit right down") == [("sit", None), ("right", "insertion"), ("down", None)]
    assert word_diff("He will go.", "he'll go") == [("he", None), ("will", None), ("go", None)]
    assert word_diff("hello there", "") == [("hello", "deletion"), ("there", "deletion")]
