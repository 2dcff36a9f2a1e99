"""Every transfer rule of every accent, on a word where it must fire; and how speakers sample them."""

import random

import pytest

from maslora.synth.accents import ACCENTS, L2_ACCENTS, SPEAKER_SPREAD, accented, speaker_rates

ALWAYS = lambda: True  # noqa: E731 - a coin that always says "apply"
NEVER = lambda: False  # noqa: E731

# (accent, rule name, English word in espeak phonemes, the word after the rule fires everywhere it can)
EXAMPLES = [
    ("arabic", "p -> b", ["p", "'a", "p", "3"], ["b", "'a", "b", "3"]),  # paper
    ("arabic", "v -> f", ["v", "'E", "r", "i"], ["f", "'E", "r", "i"]),  # very
    ("arabic", "I -> E", ["s", "'I", "t"], ["s", "'E", "t"]),  # sit -> set
    ("arabic", "tS -> S", ["tS", "'3:", "tS"], ["S", "'3:", "S"]),  # church
    ("arabic", "vowel in onset clusters", ["s", "t", "r", "'i:", "t"], ["s", "I", "t", "r", "'i:", "t"]),  # street
    ("mandarin", "T -> s, D -> d", ["T", "'I", "N", "D", "@"], ["s", "'I", "N", "d", "@"]),
    ("mandarin", "v -> w", ["v", "'E", "r", "i"], ["w", "'E", "r", "i"]),
    ("mandarin", "r -> l", ["r", "'aI", "s", "r"], ["l", "'aI", "s", "r"]),  # onset only
    ("mandarin", "final stop deleted", ["h", "'a", "n", "d"], ["h", "'a", "n"]),  # hand
    ("mandarin", "schwa after final l", ["b", "'E", "l"], ["b", "'E", "l", "@"]),  # bell
    ("hindi", "w -> v", ["w", "'E", "s", "t"], ["v", "'E", "s", "t"]),  # west
    ("hindi", "T -> t, D -> d", ["T", "'I", "n"], ["t", "'I", "n"]),
    ("hindi", "z -> dZ", ["z", "'u:"], ["dZ", "'u:"]),  # zoo
    ("hindi", "I before s clusters", ["s", "k", "'u:", "l"], ["I", "s", "k", "'u:", "l"]),  # school
    ("hindi", "a -> E", ["k", "'a", "t"], ["k", "'E", "t"]),  # cat
    ("korean", "f -> p", ["f", "'a", "n"], ["p", "'a", "n"]),  # fan
    ("korean", "v -> b", ["v", "'aI", "n"], ["b", "'aI", "n"]),
    ("korean", "z -> dZ", ["z", "'i:", "r", "oU"], ["dZ", "'i:", "r", "oU"]),
    ("korean", "r -> l", ["r", "'aI", "s"], ["l", "'aI", "s"]),  # rice -> lice
    ("korean", "T -> s, D -> d", ["T", "'I", "N"], ["s", "'I", "N"]),
    ("korean", "vowel after final obstruent", ["b", "'E", "d"], ["b", "'E", "d", "U"]),  # bed
    ("spanish", "I -> i:", ["s", "'I", "t"], ["s", "'i:", "t"]),  # sit -> seat
    ("spanish", "v -> b", ["v", "'E", "r", "i"], ["b", "'E", "r", "i"]),
    ("spanish", "z -> s", ["z", "'u:"], ["s", "'u:"]),
    ("spanish", "T -> t, D -> d", ["D", "'E", "n"], ["d", "'E", "n"]),
    ("spanish", "E before s clusters", ["s", "p", "'eI", "n"], ["E", "s", "p", "'eI", "n"]),  # Spain
    ("spanish", "final devoicing", ["b", "'E", "d"], ["b", "'E", "t"]),
    ("vietnamese", "final consonant deleted", ["b", "'U", "k"], ["b", "'U"]),  # book
    ("vietnamese", "T -> t, D -> d", ["T", "'I", "N"], ["t", "'I", "N"]),
    ("vietnamese", "onset cluster simplified", ["p", "l", "'eI"], ["p", "'eI"]),  # play -> pay
    ("vietnamese", "S -> s", ["S", "'i:"], ["s", "'i:"]),  # she -> see
]


def _rule(accent: str, name: str):
    return next(rule for rule in ACCENTS[accent] if rule.name == name)


@pytest.mark.parametrize("accent, name, word, expected", EXAMPLES, ids=[f"{a}: {n}" for a, n, _, _ in EXAMPLES])
def test_each_rule_fires_where_it_should_and_only_when_the_coin_says_so(accent, name, word, expected):
    rule = _rule(accent, name)
    assert rule.rewrite(list(word), ALWAYS) == expected
    assert rule.rewrite(list(word), NEVER) == word
    assert 0 < rule.probability <= 1


def test_every_rule_of_every_accent_has_an_example():
    covered = {(accent, name) for accent, name, _, _ in EXAMPLES}
    assert covered == {(accent, rule.name) for accent in ACCENTS for rule in ACCENTS[accent]}


def test_rules_leave_words_they_do_not_match_alone():
    word = ["m", "'aI"]  # "my": nothing for any rule to change
    for accent in L2_ACCENTS:
        assert accented(word, accent, [1.0] * len(ACCENTS[accent]), random.Random(0)) == word


def test_the_native_control_has_no_rules_and_the_six_l1s_are_there():
    assert ACCENTS["native"] == []
    assert L2_ACCENTS == ["arabic", "mandarin", "hindi", "korean", "spanish", "vietnamese"]


def test_speakers_sample_their_own_rates_deterministically():
    first = speaker_rates("spanish", random.Random("0/SPA1/rates"))
    assert first == speaker_rates("spanish", random.Random("0/SPA1/rates"))
    assert first != speaker_rates("spanish", random.Random("0/SPA2/rates"))
    for rate, rule in zip(first, ACCENTS["spanish"]):
        assert rule.probability * (1 - SPEAKER_SPREAD) <= rate <= min(1.0, rule.probability * (1 + SPEAKER_SPREAD))


def test_rates_are_probabilities_per_site():
    word = ["v", "'E", "r", "i"]  # the Spanish v -> b rule has one site here
    rule_index = [rule.name for rule in ACCENTS["spanish"]].index("v -> b")
    rates = [0.0] * len(ACCENTS["spanish"])
    rates[rule_index] = 0.5
    rng = random.Random(0)
    changed = sum(accented(word, "spanish", rates, rng)[0] == "b" for _ in range(2000))
    assert 900 < changed < 1100
