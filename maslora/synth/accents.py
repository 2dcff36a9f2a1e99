"""L1 transfer rules: how a speaker of each L2-ARCTIC first language tends to reshape English phonemes.

One table per accent, each rule a well-attested pattern of that L1's learners of English (sources:
Swan & Smith, *Learner English*, 2nd ed. 2001, chapters on each L1; Avery & Ehrlich, *Teaching American
English Pronunciation*, 1992). Symbols are espeak-ng's (see maslora.synth.espeak): T = "th" in thin,
D = "th" in this, I = the vowel of kit, i: = fleece, E = dress, S = sh, Z = measure, tS = ch, dZ = j.

A rule changes each place it matches with its probability, drawn anew for every site, so one speaker
says "very" as "bery" in one sentence and "very" in the next; each speaker also has their own rates
(the accent's rate times a per-speaker factor), so a speaker is a sampled instance of the accent.
The native control accent has no rules: its speakers differ from the others only in what the rules do.

    ACCENTS["spanish"]: "I -> i" turns ["s", "'I", "t"] (sit) into ["s", "'i:", "t"] (seat)
"""

import random
from collections.abc import Callable
from dataclasses import dataclass

from maslora.synth.espeak import Word

STOPS = frozenset("p b t t# t2 d k g".split())
FRICATIVES = frozenset("f v T D s z S Z h".split())
AFFRICATES = frozenset(["tS", "dZ"])
OBSTRUENTS = STOPS | FRICATIVES | AFFRICATES
CONSONANTS = OBSTRUENTS | frozenset("m n N l r r- w j n- ?".split())
VOWELS = frozenset(
    "I I2 I# i i: i@ i@3 E a a# aa A: A@ 0 O: O@ O2 o@ V U U@ u: @ @2 @5 @L @- 3 3: eI aI aI3 aI@ OI aU oU e@".split()
)
STRESS_MARKS = "',"
SPEAKER_SPREAD = 0.25  # a speaker's rate for a rule is the accent's rate times U(0.75, 1.25)

Coin = Callable[[], bool]  # True: apply the rule at this site


def bare(token: str) -> str:
    """The phoneme without its stress mark: "'eI" -> "eI"."""
    return token.lstrip(STRESS_MARKS)


def is_vowel(token: str) -> bool:
    return bare(token) in VOWELS


def _restressed(old: str, new: str) -> str:
    return old[: len(old) - len(bare(old))] + new


def _onset_length(word: Word) -> int:
    """Number of consonants before the first vowel."""
    for index, token in enumerate(word):
        if is_vowel(token):
            return index
    return len(word)


def substitute(mapping: dict[str, str], where: str = "anywhere") -> Callable[[Word, Coin], Word]:
    """Replace phonemes: anywhere, only word-final ("final"), or only in the onset ("onset")."""

    def rewrite(word: Word, coin: Coin) -> Word:
        onset = _onset_length(word)
        out = []
        for index, token in enumerate(word):
            in_place = (
                where == "anywhere"
                or (where == "final" and index == len(word) - 1)
                or (where == "onset" and index < onset)
            )
            out.append(
                _restressed(token, mapping[bare(token)]) if in_place and bare(token) in mapping and coin() else token
            )
        return out

    return rewrite


def delete_final(phonemes: frozenset[str]) -> Callable[[Word, Coin], Word]:
    """Drop a word-final consonant from `phonemes` ("hand" -> "han")."""

    def rewrite(word: Word, coin: Coin) -> Word:
        return word[:-1] if len(word) > 1 and bare(word[-1]) in phonemes and coin() else word

    return rewrite


def add_final_vowel(after: frozenset[str], vowel: str) -> Callable[[Word, Coin], Word]:
    """Add a vowel after a word-final consonant from `after` ("bed" -> "bedu")."""

    def rewrite(word: Word, coin: Coin) -> Word:
        return [*word, vowel] if bare(word[-1]) in after and coin() else word

    return rewrite


def prothesis(vowel: str) -> Callable[[Word, Coin], Word]:
    """A vowel before word-initial s + consonant ("school" -> "eschool")."""

    def rewrite(word: Word, coin: Coin) -> Word:
        starts_with_s_cluster = len(word) > 1 and bare(word[0]) == "s" and bare(word[1]) in CONSONANTS
        return [vowel, *word] if starts_with_s_cluster and coin() else word

    return rewrite


def break_onset_cluster(vowel: str) -> Callable[[Word, Coin], Word]:
    """A vowel between the first two consonants of an onset cluster ("street" -> "sitreet")."""

    def rewrite(word: Word, coin: Coin) -> Word:
        return [word[0], vowel, *word[1:]] if _onset_length(word) >= 2 and coin() else word

    return rewrite


