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
import tempfile
import uuid
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry; must be set before gradio is imported

import gradio as gr
import pandas as pd
import plotly.graph_objects as go
import soundfile

from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.data.clip_archive import read_clip_archive
from maslora.data.corpora import load_manifest
from maslora.errors import USER_ERRORS
from maslora.mixture.expert_folders import check_expert_name
from maslora.mixture.weights import PAPER_BEST_BETA, choose_weights
from maslora.systems.bundle import (
    BUNDLED_EXAMPLES,
    BUNDLED_EXPERTS,
    bundle_fold,
    bundled_matrix,
    bundled_real_speech,
    bundled_sizes,
    load_bundled_auto,
    load_bundled_whisper,
    read_bundle,
)
from maslora.systems.combined_whisper import ROUTES, CombinedWhisper
from maslora.systems.compare import AutoWeighting, Comparison, compare, wer_vs_beta
from maslora.systems.figures import annotated_heatmap
from maslora.systems.visitors import Bundle, VisitorExperts, score_new_expert, visitor_prompts
from maslora.training.new_expert import MIN_CLIPS, checked_clip, longest_clip_seconds, train_new_expert

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
is Whisper as released, in its own 30 s window; the two adapted systems decode your clip as one batch
of the same model, in the shorter window their adapters were trained in. The bundled experts were
trained on a CPU until held-out speakers stopped improving (about an hour each).
"""
SYNTHETIC_SPEECH = "synthetic accented speech (espeak-ng with accent rules)"


def training_note(size: str) -> str:
    """Which bundled experts heard real accented speakers and which only synthetic accents (bundle.json)."""
    heard = bundled_real_speech(size)
    experts, lora = heard["mas-lora"], heard["lora"]
    if experts is None:
        note = f"Every expert learned from {SYNTHETIC_SPEECH} only: none has heard a real accented voice."
    else:
        with_synthetic = "beside" if experts["placement"] == "beside" else "instead of"
        note = (
            f"The {experts['accent'].title()} expert learned from {experts['speakers']} real "
            f"{experts['accent'].title()}-L1 speakers (speechocean762's training speakers) {with_synthetic} "
            f"the synthetic {experts['accent'].title()} voices; the other experts from {SYNTHETIC_SPEECH} only."
        )
    note += (
        " The regular LoRA heard the same real speakers, pooled with every accent."
        if lora is not None
        else " The regular LoRA heard synthetic accents only."
    )
    return (
        f"{note} The first examples are real Mandarin-L1 speakers (speechocean762) whom no training run "
        "heard; the report's section 9 measures every system on such held-out real speakers."
    )


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
def systems_for(size: str) -> CombinedWhisper:
    return load_bundled_whisper(size)


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
        outputs.append(f"### {TITLES[result.route]}\n{wer} · {comparison.seconds:.2f} s for all three")
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


def example_credits() -> str:
    """Where the examples come from and under which licence, in their order (real speech first)."""
    if not BUNDLED_EXAMPLES.is_file():
        return ""
    table = pd.read_csv(BUNDLED_EXAMPLES, dtype=str)
    sources = table.groupby("source", sort=False).speaker.unique()
    return (
        "Examples, in order: "
        + "; ".join(f"{source} ({', '.join(speakers)})" for source, speakers in sources.items())
        + ". No example speaker or sentence was used in training."
    )


def visitor_key(request: gr.Request | None) -> str:
    """The browser session's key: each visitor's expert and clips are theirs alone."""
    if request is None or not request.session_hash:
        raise gr.Error("This needs a browser session (the page, or an API client that keeps one).")
    return request.session_hash


VISITORS: dict[str, VisitorExperts] = {}  # per bundled size, made on first use


def visitors_for(size: str) -> VisitorExperts:
    """Visitors' own experts for `size`'s bundle, in a temporary folder; each goes when its visitor leaves."""
    if size not in VISITORS:
        bundle = Bundle(
            BUNDLED_EXPERTS / size / "mas-lora",
            BUNDLED_EXPERTS / size / "lora",
            read_bundle(size)["model"],
            systems_for(size).encoder_seconds,
        )
        VISITORS[size] = VisitorExperts(bundle, Path(tempfile.mkdtemp(prefix=f"maslora-visitors-{size}-")))
    return VISITORS[size]


def session_systems(size: str, request: gr.Request | None) -> CombinedWhisper:
    """The visitor's own N + 1 experts when they trained one on `size`, else the bundled ones."""
    key = request.session_hash if request is not None else None
    expert = VISITORS[size].get(key) if key and size in VISITORS else None
    return expert.whisper if expert is not None else systems_for(size)


