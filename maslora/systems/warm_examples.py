"""The examples' first compares, decoded when the page loads a model, before anyone clicks.

A class told to open the page clicks the examples at once: 30 first compares within seconds, each three rows
(Whisper's in its 30 s window the dearest) and the accent classifier's pass, a backlog the class benchmark
took most of a minute to clear (docs/measurements.md). What a click on an example decodes is known in advance:
the beta rule at the page's beta around the example's accent (uniform where no expert has it). So the page
decodes each example that way once, in the background, into the model's cache (maslora.systems.clip_cache),
and a click finds its transcripts and its posterior there. Compares that visitors ask meanwhile join the same
batches (maslora.systems.batching): warming holds nobody back for more than the batch it is in.
"""

import threading

from maslora.data.audio import load_audio
from maslora.mixture.weights import PAPER_BEST_BETA
from maslora.systems.combined_whisper import CombinedWhisper
from maslora.systems.compare import AutoWeighting, compare
from maslora.systems.demo import (
    BY_RULE,
    MAX_CLIP_SECONDS,
    WeightChoice,
    bundled_examples,
    compare_weights,
    example_rows,
    slider_values,
)


def warm_examples(whisper: CombinedWhisper, auto: AutoWeighting | None, beta: float = PAPER_BEST_BETA) -> int:
    """Decode every bundled example as a click on it decodes it (the page's compare at `beta`), in the page's
    order, one example at a time; how many. `whisper` must have a cache: that is where the work goes."""
    if whisper.cache is None:
        raise ValueError("warming examples needs a model with a cache: without one the work would be lost")
    rows = example_rows(bundled_examples(), whisper.accents)
    for path, reference, accent in rows:
        clip = load_audio(path, max_seconds=MAX_CLIP_SECONDS)  # as the page reads a clip
        sliders = slider_values(whisper.accents, len(whisper.accents), accent, beta)
        choice = WeightChoice(source=BY_RULE, accent=accent, beta=beta, sliders=sliders)
        weights, _ = compare_weights(choice, whisper, whisper, auto, clip)
        compare(whisper, clip, weights, reference)
    return len(rows)


def warming_examples(whisper: CombinedWhisper, auto: AutoWeighting | None) -> CombinedWhisper:
    """`whisper`, with warm_examples started on it in a background thread (an error there is printed, and the
    page serves on: the example it failed on fails the same way when clicked)."""
    threading.Thread(target=warm_examples, args=(whisper, auto), name="warm-examples", daemon=True).start()
    return whisper
