"""Benchmark: a class on the page at once. V visitors, each their own connection to `python app.py`.

    python -m analysis.bench_class [--size tiny.en] [--visitors 30] [--gap 10] [--seconds 120] [--recorded]
                                   [--trainings 10]

Starts the page as a user would (`python app.py --size SIZE`, a subprocess on 127.0.0.1) and waits until it
falls quiet (it decodes its examples' first compares as it starts: maslora.systems.warm_examples), then:

1. A lone compare, broken down: the page's compare of a clip it has never heard, through the API, beside
   the core's compare of the same clip (maslora.systems.compare, no cache) and each part the page adds to it,
   timed in this process on the same model while the server is idle: reading the audio, the accent
   posterior, each model batch (base in its 30 s window, then the regular LoRA and MAS-LoRA as one), the
   scoring and the figures (built and serialized to the JSON a Plot sends). What is left of the page's time is
   what Gradio adds (upload, queue, HTTP). Then a slider move on that clip, through the page and in the core.
2. The class: V visitors (one gradio_client each) act at exponential gaps of mean G seconds for D seconds,
   whatever their previous compare is doing (3 compares/s asked by 30 visitors at G = 10). A visitor's first
   action is a compare of a new clip; then four actions in five move beta or one expert slider on the same
   clip, and one in five brings a new clip. A new clip is an example (the bundled ones, accent known where an
   expert has it); with --recorded it is an example at a gain of its own, so that its samples are new to the
   server, as a visitor's own recording is. Compares still running D + 180 s after the start count as errors.
3. Prints compares asked and served per second, latency p50/p90/max, errors, the server's peak memory, and
   how many transcripts differ from a lone visitor's: each (clip, weights) a visitor got, decoded again here
   row by row, alone, by a model without a cache (must be 0).
4. With --trainings N, the same class again on a fresh server (nothing cached from the first), with N more
   visitors who each upload a zip of takes (20 real CC0 recordings to train on, 3 to test) and ask for their
   own expert at the class's start, through the page's own endpoints. Prints how many trainings finished and
   how long each visitor waited, the compares' latency while trainings ran, and their p90 against the class
   without trainings.
"""

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile
from gradio_client import Client, handle_file

from analysis.bench_app import median_seconds
from analysis.bench_space import peak_memory_gb, started_seconds
from maslora.data.audio import SAMPLE_RATE, load_audio
from maslora.data.clip_archive import write_clip_archive
from maslora.data.corpora import NATIVE_RECORDINGS, load_manifest
from maslora.mixture.weights import PAPER_BEST_BETA
from maslora.systems import bundle, demo
from maslora.systems.combined_whisper import ROUTES, CombinedWhisper, Request
from maslora.systems.compare import compare
from maslora.systems.figures import bar_figure, posterior_figure

TRANSCRIPTS = (3, 6, 9)  # the compare endpoint's outputs: two plots, then (summary, transcript, diff) per route
DRAIN_SECONDS = 180  # how long compares asked before the end may still take
TRAINING_TAKES = 20  # a visitor's takes to train on: the page's prompt sheet asks for 20
GRADIO_PHASES = ("queue_wait", "preprocess", "fn_call", "postprocess", "total")  # gradio.profiling's, in order


@dataclass(frozen=True)
class Clip:
    path: str
    text: str
    accent: str  # an expert's accent, or demo.UNKNOWN


@dataclass(frozen=True)
class Action:
    """One compare a visitor asks for, at `at` seconds after the class starts."""

    visitor: int
    at: float
    clip: Clip
    accent: str
    beta: float
    source: str
    sliders: tuple[float, ...]  # every expert slider, the visitor's own last (0: they have none)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def examples(accents: list[str]) -> list[Clip]:
    table = load_manifest(bundle.BUNDLED_EXAMPLES)
    return [Clip(r.path, r.text, r.accent if r.accent in accents else demo.UNKNOWN) for r in table.itertuples()]


def recording_of(clip: Clip, folder: Path, rng: np.random.Generator) -> Clip:
    """The clip at a gain of its own (0.5-1.0): new samples to the server, the same speech."""
    path = folder / f"{len(list(folder.iterdir())):05d}.wav"
    soundfile.write(path, load_audio(clip.path) * rng.uniform(0.5, 1.0), SAMPLE_RATE, subtype="FLOAT")
    return Clip(str(path), clip.text, clip.accent)