def slider_weights(accents: list[str], sliders) -> list[float]:
    """The sliders' values for `accents` (the bundled experts' sliders, then the visitor's, if any)."""
    return [float(value) for value in sliders[: len(accents)]]


@readable_errors
def run_compare(request: gr.Request, size, audio_path, reference, accent, beta, source, *sliders):
    """One clip through the three systems: the posterior chart, the weights chart, then each system's column."""
    systems, auto, clip = session_systems(size, request), auto_for(size), read_clip(audio_path)
    if source == BY_AUDIO and auto is None:
        raise gr.Error(f"The {size} experts ship without an accent classifier: pick another way to weigh them.")
    if source == BY_AUDIO and len(systems.accents) > len(systems_for(size).accents):
        raise gr.Error("The accent classifier knows only the bundled accents, not yours: weigh the experts yourself.")
    if accent not in (UNKNOWN, *systems.accents):
        raise gr.Error(f"No {accent} expert here (train it again in the second tab).")
    posterior, from_audio = auto.weigh(systems_for(size), clip) if auto else (None, None)
    weights = (
        from_audio
        if source == BY_AUDIO
        else effective_weights(systems.accents, source, accent, beta, slider_weights(systems.accents, sliders))
    )
    comparison = compare(systems, clip, weights, reference)
    weights_plot = bar_figure(
        systems.accents,
        systems.weights_vector(weights),
        f"Expert weights the model uses, {SOURCE_TITLES.get(source, source)}",
    )
    posterior_accents = systems_for(size).accents
    return [posterior_figure(posterior_accents, posterior), weights_plot, *system_outputs(comparison)]


@readable_errors
def apply_rule(request: gr.Request, size, accent, beta):
    """Accent or beta moved: the beta rule sets every expert slider (accent unknown: uniform, beta unused)."""
    accents = session_systems(size, request).accents
    weights = rule_weights(accents, accent, beta)
    values = [weights[a] for a in accents] + [0.0] * (len(systems_for(size).accents) + 1 - len(accents))
    return [BY_RULE, gr.update(interactive=accent != UNKNOWN, maximum=len(accents)), *values]


def reset():
    return [UNKNOWN, PAPER_BEST_BETA]


def choose_by_hand():
    return BY_HAND


@readable_errors
def run_beta_curve(request: gr.Request, size, audio_path, reference, accent, progress=gr.Progress(track_tqdm=True)):
    if accent == UNKNOWN:
        raise gr.Error("Pick the speaker's accent: beta favours that accent's expert.")
    curve = wer_vs_beta(session_systems(size, request), read_clip(audio_path), reference, accent, progress=True)
    return beta_figure(curve, accent)


