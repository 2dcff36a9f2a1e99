"""A visitor's reading session on the demo: the prompts they read aloud, the takes they keep, and how their
new expert did on the takes it never heard. Each take is checked like any training clip and kept as
16 kHz WAV in the visitor's own folder (see maslora.systems.visitors)."""

import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import soundfile

from maslora.data.audio import SAMPLE_RATE
from maslora.data.clip_archive import read_clip_archive
from maslora.errors import AudioError, CorpusError
from maslora.systems.bundle import bundle_fold, read_bundle
from maslora.systems.visitors import visitor_prompts
from maslora.training.new_expert import MIN_CLIPS, checked_clip, longest_clip_seconds

TRAINING_PROMPTS, TEST_PROMPTS = 20, 3  # about 20 clips to learn from (enough to move WER), 3 more to test on
Takes = dict[str, dict[str, str]]  # prompt id (or zip:path) -> {"path", "text", "part"}: the clips kept


@dataclass(frozen=True, kw_only=True)
class PromptSheet:
    """The prompts a visitor reads for one bundle: its fold's held-out prompts (the experts never trained on
    them), the first TRAINING_PROMPTS to train on, the last TEST_PROMPTS to test on."""

    prompts: list[tuple[str, str]]  # (prompt id, text)
    encoder_seconds: int  # the bundle's window: a take must fit it

    @classmethod
    def for_bundle(cls, size: str) -> "PromptSheet":
        prompts = visitor_prompts(bundle_fold(size), TRAINING_PROMPTS + TEST_PROMPTS)
        return cls(prompts=prompts, encoder_seconds=read_bundle(size)["encoder_seconds"])

    @property
    def longest_take(self) -> float:
        return longest_clip_seconds(self.encoder_seconds)

    def intro(self) -> str:
        return f"""
**Your accent as expert N + 1.** Read the prompts below aloud, one at a time (record, listen, record
again if you like, then keep it). The first {TRAINING_PROMPTS} teach your expert; the last {TEST_PROMPTS}
are your own test set, which it never hears in training. Or upload a zip of clips with a `manifest.csv`
(`path,text[,part]`, part `train` or `test`; without it the last {TEST_PROMPTS} rows are the test set).
Then train: Whisper, the shared decoder LoRA and the bundled experts stay frozen; only your expert learns.

Limits: at least {MIN_CLIPS} training clips, each at most {self.longest_take:g} s; one training at
a time on this server (you see your place in the queue), one running training per visitor. Your expert
lives in this browser session only: nobody else sees it, and it is deleted when you leave. The prompts
are ARCTIC sentences the bundled experts never trained on.
"""

    def part(self, position: int) -> str:
        return "train" if position < TRAINING_PROMPTS else "test"

    def card(self, position: int) -> str:
        _, text = self.prompts[position]
        part = "to train on" if self.part(position) == "train" else "your test set"
        return f"**Prompt {position + 1} of {len(self.prompts)}** ({part}):\n\n### {text}"

    def step(self, position: int, step: int) -> int:
        """The prompt `step` away from `position`, kept on the sheet."""
        return min(max(position + step, 0), len(self.prompts) - 1)

    def table(self, takes: Takes) -> pd.DataFrame:
        """The prompts and the visitor's uploaded clips, with what is kept for each."""
        rows = [
            {"#": i + 1, "part": self.part(i), "text": text, "kept": "yes" if prompt in takes else ""}
            for i, (prompt, text) in enumerate(self.prompts)
        ]
        uploaded = [take for key, take in takes.items() if key.startswith("zip:")]
        rows += [{"#": "zip", "part": t["part"], "text": t["text"], "kept": "yes"} for t in uploaded]
        return pd.DataFrame(rows)

    def keep(self, position: int, audio_path: str | None, folder: Path, takes: Takes) -> tuple[Takes, int]:
        """The take of prompt `position` checked and saved (16 kHz WAV under `folder`); returns the takes with
        it, and the first prompt still without a take (this one if every prompt has one)."""
        if not audio_path:
            raise AudioError(f"record prompt {position + 1} first (or upload a clip of it)")
        audio = checked_clip(audio_path, self.encoder_seconds, f"Prompt {position + 1}")
        prompt, text = self.prompts[position]
        saved = folder / "takes" / f"{prompt}.wav"
        saved.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(saved, audio, SAMPLE_RATE)
        takes = {**takes, prompt: {"path": str(saved), "text": text, "part": self.part(position)}}
        following = next((i for i, (prompt, _) in enumerate(self.prompts) if prompt not in takes), position)
        return takes, following

    def add_archive(self, zip_path: str, folder: Path, takes: Takes) -> Takes:
        """A zip of clips + manifest.csv unpacked under `folder`, each clip checked like a recorded take."""
        clips = read_clip_archive(zip_path, folder / f"zip-{uuid.uuid4().hex[:8]}")
        for row in clips.itertuples():
            checked_clip(row.path, self.encoder_seconds, Path(row.path).name)
        added = {f"zip:{r.path}": {"path": r.path, "text": r.text, "part": r.part} for r in clips.itertuples()}
        return {**takes, **added}


def split_takes(takes: Takes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the clips to train on, the clips to test on), each path and text; refused below MIN_CLIPS to train on."""
    clips = pd.DataFrame(list(takes.values()), columns=["path", "text", "part"])
    training, test = clips[clips.part == "train"].reset_index(drop=True), clips[clips.part == "test"]
    if len(training) < MIN_CLIPS:
        raise CorpusError(f"{len(training)} training clips kept: record at least {MIN_CLIPS} (about 20 is better)")
    return training, test


def trained_summary(name: str, clips: int, experts: int, scored: pd.DataFrame | None) -> str:
    """What the new expert is, and the pooled WER of each system on the visitor's test takes
    (maslora.systems.visitors.score_new_expert's rows)."""
    lines = [
        f"**{name}** trained on {clips} clips. It is expert {experts} of the first tab's mixture now: its own "
        "slider, and an accent to pick for the beta rule."
    ]
    if scored is None:
        return "\n\n".join([*lines, "No test clips kept: record the last prompts to see how it does."])
    pooled = scored.groupby("system", sort=False)[["errors", "words"]].sum()
    lines.append(
        f"WER on your {scored['clip'].nunique()} test clips, pooled: "
        + "; ".join(f"{system} **{row.errors / row.words:.1%}**" for system, row in pooled.iterrows())
    )
    return "\n\n".join(lines)
