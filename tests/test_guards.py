"""openai/whisper's decoding guards on the real tiny.en: silence and noise give nothing, clean speech is
untouched, sampling is reproducible, and only the rows that fail are decoded again."""

import numpy as np
import pytest

from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.wer import error_counts
from maslora.whisper.decoding import Decoded, decode, no_speech_id, token_budget
from maslora.whisper.encoder_window import windowed_whisper
from maslora.whisper.guards import (
    DecodingGuards,
    compression_ratio,
    decode_with_fallback,
    first_repetition,
    is_silence,
    kept_attempt,
    needs_fallback,
    without_loop,
)
from maslora.whisper.transcribe import GREEDY, log_mel_features, transcribe
from tests.conftest import LOOPS_IN_TEN_SECONDS

GUARDS = DecodingGuards()


def _decoded(text: str, avg_logprob: float, no_speech_prob: float = 0.0, ended: bool = True) -> Decoded:
    return Decoded(tokens=[], text=text, avg_logprob=avg_logprob, no_speech_prob=no_speech_prob, ended=ended)


LOOP = "He was a saunter of Zhen " * 6  # compresses like a loop (ratio above 2.4)


def test_compression_ratio_is_high_for_a_loop_and_low_for_a_sentence():
    assert compression_ratio("plump-" * 40) > GUARDS.compression_ratio_threshold
    assert compression_ratio("Author of the danger trail, Philip Steels, etc.") < 1.5
    assert compression_ratio("") == 0.0


def test_the_rules_as_openai_whisper_states_them():
    openai = DecodingGuards(resample_below_logprob=-1.0)
    assert needs_fallback(_decoded("plump-" * 40, -0.2, ended=False), openai)  # a loop, however confident
    assert not needs_fallback(_decoded("plump-" * 40, -0.2), openai)  # repetitive, but it ended: said so
    assert needs_fallback(_decoded("some words", -1.5), openai)  # a guess
    assert not needs_fallback(_decoded("some words", -0.3), openai)
    assert not needs_fallback(_decoded("some words", -1.5), DecodingGuards(resample_below_logprob=None))
    assert is_silence(_decoded("you", -1.5, no_speech_prob=0.9), GUARDS)
    assert not is_silence(_decoded("you", -0.3, no_speech_prob=0.9), GUARDS)  # sure of its words: kept
    assert not needs_fallback(_decoded("you", -1.5, no_speech_prob=0.9), GUARDS)  # silence is not retried


def test_a_looping_attempt_is_kept_only_when_every_attempt_loops():
    looping, worse, better, last = (
        _decoded(LOOP, -0.1, ended=False),
        _decoded("he was a saunter", -1.4),
        _decoded("He was a saunter of Zhen Hane.", -1.2),
        _decoded("garbage " + LOOP, -2.0, ended=False),
    )
    assert compression_ratio(LOOP) > GUARDS.compression_ratio_threshold
    assert kept_attempt([looping, worse, better, last], GUARDS) is better  # not the loop, the most likely of all
    only_loops = [_decoded(LOOP + end, logprob, ended=False) for end, logprob in (("", -0.5), ("a", -0.3), ("b", -0.9))]
    assert kept_attempt(only_loops, GUARDS) is only_loops[1]  # real repetition: the most likely of all
    passing = _decoded("he was a saunter", -0.2)
    assert kept_attempt([looping, passing], GUARDS) is passing


def test_a_loop_cut_at_its_budget_is_cut_at_its_first_repetition():
    assert first_repetition("a b c a b c a b c d".split(), 3) == 3
    assert first_repetition("Sandi has a bid for shorts. Sandi has a bid for shorts Sandi has".split(), 3) is None
    assert first_repetition("no no no".split(), 3) == 1
    assert first_repetition("It's a bit of a bit of a bit of a bit".split(), 3) == 4
    assert first_repetition("the cat sat on the mat".split(), 3) is None
    seven = "Sandi has a bid for shorts. " * 7 + "Sandi has"
    assert without_loop(_decoded(seven, -0.2, ended=False), GUARDS) == "Sandi has a bid for shorts."
    said_three_times = "Sandy has a bit for shorts. " * 3  # ended on its own: real speech repeating itself
    assert without_loop(_decoded(said_three_times.strip(), -0.2), GUARDS) == said_three_times.strip()
    unlooped = "He was a saunter of Zhen Hane and"  # cut at its budget without a loop: kept as it is
    assert without_loop(_decoded(unlooped, -0.2, ended=False), GUARDS) == unlooped


