"""Decoding guards, the rules openai/whisper decodes with: plain greedy Whisper invents words in silence
("you" for 5 ms of it) and loops on hard-clipped speech ("Plump-plump-plump-..."); these catch both.

- Temperature fallback: a transcript whose text compresses too well (gzip ratio above 2.4: a loop) or
  whose tokens were too unlikely (mean log-probability below -1: a guess) is decoded again by sampling
  at the next temperature, 0.2, 0.4, ... 1.0, until one passes. If none does, the most likely attempt
  (highest mean log-probability) is kept, where openai/whisper keeps the last: a sentence said six times
  over is repetitive text for real, fails every attempt, and its sample at 1.0 is 14 words of garbage
  where its attempt at 0.4 has 45 of the 48 words (analysis/bench_guards.py).
- No speech: when the model puts more than 0.6 on <|nospeech|> and the transcript is also unlikely,
  the window is silence: its transcript is empty.

Only the rows of a batch that fail are decoded again, so clean speech costs one greedy pass as before.
"""

import zlib
from collections.abc import Callable
from dataclasses import dataclass

from maslora.whisper.decoding import Decoded


@dataclass(frozen=True)
class DecodingGuards:
    # openai/whisper's defaults throughout: its transcribe() and faster-whisper use the same numbers.
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # greedy first, then ever freer sampling
    compression_ratio_threshold: float = 2.4  # English text gzips ~1.5-2x; a repetition loop far more
    logprob_threshold: float = -1.0  # a fluent transcript averages well above -1 nats a token
    no_speech_threshold: float = 0.6  # above it (and unlikely text) the window is silence
    seed: int = 0  # sampling is seeded, so the same audio always gets the same transcript


def compression_ratio(text: str) -> float:
    """len(text) / len(gzip(text)) in bytes: high for repetitive text."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def is_silence(result: Decoded, guards: DecodingGuards) -> bool:
    """Whisper says no speech and the transcript it wrote anyway is unlikely."""
    return result.no_speech_prob > guards.no_speech_threshold and result.avg_logprob < guards.logprob_threshold


def needs_fallback(result: Decoded, guards: DecodingGuards) -> bool:
    """A loop or a guess, unless the window is silence (its transcript is dropped anyway)."""
    failed = (
        compression_ratio(result.text) > guards.compression_ratio_threshold
        or result.avg_logprob < guards.logprob_threshold
    )
    return failed and not is_silence(result, guards)


def decode_with_fallback(
    decode_rows: Callable[[list[int], float], list[Decoded]], rows: int, guards: DecodingGuards
) -> list[str]:
    """The transcript of each of `rows` windows under the guards; `decode_rows(indices, temperature)` decodes
    the given rows of the batch at one temperature."""
    results = decode_rows(list(range(rows)), guards.temperatures[0])
    most_likely = list(results)  # each row's attempt with the highest mean log-probability so far
    for temperature in guards.temperatures[1:]:
        failing = [row for row in range(rows) if needs_fallback(results[row], guards)]
        if not failing:
            break
        for row, result in zip(failing, decode_rows(failing, temperature)):
            results[row] = result
            if result.avg_logprob > most_likely[row].avg_logprob:
                most_likely[row] = result
    kept = [most_likely[row] if needs_fallback(results[row], guards) else results[row] for row in range(rows)]
    return ["" if is_silence(result, guards) else result.text for result in kept]
