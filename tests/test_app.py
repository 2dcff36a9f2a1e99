"""The demo as visitors use it: `python app.py` served on 127.0.0.1, a real browser, a real API client."""

import json
import os
import re
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import soundfile
from gradio_client import Client, handle_file
from playwright.sync_api import expect, sync_playwright

from maslora.data.clip_archive import write_clip_archive
from maslora.data.corpora import NATIVE_RECORDINGS, load_manifest
from maslora.systems import bundle, demo
from tests.conftest import ROOT
from tests.serving import served

pytestmark = [pytest.mark.slow, pytest.mark.browser]  # a real server and a real browser

EXAMPLES = ROOT / "assets" / "examples"
ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots for a reviewer; ignored by git
TRANSCRIPT_OUTPUTS = (
    3,
    6,
    9,
)  # compare's outputs: posterior plot, weights plot, then (summary, transcript, diff) per system
AUTOMATIC = "the audio (automatic)"
ACCENTS = ["arabic", "mandarin", "hindi", "korean", "spanish", "vietnamese"]
DEFAULT, PAPER = "mas-lora", "mas-lora-paper"  # the bundled mixtures (maslora.systems.bundle)


@pytest.fixture(scope="module")
def app_url(tiny_en, tmp_path_factory):
    """The app exactly as the README starts it, on a free port; its log is shown if it fails to start."""
    with served(sys.executable, ROOT, tmp_path_factory.mktemp("app") / "app.log") as url:
        yield url


@pytest.fixture(scope="module")
def example():
    """A held-out Korean example on which the systems disagree (so a mix-up of weights would show)."""
    table = pd.read_csv(EXAMPLES / "examples.csv")
    row = table[(table.accent == "korean")].iloc[0]  # a0153: beta alone gives four transcripts of it
    return EXAMPLES / row.path, row.text


def _compare(
    client: Client, audio, reference: str, weights: list[float], mixture=DEFAULT, size="tiny.en"
) -> tuple[str, str, str]:
    # inputs: size, mixture, audio, reference, accent, beta, where the weights come from, one weight per expert
    outputs = client.predict(
        size, mixture, audio, reference, "unknown", 2.0, "expert sliders", *weights, api_name="/compare"
    )
    return tuple(outputs[i] for i in TRANSCRIPT_OUTPUTS)


def _drag_slider(page, container: str, fraction: float) -> None:
    """Press on a slider's track and release at `fraction` of its width: the pointer events a hand makes."""
    track = page.locator(f"{container} input[type=range]")
    track.scroll_into_view_if_needed()  # a hand scrolls to the slider first: a click lower down may have scrolled
    box = track.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()


def _bottom(locator) -> float:
    box = locator.bounding_box()
    return box["y"] + box["height"]


def test_in_a_browser_click_an_example_move_beta_and_an_expert(app_url, example):
    path, _ = example
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(app_url)
        expect(page.locator("#example-credits")).to_contain_text("speechocean762 (CC BY 4.0")
        page.get_by_text(path.name).click()
        summaries = {s: page.locator(f"#summary-{s}") for s in ("base", "lora", "mas-lora")}
        for summary in summaries.values():
            expect(summary).to_contain_text("WER", timeout=120_000)
        compare_bottom = _bottom(page.get_by_role("button", name="Compare", exact=True))
        results_top = min(page.locator(f"#column-{s}").bounding_box()["y"] for s in summaries)
        examples_top = page.get_by_text(path.name).bounding_box()["y"]
        assert compare_bottom <= results_top < examples_top, "the results sit right under Compare, above the examples"
        weights_plot = page.locator("#weights .js-plotly-plot")
        expect(weights_plot).to_contain_text("0.50", timeout=60_000)  # korean at beta 2: 1/2, others 0.1
        _drag_slider(page, "#beta", 0.0)  # beta -> 1: the Korean expert alone
        expect(weights_plot).to_contain_text("1.00", timeout=60_000)
        page.get_by_text("Expert weights (move one to mix by hand)").click()
        _drag_slider(page, "#weight-arabic", 1.0)  # arabic 1 beside korean 1: half each, by hand
        expect(weights_plot).not_to_contain_text("1.00", timeout=60_000)
        expect(weights_plot).to_contain_text("0.50")
        transcripts = [page.locator(f"#transcript-{s} textarea").input_value() for s in ("base", "lora", "mas-lora")]
        wers = [re.search(r"WER (\d+\.\d)%", summaries[s].inner_text()) for s in ("base", "lora", "mas-lora")]
        expect(page.locator("#posterior .js-plotly-plot")).to_contain_text(
            "Accent posterior"
        )  # shown whatever the source
        page.get_by_label(AUTOMATIC).check()  # weights from the audio: the chart shows the classifier's weights instead
        expect(weights_plot).to_contain_text("from the audio", timeout=60_000)
        page.get_by_text(
            "What is MAS-LoRA, and what do the sliders do?"
        ).click()  # each mixture's expert x accent matrix
        for mixture in (DEFAULT, PAPER):
            expect(page.locator(f"#matrix-caption-{mixture}")).to_contain_text("best single expert for", timeout=30_000)
            expect(page.locator(f"#matrix-{mixture} .js-plotly-plot")).to_contain_text("vietnamese", timeout=30_000)
        expect(page.get_by_text("Two mixtures")).to_be_visible()  # what differs, what validation measured
        page.screenshot(path=ARTIFACTS / "app.png", full_page=True)
        page.get_by_label("(the paper's)").check()  # the other mixture: the rule's weights again, a fresh compare
        expect(weights_plot).to_contain_text("by accent and beta", timeout=60_000)
        expect(page.locator("#summary-mas-lora")).to_contain_text("WER", timeout=60_000)
        browser.close()
    assert all(transcripts) and all(wers), (transcripts, wers)


