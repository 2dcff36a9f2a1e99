"""Talking to espeak-ng: English text -> phoneme words, and phoneme words -> speech samples.

Phonemes are espeak-ng's own ASCII mnemonics (`-x`), because espeak reads them back verbatim inside
`[[...]]`: synthesizing `[[f'IlIp st'i:lz]]` gives the same waveform, byte for byte, as the text
"Philip steals". A word is a list of phoneme tokens, stress marks kept on their vowel:

    "Philip steals." -> [[["f", "'I", "l", "I", "p"], ["s", "t", "'i:", "l", "z"]]]   (clauses of words)
"""

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from maslora.errors import EspeakError

ESPEAK = "espeak-ng"
ENGLISH_VOICE = "en-us"  # phonemes come from American English, as in L2-ARCTIC's prompts and references

Word = list[str]
Clause = list[Word]


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker's voice: an espeak-ng voice ("en-us+m1", or MBROLA's "mb-us2"), pitch (0-99)
    and rate (words per minute)."""

    name: str
    pitch: int
    words_per_minute: int

    def arguments(self) -> list[str]:
        return ["-v", self.name, "-p", str(self.pitch), "-s", str(self.words_per_minute)]


def _espeak(arguments: list[str]) -> str:
    if shutil.which(ESPEAK) is None:
        raise EspeakError("espeak-ng is not installed: apt-get install espeak-ng")
    result = subprocess.run([ESPEAK, *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        detail = " ".join(result.stderr.split())
        raise EspeakError(f"espeak-ng {' '.join(arguments[:2])} failed: {detail}")
    return result.stdout


def phonemize(text: str) -> list[Clause]:
    """English text -> clauses (espeak breaks at punctuation) of words of phoneme tokens.

    A word whose tokens do not join back into espeak's unseparated spelling (pause and length marks
    such as `s__:__:`) is kept as one opaque token, so no rule can corrupt what it does not understand.
    """
    separated = _espeak(["-q", "-x", "--sep=_", "-v", ENGLISH_VOICE, text]).split("\n")
    plain = _espeak(["-q", "-x", "-v", ENGLISH_VOICE, text]).split("\n")
    clauses = []
    for separated_line, plain_line in zip(separated, plain):
        words = []
        for separated_word, plain_word in zip(separated_line.split(), plain_line.split()):
            tokens = separated_word.split("_")
            words.append(tokens if "".join(tokens) == plain_word and "" not in tokens else [plain_word])
        if words:
            clauses.append(words)
    return clauses


def phoneme_text(clauses: list[Clause]) -> str:
    """Clauses back to espeak input: each clause in [[...]], clauses separated by commas (a short pause)."""
    return ", ".join("[[" + " ".join("".join(word) for word in clause) + "]]" for clause in clauses) + "."


def synthesize(clauses: list[Clause], voice: Voice) -> tuple[np.ndarray, int]:
    """Speak phoneme clauses with `voice`; returns (float32 samples, sample rate of espeak: 22,050 Hz)."""
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "speech.wav"
        _espeak([*voice.arguments(), "-w", str(wav), phoneme_text(clauses)])
        samples, rate = soundfile.read(wav, dtype="float32")
    return samples, rate