def rule_sliders(accents: list[str], accent: str, beta: float) -> tuple[float, ...]:
    return tuple(demo.slider_values(accents, len(accents), accent, beta))


def first_compare(clip: Clip, accents: list[str], visitor: int = 0, at: float = 0.0) -> Action:
    """A new clip's compare: the beta rule at the paper's beta around its accent (uniform if unknown)."""
    sliders = rule_sliders(accents, clip.accent, PAPER_BEST_BETA)
    return Action(visitor, at, clip, clip.accent, PAPER_BEST_BETA, demo.BY_RULE, sliders)


def visitor_actions(visitor: int, rng, clips: list[Clip], accents: list[str], args, folder: Path) -> list[Action]:
    """One visitor's actions over the class (the module's docstring): the first brings a clip, then 4 in 5
    move beta or an expert slider on it, 1 in 5 brings a new one."""
    actions, at, clip = [], rng.exponential(args.gap), None
    while at < args.seconds:
        if clip is None or rng.random() < 0.2:
            clip = clips[rng.integers(len(clips))]
            clip = recording_of(clip, folder, rng) if args.recorded else clip
            actions.append(first_compare(clip, accents, visitor, at))
            at += rng.exponential(args.gap)
            continue
        if rng.random() < 0.5:  # beta, around the clip's accent (a guessed one if no expert has it)
            accent = clip.accent if clip.accent != demo.UNKNOWN else accents[rng.integers(len(accents))]
            beta, source = round(float(rng.uniform(1, len(accents))), 1), demo.BY_RULE
            sliders = rule_sliders(accents, accent, beta)
        else:  # one expert slider by hand, the others where they were (accent and beta stay as they were)
            accent, beta, moved = actions[-1].accent, actions[-1].beta, list(actions[-1].sliders)
            moved[rng.integers(len(accents))] = round(float(rng.uniform(0, 1)), 2)
            if not any(moved[: len(accents)]):
                moved[0] = 0.5  # all zero is refused: a visitor would see why and move one up
            sliders, source = tuple(moved), demo.BY_HAND
        actions.append(Action(visitor, at, clip, accent, beta, source, sliders))
        at += rng.exponential(args.gap)
    return actions


def ask(client: Client, size: str, action: Action) -> tuple[str, ...]:
    """The page's compare for `action`; its three transcripts."""
    mixture = bundle.DEFAULT_MIXTURE
    audio = handle_file(action.clip.path)
    inputs = (size, mixture, audio, action.clip.text, action.accent, action.beta, action.source, *action.sliders)
    outputs = client.predict(*inputs, api_name="/compare")
    return tuple(outputs[i] for i in TRANSCRIPTS)


def weights_of(action: Action, whisper: CombinedWhisper) -> dict[str, float]:
    """The weights the page decodes `action` with, over `whisper`'s bundled experts."""
    choice = demo.WeightChoice(source=action.source, accent=action.accent, beta=action.beta, sliders=action.sliders)
    return demo.compare_weights(choice, whisper, whisper, None, None)[0]


