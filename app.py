"""The MAS-LoRA demo: hear an accent, move the sliders, watch base Whisper, a regular LoRA and MAS-LoRA compete.

    python app.py [--size tiny.en] [--host 127.0.0.1] [--port 7860]

This file only lays the page out and wires it to the core: what a Compare computes and says lives in
maslora.systems.demo, the charts in maslora.systems.figures, a visitor's prompts and takes in
maslora.systems.visitor_takes, their experts in maslora.systems.visitors. Many visitors, one model:
compares run side by side (DECODES) and the core decodes those that arrive together as one batch.
"""

import argparse
import functools
import os
from types import SimpleNamespace

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry; must be set before gradio is imported

import gradio as gr
import pandas as pd

from maslora.data.audio import load_audio
from maslora.errors import USER_ERRORS
from maslora.mixture.expert_folders import check_expert_name
from maslora.mixture.weights import PAPER_BEST_BETA
from maslora.systems import bundle, demo, warm_examples
from maslora.systems.clip_cache import ClipCache
from maslora.systems.combined_whisper import ROUTES, CombinedWhisper
from maslora.systems.compare import compare, wer_vs_beta
from maslora.systems.figures import bar_figure, beta_figure, posterior_figure
from maslora.systems.visitor_takes import PromptSheet, split_takes, trained_summary
from maslora.systems.visitors import VisitorStores, score_new_expert

DIFF_COLORS = {"substitution": "#f4a261", "insertion": "#2a9d8f", "deletion": "#e76f51"}
PRIVATE = {"api_visibility": "private"}  # UI plumbing; clients call "compare" and "wer_vs_beta"
SCRIPTED = {"api_visibility": "undocumented"}  # a client may call it too (analysis.bench_class's trainings)
DECODES = {"concurrency_id": "decode", "concurrency_limit": 64}  # in flight at once; the core batches them
MAX_UPLOAD = "25mb"  # a minute of 48 kHz stereo float WAV is 23 MB; the clip limit (a minute) refuses the rest
THREADS = 128  # Gradio's default 40 would cap DECODES's 64, and trainings waiting their turn hold one each


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
def whisper_for(size: str, mixture: str) -> CombinedWhisper:  # every visitor's: one model, examples decoded early
    model = bundle.load_bundled_whisper(size, mixture=mixture, cache=ClipCache(), precision=bundle.page_precision(size))
    return warm_examples.warming_examples(model, auto_for(size, mixture))


auto_for = functools.cache(bundle.load_bundled_auto)  # (size, mixture): one model and classifier for every visitor
sheet_for = functools.cache(PromptSheet.for_bundle)  # (size): the prompts a visitor reads for their expert

VISITORS = VisitorStores(whisper_for)  # visitors' experts, columns of the models above; each goes with its visitor


def visitor_key(request: gr.Request | None) -> str:
    """The browser session's key: each visitor's expert and clips are theirs alone."""
    if request is None or not request.session_hash:
        raise gr.Error("This needs a browser session (the page, or an API client that keeps one).")
    return request.session_hash


def session_whisper(size: str, mixture: str, request: gr.Request | None) -> CombinedWhisper:
    """The visitor's own N + 1 experts when they trained one beside this mixture, else the bundled ones."""
    expert = VISITORS.expert(size, mixture, request.session_hash if request is not None else None)
    return expert.whisper if expert is not None else whisper_for(size, mixture)


def read_clip(path: str | None):
    if not path:
        raise gr.Error("Record or upload a clip first (or click an example).")
    return load_audio(path, max_seconds=demo.MAX_CLIP_SECONDS)