TRAINING_PROMPTS, TEST_PROMPTS = 20, 3  # issue #15: about 20 clips to learn from, 3 more to test on
FIRST_SIZE = bundled_sizes()[0]  # the page's default bundle: its fold's held-out prompts, its window's clip limit
PROMPTS = visitor_prompts(bundle_fold(FIRST_SIZE), TRAINING_PROMPTS + TEST_PROMPTS)
LONGEST_TAKE = longest_clip_seconds(read_bundle(FIRST_SIZE)["encoder_seconds"])
ADD_ACCENT_INTRO = f"""
**Your accent as expert N + 1.** Read the prompts below aloud, one at a time (record, listen, record
again if you like, then keep it). The first {TRAINING_PROMPTS} teach your expert; the last {TEST_PROMPTS}
are your own test set, which it never hears in training. Or upload a zip of clips with a `manifest.csv`
(`path,text[,part]`, part `train` or `test`; without it the last {TEST_PROMPTS} rows are the test set).
Then train: Whisper, the shared decoder LoRA and the bundled experts stay frozen; only your expert learns.

Limits: at least {MIN_CLIPS} training clips, each at most {LONGEST_TAKE:g} s; one training at
a time on this server (you see your place in the queue), one running training per visitor. Your expert
lives in this browser session only: nobody else sees it, and it is deleted when you leave. The prompts
are ARCTIC sentences the bundled experts never trained on.
"""


def prompt_part(position: int) -> str:
    return "train" if position < TRAINING_PROMPTS else "test"


def prompt_card(position: int) -> str:
    _, text = PROMPTS[position]
    part = "to train on" if prompt_part(position) == "train" else "your test set"
    return f"**Prompt {position + 1} of {len(PROMPTS)}** ({part}):\n\n### {text}"


def takes_table(takes: dict) -> pd.DataFrame:
    """The prompts and the visitor's uploaded clips, with what is kept for each."""
    rows = [
        {"#": i + 1, "part": prompt_part(i), "text": text, "kept": "yes" if prompt in takes else ""}
        for i, (prompt, text) in enumerate(PROMPTS)
    ]
    uploaded = [take for key, take in takes.items() if key.startswith("zip:")]
    rows += [{"#": "zip", "part": t["part"], "text": t["text"], "kept": "yes"} for t in uploaded]
    return pd.DataFrame(rows)


@readable_errors
def keep_take(request: gr.Request, size, position, audio_path, takes):
    """Keep the take of the prompt shown (16 kHz WAV in the visitor's folder) and show the next prompt."""
    if not audio_path:
        raise gr.Error(f"Record prompt {position + 1} first (or upload a clip of it).")
    store = visitors_for(size)
    audio = checked_clip(audio_path, store.bundle.encoder_seconds, f"Prompt {position + 1}")
    prompt, text = PROMPTS[position]
    saved = store.workspace(visitor_key(request)) / "takes" / f"{prompt}.wav"
    saved.parent.mkdir(exist_ok=True)
    soundfile.write(saved, audio, SAMPLE_RATE)
    takes = {**takes, prompt: {"path": str(saved), "text": text, "part": prompt_part(position)}}
    following = next((i for i in range(len(PROMPTS)) if PROMPTS[i][0] not in takes), position)
    return prompt_card(following), None, takes_table(takes), takes, following


def step_prompt(position: int, step: int):
    following = min(max(position + step, 0), len(PROMPTS) - 1)
    return prompt_card(following), None, following


@readable_errors
def upload_zip(request: gr.Request, size, zip_path, takes):
    """A zip of clips + manifest.csv joins the kept takes (each clip checked like a recorded one)."""
    if not zip_path:
        return takes_table(takes), takes
    store = visitors_for(size)
    clips = read_clip_archive(zip_path, store.workspace(visitor_key(request)) / f"zip-{uuid.uuid4().hex[:8]}")
    for row in clips.itertuples():
        checked_clip(row.path, store.bundle.encoder_seconds, Path(row.path).name)
    added = {f"zip:{row.path}": {"path": row.path, "text": row.text, "part": row.part} for row in clips.itertuples()}
    takes = {**takes, **added}
    return takes_table(takes), takes


