"""Calls from many threads share batches (maslora.systems.batching) and clips' results are kept by content
(maslora.systems.clip_cache): each caller still gets exactly its own results, and its own errors."""

import threading
import time

import numpy as np
import pytest

from maslora.systems.batching import BatchQueue
from maslora.systems.clip_cache import ClipCache, clip_digest


class Recorder:
    """A batch runner that doubles numbers, remembers its batches, and can be held at its first batch."""

    def __init__(self):
        self.batches: list[list[list[int]]] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def run(self, jobs: list[list[int]]) -> list[list[int]]:
        self.batches.append(jobs)
        self.started.set()
        self.release.wait(timeout=10)
        if any(value < 0 for job in jobs for value in job):
            raise ValueError("negative")
        return [[2 * value for value in job] for job in jobs]


def queue_of(recorder: Recorder, max_rows: int = 16, compatible=lambda a, b: True) -> BatchQueue:
    return BatchQueue(recorder.run, rows=len, max_rows=max_rows, compatible=compatible)


def submit_in_threads(queue: BatchQueue, jobs: list[list[int]]) -> tuple[list[threading.Thread], dict]:
    """Each job from its own thread, in order, each waiting before the next is submitted; results by job index."""
    outcomes: dict[int, object] = {}

    def one(index: int, job: list[int]) -> None:
        try:
            outcomes[index] = queue.submit(job)
        except ValueError as error:
            outcomes[index] = error

    threads = []
    for index, job in enumerate(jobs):
        before = queue.waiting
        threads.append(threading.Thread(target=one, args=(index, job)))
        threads[-1].start()
        deadline = time.monotonic() + 10
        while queue.waiting == before and time.monotonic() < deadline:
            time.sleep(0.001)
    return threads, outcomes


def held_then_released(recorder: Recorder, queue: BatchQueue, jobs: list[list[int]]) -> dict:
    """A first job holds the queue while `jobs` arrive one by one; then everything runs."""
    first = threading.Thread(target=queue.submit, args=([100],))
    first.start()
    assert recorder.started.wait(timeout=10)
    threads, outcomes = submit_in_threads(queue, jobs)
    assert queue.waiting == len(jobs)
    recorder.release.set()
    for thread in [first, *threads]:
        thread.join(timeout=10)
    return outcomes


def test_a_lone_call_runs_at_once_as_its_own_batch():
    recorder = Recorder()
    recorder.release.set()
    queue = queue_of(recorder)
    assert queue.submit([1, 2]) == [2, 4]
    assert recorder.batches == [[[1, 2]]] and queue.waiting == 0


def test_calls_that_arrive_during_a_batch_run_together_as_the_next_and_each_gets_its_own():
    recorder = Recorder()
    queue = queue_of(recorder)
    outcomes = held_then_released(recorder, queue, [[1], [2, 3], [4]])
    assert recorder.batches == [[[100]], [[1], [2, 3], [4]]]
    assert outcomes == {0: [2], 1: [4, 6], 2: [8]}
    assert (queue.batches, queue.jobs) == (2, 4)


def test_a_batch_holds_at_most_max_rows_and_the_rest_go_next_in_their_order():
    recorder = Recorder()
    queue = queue_of(recorder, max_rows=3)
    outcomes = held_then_released(recorder, queue, [[1, 2], [3, 4], [5]])
    assert recorder.batches[1:] == [[[1, 2], [5]], [[3, 4]]]
    assert outcomes == {0: [2, 4], 1: [6, 8], 2: [10]}


def test_only_compatible_jobs_share_a_batch():
    recorder = Recorder()
    queue = queue_of(recorder, compatible=lambda a, b: a[0] % 2 == b[0] % 2)
    held_then_released(recorder, queue, [[1], [2], [3], [4]])
    assert recorder.batches[1:] == [[[1], [3]], [[2], [4]]]


def test_one_jobs_error_fails_that_job_alone():
    recorder = Recorder()
    queue = queue_of(recorder)
    outcomes = held_then_released(recorder, queue, [[1], [-1], [3]])
    assert outcomes[0] == [2] and outcomes[2] == [6]
    assert isinstance(outcomes[1], ValueError)
    assert queue.waiting == 0


def test_max_rows_must_leave_room():
    with pytest.raises(ValueError, match="at least one row"):
        BatchQueue(lambda jobs: jobs, rows=len, max_rows=0, compatible=lambda a, b: True)


def test_the_cache_forgets_the_least_recently_used_first():
    cache = ClipCache(entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now b is the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)
    cache.put("a", "")  # an empty transcript (silence) is a value like any other
    assert cache.get("a") == ""
    with pytest.raises(ValueError, match="at least one entry"):
        ClipCache(entries=0)


def test_a_clip_is_known_by_its_samples_not_its_name_or_its_array():
    rng = np.random.default_rng(0)
    clip = rng.standard_normal(16_000).astype(np.float32)
    assert clip_digest(clip) == clip_digest(clip.astype(np.float64))  # the same samples, another array
    changed = clip.copy()
    changed[-1] += 1e-3
    assert clip_digest(changed) != clip_digest(clip)
    assert clip_digest(clip[:-1]) != clip_digest(clip)


def test_work_that_gives_way_waits_until_no_batch_runs_or_waits():
    recorder = Recorder()
    queue = queue_of(recorder)
    assert queue.wait_idle(0.0)  # nothing runs: no wait at all
    worker = threading.Thread(target=queue.submit, args=([1],))
    worker.start()
    assert recorder.started.wait(timeout=10)
    assert not queue.wait_idle(0.05)  # a batch runs: given way to, up to the limit
    idle = []
    waiter = threading.Thread(target=lambda: idle.append(queue.wait_idle(10)))
    waiter.start()
    recorder.release.set()
    worker.join(10)
    waiter.join(10)
    assert idle == [True]  # woken when the batch ended, well before its limit