def simplify_onset_cluster() -> Callable[[Word, Coin], Word]:
    """Keep only the first consonant of an onset cluster ("street" -> "seet", "play" -> "pay")."""

    def rewrite(word: Word, coin: Coin) -> Word:
        onset = _onset_length(word)
        return [word[0], *word[onset:]] if 2 <= onset < len(word) and coin() else word

    return rewrite


@dataclass(frozen=True)
class Rule:
    name: str  # readable, e.g. "v -> b"
    probability: float  # chance that one matching site changes, for an average speaker of the accent
    rewrite: Callable[[Word, Coin], Word]


FINAL_VOICED = {"b": "p", "d": "t", "g": "k", "v": "f", "z": "s", "dZ": "tS"}
ALL_I = {"I": "i:", "I2": "i:"}

ACCENTS: dict[str, list[Rule]] = {
    "arabic": [
        Rule("p -> b", 0.8, substitute({"p": "b"})),
        Rule("v -> f", 0.7, substitute({"v": "f"})),
        Rule("I -> E", 0.6, substitute({"I": "E", "I2": "E"})),
        Rule("tS -> S", 0.4, substitute({"tS": "S"})),
        Rule("vowel in onset clusters", 0.6, break_onset_cluster("I")),
    ],
    "mandarin": [
        Rule("T -> s, D -> d", 0.7, substitute({"T": "s", "D": "d"})),
        Rule("v -> w", 0.7, substitute({"v": "w"})),
        Rule("r -> l", 0.5, substitute({"r": "l"}, where="onset")),
        Rule("final stop deleted", 0.5, delete_final(STOPS)),
        Rule("schwa after final l", 0.6, add_final_vowel(frozenset({"l"}), "@")),
    ],
    "hindi": [
        Rule("w -> v", 0.8, substitute({"w": "v"})),
        Rule("T -> t, D -> d", 0.8, substitute({"T": "t", "D": "d"})),
        Rule("z -> dZ", 0.6, substitute({"z": "dZ"})),
        Rule("I before s clusters", 0.6, prothesis("I")),
        Rule("a -> E", 0.5, substitute({"a": "E"})),
    ],
    "korean": [
        Rule("f -> p", 0.8, substitute({"f": "p"})),
        Rule("v -> b", 0.8, substitute({"v": "b"})),
        Rule("z -> dZ", 0.7, substitute({"z": "dZ"})),
        Rule("r -> l", 0.4, substitute({"r": "l"})),
        Rule("T -> s, D -> d", 0.6, substitute({"T": "s", "D": "d"})),
        Rule("vowel after final obstruent", 0.35, add_final_vowel(OBSTRUENTS, "U")),
    ],
    "spanish": [
        Rule("I -> i:", 0.7, substitute(ALL_I)),
        Rule("v -> b", 0.8, substitute({"v": "b"})),
        Rule("z -> s", 0.8, substitute({"z": "s"})),
        Rule("T -> t, D -> d", 0.7, substitute({"T": "t", "D": "d"})),
        Rule("E before s clusters", 0.9, prothesis("E")),
        Rule("final devoicing", 0.5, substitute(FINAL_VOICED, where="final")),
    ],
    "vietnamese": [
        Rule("final consonant deleted", 0.5, delete_final(CONSONANTS - frozenset({"n", "m", "N"}))),
        Rule("T -> t, D -> d", 0.8, substitute({"T": "t", "D": "d"})),
        Rule("onset cluster simplified", 0.6, simplify_onset_cluster()),
        Rule("S -> s", 0.5, substitute({"S": "s"})),
    ],
    "native": [],
}
L2_ACCENTS = [accent for accent in ACCENTS if accent != "native"]  # the six L1s of L2-ARCTIC


def speaker_rates(accent: str, rng: random.Random) -> list[float]:
    """One speaker's probability for each rule of `accent`: the accent's, scaled by U(0.75, 1.25)."""
    return [
        min(1.0, rule.probability * rng.uniform(1 - SPEAKER_SPREAD, 1 + SPEAKER_SPREAD)) for rule in ACCENTS[accent]
    ]


def accented(word: Word, accent: str, rates: list[float], rng: random.Random) -> Word:
    """Apply every rule of `accent` to `word` in table order, each site with the speaker's rate."""
    for rule, rate in zip(ACCENTS[accent], rates):
        if all(is_vowel(token) or bare(token) in CONSONANTS for token in word):  # opaque words stay as they are
            word = rule.rewrite(word, lambda: rng.random() < rate)
    return word