@readable_errors
def run_compare(request: gr.Request, size, mixture, audio_path, reference, accent, beta, source, *sliders):
    """One clip through the three systems: the posterior chart, the weights chart, then each system's column."""
    whisper, bundled, clip = session_whisper(size, mixture, request), whisper_for(size, mixture), read_clip(audio_path)
    choice = demo.WeightChoice(source=source, accent=accent, beta=beta, sliders=[float(s) for s in sliders])
    weights, posterior = demo.compare_weights(choice, whisper, bundled, auto_for(size, mixture), clip)
    title = f"Expert weights the model uses, {demo.SOURCE_TITLES.get(source, source)}"
    weights_plot = bar_figure(whisper.accents, whisper.weights_vector(weights), title)
    comparison = compare(whisper, clip, weights, reference)
    posterior_plot = posterior_figure(bundled.accents, posterior)
    return [posterior_plot, weights_plot, *demo.route_columns(comparison)]


@readable_errors
def apply_rule(request: gr.Request, size, mixture, accent, beta):
    """Accent or beta moved: the beta rule sets every expert slider (accent unknown: uniform, beta unused)."""
    accents = session_whisper(size, mixture, request).accents
    values = demo.slider_values(accents, len(whisper_for(size, mixture).accents), accent, beta)
    return [demo.BY_RULE, gr.update(interactive=accent != demo.UNKNOWN, maximum=len(accents)), *values]


@readable_errors
def run_beta_curve(request: gr.Request, size, mixture, audio_path, reference, accent, progress=gr.Progress(True)):
    if accent == demo.UNKNOWN:
        raise gr.Error("Pick the speaker's accent: beta favours that accent's expert.")
    whisper = session_whisper(size, mixture, request)
    curve = wer_vs_beta(whisper, read_clip(audio_path), reference, accent, progress=True)
    return beta_figure(curve, accent)


@readable_errors
def keep_take(request: gr.Request, size, mixture, position, audio_path, takes):
    """Keep the take of the prompt shown and show the next prompt without one."""
    sheet, folder = sheet_for(size), VISITORS.of(size, mixture).workspace(visitor_key(request))
    takes, following = sheet.keep(position, audio_path, folder, takes)
    return sheet.card(following), None, sheet.table(takes), takes, following


def step_prompt(sheet: PromptSheet, position: int, step: int):
    following = sheet.step(position, step)
    return sheet.card(following), None, following


@readable_errors
def upload_zip(request: gr.Request, size, mixture, zip_path, takes):
    """A zip of clips + manifest.csv joins the kept takes (each clip checked like a recorded one)."""
    sheet = sheet_for(size)
    if zip_path:
        takes = sheet.add_archive(zip_path, VISITORS.of(size, mixture).workspace(visitor_key(request)), takes)
    return sheet.table(takes), takes


@readable_errors
def train_expert(request: gr.Request, size, mixture, name, takes, progress=gr.Progress()):
    """Train the visitor's expert on their kept takes, score it on their test takes, and put it in the mixture."""
    key, store, name = visitor_key(request), VISITORS.of(size, mixture), (name or "").strip()
    check_expert_name(name, whisper_for(size, mixture).accents)
    training, test = split_takes(takes)

    def show(status) -> None:  # their place in the server's queue of trainings (a Wait), then each step (Progress)
        progress(status.fraction, desc=str(status))

    with store.training(key) as cancelled, VISITORS.trainings.turn(show, cancelled, show) as on_step:
        progress(0, desc="loading the model")
        layers = store.train(training, cancelled, on_step)
        expert = store.add(key, name, layers)  # inside: a visitor who left meanwhile gets no expert
    scored = score_new_expert(expert, [load_audio(p) for p in test.path], list(test.text)) if len(test) else None
    accents = expert.whisper.accents
    return [
        trained_summary(name, len(training), len(accents), scored),
        scored if scored is not None else pd.DataFrame(),
        gr.update(value=str(store.archive(key)), visible=True),
        gr.update(choices=[demo.UNKNOWN, *accents]),
        gr.update(visible=True, label=name, value=0.0),
    ]


def cancel_training(request: gr.Request):
    stopped = VISITORS.cancel(visitor_key(request))
    return "Cancelling before the next step: nothing will be saved." if stopped else "No training of yours is running."


