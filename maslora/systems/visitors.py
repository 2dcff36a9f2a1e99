"""Visitors' own accent experts on a shared demo: each visitor's N + 1 experts apart from everyone else's.

A visitor records a few prompts, trains an expert on them (maslora.training.new_expert) and gets a
folder of the bundled experts plus theirs (maslora.mixture.expert_folders), to download. Their expert
joins the one shared model of their size and mixture as a column of its own (CombinedWhisper.add_expert:
a few hundred kilobytes, not a Whisper), seen through an ExpertView that shows them the bundled experts
and theirs: the bundled experts, and every other visitor's, never change. Everything a visitor leaves
lives under root/<visitor key>/ and goes with `remove(key)`, their column too (the app calls it when the
browser session ends). Trainings run one at a time server-wide (the app's queue); this store refuses a
second training for a visitor who already has one running, and new experts once `capacity` visitors hold one.

    store = VisitorExperts(experts, root, shared)        # shared: the page's CombinedWhisper of these experts
    with store.training(key) as cancelled:               # refuses a visitor's second training
        layers = store.train(clips, cancelled, on_step)  # train_new_expert on a model kept between trainings
        expert = store.add(key, "mine", layers)          # expert.whisper: base, LoRA, N + 1 experts
"""

import contextlib
import itertools
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from maslora.data.corpora import arctic_prompts
from maslora.data.splits import prompt_sets
from maslora.errors import TrainingCancelled, TrainingError
from maslora.mixture.expert_folders import add_expert
from maslora.mixture.peft_io import experts_folder
from maslora.mixture.weights import beta_weights
from maslora.systems.bundle import bundled_folders
from maslora.systems.combined_whisper import CombinedWhisper, Request
from maslora.systems.expert_view import ExpertView
from maslora.systems.training_queue import TrainingQueue
from maslora.training.new_expert import ModelShelf, Progress, train_new_expert
from maslora.wer import error_counts

COMPARES_FIRST_SECONDS = 2.0  # the longest a training step waits for the shared model to fall quiet: a step
# is about 0.7 s alone (tiny.en), so even in a class that never lets it fall quiet a training goes on
MAX_PROMPT_WORDS = 10  # read at a normal pace, 10 words take 3-5 s: well inside a new expert's clip limit
MIN_PROMPT_WORDS = 5  # shorter prompts carry too little of an accent to learn from


def visitor_prompts(fold: int, count: int) -> list[tuple[str, str]]:
    """`count` (prompt id, text) ARCTIC prompts for a visitor to read: from the test prompts of the bundled
    experts' fold, which they never trained on, 5-10 words each, in id order."""
    prompts = arctic_prompts()
    test, _ = prompt_sets(sorted(prompts), fold)
    fitting = [p for p in sorted(test) if MIN_PROMPT_WORDS <= len(prompts[p].split()) <= MAX_PROMPT_WORDS]
    if len(fitting) < count:
        raise ValueError(f"fold {fold} has {len(fitting)} held-out prompts of a fitting length, not {count}")
    return [(prompt, prompts[prompt]) for prompt in fitting[:count]]


@dataclass(frozen=True)
class VisitorExpert:
    name: str
    folder: Path  # the bundled experts plus the visitor's: --experts accepts it anywhere
    whisper: ExpertView  # base, the regular LoRA and MAS-LoRA over all N + 1 experts, in the shared model

    @property
    def column(self) -> str:
        """The expert's name inside the shared model."""
        return self.whisper.own[self.name]


