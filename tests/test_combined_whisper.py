"""Base, regular LoRA and MAS-LoRA as rows of one batch equal the three models run separately; base runs in
Whisper's own 30 s window, the adapters in theirs."""

import threading
import time

import pytest
import torch

from maslora.data.audio import load_audio
from maslora.data.corpora import load_manifest
from maslora.errors import AdapterError
from maslora.mixture.layer import AdapterPlacement, merge, routed
from maslora.mixture.peft_io import RunsWith, experts_folder, load_adapter, load_experts, save_adapter, save_experts
from maslora.mixture.weights import beta_weights, normalized_weights
from maslora.systems.bundle import BUNDLED_EXAMPLES, load_bundled_whisper
from maslora.systems.clip_cache import ClipCache, clip_digest
from maslora.systems.columns import Column, column_weights, read_column, stack_columns
from maslora.systems.combined_whisper import Request
from maslora.systems.compare import compare
from maslora.whisper.encoder_window import windowed_whisper
from maslora.whisper.transcribe import GREEDY, transcribe
from tests.conftest import LOOPS_IN_TEN_SECONDS, ROOT
from tests.test_mixture_layer import ACCENTS, FEATURES, TOKENS, logits, tiny_whisper, trained_looking

# The regular LoRA deliberately has another rank, alpha and target set than the experts, and MAS-LoRA
# has experts in the decoder too: stacking must pad ranks, fold scales and fill the gaps with zeros.
# The shared + experts design adds a column that MAS-LoRA applies in full, on both sides, of another rank.
EXPERTS = AdapterPlacement(decoder_experts=1, dropout=0.0)
SHARED_EXPERTS = AdapterPlacement(decoder_experts=len(ACCENTS), rank=4, alpha=4.0, shared_rank=8, dropout=0.0)
LORA = AdapterPlacement(targets="qkvo", encoder_experts=1, decoder_experts=1, rank=8, alpha=32.0, dropout=0.0)


@pytest.fixture(scope="module", params=[EXPERTS, SHARED_EXPERTS], ids=["paper", "shared+experts"])
def folders(tmp_path_factory, request):
    root = tmp_path_factory.mktemp("systems")
    experts = request.param
    save_experts(trained_looking(tiny_whisper(), experts), ACCENTS, experts, root / "experts", RunsWith("tiny-random"))
    lora = trained_looking(tiny_whisper(), LORA)
    for layer in lora.modules():  # another seed's values, so LoRA and experts differ
        if hasattr(layer, "lora_B"):
            layer.lora_B.data = layer.lora_B.data.flip(-1) + 0.1
    save_adapter(lora, LORA, root / "lora", RunsWith("tiny-random"))
    return root


def _columns(folders) -> list[Column]:
    experts, shared = experts_folder(folders / "experts")
    columns = [read_column("mas-lora", accent, folder) for accent, folder in experts.items()]
    return [*columns, read_column("mas-lora", None, shared), read_column("lora", None, folders / "lora")]


def _separate(folders, route: str, weights: torch.Tensor | None) -> torch.Tensor:
    model = tiny_whisper()
    if route == "mas-lora":
        load_experts(model, folders / "experts")
        merge(model, weights)
    elif route == "lora":
        load_adapter(model, folders / "lora")
        merge(model, torch.ones(1))
    return logits(model.eval())


def test_one_batch_of_three_systems_equals_each_system_alone(folders):
    combined = tiny_whisper()
    sides = stack_columns(combined, _columns(folders))
    weights = normalized_weights(beta_weights("korean", 2, ACCENTS), ACCENTS)
    routes = [("base", None), ("lora", None), ("mas-lora", weights)]
    encoder = torch.stack([column_weights(sides["encoder"], s, w, ACCENTS) for s, w in routes])
    decoder = torch.stack([column_weights(sides["decoder"], s, w, ACCENTS) for s, w in routes])
    with torch.no_grad(), routed(combined.eval(), encoder, decoder):
        batched = combined(input_features=FEATURES, decoder_input_ids=TOKENS).logits
    separate = [_separate(folders, route, w) for route, w in routes]
    for row, alone in enumerate(separate):
        assert torch.allclose(batched[row], alone[row], atol=1e-4), routes[row][0]
    assert not torch.allclose(separate[0], separate[1], atol=1e-2)
    assert not torch.allclose(separate[1], separate[2], atol=1e-2)


def test_column_weightss_name_each_systems_columns(folders):
    columns = _columns(folders)
    weights = torch.arange(1.0, 7.0) / 21
    encoder = [c for c in columns if c.route == "lora" or c.accent is not None]
    assert column_weights(encoder, "base", None, ACCENTS).sum() == 0
    assert column_weights(encoder, "lora", None, ACCENTS).tolist() == [0.0] * 6 + [1.0]
    assert torch.equal(column_weights(encoder, "mas-lora", weights, ACCENTS)[:6], weights)


