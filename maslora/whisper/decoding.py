"""Greedy (or sampled) decoding with a key/value cache: log-mel features -> tokens, a whole batch at once.

Why our own loop rather than `model.generate`: on tiny.en on this 2-core CPU both take the same time
and give identical transcripts (`python -m analysis.bench_decoding` measures them side by side), but the
loop owns the two rules that keep greedy Whisper from running away: special tokens are never emitted,
and each clip gets a token budget that grows with its duration, so a repetition loop ends a few words
after the speech does instead of at 224 tokens. It is also the one place later features hook into
(per-utterance expert weights in a batch), and it reports what maslora.whisper.guards judges a transcript
by: its mean log-probability and the probability that the window holds no speech.
"""

import math
from dataclasses import dataclass

import torch

from maslora.whisper.load import Whisper

MAX_NEW_TOKENS = 224  # openai/whisper's sample_len: half of the 448-token text context
TOKENS_PER_SECOND = 10  # fast read speech is about 4 words/s = 5-6 tokens/s with punctuation; 10 leaves room
MIN_NEW_TOKENS = 10  # a short clip still gets room for a few words and the end token


@dataclass(frozen=True)
class Decoded:
    tokens: list[int]  # the prompt and the end token excluded
    text: str
    avg_logprob: float  # mean log-probability of the tokens and the end token (openai/whisper's avg_logprob)
    no_speech_prob: float  # probability of <|nospeech|> at <|startoftranscript|>: the window holds no speech
    ended: bool  # chose the end token; False: cut at its token budget still writing (what a loop does)


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


def no_speech_id(whisper: Whisper) -> int:
    """<|nospeech|> (<|nocaptions|> in English-only vocabularies): in every Whisper vocabulary the token just
    before <|notimestamps|>."""
    return whisper.model.generation_config.no_timestamps_token_id - 1


def next_tokens(logits: torch.Tensor, temperature: float, generators: list[torch.Generator]) -> torch.Tensor:
    """The most likely token at temperature 0, else one drawn from softmax(logits / temperature), each row
    with its own generator so that a row's draw never depends on the other rows of its batch."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    probabilities = torch.softmax(logits / temperature, dim=-1)
    return torch.cat([torch.multinomial(row, 1, generator=g) for row, g in zip(probabilities, generators)])


@torch.inference_mode()
def decode(
    whisper: Whisper,
    input_features: torch.Tensor,
    budgets: list[int],
    temperature: float = 0.0,
    seed: int = 0,
) -> list[Decoded]:
    """One Decoded for each row of `input_features` [batch, mels, frames]: greedy at temperature 0, else
    sampled, every row from a generator seeded with `seed` (the same window, the same transcript).

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
    generators = [torch.Generator(device).manual_seed(seed) for _ in range(batch)] if temperature else []

    step_input, cache = prompt, None
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    ended = torch.zeros(batch, dtype=torch.bool, device=device)  # finished by choosing the end token
    sum_logprobs = torch.zeros(batch, device=device)
    no_speech_probs = torch.zeros(batch, device=device)
    generated: list[torch.Tensor] = []
    for step in range(min(int(budget.max()), room)):
        output = model.model.decoder(
            input_ids=step_input, encoder_hidden_states=encoder_states, cache=cache, use_cache=True
        )
        cache = output.cache
        if step == 0:  # the prompt opens with <|startoftranscript|>: where Whisper says "no speech"
            at_start = model.proj_out(output.last_hidden_state[:, 0])
            no_speech_probs = torch.softmax(at_start.float(), dim=-1)[:, no_speech_id(whisper)]
        logits = model.proj_out(output.last_hidden_state[:, -1]).float()
        logits[:, suppressed] = -math.inf
        if step == 0 and begin_suppressed:
            logits[:, begin_suppressed] = -math.inf  # no leading blank, no empty transcript by default
        chosen = next_tokens(logits, temperature, generators)
        chose = ~finished & (step < budget)  # rows that picked a token this step (not ended, not cut)
        logprobs = torch.log_softmax(logits, dim=-1).gather(1, chosen[:, None]).squeeze(1)
        sum_logprobs += torch.where(chose, logprobs, 0.0)
        next_token = torch.where(chose, chosen, end_of_text)
        ended |= chose & (chosen == end_of_text)
        generated.append(next_token)
        finished |= next_token == end_of_text
        if bool(finished.all()):
            break
        step_input = next_token[:, None]

    rows = torch.stack(generated, dim=1).tolist() if generated else [[] for _ in range(batch)]
    token_rows = [row[: row.index(end_of_text)] if end_of_text in row else row for row in rows]
    return [
        Decoded(
            tokens=tokens,
            text=whisper.tokenizer.decode(tokens, skip_special_tokens=True).strip(),
            avg_logprob=float(sum_logprob) / (len(tokens) + 1),
            no_speech_prob=float(no_speech_prob),
            ended=bool(row_ended),
        )
        for tokens, sum_logprob, no_speech_prob, row_ended in zip(
            token_rows, sum_logprobs.tolist(), no_speech_probs.tolist(), ended.tolist()
        )
    ]
