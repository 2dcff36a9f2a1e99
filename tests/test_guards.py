"""openai/whisper's decoding guards on the real tiny.en: silence and noise give nothing, clean speech is
untouched, sampling is reproducible, and only the rows that fail are decoded again."""

import numpy as np
import pytest

from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.wer import error_counts
from maslora.whisper.decoding import Decoded, decode, no_speech_id, token_budget
from maslora.whisper.guards import DecodingGuards, compression_ratio, decode_with_fallback, is_silence, needs_fallback
from maslora.whisper.transcribe import log_mel_features, transcribe

GUARDS = DecodingGuards()


def _decoded(text: str, avg_logprob: float, no_speech_prob: float = 0.0) -> Decoded:
    return Decoded(tokens=[], text=text, avg_logprob=avg_logprob, no_speech_prob=no_speech_prob)


def test_compression_ratio_is_high_for_a_loop_and_low_for_a_sentence():
    assert compression_ratio("plump-" * 40) > GUARDS.compression_ratio_threshold
    assert compression_ratio("Author of the danger trail, Philip Steels, etc.") < 1.5
    assert compression_ratio("") == 0.0


def test_the_rules_as_openai_whisper_states_them():
    assert needs_fallback(_decoded("plump-" * 40, -0.2), GUARDS)  # a loop, however confident
    assert needs_fallback(_decoded("some words", -1.5), GUARDS)  # a guess
    assert not needs_fallback(_decoded("some words", -0.3), GUARDS)
    assert is_silence(_decoded("you", -1.5, no_speech_prob=0.9), GUARDS)
    assert not is_silence(_decoded("you", -0.3, no_speech_prob=0.9), GUARDS)  # sure of its words: kept
    assert not needs_fallback(_decoded("you", -1.5, no_speech_prob=0.9), GUARDS)  # silence is not retried


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
    greedy = transcribe(tiny_en, list(nothing.values()), guards=None)
    assert all(greedy)  # what the guards are for: plain greedy Whisper writes words for each of these
    assert transcribe(tiny_en, list(nothing.values())) == [""] * len(nothing)
    speech = [load_audio(path) for path, _ in native_clips[100:108]]
    assert transcribe(tiny_en, speech) == transcribe(tiny_en, speech, guards=None)


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
    strict = DecodingGuards(logprob_threshold=float(np.median([r.avg_logprob for r in greedy])))
    failing = [row for row, result in enumerate(greedy) if result.avg_logprob < strict.logprob_threshold]
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
def test_a_loop_is_sampled_away_and_real_repetition_keeps_its_most_likely_attempt(tiny_en, native_clips):
    path, reference = native_clips[60]  # arctic_a0061: clipped at 200x gain, greedy tiny.en loops on it
    looping = np.clip(load_audio(path) * 200, -1.0, 1.0).astype(np.float32)
    (said, text), times = native_clips[0], 6  # one sentence six times over: repetitive text for real
    repeated, repeated_text = np.concatenate([load_audio(said)] * times), " ".join([text] * times)
    greedy = transcribe(tiny_en, [looping, repeated], guards=None)
    guarded = transcribe(tiny_en, [looping, repeated])
    assert len(greedy[0].split()) > 2 * len(reference.split()) >= len(guarded[0].split())
    assert error_counts([reference], [guarded[0]]).wer < error_counts([reference], [greedy[0]]).wer
    assert error_counts([repeated_text], [guarded[1]]).wer <= error_counts([repeated_text], [greedy[1]]).wer