def breakdown(url: str, size: str, whisper: CombinedWhisper, clips: list[Clip], folder: Path, repeats: int) -> None:
    """Part 1 of the module's docstring, the core's side on `whisper` (the bundled model, no cache)."""
    client = Client(url, verbose=False)
    auto = bundle.load_bundled_auto(size)
    rng = np.random.default_rng(1)
    clip = next(c for c in clips if c.accent != demo.UNKNOWN)
    accents = whisper.accents
    action = first_compare(clip, accents)
    page, core = [], []
    for _ in range(repeats + 1):  # each time a recording the server has not heard; the first warms both up
        fresh = replace(action, clip=recording_of(clip, folder, rng))
        began = time.perf_counter()
        ask(client, size, fresh)
        page.append(time.perf_counter() - began)
        audio = load_audio(fresh.clip.path)
        began = time.perf_counter()
        compare(whisper, audio, weights_of(fresh, whisper), fresh.clip.text)
        core.append(time.perf_counter() - began)
    page_s, core_s = statistics.median(page[1:]), statistics.median(core[1:])
    lone_phases = gradio_phases(url, clear=True)
    audio, weights = load_audio(clip.path), weights_of(action, whisper)
    comparison = compare(whisper, audio, weights, clip.text)
    posterior = auto.weigh(whisper, audio)[0] if auto else None

    def figures() -> None:
        plots = [bar_figure(accents, whisper.weights_vector(weights), "weights")]
        plots += [posterior_figure(accents, posterior)] if posterior else []
        [plot.to_json() for plot in plots]  # what Gradio's Plot sends is this JSON
        demo.route_columns(comparison)

    parts = {
        "reading the audio": median_seconds(lambda: load_audio(clip.path, max_seconds=demo.MAX_CLIP_SECONDS), repeats),
        "the accent posterior": median_seconds(lambda: auto.weigh(whisper, audio), repeats) if auto else 0.0,
        "base, its 30 s window": median_seconds(lambda: whisper.transcribe([audio], [Request("base")]), repeats),
        "LoRA + MAS-LoRA, one batch": median_seconds(
            lambda: whisper.transcribe([audio] * 2, [Request("lora"), Request("mas-lora", weights)]), repeats
        ),
        "figures and columns": median_seconds(figures, repeats),
    }
    print(f"A lone compare of a clip new to the server ({size}, {len(audio) / SAMPLE_RATE:.1f} s, median of {repeats})")
    for name, seconds in parts.items():
        print(f"  {name:<30} {seconds:6.3f} s")
    outside = (
        page_s - core_s - parts["reading the audio"] - parts["the accent posterior"] - parts["figures and columns"]
    )
    print(f"  {'the core compare (3 systems)':<30} {core_s:6.3f} s")
    print(f"  {'through the page':<30} {page_s:6.3f} s   page / core {page_s / core_s:.2f}")
    print(f"  {'what Gradio adds (the rest)':<30} {outside:6.3f} s")
    print_phases(lone_phases, "p50")
    slider_page, mas_row = [], []
    for beta in np.linspace(1.1, 1.9, repeats):  # a beta not asked before each time: MAS-LoRA's row is decoded
        moved = replace(action, beta=beta, sliders=rule_sliders(accents, clip.accent, beta))
        began = time.perf_counter()
        ask(client, size, moved)
        slider_page.append(time.perf_counter() - began)
        began = time.perf_counter()
        whisper.transcribe([audio], [Request("mas-lora", weights_of(moved, whisper))])
        mas_row.append(time.perf_counter() - began)
    slider_page, mas_row = statistics.median(slider_page), statistics.median(mas_row)
    print(
        f"A slider move on that clip: through the page {slider_page:.3f} s, MAS-LoRA's row in the core {mas_row:.3f} s"
    )


def run_class(url: str, size: str, actions: list[Action], visitors: int) -> list[dict]:
    """Part 2: every action at its time, each visitor through their own client; one record per action."""
    clients = [Client(url, verbose=False) for _ in range(visitors)]
    records: list[dict] = []
    lock = threading.Lock()

    def act(action: Action, asked: float) -> None:
        record = {"action": action, "asked": asked}
        try:
            record["transcripts"] = ask(clients[action.visitor], size, action)
        except Exception as error:  # a refused or failed compare counts as an error, with its message
            record["error"] = str(error).splitlines()[0] if str(error) else type(error).__name__
        record["finished"] = time.perf_counter()
        with lock:
            records.append(record)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(actions) or 1) as pool:
        for action in sorted(actions, key=lambda a: a.at):
            time.sleep(max(0.0, start + action.at - time.perf_counter()))
            pool.submit(act, action, time.perf_counter())
        deadline = start + max(a.at for a in actions) + DRAIN_SECONDS
        while len(records) < len(actions) and time.perf_counter() < deadline:
            time.sleep(0.5)
        unfinished = len(actions) - len(records)
        pool.shutdown(wait=False, cancel_futures=True)
    for _ in range(unfinished):
        records.append({"error": f"not served within {DRAIN_SECONDS} s of the end"})
    return records


def differing(records: list[dict], whisper: CombinedWhisper) -> tuple[int, int]:
    """(transcripts that differ from a lone visitor's, transcripts checked): part 3 of the module's docstring,
    each row decoded alone by `whisper` (the bundled model, no cache)."""
    lone, audios = {}, {}
    checked = differ = 0
    for record in (r for r in records if "transcripts" in r):
        action = record["action"]
        if action.clip.path not in audios:  # each clip read once (setdefault would read it every time)
            audios[action.clip.path] = load_audio(action.clip.path)
        audio, weights = audios[action.clip.path], weights_of(action, whisper)
        for route, text in zip(ROUTES, record["transcripts"]):
            key = (action.clip.path, route, tuple(sorted(weights.items())) if route == "mas-lora" else None)
            if key not in lone:
                request = Request(route, weights if route == "mas-lora" else None)
                lone[key] = whisper.transcribe([audio], [request])[0]
            checked += 1
            differ += text != lone[key]
    return differ, checked


