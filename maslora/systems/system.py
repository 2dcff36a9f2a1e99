"""A system: what decodes an utterance, and with which expert weights; parsed from its name and written back.

Every result row names its system, and every experiment asks for systems by name:

    base            Whisper as released, in its own 30 s window whatever window the adapters trained in
    full            a fully fine-tuned Whisper (its folder)
    lora            the regular LoRA (one adapter, all accents pooled)
    mas-uniform     MAS-LoRA, accent unknown: every expert 1/N
    mas-beta2       MAS-LoRA, accent known: the beta rule around each utterance's own accent (any beta in [1, N])
    mas-matched     MAS-LoRA with the utterance's own expert alone (the same weights as mas-beta1)
    expert-<accent> one expert alone (weight 1) on every utterance, whatever its accent: the rows of the
                    expert x accent matrix (expert-arabic on Mandarin speech, ...)
    mas-auto-t<T>   MAS-LoRA, weights from the audio: the accent classifier's posterior at temperature T
                    (mas-auto-t1: w = p; see maslora.auto.auto_weights)
    mas-auto-beta   MAS-LoRA, the beta rule around the classifier's guess, beta from its confidence
    mas-router      MAS-LoRA with a learned router's weights, one weighting per encoder block

`System.parse(name)` and `System.name` are the only places this grammar lives; result rows carry a
system's fields as columns (`kind`, `weighting`, `beta`, `expert`, `temperature`), so analysis reads
columns rather than slicing names.
"""

import re
from dataclasses import asdict, dataclass

import pandas as pd

from maslora.auto.auto_weights import TEMPERATURES
from maslora.errors import WeightsError

# How MAS-LoRA's experts are weighted (besides "uniform" and "expert"): by the utterance's accent, or from its audio.
ACCENT_KNOWN = ("beta", "matched")
FROM_AUDIO = ("posterior", "posterior-beta", "router")
COLUMNS = ("kind", "weighting", "beta", "expert", "temperature")  # a system's fields in its result rows

_NUMBER = r"\d+(?:\.\d+)?"
_GRAMMAR = (
    "base, full, lora, mas-uniform, mas-matched, mas-beta<B> (e.g. mas-beta2), expert-<accent> (e.g. "
    "expert-arabic), mas-auto-t<T> (e.g. mas-auto-t1), mas-auto-beta or mas-router"
)


@dataclass(frozen=True, kw_only=True)
class System:
    """One system; each field is set only when its weighting uses it."""

    kind: str  # which weights decode: "base" (Whisper), "full" (fine-tuned Whisper), "lora", "mas" (the experts)
    weighting: str | None = None  # mas only: "uniform", "expert", one of ACCENT_KNOWN or of FROM_AUDIO
    beta: float | None = None  # weighting "beta": the matched expert gets 1/beta, each other (1 - 1/beta)/(N - 1)
    expert: str | None = None  # weighting "expert": the accent of the expert decoding alone
    temperature: float | None = None  # weighting "posterior": the classifier's posterior at this temperature

    @classmethod
    def parse(cls, name: str) -> "System":
        if name in ("base", "full", "lora"):
            return cls(kind=name)
        if name in ("mas-uniform", "mas-matched", "mas-router"):
            return cls(kind="mas", weighting=name.removeprefix("mas-"))
        if name == "mas-auto-beta":
            return cls(kind="mas", weighting="posterior-beta")
        if match := re.fullmatch(rf"mas-beta({_NUMBER})", name):
            return cls(kind="mas", weighting="beta", beta=float(match[1]))
        if match := re.fullmatch(rf"mas-auto-t({_NUMBER})", name):
            return cls(kind="mas", weighting="posterior", temperature=float(match[1]))
        if match := re.fullmatch(r"expert-(.+)", name):
            return cls(kind="mas", weighting="expert", expert=match[1])
        raise WeightsError(f"unknown system {name!r}: {_GRAMMAR}")

    @property
    def name(self) -> str:
        if self.kind != "mas":
            return self.kind
        if self.weighting == "beta":
            return f"mas-beta{self.beta:g}"
        if self.weighting == "expert":
            return f"expert-{self.expert}"
        if self.weighting == "posterior":
            return f"mas-auto-t{self.temperature:g}"
        return "mas-auto-beta" if self.weighting == "posterior-beta" else f"mas-{self.weighting}"

    @property
    def accent_known(self) -> bool:
        """Whether its weights follow the utterance's accent label (so it applies only where an expert has it)."""
        return self.weighting in ACCENT_KNOWN

    @property
    def from_audio(self) -> bool:
        """Whether its weights are computed from each clip (an accent classifier or a router)."""
        return self.weighting in FROM_AUDIO

    @property
    def automatic_rule(self) -> tuple[str, float]:
        """The maslora.auto.auto_weights (rule, temperature) of a classifier's system:
        mas-auto-beta -> ("beta", 1.0), mas-auto-t2 -> ("tempered", 2.0)."""
        if self.weighting == "posterior-beta":
            return "beta", 1.0
        if self.weighting == "posterior":
            return "tempered", self.temperature
        raise WeightsError(f"{self.name} takes no weights from an accent classifier")

    def columns(self) -> dict[str, str | float | None]:
        """Its fields, as they are written into each of its result rows."""
        return asdict(self)


TEMPERED_SYSTEMS = [System(kind="mas", weighting="posterior", temperature=t).name for t in TEMPERATURES]


def expert_matrix(accents: list[str] | set[str]) -> list[str]:
    """The expert x accent matrix's systems: each accent's expert alone (weight 1), in accent order."""
    return [System(kind="mas", weighting="expert", expert=accent).name for accent in sorted(accents)]


def with_system_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """Result rows with every system field as a column, from each row's system name: rows written before the
    columns existed read as if they had them."""
    if rows.empty:
        return rows
    fields = {name: System.parse(name).columns() for name in rows.system.unique()}
    columns = pd.DataFrame([fields[name] for name in rows.system], index=rows.index, columns=list(COLUMNS))
    return rows.drop(columns=[column for column in COLUMNS if column in rows.columns]).join(columns)
