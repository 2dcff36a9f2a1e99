"""What the demo page shows, computed here: a Compare's expert weights and columns, the notes on the bundled
experts, the examples. The page (app.py) lays these out and wires them to Gradio; nothing here knows Gradio.
"""

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from maslora.errors import WeightsError
from maslora.mixture.layer import SHARED_DESIGN, AdapterPlacement
from maslora.mixture.peft_io import read_experts_manifest
from maslora.mixture.weights import choose_weights
from maslora.systems.bundle import (
    BUNDLED_EXAMPLES,
    DEFAULT_MIXTURE,
    MIXTURES,
    bundled_folders,
    bundled_matrix,
    bundled_mixtures,
    bundled_real_speech,
    mixture_record,
    page_precision,
)
from maslora.systems.combined_whisper import CombinedWhisper
from maslora.systems.compare import AutoWeighting, Comparison
from maslora.systems.figures import matrix_figure

MAX_CLIP_SECONDS = 60  # a shared demo decodes three systems per clip; longer audio: python -m maslora transcribe
UNKNOWN = "unknown"  # the accent choice that means "accent unknown": uniform weights
BY_RULE, BY_HAND, BY_AUDIO = "accent and beta", "expert sliders", "the audio (automatic)"  # where weights come from
SOURCE_TITLES = {BY_RULE: "by accent and beta", BY_HAND: "set by hand", BY_AUDIO: "from the audio"}
ROUTE_TITLES = {"base": "Base Whisper", "lora": "Regular LoRA", "mas-lora": "MAS-LoRA"}
SYNTHETIC_SPEECH = "synthetic accented speech (espeak-ng with accent rules)"

EXPLANATION = """
**MAS-LoRA** (Mixture of Accent-Specific LoRAs, [arXiv 2505.20006](https://arxiv.org/abs/2505.20006))
adapts Whisper to non-native English with one small LoRA *expert* per accent, each trained only on
speakers of that accent, in the encoder. At inference the experts are mixed:
`W = W0 + sum_i w_i B_i A_i`. The sliders and beta set the weights w_i, whichever mixture runs (see
below for the two this page ships).

- **Accent unknown**: every expert gets the same weight, 1/N.
- **Accent known**: the matched expert gets 1/beta, each other expert (1 - 1/beta)/(N - 1).
  beta = 1 uses the matched expert alone; beta = N is uniform again. The paper's best is beta = 2.
- **Expert sliders**: set any mixture yourself; the weights are normalized to sum to 1 (the bar chart
  shows what the model uses). Moving one switches the beta rule off until you move beta, change the
  accent or press reset.
- **The audio (automatic)**: beyond the paper. A small classifier on Whisper's own encoder guesses the
  accent; its posterior (the left chart, shown for every clip) becomes the weights by the rule that
  scored best on validation speakers. It was right on about half of the held-out speakers' clips, so
  read its guess as a hint, not a verdict.

The **regular LoRA** is one adapter trained on all accents pooled, in the same places; **base Whisper**
is Whisper as released, in its own 30 s window; the two adapted systems decode your clip as one batch
of the same model, in the shorter window their adapters were trained in. The bundled experts were
trained on a CPU until held-out speakers stopped improving (about an hour each).

**To learn it step by step**: the project's lesson notebook, `docs/lesson.ipynb` in its repository, runs
offline in a few minutes on a laptop: Whisper on accented speech, a LoRA in a few lines, the beta rule and
merging, beta on one clip, whether the experts specialise, weights from the audio, training your own
expert, and what the paper claims against what this project measured, with exercises.
"""


def rule_weights(accents: list[str], accent: str, beta: float) -> dict[str, float]:
    """The beta rule around `accent`, or uniform when the accent is unknown (beta unused)."""
    return choose_weights(accents, None, None) if accent == UNKNOWN else choose_weights(accents, accent, beta)


@dataclass(frozen=True, kw_only=True)
class WeightChoice:
    """How a visitor asked for the expert weights of a Compare."""

    source: str  # BY_RULE, BY_HAND or BY_AUDIO
    accent: str  # an expert's accent, or UNKNOWN
    beta: float
    sliders: list[float]  # the sliders' values: the bundled experts', then the visitor's own expert's


