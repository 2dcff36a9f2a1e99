"""The MAS-LoRA demo: hear an accent, move the sliders, watch base Whisper, a regular LoRA and MAS-LoRA compete.

    python app.py [--size tiny.en] [--host 127.0.0.1] [--port 7860]

This file only translates between Gradio and the core (maslora.systems and maslora.mixture.weights).

Many visitors, one model: each request carries its own expert weights as routing rows (nothing is
merged into shared weights), and the core holds a lock while those rows sit on the model's layers, so
decodes run one at a time whichever event starts them. Gradio's queue also runs each event one call at
a time: on a 2-core CPU a second concurrent decode would only halve the speed of both, and the queue
shows waiting visitors their position instead.
"""

import argparse
import functools
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry; must be set before gradio is imported

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from analysis.report_tools import annotated_heatmap
from maslora.data.audio import load_audio
from maslora.data.corpora import load_manifest
from maslora.errors import USER_ERRORS
from maslora.mixture.weights import PAPER_BEST_BETA, choose_weights
from maslora.systems.bundle import (
    BUNDLED_EXAMPLES,
    bundled_matrix,
    bundled_sizes,
    load_bundled_auto,
    load_bundled_systems,
)
from maslora.systems.compare import AutoWeighting, Comparison, compare, wer_vs_beta
from maslora.systems.systems import SYSTEMS, Systems

MAX_CLIP_SECONDS = 60  # a shared demo decodes three systems per clip; longer audio: python -m maslora transcribe
UNKNOWN = "unknown"
BY_RULE, BY_HAND, BY_AUDIO = "accent and beta", "expert sliders", "the audio (automatic)"  # where the weights come from
SOURCE_TITLES = {BY_RULE: "by accent and beta", BY_HAND: "set by hand", BY_AUDIO: "from the audio"}
TITLES = {"base": "Base Whisper", "lora": "Regular LoRA", "mas-lora": "MAS-LoRA"}
DIFF_COLORS = {"substitution": "#f4a261", "insertion": "#2a9d8f", "deletion": "#e76f51"}

EXPLANATION = """
**MAS-LoRA** (Mixture of Accent-Specific LoRAs, [arXiv 2505.20006](https://arxiv.org/abs/2505.20006))
adapts Whisper to non-native English with one small LoRA *expert* per accent, each trained only on
speakers of that accent, in the encoder. At inference the experts are mixed:
`W = W0 + sum_i w_i B_i A_i`.

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
is not adapted at all. All three decode your clip as one batch through one model. The bundled experts
were trained on a CPU until held-out speakers stopped improving (about an hour each), on synthetic
accented speech only (espeak-ng with accent rules), so expect their gains to be largest on accents like
the examples' and small on real voices.
"""


def readable_errors(handler):
    """Bad input (audio, weights, adapters) becomes a message on the page, never a crash of the server."""

    @functools.wraps(handler)
    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except USER_ERRORS as error:
            raise gr.Error(str(error)) from error

    return wrapped


@functools.cache
def systems_for(size: str) -> Systems:
    return load_bundled_systems(size)


@functools.cache
def auto_for(size: str) -> AutoWeighting | None:
    return load_bundled_auto(size)


def read_clip(path: str | None):
    if not path:
        raise gr.Error("Record or upload a clip first (or click an example).")
    return load_audio(path, max_seconds=MAX_CLIP_SECONDS)


def rule_weights(accents: list[str], accent: str, beta: float) -> dict[str, float]:
    return choose_weights(accents, None, None) if accent == UNKNOWN else choose_weights(accents, accent, beta)


def effective_weights(accents: list[str], source: str, accent: str, beta: float, sliders) -> dict[str, float]:
    return dict(zip(accents, map(float, sliders))) if source == BY_HAND else rule_weights(accents, accent, beta)


def bar_figure(accents: list[str], values, title: str, color: str | None = None) -> go.Figure:
    figure = go.Figure(
        go.Bar(x=accents, y=[float(v) for v in values], text=[f"{float(v):.2f}" for v in values], marker_color=color)
    )
    figure.update_layout(title=title, yaxis_range=[0, 1], height=260, margin=dict(t=40, b=20, l=20, r=20))
    return figure


def posterior_figure(accents: list[str], posterior: dict[str, float] | None) -> go.Figure | None:
    if posterior is None:
        return None
    return bar_figure(accents, [posterior[a] for a in accents], "Accent posterior, from the audio", "#8d99ae")


def system_outputs(comparison: Comparison) -> list:
    outputs = []
    for result in comparison.results:
        wer = "no reference to score against" if result.wer is None else f"WER **{result.wer:.1%}**"
        outputs.append(f"### {TITLES[result.system]}\n{wer} · {comparison.seconds:.2f} s (one batch for all three)")
        outputs.append(result.text or "(nothing recognized)")
        outputs.append([(f"{text} ", kind) for text, kind in result.diff])  # words shown with spaces between
    return outputs


