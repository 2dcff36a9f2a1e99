"""Visitors' own experts on a shared demo: the prompts they read, one training each, kept apart, removed on leaving."""

import threading
import zipfile

import pytest
import torch

from maslora.data.audio import load_audio
from maslora.data.corpora import NATIVE_RECORDINGS, arctic_prompts, load_manifest
from maslora.data.splits import prompt_sets
from maslora.errors import AdapterError, TrainingCancelled, TrainingError, WeightsError
from maslora.mixture.layer import adapter_layers
from maslora.mixture.peft_io import read_adapter
from maslora.systems.bundle import BUNDLED_EXPERTS, bundle_fold, load_bundled_whisper
from maslora.systems.clip_cache import ClipCache
from maslora.systems.combined_whisper import CombinedWhisper, Request
from maslora.systems.visitors import VisitorExperts, new_expert_requests, score_new_expert, visitor_prompts
from maslora.whisper.load import load_whisper

EXPERTS = BUNDLED_EXPERTS / "tiny.en" / "mas-lora"


def test_visitors_read_prompts_the_bundled_experts_never_trained_on():
    fold = bundle_fold("tiny.en")
    prompts = visitor_prompts(fold, 23)
    held_out, _ = prompt_sets(sorted(arctic_prompts()), fold)
    assert len(prompts) == 23 and len({p for p, _ in prompts}) == 23
    assert all(prompt in held_out and 5 <= len(text.split()) <= 10 for prompt, text in prompts)
    with pytest.raises(ValueError, match="not 500"):
        visitor_prompts(fold, 500)


def test_the_bundled_mixture_row_is_the_bundled_mas_lora():
    requests = new_expert_requests("mine", ["arabic", "hindi", "mine"])
    assert requests["MAS-LoRA, bundled experts"] == ("mas-lora", {"arabic": 1.0, "hindi": 1.0, "mine": 0.0})
    assert requests["mine alone"] == ("mas-lora", {"arabic": 0.0, "hindi": 0.0, "mine": 1.0})
    assert requests["MAS-LoRA + mine (beta 2)"].weights["mine"] == pytest.approx(0.5)
    assert requests["base Whisper"] == ("base", None)


@pytest.fixture(scope="module")
def shared(private_model_cache) -> CombinedWhisper:
    return load_bundled_whisper("tiny.en", cache=ClipCache())  # the page's model of the bundle: every visitor's


@pytest.fixture
def store(tmp_path, shared):
    return VisitorExperts(EXPERTS, tmp_path / "visitors", shared, capacity=1)


def test_one_training_per_visitor_capacity_and_cancel(store):
    with store.training("a") as cancelled:
        assert not cancelled()
        with pytest.raises(TrainingError, match="already training"):
            with store.training("a"):
                pass
        assert store.cancel("a") and cancelled()
    assert not store.cancel("a")  # nothing runs any more
    with store.training("b"):  # another visitor may train while nobody holds an expert
        pass


@pytest.mark.slow
def test_a_visitors_expert_is_theirs_scored_downloadable_and_removed_with_them(store, private_model_cache):
    arabic = read_adapter(EXPERTS / "arabic")[1]  # stands in for a trained expert: a copy of the Arabic one
    expert = store.add("a", "mine", arabic)
    assert expert.whisper.accents[-1] == "mine" and len(expert.whisper.accents) == 7
    assert store.get("b") is None  # another visitor still has the bundled experts only
    with pytest.raises(TrainingError, match="its limit"):  # capacity 1: a second visitor cannot add one
        with store.training("b"):
            pass
    clips = load_manifest(NATIVE_RECORDINGS).iloc[:2]
    scored = score_new_expert(expert, [load_audio(p) for p in clips.path], list(clips.text))
    assert len(scored) == 2 * 5 and set(scored["clip"]) == {1, 2}
    by_system = scored.set_index(["clip", "system"]).transcript
    arabic_alone = expert.whisper.transcribe(
        [load_audio(clips.path.iloc[0])], [("mas-lora", {a: float(a == "arabic") for a in expert.whisper.accents})]
    )
    assert by_system[(1, "mine alone")] == arabic_alone[0]  # the new expert's column holds its own weights
    archive = store.archive("a")
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
    assert "experts-mine/experts.json" in names and any(n.startswith("experts-mine/mine/") for n in names)
    store.remove("a")
    assert store.get("a") is None and not (store.root / "a").exists()
    with pytest.raises(TrainingError, match="no expert of yours"):
        store.archive("a")


