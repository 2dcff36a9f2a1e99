"""Visitors' trainings queue: one at a time in order of arrival, each waiting one told its place and a wait
estimated from measured trainings; a cancelled or failed one leaves the line and the trainer free."""

import threading
import time

import pytest

from maslora.errors import TrainingCancelled
from maslora.systems.training_queue import TrainingQueue, Wait
from maslora.training.new_expert import Progress


def _queued(queue: TrainingQueue, name: str, order: list, heard: dict, release: threading.Event, **turn):
    def run() -> None:
        try:
            with queue.turn(on_wait=heard.setdefault(name, []).append, **turn):
                order.append(name)
                assert release.wait(10)
        except TrainingCancelled:
            order.append(f"{name} cancelled")

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _until(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_trainings_run_one_at_a_time_in_order_and_the_waiting_hear_their_place():
    queue = TrainingQueue(refresh_seconds=0.01)
    order, heard, releases = [], {}, {name: threading.Event() for name in "abc"}
    threads = []
    for name in "abc":
        threads.append(_queued(queue, name, order, heard, releases[name]))
        _until(lambda: len(order) == 1 and queue.waiting == len(threads) - 1)
    assert order == ["a"]  # b and c wait while a trains
    _until(lambda: heard.get("c") and heard["c"][-1].place == 2)
    assert {wait.place for wait in heard["b"]} == {1}
    for name in "abc":
        releases[name].set()
        _until(lambda: not threads["abc".index(name)].is_alive())
    assert order == ["a", "b", "c"] and len(queue.durations) == 3 and queue.waiting == 0


def test_the_estimate_is_the_running_trainings_time_left_plus_a_measured_training_for_each_ahead():
    queue = TrainingQueue(refresh_seconds=0.01)
    order, heard, release = [], {}, threading.Event()
    with queue.turn() as report:
        waiters = []
        for name in "bc":
            waiters.append(_queued(queue, name, order, heard, release))
            _until(lambda: heard.get(name))
        assert heard["c"][-1] == Wait(2, None)  # nothing measured yet: the place alone
        report(Progress(step=5, steps=10, loss=1.0, seconds=5.0))  # on course for 10 s: 5 s left
        _until(lambda: heard["b"][-1].seconds is not None and heard["c"][-1].seconds is not None)
        assert heard["b"][-1] == Wait(1, 5.0) and heard["c"][-1] == Wait(2, 15.0)
        queue.durations.extend([20.0, 40.0])  # measured trainings: 30 s each
        _until(lambda: heard["c"][-1].seconds == 35.0)
        assert str(heard["c"][-1]) == "Waiting for the server's trainer: 1 training before yours, about 35 s to wait."
    release.set()
    for waiter in waiters:
        waiter.join(10)
    assert order == ["b", "c"]


def test_a_cancelled_waiting_training_leaves_the_line_and_a_failed_one_frees_the_trainer():
    queue = TrainingQueue(refresh_seconds=0.01)
    order, heard, release, stop = [], {}, threading.Event(), threading.Event()
    first = _queued(queue, "a", order, heard, release)
    _until(lambda: order == ["a"])
    second = _queued(queue, "b", order, heard, release, cancelled=stop.is_set)
    third = _queued(queue, "c", order, heard, release)
    _until(lambda: heard.get("c") and heard["c"][-1].place == 2)
    stop.set()
    _until(lambda: "b cancelled" in order)
    _until(lambda: heard["c"][-1].place == 1)  # c moved up
    release.set()
    for thread in (first, second, third):
        thread.join(10)
    assert order == ["a", "b cancelled", "c"]
    with pytest.raises(RuntimeError, match="boom"):
        with queue.turn():
            raise RuntimeError("boom")
    assert len(queue.durations) == 2  # a failure says nothing of how long a training takes
    with queue.turn():  # and the trainer is free again
        pass
