"""Calls from many threads run together: while one batch runs, the calls that arrive wait, then go as the next.

A shared model on a CPU does one decode at a time (a second one would only halve both), and a batch of
eight rows costs far less than eight rows one after another (tiny.en's MAS-LoRA rows: 0.13-0.14 s a row
in eight against 0.30 s alone; docs/measurements.md). So the model's callers queue here: a call that
finds the model free runs at once with whatever else is waiting; one that finds it busy waits, and the
first waiter to find it free again runs everyone who arrived meanwhile as one batch (group commit, as
databases batch their log writes). Alone, a call pays nothing; in a crowd, each batch holds everyone who
came during the previous one, up to `max_rows`. Only jobs that `compatible` says can share a batch (the
same decoding options) are taken together, in their order of arrival.

One job's error never fails another's: when a batch raises, its jobs run again one by one, each getting
its own result or its own error.

    queue = BatchQueue(run=decode_jobs, rows=len, max_rows=16, compatible=same_options)
    texts = queue.submit(job)     # from any thread; returns this job's results
"""

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


class _Ticket(Generic[Job, Result]):
    """One waiting job and, once its batch ran, its result or its error."""

    def __init__(self, job: Job):
        self.job = job
        self.done = False
        self.result: Result | None = None
        self.error: Exception | None = None

    def settle(self, result: Result | None = None, error: Exception | None = None) -> None:
        self.result, self.error, self.done = result, error, True


class BatchQueue(Generic[Job, Result]):
    """Jobs from many threads, run in batches by `run(jobs) -> one result per job`, one batch at a time."""

    def __init__(
        self,
        run: Callable[[list[Job]], list[Result]],
        rows: Callable[[Job], int],
        max_rows: int,
        compatible: Callable[[Job, Job], bool],
    ):
        if max_rows < 1:
            raise ValueError(f"a batch needs room for at least one row, got max_rows={max_rows}")
        self._run, self._rows, self.max_rows, self._compatible = run, rows, max_rows, compatible
        self._waiting: list[_Ticket] = []
        self._running = False
        self._condition = threading.Condition()
        self.batches = 0  # how many batches ran, and how many jobs they held: what a benchmark reports
        self.jobs = 0

    @property
    def waiting(self) -> int:
        """How many jobs wait for a batch now."""
        with self._condition:
            return len(self._waiting)

    def wait_idle(self, seconds: float) -> bool:
        """Block until no batch runs or waits, or `seconds` pass; whether it is idle. Work that should give way
        to the model's callers (a visitor's training, maslora.systems.visitors) waits here."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._running and not self._waiting, seconds)

    def submit(self, job: Job) -> Result:
        """Run `job` in the next batch that has room for it; its result, or its error raised here."""
        ticket = _Ticket(job)
        with self._condition:
            self._waiting.append(ticket)
        while True:
            with self._condition:
                while not ticket.done and self._running:
                    self._condition.wait()
                if ticket.done:
                    break
                self._running = True  # this thread runs the next batch: its own job, or earlier ones first
                batch = self._take()
            try:
                self._run_batch(batch)
            finally:
                for unsettled in (t for t in batch if not t.done):  # interrupted (KeyboardInterrupt): never hang
                    unsettled.settle(error=RuntimeError("the batch this job was in stopped before it ended"))
                with self._condition:
                    self._running = False
                    self._condition.notify_all()
        if ticket.error is not None:
            raise ticket.error
        return ticket.result

    def _take(self) -> list[_Ticket]:
        """The waiting tickets of the next batch: the oldest, then every later one that may join it and fits."""
        first = self._waiting[0]
        batch, rows = [first], self._rows(first.job)
        for ticket in self._waiting[1:]:
            size = self._rows(ticket.job)
            if rows + size <= self.max_rows and self._compatible(first.job, ticket.job):
                batch.append(ticket)
                rows += size
        self._waiting = [ticket for ticket in self._waiting if ticket not in batch]
        self.batches += 1
        self.jobs += len(batch)
        return batch

    def _run_batch(self, batch: list[_Ticket]) -> None:
        try:
            results = self._run([ticket.job for ticket in batch])
        except Exception as error:
            if len(batch) == 1:
                batch[0].settle(error=error)
                return
            for ticket in batch:  # whose job failed? each alone: the others still get their results
                try:
                    ticket.settle(result=self._run([ticket.job])[0])
                except Exception as own_error:
                    ticket.settle(error=own_error)
            return
        for ticket, result in zip(batch, results):
            ticket.settle(result=result)
