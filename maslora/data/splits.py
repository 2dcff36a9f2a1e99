"""The paper's speaker- and prompt-disjoint splits: 8 folds, a validation subset, leave-one-accent-out.

Each fold holds out one speaker per L1 (the paper's table below) and 10% of the prompts (113 of
L2-ARCTIC's 1,132): test = held-out speakers reading held-out prompts; training never sees either.
Another 5% of the prompts are kept out of training for validation, read by either
- "speakers" (our default): a second held-out speaker per L1, the one after the test speaker in that
  L1's list (cyclic; fold 1: ZHAA/ARA4, BWC/MAN1, ...), never trained on: checkpoints and rules are then
  chosen on voices the model has not heard, as the test asks of them; or
- "prompts" (the paper's): the training speakers themselves, which rewards fitting their voices.
The other reading is kept as `paper_validation` (training speakers) so both can be reported.

The synthetic corpus uses the same folds: its speaker k of an accent stands for the paper's k-th
speaker of that L1 (ABA -> ARA1, SKA -> ARA2, ...). Native-control speakers, who have no L2-ARCTIC
counterpart, are never trained on: they are test speakers in every fold.
"""

import random
import re
from dataclasses import dataclass, replace

import pandas as pd

from maslora.data.corpora import L2_ARCTIC_ACCENT, L2_ARCTIC_SPEAKERS, first_prompts

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
VALIDATION_READERS = ("speakers", "prompts")  # who reads the validation prompts; see the module docstring


@dataclass(frozen=True)
class Split:
    name: str
    train: pd.DataFrame
    validation: pd.DataFrame  # what checkpoints and rules are chosen on
    test: pd.DataFrame
    paper_validation: pd.DataFrame  # the training speakers reading the validation prompts (the paper's)


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


def validation_speakers(table: pd.DataFrame, test_speakers: set[str]) -> set[str]:
    """Per L2 accent, the speaker after its test speaker in position order (cyclic): held out for validation."""
    chosen = set()
    for accent, speakers in table.groupby("accent").speaker:
        ordered = sorted(set(speakers), key=lambda s: speaker_position(s, accent))
        tested = [s for s in ordered if s in test_speakers]
        if accent == NATIVE or not tested:
            continue
        if len(ordered) < 3:
            raise ValueError(
                f"{accent} has {len(ordered)} speakers; validating on held-out speakers needs 3 "
                "(test, validation, training): validate on the training speakers' prompts instead"
            )
        chosen.add(ordered[(ordered.index(tested[0]) + 1) % len(ordered)])
    return chosen


def paper_fold(table: pd.DataFrame, fold: int, unseen_accent: str | None = None, validation: str = "speakers") -> Split:
    """Fold `fold` (1-8) of `table`, validated by held-out "speakers" or by the training speakers' "prompts";
    with `unseen_accent`, that accent is also removed from training and validation (the unseen-accent
    experiment), while its held-out speakers stay in the test set."""
    if validation not in VALIDATION_READERS:
        raise ValueError(f"validation must be one of {', '.join(VALIDATION_READERS)}, got {validation!r}")
    positions = _fold_positions(fold)
    is_test_speaker = pd.Series(
        [speaker_position(s, a) in positions or a == NATIVE for s, a in zip(table.speaker, table.accent)],
        index=table.index,
    )
    held_out = validation_speakers(table, set(table.speaker[is_test_speaker])) if validation == "speakers" else set()
    is_validation_speaker = table.speaker.isin(held_out)
    test_prompts, validation_prompts = prompt_sets(list(table.utterance_id), fold)
    is_test_prompt = table.utterance_id.isin(test_prompts)
    is_validation_prompt = table.utterance_id.isin(validation_prompts)
    seen_accent = table.accent != unseen_accent if unseen_accent else pd.Series(True, index=table.index)
    trainable = ~is_test_speaker & ~is_validation_speaker & seen_accent
    paper_validation = table[trainable & is_validation_prompt].reset_index(drop=True)
    name = f"fold{fold}" + (f"-without-{unseen_accent}" if unseen_accent else "")
    return Split(
        name,
        train=table[trainable & ~is_test_prompt & ~is_validation_prompt].reset_index(drop=True),
        validation=(
            table[is_validation_speaker & is_validation_prompt & seen_accent].reset_index(drop=True)
            if held_out
            else paper_validation
        ),
        test=table[is_test_speaker & is_test_prompt].reset_index(drop=True),
        paper_validation=paper_validation,
    )


def training_split(
    table: pd.DataFrame,
    fold: int,
    unseen_accent: str | None = None,
    validation: str = "speakers",
    train_prompts: int | None = None,
) -> Split:
    """The split a training run uses: paper_fold's, its training part cut to its first `train_prompts`
    prompts when given (validation and test keep theirs)."""
    split = paper_fold(table, fold, unseen_accent, validation)
    if not train_prompts:
        return split
    return replace(split, train=first_prompts(split.train, train_prompts).reset_index(drop=True))


def leave_one_accent_out(table: pd.DataFrame, fold: int = 1) -> list[Split]:
    """One split per L2 accent in `table`: trained without it, tested on the fold's held-out speakers."""
    accents = sorted(a for a in table.accent.unique() if a != NATIVE)
    return [paper_fold(table, fold, unseen_accent=accent) for accent in accents]