def gradio_phases(url: str, clear: bool = False) -> dict:
    """Gradio's own timing of the requests since the last clear (GRADIO_PROFILING: queue wait, pre- and
    postprocessing, the handler, uploads), in ms; with `clear`, forget them after reading."""
    with urllib.request.urlopen(f"{url}gradio_api/profiling/summary", timeout=30) as answer:
        summary = json.load(answer)
    if clear:
        urllib.request.urlopen(urllib.request.Request(f"{url}gradio_api/profiling/clear", method="POST"), timeout=30)
    return summary


def print_phases(summary: dict, statistic: str) -> None:
    phases = summary.get("phases", {})
    shown = [f"{name} {phases[name][statistic] / 1000:.3f}" for name in GRADIO_PHASES if name in phases]
    if "upload" in summary:
        shown.append(f"upload {summary['upload'][statistic] / 1000:.3f}")
    print(f"  Gradio's phases, {statistic} s: " + ", ".join(shown))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quiet_seconds(pid: int, limit: float = 300) -> float:
    """Seconds from now until the process uses under a tenth of a core over a second (the page's start-up work,
    maslora.systems.warm_examples, done), so that what is timed next has the cores to itself."""
    began = time.perf_counter()
    while time.perf_counter() - began < limit:
        used = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - used < 0.1:
            return time.perf_counter() - began
    raise SystemExit(f"the page kept the cores busy for {limit:.0f} s after it answered")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