def _bars(figure: dict) -> dict[str, float]:
    trace = json.loads(figure["plot"])["data"][0]
    return dict(zip(trace["x"], trace["y"]))


def test_automatic_weights_on_an_uploaded_clip_show_the_posterior_they_came_from(app_url, example, tmp_path):
    """An upload the app has never seen (a held-out Korean clip, slowed by 10%), weighed from the audio."""
    path, reference = example
    samples, rate = soundfile.read(path, dtype="float32")
    uploaded = _write(
        tmp_path / "upload.wav",
        np.interp(np.arange(0, len(samples), 0.9), np.arange(len(samples)), samples).astype(np.float32),
        rate,
    )
    outputs = Client(app_url, verbose=False).predict(
        "tiny.en", DEFAULT, uploaded, reference, "unknown", 2.0, AUTOMATIC, *[1.0] * 6, api_name="/compare"
    )
    posterior, weights = _bars(outputs[0]), _bars(outputs[1])
    assert sorted(posterior) == sorted(weights) == sorted(ACCENTS)
    assert sum(posterior.values()) == pytest.approx(1, abs=1e-6) and sum(weights.values()) == pytest.approx(1, abs=1e-6)
    rule = json.loads((ROOT / "assets" / "experts" / "tiny.en" / "bundle.json").read_text())["runs"][DEFAULT]["auto"]
    assert rule["rule"] in ("tempered", "beta")
    guess = max(posterior, key=posterior.get)
    assert max(weights, key=weights.get) == guess  # both rules keep the classifier's guess on top
    assert weights != pytest.approx({a: 1 / 6 for a in ACCENTS}, abs=1e-3)  # not the uniform fallback
    assert all(outputs[i] for i in TRANSCRIPT_OUTPUTS)


def test_concurrent_requests_never_see_each_others_weights(app_url, example):
    path, reference = example
    client = Client(app_url, verbose=False)
    weightings = [list(np.eye(6)[i]) for i in range(6)] + [[1.0] * 6, [0.9, 0.0, 0.3, 0.1, 0.0, 0.5]]
    one_by_one = [_compare(client, handle_file(str(path)), reference, w) for w in weightings]
    assert len(set(one_by_one)) > 1, "every weighting gave the same transcripts: the test could not catch a mix-up"
    with ThreadPoolExecutor(max_workers=8) as pool:
        clients = [Client(app_url, verbose=False) for _ in weightings]
        together = list(
            pool.map(lambda cw: _compare(cw[0], handle_file(str(path)), reference, cw[1]), zip(clients, weightings))
        )
    assert together == one_by_one


def test_the_mixture_control_swaps_the_experts_and_nothing_else(app_url):
    """The paper's placement and the default mixture: the same base Whisper and regular LoRA columns, other
    MAS-LoRA transcripts on some of the examples (each expert alone, so that the experts themselves differ)."""
    client = Client(app_url, verbose=False)
    examples = pd.read_csv(EXAMPLES / "examples.csv")
    clips = [(handle_file(str(EXAMPLES / r.path)), r.text) for r in examples[examples.accent != "native"].itertuples()]
    alone = [list(np.eye(6)[i]) for i in (0, 3)]
    by_mixture = {
        m: [_compare(client, clip, text, w, mixture=m) for clip, text in clips[:4] for w in alone]
        for m in (DEFAULT, PAPER)
    }
    pairs = list(zip(by_mixture[DEFAULT], by_mixture[PAPER]))
    assert all(ours[:2] == paper[:2] for ours, paper in pairs)  # base and LoRA: one model whatever the mixture
    assert any(ours[2] != paper[2] for ours, paper in pairs), "the MAS-LoRA column never changed with the mixture"
    with pytest.raises(Exception, match="mas-lora-other"):
        _compare(client, clips[0][0], clips[0][1], alone[0], mixture="mas-lora-other")
    with pytest.raises(
        Exception, match=r"small is not in the list of choices: \[.tiny.en."
    ) as refused:  # a size without experts
        _compare(client, clips[0][0], clips[0][1], alone[0], size="small")
    assert "\n" not in str(refused.value)


