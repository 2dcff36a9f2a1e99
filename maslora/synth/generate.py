"""Generate a synthetic accented-English corpus in the L2-ARCTIC layout.

    python -m maslora.synth --out data/synthetic --prompts 100 --seed 0

writes `<SPK>/wav/arctic_a0001.wav` (16 kHz mono 16-bit) and `<SPK>/transcript/arctic_a0001.txt` for
speakers ARA1..4, MAN1..4, HIN1..4, KOR1..4, SPA1..4, VIE1..4 and the native control NAT1..4, plus
`speakers.csv` (code, accent, voice) that the corpus loader reads. Every utterance is seeded by
(seed, speaker, prompt), so the output does not depend on the number of processes or on the order
they finish in; finished files are skipped, so an interrupted run resumes.
"""

import csv
import os
import random
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile
from tqdm import tqdm

from maslora.atomic import replace_file
from maslora.cache import cache_dir
from maslora.data.audio import SAMPLE_RATE, to_model_audio
from maslora.data.corpora import SPEAKERS_FILE, arctic_prompts, first_prompts, load_corpus
from maslora.synth.accents import ACCENTS, accented, speaker_rates
from maslora.synth.espeak import phonemize, synthesize
from maslora.synth.speakers import SyntheticSpeaker, synthetic_speakers

CORPUS_VERSION = 1  # bump when rules, voices or synthesis change, so a stale cached corpus is not reused


@dataclass
class SynthConfig:
    out: Path
    prompts: int = 100  # the first 100 ARCTIC prompts: ~2,800 clips in about a minute on 2 cores
    speakers_per_accent: int = 4  # as in L2-ARCTIC
    accents: list[str] = field(default_factory=lambda: list(ACCENTS))  # six L1s and the native control
    seed: int = 0  # the whole corpus is a function of this number
    voice_set: str = "espeak"  # "mbrola" needs Debian's mbrola and mbrola-us1/2/3 packages (contrib/non-free)
    jobs: int = os.cpu_count() or 1  # espeak runs one process per clip; every core helps


@dataclass(frozen=True)
class Job:
    speaker: SyntheticSpeaker
    utterance_id: str
    text: str
    seed: int
    out: Path

    @property
    def wav(self) -> Path:
        return self.out / self.speaker.code / "wav" / f"{self.utterance_id}.wav"

    @property
    def transcript(self) -> Path:
        return self.out / self.speaker.code / "transcript" / f"{self.utterance_id}.txt"


def speak(job: Job) -> None:
    """Phonemize, apply the speaker's accent, synthesize, resample to 16 kHz, write wav and transcript."""
    speaker = job.speaker
    rates = speaker_rates(speaker.accent, random.Random(f"{job.seed}/{speaker.code}/rates"))
    rng = random.Random(f"{job.seed}/{speaker.code}/{job.utterance_id}")
    clauses = [[accented(word, speaker.accent, rates, rng) for word in clause] for clause in phonemize(job.text)]
    samples, rate = synthesize(clauses, speaker.voice)
    audio = to_model_audio(samples, rate, source=f"espeak-ng output for {speaker.code}/{job.utterance_id}")
    pcm = np.clip(audio, -1.0, 1.0)
    replace_file(job.wav, lambda path: soundfile.write(path, pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV"))
    replace_file(job.transcript, lambda path: path.write_text(job.text + "\n", encoding="utf-8"))


def write_speakers_file(out: Path, speakers: list[SyntheticSpeaker]) -> None:
    def write(path: Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            table = csv.writer(handle)
            table.writerow(["speaker", "accent", "slot", "voice", "pitch", "words_per_minute"])
            for s in speakers:
                table.writerow([s.code, s.accent, s.slot, s.voice.name, s.voice.pitch, s.voice.words_per_minute])

    replace_file(out / SPEAKERS_FILE, write)


def generate_corpus(config: SynthConfig) -> int:
    """Generate what is missing of the corpus; returns the number of clips written this time."""
    prompts = list(arctic_prompts().items())[: config.prompts]
    speakers = synthetic_speakers(config.accents, config.speakers_per_accent, config.voice_set)
    config.out.mkdir(parents=True, exist_ok=True)
    write_speakers_file(config.out, speakers)
    jobs = [Job(s, uid, text, config.seed, config.out) for s in speakers for uid, text in prompts]
    todo = [job for job in jobs if not (job.wav.is_file() and job.transcript.is_file())]
    if todo:
        with Pool(config.jobs) as pool:
            for _ in tqdm(
                pool.imap_unordered(speak, todo, chunksize=4), total=len(todo), desc="synthesizing", unit="clip"
            ):
                pass
    return len(todo)


EMBEDDED_PROMPTS = 1132  # all of CMU ARCTIC: fold 1 then tests 6 held-out speakers x 113 prompts, as the paper


def embedded_corpus(prompts: int = EMBEDDED_PROMPTS) -> Path:
    """The default corpus (SynthConfig's voices, seed 0) with at least its first `prompts` prompts, generated
    into the cache as far as needed (all of it: ~32,000 clips, minutes on 2 cores; clips are seeded one by
    one, so the first N prompts are the same whatever N)."""
    defaults = SynthConfig(out=Path())
    folder = cache_dir() / f"synthetic-v{CORPUS_VERSION}-seed{defaults.seed}"
    generate_corpus(SynthConfig(out=folder, prompts=prompts))  # resumes: only what is missing is synthesized
    return folder


def corpus_or_embedded(source: str | Path | None, prompts: int | None = None) -> pd.DataFrame:
    """The table of `source` (see maslora.data.corpora.load_corpus), or of the embedded corpus when None;
    only its first `prompts` prompts when given (quick runs; only those are synthesized)."""
    table = load_corpus(source if source else embedded_corpus(prompts or EMBEDDED_PROMPTS))
    return first_prompts(table, prompts) if prompts else table