@readable_errors
def switch_mixture(request: gr.Request, size, mixture):
    """Another size or mixture: its mixtures, the accents it offers (with the visitor's expert if they trained one
    beside it), the explanation of its experts and their matrices."""
    mixture, mixtures = demo.page_mixture(size, mixture), demo.mixture_choices(size)
    accents, bundled = session_whisper(size, mixture, request).accents, whisper_for(size, mixture).accents
    own = accents[len(bundled) :]  # a visitor's expert comes after the bundled ones
    own_slider = gr.update(visible=bool(own), label=own[0] if own else "your expert", value=0.0)
    charts = demo.mixture_matrices(size)
    return [
        gr.update(choices=mixtures, value=mixture, visible=len(mixtures) > 1),
        gr.update(choices=[demo.UNKNOWN, *accents], value=demo.UNKNOWN), own_slider, demo.explanation(size),
        *(gr.update(value=value, visible=chart is not None) for caption, chart in charts for value in (caption, chart)),
    ]  # fmt: skip


def forget_visitor(request: gr.Request) -> None:
    """The browser session ended: its experts, models and clips go, for every size and mixture it used."""
    if request is not None and request.session_hash:
        VISITORS.remove(request.session_hash)


def weights_panel(size: str, accents: list[str]) -> tuple:
    """The accent, beta, weight-source and expert-slider controls beside the clip."""
    n = len(accents)
    size_choice = gr.Dropdown(bundle.bundled_sizes(), value=size, label="Whisper size (bundled experts)")
    mixtures = demo.mixture_choices(size)  # the validation speakers' choice first; the explanation compares them
    mixture = gr.Radio(mixtures, value=mixtures[0][1], label="Mixture", elem_id="mixture", visible=len(mixtures) > 1)
    accent = gr.Dropdown([demo.UNKNOWN, *accents], value=demo.UNKNOWN, label="Speaker's accent")
    beta = gr.Slider(
        1, n, value=PAPER_BEST_BETA, step=0.1, label="beta", interactive=False, elem_id="beta",
        info="1 = the matched expert alone, N = uniform; needs a known accent",
    )  # fmt: skip
    sources = [demo.BY_RULE, demo.BY_HAND, *([demo.BY_AUDIO] if auto_for(size, bundle.DEFAULT_MIXTURE) else [])]
    source = gr.Radio(sources, value=demo.BY_RULE, label="Expert weights come from", elem_id="source")
    with gr.Accordion("Expert weights (move one to mix by hand)", open=False):
        sliders = [gr.Slider(0, 1, value=1 / n, step=0.01, label=a, elem_id=f"weight-{a}") for a in accents]
        # the visitor's own expert, once they trained one (second tab)
        sliders.append(gr.Slider(0, 1, value=0.0, step=0.01, label="your expert", visible=False, elem_id="weight-own"))
    return size_choice, mixture, accent, beta, source, sliders, gr.Button("Reset weights")