def test_in_a_browser_the_size_control_brings_base_with_its_own_experts(app_url, example):
    """Switching to base: the mixtures its bundle holds, its matrices (hidden where it has none), and base's
    models in every column: an example's transcripts are what the API gives for base, not tiny.en's."""
    path, reference = example
    client = Client(app_url, verbose=False)
    by_size = {
        size: client.predict(
            size, DEFAULT, handle_file(str(path)), reference, "korean", 2.0, "accent and beta", *[0.0] * 6,
            api_name="/compare",
        )  # what clicking the example asks: its accent at beta 2
        for size in ("tiny.en", "base")
    }  # fmt: skip
    texts = {size: [outputs[i] for i in TRANSCRIPT_OUTPUTS] for size, outputs in by_size.items()}
    assert texts["base"][:2] != texts["tiny.en"][:2], "both sizes read the clip alike: the test could not tell"
    offered = {name: title for title, name in demo.mixture_choices("base")}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(app_url)
        page.get_by_text("What is MAS-LoRA, and what do the sliders do?").click()
        expect(page.locator(f"#matrix-{DEFAULT} .js-plotly-plot")).to_be_visible(timeout=30_000)  # tiny.en's
        expect(page.locator("#mixture")).to_be_visible()  # tiny.en's two mixtures
        page.get_by_label("Whisper size (bundled experts)").click()
        page.get_by_role("option", name="base", exact=True).click()
        for name, (_, chart) in zip(bundle.MIXTURES, demo.mixture_matrices("base")):
            matrix = page.locator(f"#matrix-{name} .js-plotly-plot")
            expect(matrix).to_be_visible(timeout=30_000) if chart else expect(matrix).to_be_hidden(timeout=30_000)
        for title in offered.values():  # the mixture control lists base's two mixtures
            expect(page.locator("#mixture").get_by_label(title)).to_have_count(1)
        page.get_by_text(path.name).click()
        expect(page.locator("#summary-mas-lora")).to_contain_text("WER", timeout=120_000)
        shown = [page.locator(f"#transcript-{s} textarea").input_value() for s in ("base", "lora", "mas-lora")]
        browser.close()
    assert shown == texts["base"]


def _write(path, samples: np.ndarray, rate: int = 16_000):
    soundfile.write(path, samples, rate)
    return handle_file(str(path))


def test_bad_input_gets_a_readable_message_and_the_app_keeps_serving(app_url, example, tmp_path):
    client = Client(app_url, verbose=False)
    uniform = [1.0] * 6
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(200))
    text = tmp_path / "notes.txt"
    text.write_text("these are not sounds")
    cases = [
        (None, "Record or upload a clip first"),
        (handle_file(str(corrupt)), "could not read"),
        (handle_file(str(text)), "could not read"),
        (
            _write(tmp_path / "ten-minutes.wav", np.zeros(600 * 16_000, dtype=np.float32)),
            "600 s long; the limit is 60 s",
        ),
    ]
    too_big = tmp_path / "too-big.wav"  # 30 MB: above the upload limit (a minute of 48 kHz stereo float is 23 MB)
    soundfile.write(too_big, np.zeros((500_000, 15), dtype=np.float32), 16_000, subtype="FLOAT")
    cases.append((handle_file(str(too_big)), "exceeds the maximum file size of 26214400 bytes"))
    for audio, message in cases:
        with pytest.raises(Exception, match=message):
            _compare(client, audio, "", uniform)
    path, reference = example
    with pytest.raises(Exception, match="50,000 words; at most 500 can be scored"):  # would hold everyone's model
        _compare(client, handle_file(str(path)), "word " * 50_000, uniform)
    silent = _write(tmp_path / "silence.wav", np.zeros(3 * 16_000, dtype=np.float32))
    outputs = client.predict(
        "tiny.en", DEFAULT, silent, "", "unknown", 2.0, "expert sliders", *uniform, api_name="/compare"
    )
    summaries, transcripts, diffs = outputs[2::3], outputs[3::3], outputs[4::3]  # per system: summary, transcript, diff
    assert len(summaries) == 3 and all("no reference to score against" in summary for summary in summaries)
    assert all(transcript.strip() for transcript in transcripts), (
        "a blank box: silence must show a text or the placeholder"
    )
    assert not any(diffs), "nothing to highlight without a reference"
    assert all(_compare(client, handle_file(str(path)), reference, uniform)), "the app stopped serving after bad input"


