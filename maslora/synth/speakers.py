"""The synthetic speakers: a code, an accent and a voice each; voice k is shared by speaker k of every accent.

Sharing voices is what makes the corpus useful: ARA2, SPA2 and NAT2 sound like the same person, so the
only thing that separates accents is the transfer rules, and an "accent expert" cannot get by on
recognizing a voice.
"""

from dataclasses import dataclass

from maslora.synth.espeak import Voice

ACCENT_CODES = {
    "arabic": "ARA",
    "mandarin": "MAN",
    "hindi": "HIN",
    "korean": "KOR",
    "spanish": "SPA",
    "vietnamese": "VIE",
    "native": "NAT",
}
# Four espeak en-us variants with their own pitch and rate; chosen among 17 candidates as the ones tiny.en
# reads best without any accent (20-24% WER on 30 prompts each; female variants ran 28-41%).
ESPEAK_VOICES = (
    Voice("en-us+m1", pitch=40, words_per_minute=150),
    Voice("en-us+f2", pitch=55, words_per_minute=150),
    Voice("en-us+m3", pitch=50, words_per_minute=160),
    Voice("en-us+m7", pitch=45, words_per_minute=140),
)
# MBROLA's three U.S. English diphone voices (more natural; Debian contrib/non-free, see README).
# us2 appears twice at different pitch and rate, as a fourth speaker.
MBROLA_VOICES = (
    Voice("mb-us2", pitch=40, words_per_minute=150),
    Voice("mb-us1", pitch=55, words_per_minute=150),
    Voice("mb-us3", pitch=50, words_per_minute=160),
    Voice("mb-us2", pitch=60, words_per_minute=140),
)
VOICE_SETS = {"espeak": ESPEAK_VOICES, "mbrola": MBROLA_VOICES}


@dataclass(frozen=True)
class SyntheticSpeaker:
    code: str  # e.g. "SPA2"
    accent: str
    slot: int  # 1-based position within the accent; the paper's folds name speakers by this position
    voice: Voice


def synthetic_speakers(accents: list[str], per_accent: int, voice_set: str = "espeak") -> list[SyntheticSpeaker]:
    """Speakers 1..per_accent of each accent; speaker k of every accent uses voice k of the voice set."""
    if voice_set not in VOICE_SETS:
        raise ValueError(f"unknown voice set {voice_set!r}; known: {', '.join(VOICE_SETS)}")
    voices = VOICE_SETS[voice_set]
    if not 1 <= per_accent <= len(voices):
        raise ValueError(f"speakers per accent must be 1..{len(voices)}, got {per_accent}")
    unknown = [accent for accent in accents if accent not in ACCENT_CODES]
    if unknown:
        raise ValueError(f"unknown accent(s) {unknown}; known: {', '.join(ACCENT_CODES)}")
    return [
        SyntheticSpeaker(f"{ACCENT_CODES[accent]}{slot}", accent, slot, voices[slot - 1])
        for accent in accents
        for slot in range(1, per_accent + 1)
    ]
