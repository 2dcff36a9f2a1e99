"""Decoding guards: plain greedy Whisper invents words in silence ("you" for 5 ms of it) and loops on
hard-clipped speech ("Plump-plump-plump-..."); these catch both, and only ever replace a transcript that
loops or holds nothing.

- Temperature fallback (openai/whisper's rule): a loop, a transcript whose text compresses too well (gzip
  ratio above 2.4) and that ran out of its token budget still writing (Decoded.ended false), is decoded
  again by sampling at the next temperature, 0.2, 0.4, ... 1.0, until one passes. (openai/whisper
  re-samples on the ratio alone; a sentence said six times over compresses as well, but ends.)
  openai/whisper also re-samples a transcript whose tokens were unlikely (mean log-probability below
  -1); `resample_below_logprob` keeps that trigger optional, since accented speech is unlikely text by
  nature and its greedy transcript is usually the best one it gets (the report's decoding table
  measures both on development speakers).
- Which attempt is kept when none passes: the most likely (highest mean log-probability) of those that
  do not loop, and only when every attempt loops, the most likely of all. openai/whisper keeps the last,
  which at 1.0 is often garbage; keeping the most likely of all keeps the loop, the most likely text
  there is.
- A loop too short to compress well: a transcript that ran out of its token budget still writing
  (Decoded.ended false) and repeats a phrase `loop_repeats` times in a row is cut at the phrase's first
  repetition. Speech that repeats itself for real ends before its budget and is never cut.
- No speech: when the model puts more than 0.6 on <|nospeech|> and the transcript is also unlikely
  (mean log-probability below -1), the window is silence: its transcript is empty.

Only the rows of a batch that fail are decoded again, so clean speech costs one greedy pass as before.
"""

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from maslora.whisper.decoding import Decoded


@dataclass(frozen=True)
class DecodingGuards:
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # openai/whisper's: greedy, then freer sampling
    compression_ratio_threshold: float = 2.4  # openai/whisper's: English gzips ~1.5-2x; a repetition loop far more
    resample_below_logprob: float | None = None  # None: an unlikely transcript alone is never re-sampled (see above)
    logprob_threshold: float = -1.0  # openai/whisper's: a fluent transcript averages well above -1 nats a token
    no_speech_threshold: float = 0.6  # openai/whisper's: above it (and unlikely text) the window is silence
    loop_repeats: int = 3  # a phrase said 3 times in a row in a transcript cut at its budget is a loop
    seed: int = 0  # sampling is seeded, so the same audio always gets the same transcript


def compression_ratio(text: str) -> float:
    """len(text) / len(gzip(text)) in bytes: high for repetitive text."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def loops(result: Decoded, guards: DecodingGuards) -> bool:
    """Still writing at its token budget, in text that compresses like a repetition loop. Speech that repeats
    itself for real (a sentence said six times) compresses as well, but its transcript ends on its own."""
    return not result.ended and compression_ratio(result.text) > guards.compression_ratio_threshold


def is_silence(result: Decoded, guards: DecodingGuards) -> bool:
    """Whisper says no speech and the transcript it wrote anyway is unlikely."""
    return result.no_speech_prob > guards.no_speech_threshold and result.avg_logprob < guards.logprob_threshold


def needs_fallback(result: Decoded, guards: DecodingGuards) -> bool:
    """A loop (or, with the log-probability trigger on, a guess), unless the window is silence (its
    transcript is dropped anyway)."""
    threshold = guards.resample_below_logprob
    failed = loops(result, guards) or (threshold is not None and result.avg_logprob < threshold)
    return failed and not is_silence(result, guards)


def kept_attempt(attempts: list[Decoded], guards: DecodingGuards) -> Decoded:
    """The attempt a window keeps: the last if it passed; else the most likely of those that do not loop,
    and only when all of them loop, the most likely of all."""
    if not needs_fallback(attempts[-1], guards):
        return attempts[-1]
    candidates = [attempt for attempt in attempts if not loops(attempt, guards)] or attempts
    return max(candidates, key=lambda attempt: attempt.avg_logprob)


def comparable(word: str) -> str:
    """A word as repetition compares it: lower case, without punctuation ("Shorts." == "shorts")."""
    return re.sub(r"[^\w']", "", word.lower())


def first_repetition(words: list[str], repeats: int) -> int | None:
    """The index where the earliest phrase said `repeats` times in a row is first repeated, or None:
    "a b c a b c a b c d" with 3 -> 3 (the second "a")."""
    keys = [comparable(word) for word in words]
    for start in range(len(keys)):
        for length in range(1, (len(keys) - start) // repeats + 1):
            phrase = keys[start : start + length]
            if all(keys[start + k * length : start + (k + 1) * length] == phrase for k in range(1, repeats)):
                return start + length
    return None


def without_loop(result: Decoded, guards: DecodingGuards) -> str:
    """The transcript, cut at its loop's first repetition if it ran out of its budget looping."""
    if result.ended:
        return result.text
    words = result.text.split()
    cut = first_repetition(words, guards.loop_repeats)
    return result.text if cut is None else " ".join(words[:cut])


def decode_with_fallback(
    decode_rows: Callable[[list[int], float], list[Decoded]], rows: int, guards: DecodingGuards
) -> list[str]:
    """The transcript of each of `rows` windows under the guards; `decode_rows(indices, temperature)` decodes
    the given rows of the batch at one temperature."""
    attempts = [[result] for result in decode_rows(list(range(rows)), guards.temperatures[0])]
    for temperature in guards.temperatures[1:]:
        failing = [row for row in range(rows) if needs_fallback(attempts[row][-1], guards)]
        if not failing:
            break
        for row, result in zip(failing, decode_rows(failing, temperature)):
            attempts[row].append(result)
    kept = [kept_attempt(row_attempts, guards) for row_attempts in attempts]
    return ["" if is_silence(result, guards) else without_loop(result, guards) for result in kept]