def beta_figure(curve: pd.DataFrame, accent: str) -> go.Figure:
    figure = go.Figure(go.Scatter(x=curve.beta, y=curve.wer * 100, mode="lines+markers", hovertext=curve.text))
    figure.update_layout(
        title=f"MAS-LoRA WER on this clip vs beta (accent {accent})",
        xaxis_title="beta (1 = matched expert alone, N = uniform)",
        yaxis_title="WER (%)",
        height=320,
        margin=dict(t=40, b=40, l=40, r=20),
    )
    return figure


def matrix_figure(matrix: pd.DataFrame) -> go.Figure:
    """The bundled experts' expert x accent WER matrix as a heatmap (experts down, accents across)."""
    columns = [a for a in matrix.index if a in matrix.columns] + sorted(set(matrix.columns) - set(matrix.index))
    matrix = matrix[columns]
    figure = annotated_heatmap(matrix, [[f"{v:.1f}" for v in row] for row in matrix.values], "Viridis_r")
    figure.update_layout(
        title="WER (%) of each expert alone on each accent's held-out speakers",
        xaxis_title="accent of the speech",
        yaxis_title="expert",
        height=380,
        margin=dict(t=40, b=40, l=40, r=20),
    )
    return figure


def matrix_caption(matrix: pd.DataFrame) -> str:
    own = [accent for accent in matrix.index if accent in matrix.columns and matrix[accent].idxmin() == accent]
    return (
        "**Do the experts specialise?** Each bundled expert alone (weight 1, the others 0) on each accent's "
        f"held-out test speakers: its own accent's column should be darkest on its row's diagonal. The own "
        f"expert is the best single expert for {len(own)} of {len(matrix.index)} accents"
        + (f" ({', '.join(own)})." if own else ".")
        + "".join(
            f" The {control} column is a control: speakers no expert was trained on."
            for control in sorted(set(matrix.columns) - set(matrix.index))
        )
    )


def example_rows(accents: list[str]) -> list[list[str]]:
    if not BUNDLED_EXAMPLES.is_file():
        return []
    return [
        [r.path, r.text, r.accent if r.accent in accents else UNKNOWN]
        for r in load_manifest(BUNDLED_EXAMPLES).itertuples()
    ]


@readable_errors
def run_compare(size, audio_path, reference, accent, beta, source, *sliders):
    """One clip through the three systems: the posterior chart, the weights chart, then each system's column."""
    systems, auto, clip = systems_for(size), auto_for(size), read_clip(audio_path)
    if source == BY_AUDIO and auto is None:
        raise gr.Error(f"The {size} experts ship without an accent classifier: pick another way to weigh them.")
    posterior, from_audio = auto.weigh(systems, clip) if auto else (None, None)
    weights = from_audio if source == BY_AUDIO else effective_weights(systems.accents, source, accent, beta, sliders)
    comparison = compare(systems, clip, weights, reference)
    weights_plot = bar_figure(
        systems.accents,
        systems.weights_vector(weights),
        f"Expert weights the model uses, {SOURCE_TITLES.get(source, source)}",
    )
    return [posterior_figure(systems.accents, posterior), weights_plot, *system_outputs(comparison)]


@readable_errors
def apply_rule(accents: list[str], accent, beta):
    """Accent or beta moved: the beta rule sets every expert slider (accent unknown: uniform, beta unused)."""
    weights = rule_weights(accents, accent, beta)
    return [BY_RULE, gr.update(interactive=accent != UNKNOWN), *(weights[a] for a in accents)]


def reset():
    return [UNKNOWN, PAPER_BEST_BETA]


def choose_by_hand():
    return BY_HAND


@readable_errors
def run_beta_curve(size, audio_path, reference, accent, progress=gr.Progress(track_tqdm=True)):
    if accent == UNKNOWN:
        raise gr.Error("Pick the speaker's accent: beta favours that accent's expert.")
    curve = wer_vs_beta(systems_for(size), read_clip(audio_path), reference, accent, progress=True)
    return beta_figure(curve, accent)