def compare_weights(
    choice: WeightChoice, whisper: CombinedWhisper, bundled: CombinedWhisper, auto: AutoWeighting | None, clip
) -> tuple[dict[str, float], dict[str, float] | None]:
    """(the expert weights a Compare decodes with, the accent classifier's posterior or None) for `choice`,
    on `whisper` (the bundled experts, or a visitor's N + 1); the classifier hears the clip whatever the
    choice (its chart is shown for every clip), through the `bundled` experts' model it was trained for."""
    if choice.source == BY_AUDIO and auto is None:
        raise WeightsError("these experts ship without an accent classifier: pick another way to weigh them")
    if choice.source == BY_AUDIO and len(whisper.accents) > len(bundled.accents):
        raise WeightsError("the accent classifier knows only the bundled accents, not yours: weigh the experts by hand")
    if choice.accent not in (UNKNOWN, *whisper.accents):
        raise WeightsError(f"no {choice.accent} expert here (train it again in the second tab)")
    posterior, from_audio = auto.weigh(bundled, clip) if auto else (None, None)
    if choice.source == BY_AUDIO:
        return from_audio, posterior
    if choice.source == BY_HAND:
        return dict(zip(whisper.accents, map(float, choice.sliders[: len(whisper.accents)]))), posterior
    return rule_weights(whisper.accents, choice.accent, choice.beta), posterior


def slider_values(accents: list[str], bundled_count: int, accent: str, beta: float) -> list[float]:
    """Every expert slider's value under the beta rule: the bundled experts', then the visitor's own slider
    (0 while they have no expert)."""
    weights = rule_weights(accents, accent, beta)
    return [weights[a] for a in accents] + [0.0] * (bundled_count + 1 - len(accents))


def route_columns(comparison: Comparison) -> list:
    """Per route, in order: its heading (title, WER, latency), its transcript, its word diff against the reference."""
    columns = []
    for result in comparison.results:
        wer = "no reference to score against" if result.wer is None else f"WER **{result.wer:.1%}**"
        columns.append(f"### {ROUTE_TITLES[result.route]}\n{wer} · {comparison.seconds:.2f} s for all three")
        columns.append(result.text or "(nothing recognized)")
        columns.append([(f"{text} ", kind) for text, kind in result.diff])  # words shown with spaces between
    return columns


def training_note(size: str) -> str:
    """Which bundled experts heard real accented speakers and which only synthetic accents (bundle.json)."""
    heard = bundled_real_speech(size)
    experts, lora = heard["mas-lora"], heard["lora"]
    if experts is None:
        note = f"Every expert learned from {SYNTHETIC_SPEECH} only: none has heard a real accented voice."
    else:
        with_synthetic = "beside" if experts["placement"] == "beside" else "instead of"
        accent = experts["accent"].title()
        note = (
            f"The {accent} expert learned from {experts['speakers']} real {accent}-L1 speakers (speechocean762's "
            f"training speakers) {with_synthetic} the synthetic {accent} voices; the other experts from "
            f"{SYNTHETIC_SPEECH} only."
        )
    note += (
        " The regular LoRA heard the same real speakers, pooled with every accent."
        if lora is not None
        else " The regular LoRA heard synthetic accents only."
    )
    return (
        f"{note} The first examples are real Mandarin-L1 speakers (speechocean762) whom no training run "
        "heard; the report's section on real accented speech measures every system on such held-out speakers."
    )


def placement_of(size: str, mixture: str) -> AdapterPlacement:
    return read_experts_manifest(bundled_folders(size, mixture=mixture)[0]).placement


def _experts_sit_in(placement: AdapterPlacement) -> str:
    return "encoder and decoder" if placement.decoder_experts > 1 else "encoder"


def mixture_title(placement: AdapterPlacement) -> str:
    """The page's short name for a mixture's design."""
    if placement.design == SHARED_DESIGN:
        return f"shared LoRA + accent experts ({_experts_sit_in(placement)})"
    return f"accent experts in the {_experts_sit_in(placement)} (the paper's)"


def mixture_choices(size: str) -> list[tuple[str, str]]:
    """(title, mixture) of each bundled mixture, the default first: the page's mixture control."""
    return [(mixture_title(placement_of(size, mixture)), mixture) for mixture in bundled_mixtures(size)]


def _design_sentence(placement: AdapterPlacement) -> str:
    experts = f"one rank-{placement.rank} expert per accent"
    if placement.design == SHARED_DESIGN:
        return (
            f"a rank-{placement.shared_rank} LoRA on every adapted projection, which every utterance trained "
            f"and which always counts in full, plus {experts} in the {_experts_sit_in(placement)}: "
            "`W = W0 + B0 A0 + sum_i w_i B_i A_i`, the weights mixing the experts only"
        )
    decoder = "experts in the decoder too" if placement.decoder_experts > 1 else "one shared LoRA in the decoder"
    return f"{experts} in the encoder, mixed by the weights, and {decoder}"