@pytest.mark.slow
def test_the_no_speech_token_is_the_one_before_no_timestamps(tiny_en):
    name = "<|nocaptions|>" if not tiny_en.is_multilingual else "<|nospeech|>"
    assert no_speech_id(tiny_en) == tiny_en.tokenizer.convert_tokens_to_ids(name)


@pytest.mark.slow
def test_silence_noise_and_a_5_ms_clip_give_nothing_clean_speech_is_unchanged(tiny_en, native_clips):
    rng = np.random.default_rng(0)
    nothing = {
        "3 s of silence": np.zeros(3 * SAMPLE_RATE, np.float32),
        "5 ms of silence": np.zeros(SAMPLE_RATE // 200, np.float32),
        "a 5 ms click": (rng.standard_normal(SAMPLE_RATE // 200) * 0.3).astype(np.float32),
        "3 s of noise": (rng.standard_normal(3 * SAMPLE_RATE) * 0.05).astype(np.float32),
    }
    greedy = transcribe(tiny_en, list(nothing.values()), GREEDY)
    assert all(greedy)  # what the guards are for: plain greedy Whisper writes words for each of these
    assert transcribe(tiny_en, list(nothing.values())) == [""] * len(nothing)
    speech = [load_audio(path) for path, _ in native_clips[100:108]]
    assert transcribe(tiny_en, speech) == transcribe(tiny_en, speech, GREEDY)


@pytest.mark.slow
def test_sampling_is_seeded_and_only_failing_rows_are_decoded_again(tiny_en, native_clips):
    audios = [load_audio(path) for path, _ in native_clips[20:24]]
    features = log_mel_features(tiny_en, audios)
    budgets = [token_budget(len(audio) / SAMPLE_RATE) for audio in audios]
    hot = [decode(tiny_en, features, budgets, temperature=1.0, seed=seed) for seed in (0, 0, 1)]
    assert [r.tokens for r in hot[0]] == [r.tokens for r in hot[1]]
    assert [r.tokens for r in hot[0]] != [r.tokens for r in hot[2]]

    greedy = decode(tiny_en, features, budgets)
    # A threshold between the clips' own log-probabilities: the less likely half fails and is sampled again.
    strict = DecodingGuards(resample_below_logprob=float(np.median([r.avg_logprob for r in greedy])))
    failing = [row for row, result in enumerate(greedy) if result.avg_logprob < strict.resample_below_logprob]
    asked: list[tuple[list[int], float]] = []

    def decode_rows(rows: list[int], temperature: float) -> list[Decoded]:
        asked.append((rows, temperature))
        return decode(tiny_en, features[rows], [budgets[row] for row in rows], temperature, strict.seed)

    texts = decode_with_fallback(decode_rows, len(audios), strict)
    assert asked[0] == ([0, 1, 2, 3], 0.0) and asked[1] == (failing, 0.2) and 0 < len(failing) < 4
    assert all(set(rows) <= set(failing) for rows, _ in asked[1:])
    assert [texts[row] for row in range(4) if row not in failing] == [
        greedy[row].text for row in range(4) if row not in failing
    ]


@pytest.mark.slow
def test_a_loop_is_sampled_away_and_real_repetition_is_left_alone(tiny_en, native_clips):
    path, reference = native_clips[60]  # arctic_a0061: clipped at 200x gain, greedy tiny.en loops on it
    looping = np.clip(load_audio(path) * 200, -1.0, 1.0).astype(np.float32)
    (said, text), times = native_clips[0], 6  # one sentence six times over: repetitive text for real
    repeated, repeated_text = np.concatenate([load_audio(said)] * times), " ".join([text] * times)
    greedy = transcribe(tiny_en, [looping, repeated], GREEDY)
    guarded = transcribe(tiny_en, [looping, repeated])
    assert len(greedy[0].split()) > 2 * len(reference.split()) >= len(guarded[0].split())
    assert error_counts([reference], [guarded[0]]).wer < error_counts([reference], [greedy[0]]).wer
    assert guarded[1] == greedy[1]  # repetitive text for real: it ends on its own, so it is no loop
    assert error_counts([repeated_text], [guarded[1]]).wer < 0.5  # and nothing cut it short


@pytest.mark.slow
def test_a_real_childs_reading_that_loops_in_ten_seconds_keeps_no_loop_under_the_guards():
    ten_seconds = windowed_whisper("tiny.en", 10)  # where greedy tiny.en writes the sentence seven times
    audio = load_audio(LOOPS_IN_TEN_SECONDS)
    greedy, guarded = transcribe(ten_seconds, [audio], GREEDY)[0], transcribe(ten_seconds, [audio])[0]
    words = len("SANDY HAS A BEAUTIFUL SHORTS".split())
    assert len(greedy.split()) > 2 * words + 5 >= len(guarded.split()) > 0