def compare_tab(size: str) -> SimpleNamespace:
    """The first tab: a clip, the weights, the three systems' columns, the examples; its controls by name."""
    accents = whisper_for(size, bundle.DEFAULT_MIXTURE).accents
    with gr.Row():
        with gr.Column(scale=3):
            audio = gr.Audio(sources=["microphone", "upload"], type="filepath", label="Speech")
            reference = gr.Textbox(label="Reference text (what was said; optional)", lines=2)
            compare_button = gr.Button("Compare", variant="primary")
        with gr.Column(scale=2):
            size_choice, mixture, accent, beta, source, sliders, reset_button = weights_panel(size, accents)
    columns = []  # right under the input: what Compare did is the first thing in view
    with gr.Row():
        for route in ROUTES:
            with gr.Column(elem_id=f"column-{route}"):
                columns.append(gr.Markdown(f"### {demo.ROUTE_TITLES[route]}", elem_id=f"summary-{route}"))
                columns.append(gr.Textbox(label="Transcript", interactive=False, elem_id=f"transcript-{route}"))
                diff = gr.HighlightedText(label="Against the reference", color_map=DIFF_COLORS, show_legend=True)
                columns.append(diff)
    with gr.Row():
        posterior_plot = gr.Plot(label="What the accent classifier hears", elem_id="posterior")
        weights_plot = gr.Plot(label="Effective weights", elem_id="weights")
    examples = demo.bundled_examples()
    rows = demo.example_rows(examples, accents)
    label = "Examples: held-out speakers"  # all on one page: real speech first, every accent in view
    shown = gr.Examples(rows, [audio, reference, accent], label=label, examples_per_page=len(rows)) if rows else None
    gr.Markdown(demo.example_credits(examples), elem_id="example-credits")
    with gr.Row():
        curve_button = gr.Button("WER vs beta for this clip")
        curve_plot = gr.Plot(label="WER vs beta")
    with gr.Accordion("What is MAS-LoRA, and what do the sliders do?", open=False):
        about = [gr.Markdown(demo.explanation(size), elem_id="explanation")]  # then each mixture's matrix, if any
        for name, (caption, chart) in zip(bundle.MIXTURES, demo.mixture_matrices(size)):
            visible = chart is not None
            about.append(gr.Markdown(caption, visible=visible, elem_id=f"matrix-caption-{name}"))
            about.append(gr.Plot(chart, label="Expert x accent matrix", visible=visible, elem_id=f"matrix-{name}"))
    return SimpleNamespace(
        size=size_choice, mixture=mixture, audio=audio, reference=reference, accent=accent, beta=beta, source=source,
        sliders=sliders, compare=compare_button, reset=reset_button, columns=columns, posterior=posterior_plot,
        weights=weights_plot, examples=shown, curve=curve_button, curve_plot=curve_plot, about=about,
    )  # fmt: skip


def accent_tab(size: str) -> SimpleNamespace:
    """The second tab: the prompts to read, the takes kept, training and scoring a visitor's expert."""
    sheet = sheet_for(size)
    gr.Markdown(sheet.intro())
    takes, position = gr.State({}), gr.State(0)
    with gr.Row():
        with gr.Column(scale=3):
            card = gr.Markdown(sheet.card(0), elem_id="prompt-card")
            take = gr.Audio(sources=["microphone", "upload"], type="filepath", label="Your reading", elem_id="own-take")
            with gr.Row():
                back = gr.Button("Previous prompt")
                keep = gr.Button("Keep this take, next prompt", variant="primary")
                skip = gr.Button("Next prompt")
            zip_upload = gr.File(label="Or upload a zip: clips + manifest.csv", file_types=[".zip"], elem_id="own-zip")
        with gr.Column(scale=2):
            name = gr.Textbox(value="my-accent", label="Your expert's name", elem_id="own-name")
            with gr.Row():
                train = gr.Button("Train my expert", variant="primary")
                cancel = gr.Button("Cancel training")
            status = gr.Markdown(elem_id="own-status")
            download = gr.DownloadButton("Download my expert (zip)", visible=False)
    kept = gr.Dataframe(sheet.table({}), label="Prompts and kept takes", interactive=False)
    scores = gr.Dataframe(label="Your test clips, system by system", interactive=False, elem_id="own-scores")
    return SimpleNamespace(
        sheet=sheet, takes=takes, position=position, card=card, take=take, back=back, keep=keep, skip=skip,
        zip_upload=zip_upload, name=name, train=train, cancel=cancel, status=status, download=download, kept=kept,
        scores=scores,
    )  # fmt: skip