@readable_errors
def train_expert(request: gr.Request, size, name, takes, progress=gr.Progress()):
    """Train the visitor's expert on their kept takes, score it on their test takes, and put it in the mixture."""
    key, store = visitor_key(request), visitors_for(size)
    name = (name or "").strip()
    check_expert_name(name, systems_for(size).accents)
    clips = pd.DataFrame(list(takes.values()), columns=["path", "text", "part"])
    training, test = clips[clips.part == "train"], clips[clips.part == "test"]
    if len(training) < MIN_CLIPS:
        raise gr.Error(f"{len(training)} training clips kept: record at least {MIN_CLIPS} (about 20 is better).")
    progress(0, desc="loading the model")
    with store.training(key) as cancelled:

        def show(step) -> None:
            progress(
                (step.step, step.steps),
                desc=f"step {step.step} of {step.steps}: loss {step.loss:.2f}, about {step.seconds_left:.0f} s left",
            )

        layers = train_new_expert(
            store.bundle.experts, training.reset_index(drop=True), on_step=show, cancelled=cancelled
        )
    expert = store.add(key, name, layers)
    scored = score_new_expert(expert, [load_audio(p) for p in test.path], list(test.text)) if len(test) else None
    accents = expert.whisper.accents
    return [
        trained_summary(name, len(training), len(accents), scored),
        scored if scored is not None else pd.DataFrame(),
        gr.update(value=str(store.archive(key)), visible=True),
        gr.update(choices=[UNKNOWN, *accents]),
        gr.update(visible=True, label=name, value=0.0),
    ]


def trained_summary(name: str, clips: int, experts: int, scored: pd.DataFrame | None) -> str:
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


def cancel_training(request: gr.Request, size):
    stopped = visitors_for(size).cancel(visitor_key(request))
    return "Cancelling before the next step: nothing will be saved." if stopped else "No training of yours is running."


def forget_visitor(request: gr.Request) -> None:
    """The browser session ended: its experts, models and clips go, for every size it used."""
    if request is not None and request.session_hash:
        for store in list(VISITORS.values()):
            store.remove(request.session_hash)