def test_adapters_of_another_model_size_are_refused(folders):
    column = read_column("lora", None, folders / "lora")
    name, (A, B) = next(iter(column.layers.items()))
    wrong = Column("lora", None, {name: (torch.zeros(A.shape[0], 64), torch.zeros(64, A.shape[0]))})
    with pytest.raises(AdapterError, match="another model size"):
        stack_columns(tiny_whisper(), [wrong])


@pytest.mark.slow
def test_base_runs_in_whispers_own_window_and_the_adapters_in_theirs(tiny_en):
    bundle = ROOT / "assets" / "experts" / "tiny.en"
    paths = [*load_manifest(BUNDLED_EXAMPLES).path.iloc[:2], LOOPS_IN_TEN_SECONDS]
    audios = [load_audio(path) for path in paths]
    combined = load_bundled_whisper("tiny.en")
    assert combined.windows == {"base": 30, "lora": 10, "mas-lora": 10}
    texts = combined.transcribe(audios * 2, [Request("base")] * 3 + [Request("lora")] * 3, GREEDY)
    assert texts[:3] == transcribe(tiny_en, audios, GREEDY)  # Whisper as released, in its 30 s
    cropped = windowed_whisper("tiny.en", 10)
    load_adapter(cropped.model, bundle / "lora")
    merge(cropped.model, torch.ones(1))
    assert texts[3:] == transcribe(cropped, audios, GREEDY)  # the LoRA in the window it trained in
    in_ten_seconds = transcribe(windowed_whisper("tiny.en", 10), audios[2:], GREEDY)[0]
    assert len(in_ten_seconds.split()) > 2 * len(texts[2].split())  # what the page showed before: a loop


def _visitors(examples: int = 2) -> list[tuple]:
    """(clip, weights) of two visitors on two held-out examples, at weights far apart."""
    audios = [load_audio(path) for path in load_manifest(BUNDLED_EXAMPLES).path.iloc[4 : 4 + examples]]
    return [(audios[0], beta_weights("arabic", 1.0, ACCENTS)), (audios[1], beta_weights("korean", 1.2, ACCENTS))]


@pytest.mark.slow
def test_a_cache_serves_the_transcripts_a_decode_gives_and_decodes_only_what_changed(tiny_en):
    plain, cached = load_bundled_whisper("tiny.en"), load_bundled_whisper("tiny.en", cache=ClipCache())
    (clip, weights), (other_clip, other_weights) = _visitors()
    heard = cached.encoder_features([clip])  # the classifier's hearing is kept from the first clip on
    assert len(cached.cache) == 1 and torch.equal(cached.cache.get(("features", clip_digest(clip))), heard[0])
    first = compare(cached, clip, weights)
    assert (cached.batches.jobs, len(cached.cache)) == (1, 4)  # three rows decoded, three kept
    moved = compare(cached, clip, other_weights)  # a slider move: only MAS-LoRA's row is decoded
    assert (cached.batches.jobs, len(cached.cache)) == (2, 5)
    assert moved.results[:2] == first.results[:2]
    again = compare(cached, clip, weights)  # back where it was: nothing is decoded
    assert cached.batches.jobs == 2 and again.results == first.results
    for audio, w, result in ((clip, weights, first), (clip, other_weights, moved)):
        assert result.results == compare(plain, audio, w).results  # to the character, without a cache
    assert moved.results[2].text != first.results[2].text, "the weights changed nothing: the test could not fail"
    other = compare(cached, other_clip, weights)  # another clip is never served the first one's transcripts
    assert other.results == compare(plain, other_clip, weights).results
    features = cached.encoder_features([clip, other_clip])
    assert torch.allclose(cached.encoder_features([other_clip, clip]), features.flip(0))
    assert torch.allclose(features, plain.encoder_features([clip, other_clip]), atol=1e-5)


@pytest.mark.slow
def test_two_visitors_at_different_weights_decode_in_one_batch_as_each_would_alone(tiny_en):
    shared = load_bundled_whisper("tiny.en")
    visitors = _visitors()
    alone = [compare(load_bundled_whisper("tiny.en"), clip, weights).results for clip, weights in visitors]
    results = {}

    def visit(index: int) -> None:
        clip, weights = visitors[index]
        results[index] = compare(shared, clip, weights).results

    threads = [threading.Thread(target=visit, args=(index,)) for index in range(2)]
    with shared._lock:  # the model is busy (as with a third visitor's batch) while both visitors arrive
        holder = threading.Thread(target=shared.transcribe, args=([visitors[0][0]], [Request("base")]))
        holder.start()
        while shared.batches.waiting or shared.batches.jobs == 0:
            time.sleep(0.01)  # the holder's job has left the queue and waits for the model
        for thread in threads:
            thread.start()
        while shared.batches.waiting < 2:
            time.sleep(0.01)
    for thread in [holder, *threads]:
        thread.join(timeout=120)
    assert (shared.batches.batches, shared.batches.jobs) == (2, 3)  # the two visitors shared one batch
    assert [results[0], results[1]] == alone
    assert alone[0][2].text != alone[1][2].text