def build_app(size: str) -> gr.Blocks:
    """The page: layout first, then every event wired to the handlers above."""
    accents = systems_for(size).accents
    n = len(accents)
    with gr.Blocks(title="MAS-LoRA: accent experts for Whisper", analytics_enabled=False) as demo:
        gr.Markdown(
            "# MAS-LoRA: accent experts for Whisper\nRecord or upload English speech (up to "
            f"{MAX_CLIP_SECONDS} s), or click an example; add what was said to score each system."
        )
        with gr.Row():
            with gr.Column(scale=3):
                audio = gr.Audio(sources=["microphone", "upload"], type="filepath", label="Speech")
                reference = gr.Textbox(label="Reference text (what was said; optional)", lines=2)
                compare_button = gr.Button("Compare", variant="primary")
            with gr.Column(scale=2):
                size_choice = gr.Dropdown(bundled_sizes(), value=size, label="Whisper size (bundled experts)")
                accent = gr.Dropdown([UNKNOWN, *accents], value=UNKNOWN, label="Speaker's accent")
                beta = gr.Slider(
                    1,
                    n,
                    value=PAPER_BEST_BETA,
                    step=0.1,
                    label="beta",
                    interactive=False,
                    elem_id="beta",
                    info="1 = the matched expert alone, N = uniform; needs a known accent",
                )
                source = gr.Radio(
                    [BY_RULE, BY_HAND, *([BY_AUDIO] if auto_for(size) else [])],
                    value=BY_RULE,
                    label="Expert weights come from",
                    elem_id="source",
                )
                with gr.Accordion("Expert weights (move one to mix by hand)", open=False):
                    sliders = [gr.Slider(0, 1, value=1 / n, step=0.01, label=a, elem_id=f"weight-{a}") for a in accents]
                reset_button = gr.Button("Reset weights")
        with gr.Row():
            posterior_plot = gr.Plot(label="What the accent classifier hears", elem_id="posterior")
            weights_plot = gr.Plot(label="Effective weights", elem_id="weights")
        examples = example_rows(accents)
        shown = (
            gr.Examples(examples, inputs=[audio, reference, accent], label="Examples: held-out speakers")
            if examples
            else None
        )
        columns = []
        with gr.Row():
            for system in SYSTEMS:
                with gr.Column(elem_id=f"column-{system}"):
                    columns.append(gr.Markdown(f"### {TITLES[system]}", elem_id=f"summary-{system}"))
                    columns.append(gr.Textbox(label="Transcript", interactive=False, elem_id=f"transcript-{system}"))
                    columns.append(
                        gr.HighlightedText(label="Against the reference", color_map=DIFF_COLORS, show_legend=True)
                    )
        with gr.Row():
            curve_button = gr.Button("WER vs beta for this clip")
            curve_plot = gr.Plot(label="WER vs beta")
        with gr.Accordion("What is MAS-LoRA, and what do the sliders do?", open=False):
            gr.Markdown(EXPLANATION)
            matrix = bundled_matrix(size)
            if matrix is not None:
                gr.Markdown(matrix_caption(matrix), elem_id="matrix-caption")
                gr.Plot(matrix_figure(matrix), label="The expert x accent matrix", elem_id="matrix")

        compare_inputs = [size_choice, audio, reference, accent, beta, source, *sliders]
        compare_outputs = [posterior_plot, weights_plot, *columns]
        rule_inputs, rule_outputs = [accent, beta], [source, beta, *sliders]
        rule = functools.partial(apply_rule, accents)
        private = {"api_visibility": "private"}  # UI plumbing; clients call "compare" and "wer_vs_beta"

        def then_compare(event) -> None:
            """Every change that alters the weights ends in a fresh comparison."""
            event.then(run_compare, compare_inputs, compare_outputs, **private)

        compare_button.click(run_compare, compare_inputs, compare_outputs, api_name="compare")
        gr.on(
            [audio.stop_recording, audio.upload, reference.submit, size_choice.input, source.input],
            run_compare,
            compare_inputs,
            compare_outputs,
            **private,
        )
        for trigger in (accent.input, beta.release):
            then_compare(trigger(rule, rule_inputs, rule_outputs, **private))
        for slider in sliders:
            then_compare(slider.release(choose_by_hand, None, source, **private))
        then_compare(
            reset_button.click(reset, None, [accent, beta], **private).then(rule, rule_inputs, rule_outputs, **private)
        )
        if shown is not None:
            then_compare(shown.load_input_event.then(rule, rule_inputs, rule_outputs, **private))
        curve_button.click(run_beta_curve, [size_choice, audio, reference, accent], curve_plot, api_name="wer_vs_beta")
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--size", default=bundled_sizes()[0] if bundled_sizes() else "tiny.en", help="bundled experts to start with"
    )
    parser.add_argument("--host", help="address to serve on (default 127.0.0.1, or $GRADIO_SERVER_NAME)")
    parser.add_argument("--port", type=int, help="port (default 7860, or $GRADIO_SERVER_PORT)")
    args = parser.parse_args()
    demo = build_app(args.size)
    demo.queue(default_concurrency_limit=1).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