def mixtures_note(size: str) -> str:
    """What differs between the bundled mixtures and what their training measured (bundle.json); empty with one."""
    mixtures = bundled_mixtures(size)
    if len(mixtures) < 2:
        return ""
    lines = [
        "\n\n**Two mixtures** (the *Mixture* choice beside the clip; the regular LoRA and base Whisper are the "
        "same in both):"
    ]
    for mixture in mixtures:
        placement, record = placement_of(size, mixture), mixture_record(size, mixture)
        default = " (the default)" if mixture == DEFAULT_MIXTURE else ""
        lines.append(
            f"- *{mixture_title(placement)}*{default}: {_design_sentence(placement)}. Its best validation WER (held-"
            f"out validation speakers, synthetic and real, accent unknown) was {record['best_validation_wer']:.1%}."
        )
    lines.append(
        "The default is the mixture with the lower validation WER, chosen before any test speaker was "
        'decoded; the report\'s section "Where mixing pays" compares both, and a regular LoRA of as many '
        "parameters, on the test speakers with intervals."
    )
    return "\n".join(lines)


# What a lighter precision changes (maslora.whisper.precision), in a visitor's words
LIGHTER_LAYERS = {
    "bfloat16": "bfloat16 linear layers (Whisper's weights and products; the LoRA factors, attention and "
    "everything else stay float32)",
    "int8": "int8 linear layers (the LoRA factors stay float32)",
}


def explanation(size: str) -> str:
    """The page's explanation of MAS-LoRA, with what `size`'s bundled experts heard and how its mixtures differ."""
    return EXPLANATION + training_note(size) + mixtures_note(size) + precision_note(size)


def precision_note(size: str) -> str:
    """Which precision the page runs `size` in, and where that was measured."""
    precision = page_precision(size)
    if precision == "float32":
        return f"\n\nOn this page {size} runs in float32, the precision of every result in the report."
    return (
        f"\n\nOn this page {size} runs with {LIGHTER_LAYERS[precision]}, faster on a CPU, measured on development "
        "speakers before the page used it (the report's precision section). Every other figure of the report "
        "is float32."
    )


def page_mixture(size: str, mixture: str) -> str:
    """The mixture a visitor who switched to `size` gets: the one they had if `size` bundles it, else the default."""
    return mixture if mixture in bundled_mixtures(size) else DEFAULT_MIXTURE


def mixture_matrices(size: str) -> list[tuple[str, go.Figure | None]]:
    """(caption, chart) of the expert x accent matrix of each mixture a bundle can hold (MIXTURES, the default
    first); ("", None) where `size` bundles no such mixture or no matrix of it: the page's matrix slots."""
    titles = {name: title for title, name in mixture_choices(size)}
    matrices = [bundled_matrix(size, name) if name in titles else None for name in MIXTURES]
    return [
        ("", None) if matrix is None else (matrix_caption(matrix, titles[name]), matrix_figure(matrix))
        for name, matrix in zip(MIXTURES, matrices)
    ]


def own_expert_best(matrix: pd.DataFrame) -> list[str]:
    """The accents whose own expert is the best single expert on them, in the matrix's expert order."""
    return [accent for accent in matrix.index if accent in matrix.columns and matrix[accent].idxmin() == accent]


def matrix_caption(matrix: pd.DataFrame, title: str) -> str:
    """What the matrix of the mixture called `title` shows, and how often the own expert wins."""
    own = own_expert_best(matrix)
    return (
        f"**Do the experts specialise?** ({title}) Each bundled expert alone (weight 1, the others 0) on each accent's "
        f"held-out test speakers: its own accent's column should be darkest on its row's diagonal. The own "
        f"expert is the best single expert for {len(own)} of {len(matrix.index)} accents"
        + (f" ({', '.join(own)})." if own else ".")
        + "".join(
            f" The {control} column is a control: speakers no expert was trained on."
            for control in sorted(set(matrix.columns) - set(matrix.index))
        )
    )


def bundled_examples() -> pd.DataFrame:
    """The demo's examples in their order (path, text, accent, speaker, source), paths resolved; read once
    per call, empty when the file is absent."""
    if not BUNDLED_EXAMPLES.is_file():
        return pd.DataFrame(columns=["path", "text", "accent", "speaker", "source"])
    table = pd.read_csv(BUNDLED_EXAMPLES, dtype=str)
    return table.assign(path=[str(BUNDLED_EXAMPLES.parent / path) for path in table.path])


def example_rows(examples: pd.DataFrame, accents: list[str]) -> list[list[str]]:
    """[audio, reference, accent] per example; an accent without an expert (native speech) shows as unknown."""
    return [[r.path, r.text, r.accent if r.accent in accents else UNKNOWN] for r in examples.itertuples()]


def example_credits(examples: pd.DataFrame) -> str:
    """Where the examples come from and under which licence, in their order (real speech first)."""
    if examples.empty:
        return ""
    sources = examples.groupby("source", sort=False).speaker.unique()
    return (
        "Examples, in order: "
        + "; ".join(f"{source} ({', '.join(speakers)})" for source, speakers in sources.items())
        + ". No example speaker or sentence was used in training."
    )