def build_app(size: str) -> gr.Blocks:
    """The page: layout first, then every event wired to the handlers above."""
    accents = systems_for(size).accents
    n = len(accents)
    with gr.Blocks(title="MAS-LoRA: accent experts for Whisper", analytics_enabled=False) as demo:
        gr.Markdown(
            "# MAS-LoRA: accent experts for Whisper\nRecord or upload English speech (up to "
            f"{MAX_CLIP_SECONDS} s), or click an example; add what was said to score each system."
        )
        with gr.Tab("Compare"):
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
                        sliders = [
                            gr.Slider(0, 1, value=1 / n, step=0.01, label=a, elem_id=f"weight-{a}") for a in accents
                        ]
                        sliders.append(  # the visitor's own expert, once they trained one (second tab)
                            gr.Slider(
                                0, 1, value=0.0, step=0.01, label="your expert", visible=False, elem_id="weight-own"
                            )
                        )
                    reset_button = gr.Button("Reset weights")
            columns = []  # right under the input: what Compare did is the first thing in view
            with gr.Row():
                for system in ROUTES:
                    with gr.Column(elem_id=f"column-{system}"):
                        columns.append(gr.Markdown(f"### {TITLES[system]}", elem_id=f"summary-{system}"))
                        columns.append(
                            gr.Textbox(label="Transcript", interactive=False, elem_id=f"transcript-{system}")
                        )
                        columns.append(
                            gr.HighlightedText(label="Against the reference", color_map=DIFF_COLORS, show_legend=True)
                        )
            with gr.Row():
                posterior_plot = gr.Plot(label="What the accent classifier hears", elem_id="posterior")
                weights_plot = gr.Plot(label="Effective weights", elem_id="weights")
            examples = example_rows(accents)
            shown = (
                gr.Examples(
                    examples,
                    inputs=[audio, reference, accent],
                    label="Examples: held-out speakers",
                    examples_per_page=len(examples),  # all on one page: real speech first, every accent in view
                )
                if examples
                else None
            )
            gr.Markdown(example_credits(), elem_id="example-credits")
            with gr.Row():
                curve_button = gr.Button("WER vs beta for this clip")
                curve_plot = gr.Plot(label="WER vs beta")
            with gr.Accordion("What is MAS-LoRA, and what do the sliders do?", open=False):
                gr.Markdown(EXPLANATION + training_note(size))
                matrix = bundled_matrix(size)
                if matrix is not None:
                    gr.Markdown(matrix_caption(matrix), elem_id="matrix-caption")
                    gr.Plot(matrix_figure(matrix), label="The expert x accent matrix", elem_id="matrix")
        with gr.Tab("Add your accent"):
            gr.Markdown(ADD_ACCENT_INTRO)
            takes = gr.State({})  # prompt id (or zip:path) -> {"path", "text", "part"}: this visitor's kept clips
            position = gr.State(0)
            with gr.Row():
                with gr.Column(scale=3):
                    card = gr.Markdown(prompt_card(0), elem_id="prompt-card")
                    take = gr.Audio(
                        sources=["microphone", "upload"], type="filepath", label="Your reading", elem_id="own-take"
                    )
                    with gr.Row():
                        back_button = gr.Button("Previous prompt")
                        keep_button = gr.Button("Keep this take, next prompt", variant="primary")
                        skip_button = gr.Button("Next prompt")
                    zip_upload = gr.File(
                        label="Or upload a zip: clips + manifest.csv", file_types=[".zip"], elem_id="own-zip"
                    )
                with gr.Column(scale=2):
                    name = gr.Textbox(value="my-accent", label="Your expert's name", elem_id="own-name")
                    with gr.Row():
                        train_button = gr.Button("Train my expert", variant="primary")
                        cancel_button = gr.Button("Cancel training")
                    status = gr.Markdown(elem_id="own-status")
                    download = gr.DownloadButton("Download my expert (zip)", visible=False)
            kept = gr.Dataframe(takes_table({}), label="Prompts and kept takes", interactive=False)
            scores = gr.Dataframe(label="Your test clips, system by system", interactive=False, elem_id="own-scores")

        compare_inputs = [size_choice, audio, reference, accent, beta, source, *sliders]
        compare_outputs = [posterior_plot, weights_plot, *columns]
        rule_inputs, rule_outputs = [size_choice, accent, beta], [source, beta, *sliders]
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
            then_compare(trigger(apply_rule, rule_inputs, rule_outputs, **private))
        for slider in sliders:
            then_compare(slider.release(choose_by_hand, None, source, **private))
        then_compare(
            reset_button.click(reset, None, [accent, beta], **private).then(
                apply_rule, rule_inputs, rule_outputs, **private
            )
        )
        if shown is not None:
            then_compare(shown.load_input_event.then(apply_rule, rule_inputs, rule_outputs, **private))
        curve_button.click(run_beta_curve, [size_choice, audio, reference, accent], curve_plot, api_name="wer_vs_beta")

        keep_button.click(
            keep_take, [size_choice, position, take, takes], [card, take, kept, takes, position], **private
        )
        back_button.click(functools.partial(step_prompt, step=-1), position, [card, take, position], **private)
        skip_button.click(functools.partial(step_prompt, step=1), position, [card, take, position], **private)
        zip_upload.upload(upload_zip, [size_choice, zip_upload, takes], [kept, takes], **private)
        # One training at a time on the whole server (the queue shows each visitor their place); compares
        # have their own queue, so they keep running while someone trains.
        train_button.click(
            train_expert,
            [size_choice, name, takes],
            [status, scores, download, accent, sliders[-1]],
            concurrency_limit=1,
            concurrency_id="new-expert",
            **private,
        )
        cancel_button.click(cancel_training, size_choice, status, **private)
        demo.unload(forget_visitor)
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default=FIRST_SIZE, help="bundled experts to start with")
    parser.add_argument("--host", help="address to serve on (default 127.0.0.1, or $GRADIO_SERVER_NAME)")
    parser.add_argument("--port", type=int, help="port (default 7860, or $GRADIO_SERVER_PORT)")
    args = parser.parse_args()
    demo = build_app(args.size)
    demo.queue(default_concurrency_limit=1).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