class VisitorExperts:
    """Each visitor's expert, by key (the app's browser session), thread-safe."""

    def __init__(
        self, experts: Path, root: Path, shared: CombinedWhisper, capacity: int = 100, shelf: ModelShelf | None = None
    ):
        # capacity: each expert adds a column to the shared model's layers (about 2 MB resident in tiny.en, measured
        # by analysis/bench_visitor_experts) and a folder on disk; 100 is three classes of 30, still bounded
        # experts: the bundled experts folder every visitor's expert is trained for; shared: their model
        # shelf: the trainable model kept between trainings (the page's stores share one: trainings take turns)
        self.experts, self.root, self.shared, self.capacity = Path(experts), Path(root), shared, capacity
        self.shelf = shelf or ModelShelf()
        self._serial = itertools.count(1)  # a column name is never reused: cached rows of a gone expert stay its
        self._experts: dict[str, VisitorExpert] = {}
        self._training: dict[str, threading.Event] = {}  # key -> its cancel flag, while it trains
        self._lock = threading.Lock()

    def workspace(self, key: str) -> Path:
        """The visitor's own folder (for their clips too); created on first use."""
        folder = self.root / key
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @contextlib.contextmanager
    def training(self, key: str) -> Iterator[Callable[[], bool]]:
        """Mark `key` as training for the `with`; yields the `cancelled()` that `cancel(key)` turns true."""
        with self._lock:
            if key in self._training:
                raise TrainingError("your expert is already training: wait for it, or cancel it")
            if key not in self._experts and len(self._experts) >= self.capacity:
                raise TrainingError(
                    f"{len(self._experts)} visitors hold their own experts on this server, its limit: try again later"
                )
            flag = self._training[key] = threading.Event()
        try:
            yield flag.is_set
        finally:
            with self._lock:
                self._training.pop(key, None)

    def train(
        self, clips: pd.DataFrame, cancelled: Callable[[], bool], on_step: Callable[[Progress], None]
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """A new expert's factors trained on `clips` (train_new_expert) on the shelf's model, giving way to
        compares before each step; call it inside `training(key)`, with its `cancelled`."""
        return train_new_expert(
            self.experts, clips, on_step=on_step, cancelled=cancelled, pause=self.give_way, shelf=self.shelf
        )

    def give_way(self) -> None:
        """Before a training step: wait while the shared model decodes, at most COMPARES_FIRST_SECONDS, so that
        visitors' compares do not share the cores with a training (both would take twice as long)."""
        self.shared.batches.wait_idle(COMPARES_FIRST_SECONDS)

    def cancel(self, key: str) -> bool:
        """Ask `key`'s running training to stop before its next step; False when none runs."""
        with self._lock:
            flag = self._training.get(key)
        if flag is not None:
            flag.set()
        return flag is not None

    def add(self, key: str, name: str, layers: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> VisitorExpert:
        """The bundled experts plus `name` (trained `layers`) in the visitor's folder, and `name` in the shared
        model; replaces the visitor's previous expert, if any (a visitor holds one). Inside `training(key)`, a
        cancel (the visitor left) that came before it ends leaves nothing: TrainingCancelled."""
        folder = self.workspace(key) / f"experts-{name}"
        if folder.exists():
            shutil.rmtree(folder)  # the same name trained again: the new one replaces it
        column = f"{name} ({next(self._serial)})"  # a visitor's name has no spaces: never a bundled one's
        try:
            add_expert(self.experts, name, layers, folder)
            self.shared.add_expert(column, experts_folder(folder)[0][name])
        except Exception:
            shutil.rmtree(folder, ignore_errors=True)  # nothing half-written; the visitor's takes stay
            raise
        expert = VisitorExpert(name, folder, ExpertView(self.shared, {name: column}))
        with self._lock:  # a visitor who left (or cancelled) after the last step must not leave their expert here
            flag = self._training.get(key)
            gone = flag is not None and flag.is_set()
            previous = None if gone else self._experts.get(key)
            if not gone:
                self._experts[key] = expert
        if gone:
            self.shared.remove_expert(column)
            shutil.rmtree(folder, ignore_errors=True)
            raise TrainingCancelled("training cancelled after its last step; nothing was saved")
        if previous is not None:
            self.shared.remove_expert(previous.column)
            if previous.folder != folder:
                shutil.rmtree(previous.folder, ignore_errors=True)
        return expert

    def get(self, key: str) -> VisitorExpert | None:
        with self._lock:
            return self._experts.get(key)

    def remove(self, key: str) -> None:
        """Forget the visitor: their expert, its column, their files (a running training is cancelled)."""
        self.cancel(key)
        with self._lock:
            expert = self._experts.pop(key, None)
        if expert is not None:
            self.shared.remove_expert(expert.column)
        shutil.rmtree(self.root / key, ignore_errors=True)

    def archive(self, key: str) -> Path:
        """The visitor's experts folder as a zip (the folder at its top), for downloading."""
        expert = self.get(key)
        if expert is None:
            raise TrainingError("there is no expert of yours to download yet: train one first")
        return Path(shutil.make_archive(str(expert.folder), "zip", expert.folder.parent, expert.folder.name))


class VisitorStores:
    """The page's VisitorExperts, one per bundled size and mixture (a visitor's expert is trained beside the
    mixture they see and joins its model, `shared(size, mixture)`), each in a temporary folder of its own,
    made on first use."""

    def __init__(self, shared: Callable[[str, str], CombinedWhisper]):
        self.shared = shared
        self.trainings = TrainingQueue()  # one training at a time on the server, whatever its size and mixture
        self.models = ModelShelf()  # so the model trainings run on is loaded once, not once a training
        self._stores: dict[tuple[str, str], VisitorExperts] = {}
        self._lock = threading.Lock()

    def of(self, size: str, mixture: str) -> VisitorExperts:
        with self._lock:
            if (size, mixture) not in self._stores:
                folder = tempfile.mkdtemp(prefix=f"maslora-visitors-{size}-{mixture}-")
                experts, _ = bundled_folders(size, mixture=mixture)
                shared = self.shared(size, mixture)
                self._stores[size, mixture] = VisitorExperts(experts, folder, shared, shelf=self.models)
            return self._stores[size, mixture]

    def expert(self, size: str, mixture: str, key: str | None) -> VisitorExpert | None:
        """`key`'s expert beside this mixture, if they trained one."""
        with self._lock:
            store = self._stores.get((size, mixture))
        return store.get(key) if store is not None and key else None

    def cancel(self, key: str) -> bool:
        """Stop `key`'s training, whichever mixture it trains beside; False when none runs."""
        with self._lock:
            stores = list(self._stores.values())
        return any([store.cancel(key) for store in stores])  # a list: every store is asked

    def remove(self, key: str) -> None:
        """Forget the visitor everywhere: every size and mixture they used."""
        with self._lock:
            stores = list(self._stores.values())
        for store in stores:
            store.remove(key)


def new_expert_requests(name: str, accents: list[str]) -> dict[str, Request]:
    """The systems a visitor's test clips go through: {label: request}. The bundled mixture is uniform over
    the bundled experts with the new one at 0: exactly the bundled MAS-LoRA."""
    bundled = {accent: float(accent != name) for accent in accents}
    alone = {accent: float(accent == name) for accent in accents}
    return {
        "base Whisper": Request("base"),
        "regular LoRA": Request("lora"),
        "MAS-LoRA, bundled experts": Request("mas-lora", bundled),
        f"MAS-LoRA + {name} (beta 2)": Request("mas-lora", beta_weights(name, 2.0, accents)),
        f"{name} alone": Request("mas-lora", alone),
    }


def score_new_expert(expert: VisitorExpert, audios: list[np.ndarray], references: list[str]) -> pd.DataFrame:
    """One row per (clip, system) of new_expert_requests: clip (1, 2, ...), system, transcript, errors, words;
    every row decoded as batches of one model."""
    labels = new_expert_requests(expert.name, expert.whisper.accents)
    jobs = [(clip, label) for clip in range(len(audios)) for label in labels]
    texts = expert.whisper.transcribe([audios[clip] for clip, _ in jobs], [labels[label] for _, label in jobs])
    rows = []
    for (clip, label), text in zip(jobs, texts):
        counts = error_counts([references[clip]], [text])
        rows.append(
            {
                "clip": clip + 1,
                "system": label,
                "transcript": text,
                "errors": counts.errors,
                "words": counts.reference_words,
            }
        )
    return pd.DataFrame(rows)