def test_trainings_of_different_visitors_do_not_block_each_other(store):
    entered = threading.Event()

    def other() -> None:
        with store.training("b"):
            entered.set()

    with store.training("a"):
        worker = threading.Thread(target=other)
        worker.start()
        assert entered.wait(10)
        worker.join()


def _alone(whisper, name: str) -> Request:
    return Request("mas-lora", {accent: float(accent == name) for accent in whisper.accents})


@pytest.mark.slow
def test_visitors_experts_are_columns_of_one_model_that_decode_as_their_own_whisper_would(tmp_path, shared):
    store = VisitorExperts(EXPERTS, tmp_path / "visitors", shared)
    clips = [load_audio(path) for path in load_manifest(NATIVE_RECORDINGS).path.iloc[:2]]
    bundled = [Request("base"), Request("lora"), _alone(shared, "hindi")]
    before, columns = shared.transcribe(clips[:1] * 3, bundled), shared.sides
    layers = {"a": read_adapter(EXPERTS / "arabic")[1], "b": read_adapter(EXPERTS / "korean")[1]}
    a, b = (store.add(key, "mine" if key == "a" else "theirs", layers[key]) for key in ("a", "b"))
    assert shared.accents == a.whisper.accents[:6] and a.whisper.accents[6:] == ["mine"]
    assert b.whisper.accents[6:] == ["theirs"]
    with pytest.raises(WeightsError, match="no expert for mine"):  # a visitor weighs their own expert only
        b.whisper.transcribe(clips[:1], [Request("mas-lora", {"mine": 1.0})])
    # the two visitors' rows in one call, as batches of one model, equal each visitor's own whole Whisper
    for expert in (a, b):
        own = CombinedWhisper(load_whisper("tiny.en"), expert.folder, BUNDLED_EXPERTS / "tiny.en" / "lora", 10)
        requests = [_alone(expert.whisper, expert.name), Request("mas-lora", {expert.name: 1.0, "arabic": 1.0})]
        assert expert.whisper.transcribe(clips, requests) == own.transcribe(clips, requests)
    assert shared.transcribe(clips[:1] * 3, bundled) == before  # the bundled systems as they were
    # "mine" again, now the Korean expert: a new column, never the cached transcripts of the gone one
    again = store.add("a", "mine", layers["b"])
    assert again.whisper.transcribe(clips, [_alone(again.whisper, "mine")] * 2) == b.whisper.transcribe(
        clips, [_alone(b.whisper, "theirs")] * 2
    )
    for key in ("a", "b"):
        store.remove(key)
    assert shared.sides == columns  # both columns gone
    assert shared.transcribe(clips[:1] * 3, bundled) == before


def test_an_expert_that_does_not_fit_leaves_the_shared_model_and_other_experts_unchanged(tmp_path, shared):
    store = VisitorExperts(EXPERTS, tmp_path / "visitors", shared)
    good = store.add("a", "mine", read_adapter(EXPERTS / "arabic")[1])
    layout = shared._layout
    values = {name: layer.lora_A.clone() for name, layer in adapter_layers(shared.whisper.model).items()}
    wrong = {name: (A[:, :10], B) for name, (A, B) in read_adapter(EXPERTS / "korean")[1].items()}
    with pytest.raises(AdapterError):
        store.add("b", "theirs", wrong)
    assert shared._layout is layout and store.get("b") is None and store.get("a") is good
    assert not (store.root / "b" / "experts-theirs").exists()  # nothing of the failed expert is left
    assert all(torch.equal(values[n], layer.lora_A) for n, layer in adapter_layers(shared.whisper.model).items())
    store.remove("a")


def test_a_visitor_who_leaves_after_the_last_training_step_leaves_no_expert(tmp_path, shared):
    store = VisitorExperts(EXPERTS, tmp_path / "visitors", shared)
    layout = shared._layout
    with store.training("a"):
        store.remove("a")  # the page's unload, between the last step and the expert's joining the model
        with pytest.raises(TrainingCancelled, match="nothing was saved"):
            store.add("a", "mine", read_adapter(EXPERTS / "arabic")[1])
    assert store.get("a") is None and shared._layout.names == layout.names
    assert [len(columns) for columns in shared.sides.values()] == [len(c) for c in layout.sides.values()]
    assert not (store.root / "a" / "experts-mine").exists()
