"""The paper's folds: speaker- and prompt-disjoint, on real L2-ARCTIC codes and on the synthetic corpus."""

import pandas as pd
import pytest

from maslora.data.corpora import L2_ARCTIC_ACCENT, load_corpus
from maslora.data.splits import PAPER_FOLDS, leave_one_accent_out, paper_fold, prompt_sets
from maslora.synth.speakers import ACCENT_CODES


def _synthetic_table(prompts: int = 40) -> pd.DataFrame:
    rows = [
        (f"/x/{code}{k}/{p}.wav", "text", f"{code}{k}", accent, f"arctic_a{p:04d}")
        for accent, code in ACCENT_CODES.items()  # the synthetic corpus's speaker codes
        for k in range(1, 5)
        for p in range(1, prompts + 1)
    ]
    return pd.DataFrame(rows, columns=["path", "text", "speaker", "accent", "utterance_id"])


def _check_disjoint(split, validation: str = "speakers") -> None:
    train_speakers, test_speakers = set(split.train.speaker), set(split.test.speaker)
    validation_speakers = set(split.validation.speaker)
    train_prompts = set(split.train.utterance_id)
    assert train_speakers.isdisjoint(test_speakers)
    assert train_prompts.isdisjoint(split.test.utterance_id)
    assert train_prompts.isdisjoint(split.validation.utterance_id)
    assert set(split.validation.utterance_id).isdisjoint(split.test.utterance_id)
    assert set(split.paper_validation.speaker) <= train_speakers
    assert set(split.paper_validation.utterance_id) == set(split.validation.utterance_id)
    if validation == "speakers":  # nobody who validates is trained or tested on
        assert validation_speakers.isdisjoint(train_speakers | test_speakers)
    else:
        assert split.validation.equals(split.paper_validation)


@pytest.mark.parametrize("fold", range(1, 9))
def test_every_fold_of_the_real_layout_is_speaker_and_prompt_disjoint(fake_l2arctic, fold):
    split = paper_fold(load_corpus(fake_l2arctic), fold)
    _check_disjoint(split)
    assert set(split.test.speaker) == set(PAPER_FOLDS[fold - 1])
    assert len(split.train) > 0 and len(split.test) > 0 and len(split.validation) > 0


def test_the_paper_folds_hold_out_one_speaker_per_l1():
    for fold in PAPER_FOLDS:
        assert sorted(L2_ARCTIC_ACCENT[s] for s in fold) == [
            "arabic",
            "hindi",
            "korean",
            "mandarin",
            "spanish",
            "vietnamese",
        ]


def test_synthetic_speakers_map_to_the_papers_positions_and_native_is_never_trained():
    split = paper_fold(_synthetic_table(), 1)  # fold 1: YBAA TXHC ASI HJK ERMS PNV = positions 3, 4, 1, 1, 2, 2
    _check_disjoint(split)
    assert set(split.test.speaker) == {"ARA3", "MAN4", "HIN1", "KOR1", "SPA2", "VIE2", "NAT1", "NAT2", "NAT3", "NAT4"}
    # each L1's validation speaker is the one after its test speaker (cyclic): 4, 1, 2, 2, 3, 3
    assert set(split.validation.speaker) == {"ARA4", "MAN1", "HIN2", "KOR2", "SPA3", "VIE3"}
    assert len(set(split.train.speaker)) == 12
    assert "native" not in set(split.train.accent) | set(split.validation.accent)


def test_the_papers_validation_reads_held_out_prompts_of_the_training_speakers():
    split = paper_fold(_synthetic_table(), 1, validation="prompts")
    _check_disjoint(split, "prompts")
    assert len(set(split.train.speaker)) == 18
    with pytest.raises(ValueError, match="validation must be one of"):
        paper_fold(_synthetic_table(), 1, validation="voices")


def test_held_out_validation_speakers_need_three_speakers_per_accent():
    table = _synthetic_table()
    two_each = table[table.speaker.str[-1].isin(["3", "4"])]  # fold 1 tests ARA3: ARA4 would be all that is left
    with pytest.raises(ValueError, match="arabic has 2 speakers"):
        paper_fold(two_each, 1)
    _check_disjoint(paper_fold(two_each, 1, validation="prompts"), "prompts")


def test_prompt_sets_are_the_papers_proportions_and_stable():
    prompts = [f"p{i}" for i in range(1132)]
    test, validation = prompt_sets(prompts, 3)
    assert (len(test), len(validation)) == (113, 57) and test.isdisjoint(validation)
    assert prompt_sets(list(reversed(prompts)), 3) == (test, validation)
    assert prompt_sets(prompts, 4)[0] != test


def test_leave_one_accent_out():
    splits = leave_one_accent_out(_synthetic_table())
    assert [s.name for s in splits] == [
        f"fold1-without-{a}" for a in ["arabic", "hindi", "korean", "mandarin", "spanish", "vietnamese"]
    ]
    for split in splits:
        unseen = split.name.split("-without-")[1]
        assert unseen not in set(split.train.accent) | set(split.validation.accent)
        assert unseen in set(split.test.accent)
        _check_disjoint(split)


def test_fold_numbers_are_checked():
    with pytest.raises(ValueError, match="fold must be 1..8"):
        paper_fold(_synthetic_table(), 9)
