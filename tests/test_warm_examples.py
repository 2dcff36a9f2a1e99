"""The examples' first compares decoded before anyone clicks: a click then decodes nothing, and gets what a
model without a cache decodes."""

import pytest

from maslora.data.audio import load_audio
from maslora.mixture.weights import PAPER_BEST_BETA
from maslora.systems.bundle import load_bundled_auto, load_bundled_whisper
from maslora.systems.clip_cache import ClipCache
from maslora.systems.compare import compare
from maslora.systems.demo import (
    BY_RULE,
    MAX_CLIP_SECONDS,
    WeightChoice,
    bundled_examples,
    compare_weights,
    example_rows,
    slider_values,
)
from maslora.systems.warm_examples import warm_examples


@pytest.mark.slow
def test_after_warming_a_click_on_any_example_decodes_nothing_and_matches_an_uncached_model(private_model_cache):
    warmed, auto = load_bundled_whisper("tiny.en", cache=ClipCache()), load_bundled_auto("tiny.en")
    rows = example_rows(bundled_examples(), warmed.accents)
    assert warm_examples(warmed, auto) == len(rows) > 0
    decoded = warmed.batches.jobs
    lone = load_bundled_whisper("tiny.en")  # no cache: decodes everything it is asked
    for index, (path, reference, accent) in enumerate(rows):
        clip = load_audio(path, max_seconds=MAX_CLIP_SECONDS)
        sliders = slider_values(warmed.accents, len(warmed.accents), accent, PAPER_BEST_BETA)
        choice = WeightChoice(source=BY_RULE, accent=accent, beta=PAPER_BEST_BETA, sliders=sliders)
        weights, _ = compare_weights(choice, warmed, warmed, auto, clip)  # the page's click
        clicked = compare(warmed, clip, weights, reference)
        if index % 7 == 0:  # a few, against a model that decodes them now
            assert [r.text for r in clicked.results] == [r.text for r in compare(lone, clip, weights).results]
    assert warmed.batches.jobs == decoded  # every click found its rows in the cache
    with pytest.raises(ValueError, match="needs a model with a cache"):
        warm_examples(lone, auto)