def test_wer_vs_beta_endpoint_draws_one_point_per_beta(app_url, example):
    path, reference = example
    figure = Client(app_url, verbose=False).predict(
        "tiny.en", DEFAULT, handle_file(str(path)), reference, "korean", api_name="/wer_vs_beta"
    )
    trace = json.loads(figure["plot"])["data"][0]
    assert len(trace["hovertext"]) == 11  # beta = 1, 1.5, ..., 6: each point's transcript shows on hover


def test_in_a_browser_add_your_own_expert_and_mix_it_in(app_url, example, tmp_path):
    """The second tab as a visitor uses it: read a prompt (uploaded), a zip of more clips, train (another
    visitor's compare is served meanwhile), see the test clips scored, download, and find the new expert's
    slider in the first tab."""
    native = load_manifest(NATIVE_RECORDINGS)  # real CC0 recordings: the zip's first 5 to train on, 2 to test
    write_clip_archive(native.iloc[:7].assign(part=["train"] * 5 + ["test"] * 2), tmp_path / "clips.zip")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../evil.flac", b"x")
        archive.writestr("manifest.csv", "path,text\n../evil.flac,Hi.\n")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        page.goto(app_url)
        page.get_by_role("tab", name="Add your accent").click()
        card = page.locator("#prompt-card")
        expect(card).to_contain_text("Prompt 1 of 23")
        prompt = card.inner_text().strip().splitlines()[-1]  # the prompt is the card's last line
        recording = native[native.text == prompt.strip()].path.iloc[0]  # the CC0 reader read it too
        page.locator("#own-take").get_by_label("Upload file").click()
        page.locator("#own-take input[type=file]").set_input_files(recording)
        page.get_by_role("button", name="Keep this take, next prompt").click()
        expect(card).to_contain_text("Prompt 2 of 23", timeout=60_000)
        silent = tmp_path / "silent.wav"
        soundfile.write(silent, np.zeros(32_000, dtype=np.float32), 16_000)
        page.locator("#own-take").get_by_label("Upload file").click()
        page.locator("#own-take input[type=file]").set_input_files(silent)
        page.get_by_role("button", name="Keep this take, next prompt").click()
        expect(page.get_by_text("Prompt 2 is silent").first).to_be_visible(timeout=60_000)
        page.locator("#own-zip input[type=file]").set_input_files(evil)
        expect(page.get_by_text("points outside the zip").first).to_be_visible(timeout=60_000)
        page.locator("#own-zip").get_by_label("Clear").click()
        page.locator("#own-zip input[type=file]").set_input_files(tmp_path / "clips.zip")
        expect(page.get_by_text("clips.zip")).to_be_visible(timeout=60_000)
        page.locator("#own-name input, #own-name textarea").first.fill("arabic")
        page.get_by_role("button", name="Train my expert").click()
        expect(page.get_by_text("already an expert called 'arabic'").first).to_be_visible(timeout=60_000)
        page.locator("#own-name input, #own-name textarea").first.fill("tester")
        page.get_by_role("button", name="Train my expert").click()
        status = page.locator("#own-status")
        path, reference = example
        served = _compare(Client(app_url, verbose=False), handle_file(str(path)), reference, [1.0] * 6)
        assert all(served) and "trained on" not in status.inner_text()  # another visitor, served during training
        expect(status).to_contain_text("tester trained on 6 clips", timeout=600_000)
        expect(status).to_contain_text("WER on your 2 test clips")
        expect(page.locator("#own-scores")).to_contain_text("tester alone")
        expect(page.get_by_role("button", name="Download my expert (zip)")).to_be_visible()
        page.screenshot(path=ARTIFACTS / "app-add-your-accent.png", full_page=True)
        page.get_by_role("tab", name="Compare").click()
        page.get_by_text("Expert weights (move one to mix by hand)").click()
        expect(page.locator("#weight-own")).to_contain_text("tester")
        page.get_by_text(example[0].name).click()  # an example, then the new expert's accent
        expect(page.locator("#summary-mas-lora")).to_contain_text("WER", timeout=120_000)
        page.get_by_label("Speaker's accent").fill("tester")  # the dropdown filters as one types
        page.keyboard.press("Enter")
        weights_plot = page.locator("#weights .js-plotly-plot")
        expect(weights_plot).to_contain_text("tester", timeout=60_000)  # 7 bars: beta 2 around the new expert
        expect(weights_plot).to_contain_text("0.50")
        browser.close()