@contextlib.contextmanager
def served(size: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python app.py --size SIZE` on a free port of 127.0.0.1, with Gradio's profiling on; (url, process)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "app.log"
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_PROFILING": "1"}  # Gradio's own phases
        command = [sys.executable, "app.py", "--size", size, "--port", str(port)]
        with open(log, "w") as output:
            server = subprocess.Popen(command, cwd=Path(__file__).parent.parent, env=env, stdout=output, stderr=output)
        try:
            print(f"the page answered after {started_seconds(url, server):.1f} s", flush=True)
            print(f"and fell quiet after {quiet_seconds(server.pid):.1f} s more (its examples decoded in advance)")
            yield url, server
        finally:
            server.terminate()
            server.wait(timeout=30)


def queue_trainings(url: str, size: str, count: int, folder: Path) -> tuple[list[dict], threading.Thread]:
    """Part 4: `count` more visitors, each uploading the same takes (TRAINING_TAKES real CC0 recordings to train
    on, 3 to test) and asking for a training at once, through the page's own endpoints; their records fill in
    as they end, the thread ends with the last."""
    takes = load_manifest(NATIVE_RECORDINGS).iloc[: TRAINING_TAKES + 3]
    zip_path = folder / "takes.zip"
    write_clip_archive(takes.assign(part=["train"] * TRAINING_TAKES + ["test"] * 3), zip_path)
    records: list[dict] = []

    def train(visitor: int) -> None:
        client, record = Client(url, verbose=False), {"visitor": visitor}
        try:
            client.predict(size, bundle.DEFAULT_MIXTURE, handle_file(str(zip_path)), api_name="/upload_takes")
            record["asked"] = time.perf_counter()
            client.predict(size, bundle.DEFAULT_MIXTURE, f"visitor{visitor}", api_name="/train_expert")
        except Exception as error:
            record["error"] = str(error).splitlines()[0] if str(error) else type(error).__name__
        record["finished"] = time.perf_counter()
        records.append(record)

    def all_of_them() -> None:
        with ThreadPoolExecutor(max_workers=count) as pool:
            list(pool.map(train, range(count)))

    thread = threading.Thread(target=all_of_them)
    thread.start()
    return records, thread


def latencies_of(records: list[dict], between: tuple[float, float] = (0.0, float("inf"))) -> list[float]:
    """Seconds each served compare took, of those asked `between` two moments."""
    return [
        r["finished"] - r["asked"] for r in records if "transcripts" in r and between[0] <= r["asked"] <= between[1]
    ]


def one_class(size: str, args, lone: CombinedWhisper, trainings: int = 0) -> list[float]:
    """Parts 1-4 on a fresh server (nothing cached from another class): the class, with `trainings` queued
    at its start; prints what it measured and returns the compares' latencies (with trainings: of those asked
    while trainings ran)."""
    accents, clips = lone.accents, examples(lone.accents)
    with served(size) as (url, server), tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        ask(Client(url, verbose=False), size, first_compare(clips[0], accents))  # warms the server up
        if not args.skip_lone and not trainings:
            breakdown(url, size, lone, clips, folder, args.repeats)
        gradio_phases(url, clear=True)
        rng = np.random.default_rng(args.seed)
        actions = [a for v in range(args.visitors) for a in visitor_actions(v, rng, clips, accents, args, folder)]
        began, server_cpu, own_cpu = time.perf_counter(), cpu_seconds(server.pid), cpu_seconds(os.getpid())
        trained, training = queue_trainings(url, size, trainings, folder) if trainings else ([], None)
        records = run_class(url, size, actions, args.visitors)
        if training is not None:
            training.join()
        took = time.perf_counter() - began
        server_cpu, own_cpu = cpu_seconds(server.pid) - server_cpu, cpu_seconds(os.getpid()) - own_cpu
        memory, class_phases = peak_memory_gb(server.pid), gradio_phases(url)
        served_records = [r for r in records if "transcripts" in r]
        latencies = latencies_of(records)
        errors = [r["error"] for r in records if "error" in r]
        differ, checked = differing(records, lone)
    print(
        f"\nThe class: {size}, {args.visitors} visitors, a mean gap of {args.gap:g} s, {args.seconds:g} s"
        f" ({'new recordings' if args.recorded else 'examples'} as new clips), seed {args.seed}"
        + (f", {trainings} trainings asked at its start" if trainings else "")
    )
    print(f"  compares asked   {len(actions)} ({len(actions) / args.seconds:.2f}/s)")
    print(
        f"  compares served  {len(served_records)} ({len(served_records) / took:.2f}/s over the {took:.0f} s to the "
        "last answer)"
    )
    print(
        f"  latency          p50 {percentile(latencies, 50):.2f} s, p90 {percentile(latencies, 90):.2f} s, "
        f"max {max(latencies, default=float('nan')):.2f} s"
    )
    print(f"  errors           {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(f"  differing        {differ} of {checked} transcripts differ from a lone visitor's")
    print(f"  server memory    peak {memory:.2f} GB")
    print(f"  CPU time         server {server_cpu:.0f} s, these visitors' clients {own_cpu:.0f} s, in {took:.0f} s")
    for statistic in ("p50", "p90"):
        print_phases(class_phases, statistic)
    if not trained:
        return latencies
    ended = [r for r in trained if "error" not in r]
    failed = [r["error"] for r in trained if "error" in r]
    last = max(r["finished"] for r in trained)
    during = latencies_of(records, (began, last))
    spans = sorted(r["finished"] - r["asked"] for r in ended)
    print(
        f"  trainings        {len(ended)} of {trainings} finished" + (f" (first error: {failed[0]})" if failed else "")
    )
    if spans:
        print(f"                   asked to finished: first {spans[0]:.0f} s, last {spans[-1]:.0f} s")
    print(
        f"  while training   {len(during)} compares asked in the {last - began:.0f} s until the last training "
        f"ended: p50 {percentile(during, 50):.2f} s, p90 {percentile(during, 90):.2f} s"
    )
    return during


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default=bundle.bundled_sizes()[0], choices=bundle.bundled_sizes())
    parser.add_argument("--visitors", type=int, default=30)
    parser.add_argument("--gap", type=float, default=10.0, help="mean seconds between a visitor's actions")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long visitors keep acting")
    parser.add_argument("--recorded", action="store_true", help="new clips are new recordings, not examples")
    parser.add_argument("--repeats", type=int, default=5, help="of each timing of the lone compare")
    parser.add_argument("--skip-lone", action="store_true", help="the class alone, without part 1")
    parser.add_argument("--trainings", type=int, default=0, help="then the class again with this many trainings")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    precision = bundle.page_precision(args.size)  # the page's, so that a lone visitor's rows are comparable
    lone = bundle.load_bundled_whisper(args.size, precision=precision)  # no cache: what a lone visitor's rows decode to
    without = one_class(args.size, args, lone)
    if args.trainings:
        during = one_class(args.size, args, lone, args.trainings)
        print(
            f"\nCompares' p90 with {args.trainings} trainings queued / without: "
            f"{percentile(during, 90):.2f} / {percentile(without, 90):.2f} s = "
            f"{percentile(during, 90) / percentile(without, 90):.2f}"
        )


if __name__ == "__main__":
    main()
