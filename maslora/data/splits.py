"""The paper's speaker- and prompt-disjoint splits: 8 folds, a validation subset, leave-one-accent-out.

Each fold holds out one speaker per L1 (the paper's table below) and 10% of the prompts (113 of
L2-ARCTIC's 1,132): test = held-out speakers reading held-out prompts; training never sees either.
Validation = training speakers reading another 5% of the prompts, kept out of training, so that
checkpoint selection never scores a sentence the model trained on.

The synthetic corpus uses the same folds: its speaker k of an accent stands for the paper's k-th
speaker of that L1 (ABA -> ARA1, SKA -> ARA2, ...). Native-control speakers, who have no L2-ARCTIC
counterpart, are never trained on: they are test speakers in every fold.
"""

import random
import re
from dataclasses import dataclass

import pandas as pd

from maslora.data.corpora import L2_ARCTIC_ACCENT, L2_ARCTIC_SPEAKERS

# The paper's 8 folds: the held-out speaker of each L1 (Arabic, Mandarin, Hindi, Korean, Spanish, Vietnamese).
PAPER_FOLDS = [
    ["YBAA", "TXHC", "ASI", "HJK", "ERMS", "PNV"],
    ["YBAA", "BWC", "RRBI", "YDCK", "MBMPS", "HQTV"],
    ["ABA", "TXHC", "ASI", "HKK", "EBVS", "TLV"],
    ["ZHAA", "LXC", "TNI", "HJK", "ERMS", "PNV"],
    ["ZHAA", "LXC", "ASI", "HKK", "NJS", "TLV"],
    ["SKA", "TXHC", "TNI", "HJK", "MBMPS", "THV"],
    ["YBAA", "NCC", "RRBI", "YKWK", "EBVS", "HQTV"],
    ["ABA", "BWC", "SVBI", "YDCK", "ERMS", "PNV"],
]
TEST_PROMPT_FRACTION = 0.1  # 113 of 1,132 prompts, as in the paper
VALIDATION_PROMPT_FRACTION = 0.05  # 57 of 1,132: enough sentences for a stable WER, few taken from training
NATIVE = "native"


@dataclass(frozen=True)
class Split:
    name: str
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def speaker_position(speaker: str, accent: str) -> tuple[str, int]:
    """(accent, 1-based position): ("arabic", 3) for L2-ARCTIC's YBAA and for the synthetic ARA3."""
    if accent in L2_ARCTIC_SPEAKERS and speaker in L2_ARCTIC_SPEAKERS[accent]:
        return accent, L2_ARCTIC_SPEAKERS[accent].index(speaker) + 1
    digits = re.search(r"(\d+)$", speaker)
    return accent, int(digits.group(1)) if digits else 0


def _fold_positions(fold: int) -> set[tuple[str, int]]:
    if not 1 <= fold <= len(PAPER_FOLDS):
        raise ValueError(f"fold must be 1..{len(PAPER_FOLDS)}, got {fold}")
    return {speaker_position(speaker, L2_ARCTIC_ACCENT[speaker]) for speaker in PAPER_FOLDS[fold - 1]}


def prompt_sets(prompts: list[str], fold: int) -> tuple[set[str], set[str]]:
    """(test prompts, validation prompts): disjoint random 10% and 5% of `prompts`, drawn with the fold as seed."""
    shuffled = sorted(set(prompts))
    random.Random(f"fold {fold}").shuffle(shuffled)
    n_test = max(1, round(TEST_PROMPT_FRACTION * len(shuffled)))
    n_validation = max(1, round(VALIDATION_PROMPT_FRACTION * len(shuffled)))
    return set(shuffled[:n_test]), set(shuffled[n_test : n_test + n_validation])


def paper_fold(table: pd.DataFrame, fold: int, unseen_accent: str | None = None) -> Split:
    """Fold `fold` (1-8) of `table`; with `unseen_accent`, that accent is also removed from training and
    validation (the unseen-accent experiment), while its held-out speakers stay in the test set."""
    positions = _fold_positions(fold)
    is_test_speaker = pd.Series(
        [speaker_position(s, a) in positions or a == NATIVE for s, a in zip(table.speaker, table.accent)],
        index=table.index,
    )
    test_prompts, validation_prompts = prompt_sets(list(table.utterance_id), fold)
    is_test_prompt = table.utterance_id.isin(test_prompts)
    is_validation_prompt = table.utterance_id.isin(validation_prompts)
    trainable = ~is_test_speaker
    if unseen_accent:
        trainable &= table.accent != unseen_accent
    name = f"fold{fold}" + (f"-without-{unseen_accent}" if unseen_accent else "")
    return Split(
        name,
        train=table[trainable & ~is_test_prompt & ~is_validation_prompt].reset_index(drop=True),
        validation=table[trainable & is_validation_prompt].reset_index(drop=True),
        test=table[is_test_speaker & is_test_prompt].reset_index(drop=True),
    )


def leave_one_accent_out(table: pd.DataFrame, fold: int = 1) -> list[Split]:
    """One split per L2 accent in `table`: trained without it, tested on the fold's held-out speakers."""
    accents = sorted(a for a in table.accent.unique() if a != NATIVE)
    return [paper_fold(table, fold, unseen_accent=accent) for accent in accents]
