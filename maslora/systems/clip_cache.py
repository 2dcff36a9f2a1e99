"""What a model already made of a clip, kept by the clip's content: a slider move decodes one row, not three.

On the page most actions move a slider on the clip already shown. Whisper's transcript and the regular
LoRA's do not depend on the expert weights, nor does the accent classifier's hearing of the clip, so a
CombinedWhisper built with a cache keeps them, keyed by what they do depend on: the clip's samples (a
digest of the bytes, never a file name, so one clip's transcript is never served for another), the
route and its weights, and the decoding options. The cache is bounded (least recently used goes first)
and safe to share between threads.

    cache = ClipCache(entries=512)
    key = ("text", clip_digest(audio), "base", None, options)
    text = cache.get(key)          # None the first time
    cache.put(key, "Hello there.")
"""

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

DEFAULT_ENTRIES = 1024  # a class of 30 each keeping ~10 clips' three transcripts and hearing: texts and small vectors


def clip_digest(audio: np.ndarray) -> str:
    """SHA-256 of the clip as float32 samples: equal digests mean equal samples (a 5 s clip hashes in ~0.2 ms)."""
    return hashlib.sha256(np.ascontiguousarray(audio, dtype=np.float32).tobytes()).hexdigest()


class ClipCache:
    """A thread-safe mapping of at most `entries` keys that forgets the least recently used first."""

    def __init__(self, entries: int = DEFAULT_ENTRIES):
        if entries < 1:
            raise ValueError(f"a cache needs room for at least one entry, got {entries}")
        self.entries = entries
        self._values: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable):
        """The value kept for `key` (now the most recently used), or None."""
        with self._lock:
            if key not in self._values:
                return None
            self._values.move_to_end(key)
            return self._values[key]

    def put(self, key: Hashable, value) -> None:
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.entries:
                self._values.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)