def wire(page: gr.Blocks, c: SimpleNamespace, a: SimpleNamespace) -> None:
    """Every event of the page to its handler: every change that alters the weights ends in a fresh Compare."""
    compare_inputs = [c.size, c.mixture, c.audio, c.reference, c.accent, c.beta, c.source, *c.sliders]
    compare_outputs = [c.posterior, c.weights, *c.columns]
    rule_inputs, rule_outputs = [c.size, c.mixture, c.accent, c.beta], [c.source, c.beta, *c.sliders]

    def then_compare(event) -> None:
        event.then(run_compare, compare_inputs, compare_outputs, **PRIVATE, **DECODES)

    c.compare.click(run_compare, compare_inputs, compare_outputs, api_name="compare", **DECODES)
    changes = [c.audio.stop_recording, c.audio.upload, c.reference.submit, c.source.input]
    gr.on(changes, run_compare, compare_inputs, compare_outputs, **PRIVATE, **DECODES)
    switched_to = [c.mixture, c.accent, c.sliders[-1], *c.about]
    switched = gr.on([c.size.input, c.mixture.input], switch_mixture, [c.size, c.mixture], switched_to, **PRIVATE)
    for trigger in (c.accent.input, c.beta.release, switched.then):
        then_compare(trigger(apply_rule, rule_inputs, rule_outputs, **PRIVATE))
    for slider in c.sliders:
        then_compare(slider.release(lambda: demo.BY_HAND, None, c.source, **PRIVATE))
    reset = c.reset.click(lambda: [demo.UNKNOWN, PAPER_BEST_BETA], None, [c.accent, c.beta], **PRIVATE)
    then_compare(reset.then(apply_rule, rule_inputs, rule_outputs, **PRIVATE))
    if c.examples is not None:
        then_compare(c.examples.load_input_event.then(apply_rule, rule_inputs, rule_outputs, **PRIVATE))
    curve_inputs = [c.size, c.mixture, c.audio, c.reference, c.accent]
    c.curve.click(run_beta_curve, curve_inputs, c.curve_plot, api_name="wer_vs_beta", **DECODES)

    kept_outputs = [a.card, a.take, a.kept, a.takes, a.position]
    a.keep.click(keep_take, [c.size, c.mixture, a.position, a.take, a.takes], kept_outputs, **PRIVATE)
    for button, step in ((a.back, -1), (a.skip, 1)):
        move = functools.partial(step_prompt, a.sheet, step=step)
        button.click(move, a.position, [a.card, a.take, a.position], **PRIVATE)
    takes_inputs = [c.size, c.mixture, a.zip_upload, a.takes]
    a.zip_upload.upload(upload_zip, takes_inputs, [a.kept, a.takes], api_name="upload_takes", **SCRIPTED)
    # Trainings wait in the core's queue, one at a time server-wide, each visitor told their place and wait
    # (maslora.systems.training_queue); compares have their own queue and keep running meanwhile.
    a.train.click(
        train_expert, [c.size, c.mixture, a.name, a.takes], [a.status, a.scores, a.download, c.accent, c.sliders[-1]],
        concurrency_limit=None, concurrency_id="new-expert", api_name="train_expert", **SCRIPTED,
    )  # fmt: skip
    a.cancel.click(cancel_training, None, a.status, **PRIVATE)
    page.unload(forget_visitor)


def build_app(size: str) -> gr.Blocks:
    """The page: each tab laid out, then every event wired."""
    with gr.Blocks(title="MAS-LoRA: accent experts for Whisper", analytics_enabled=False) as page:
        gr.Markdown(
            "# MAS-LoRA: accent experts for Whisper\nRecord or upload English speech (up to "
            f"{demo.MAX_CLIP_SECONDS} s), or click an example; add what was said to score each system."
        )
        with gr.Tab("Compare"):
            compare_controls = compare_tab(size)
        with gr.Tab("Add your accent"):
            accent_controls = accent_tab(size)
        wire(page, compare_controls, accent_controls)
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default=bundle.bundled_sizes()[0], help="bundled experts to start with")
    parser.add_argument("--host", help="address to serve on (default 127.0.0.1, or $GRADIO_SERVER_NAME)")
    parser.add_argument("--port", type=int, help="port (default 7860, or $GRADIO_SERVER_PORT)")
    args = parser.parse_args()
    page = build_app(args.size).queue(default_concurrency_limit=1)
    page.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_UPLOAD, max_threads=THREADS)


if __name__ == "__main__":
    main()
