"""Greedy decoding with a key/value cache: log-mel features -> token ids, a whole batch at once.

Why our own loop rather than `model.generate`: on tiny.en on this 2-core CPU both take the same time
and give identical transcripts (`python -m analysis.bench_decoding` measures them side by side), but the
loop owns the two rules that keep greedy Whisper from running away: special tokens are never emitted,
and each clip gets a token budget that grows with its duration, so a repetition loop ends a few words
after the speech does instead of at 224 tokens. It is also the one place later features hook into
(per-utterance expert weights in a batch).
"""

import math

import torch

from maslora.whisper.load import Whisper

MAX_NEW_TOKENS = 224  # openai/whisper's sample_len: half of the 448-token text context
TOKENS_PER_SECOND = 10  # fast read speech is about 4 words/s = 5-6 tokens/s with punctuation; 10 leaves room
MIN_NEW_TOKENS = 10  # a short clip still gets room for a few words and the end token


def token_budget(seconds: float) -> int:
    """New tokens allowed for a clip of `seconds` of audio: 10 + 10/s, at most 224 (5 s -> 60)."""
    return min(MAX_NEW_TOKENS, MIN_NEW_TOKENS + math.ceil(TOKENS_PER_SECOND * seconds))


def suppressed_token_mask(whisper: Whisper) -> torch.Tensor:
    """True for every id greedy decoding must never pick: the checkpoint's non-speech tokens and every
    special or timestamp token (all ids above <|endoftext|>, which stays allowed to end the text)."""
    vocab_size = whisper.model.config.vocab_size
    mask = torch.zeros(vocab_size, dtype=torch.bool)
    mask[whisper.end_of_text_id + 1 :] = True
    suppress = [t for t in (whisper.model.generation_config.suppress_tokens or []) if t < vocab_size]
    mask[suppress] = True
    return mask


@torch.inference_mode()
def greedy_decode(whisper: Whisper, input_features: torch.Tensor, budgets: list[int]) -> list[list[int]]:
    """Token ids (prompt and end token excluded) for each row of `input_features` [batch, mels, frames].

    `budgets[i]` caps the new tokens of row i (see token_budget); a row that reaches it is cut there.
    """
    model = whisper.model
    device = model.device
    batch = input_features.shape[0]
    end_of_text = whisper.end_of_text_id
    encoder_states = model.model.encoder(input_features.to(device, model.dtype)).last_hidden_state
    prompt = torch.tensor([whisper.prompt_ids()], device=device).repeat(batch, 1)
    budget = torch.tensor(budgets, device=device)
    suppressed = suppressed_token_mask(whisper).to(device)
    begin_suppressed = list(whisper.model.generation_config.begin_suppress_tokens or [])
    room = model.config.max_target_positions - prompt.shape[1]

    step_input, cache = prompt, None
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    generated: list[torch.Tensor] = []
    for step in range(min(int(budget.max()), room)):
        output = model.model.decoder(
            input_ids=step_input, encoder_hidden_states=encoder_states, cache=cache, use_cache=True
        )
        cache = output.cache
        logits = model.proj_out(output.last_hidden_state[:, -1]).float()
        logits[:, suppressed] = -math.inf
        if step == 0 and begin_suppressed:
            logits[:, begin_suppressed] = -math.inf  # no leading blank, no empty transcript by default
        next_token = logits.argmax(dim=-1)
        next_token = torch.where(finished | (step >= budget), end_of_text, next_token)
        generated.append(next_token)
        finished |= next_token == end_of_text
        if bool(finished.all()):
            break
        step_input = next_token[:, None]

    rows = torch.stack(generated, dim=1).tolist() if generated else [[] for _ in range(batch)]
    return [row[: row.index(end_of_text)] if end_of_text in row else row for row in rows]
