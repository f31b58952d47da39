"""Group commit: the rows of messages stored at about the same time go in one transaction.

"Store before 250" costs the smtpd one durable commit per message (an fsync of SQLite's WAL,
or of PostgreSQL's), and on SQLite every commit also takes the database's single write
lock, which the workers need too. When several sessions finish DATA together, each waiting
for its own commit in turn is what limited the accept rate (measured: bench/bench_relay.py).

So the threads take turns as leader and follower, as databases do for their own log: a
thread hands its work (a function that writes rows) to `GroupCommit.run`; the first one
becomes the leader and commits, in one transaction, everything handed in so far, each
piece inside its own savepoint, so that one that fails is rolled back alone and fails
alone. The others wait, and each gets its own result or exception only after the commit
that holds its rows returned. Then the leader steps down and the next waiting thread takes
what came in meanwhile. A thread alone commits at once: nobody waits for a batch to fill.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, transaction


class _Job:
    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[], Any]) -> None:
        self.work = work
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: list[_Job] = []
        self._leading = False
        self.batches = 0  # commits made, for tests and the benchmark
        self.jobs = 0

    def run(self, work: Callable[[], Any]) -> Any:
        """Run `work` (it writes rows) in a shared transaction; its result once committed.

        Raises what `work` raised (its savepoint rolled back), or what the commit raised
        (nothing of the batch is stored). Not for a caller already inside a transaction."""
        job = _Job(work)
        with self._cond:
            self._pending.append(job)
            while not job.done and self._leading:
                self._cond.wait()
            if not job.done:
                self._leading = True
                batch, self._pending = self._pending, []
        if not job.done:
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    for item in batch:
                        item.done = True
                    self._leading = False
                    self._cond.notify_all()
        if job.error is not None:
            raise job.error
        return job.result

    def _commit(self, batch: list[_Job]) -> None:
        try:
            with transaction.atomic():
                for job in batch:
                    try:
                        with transaction.atomic():  # a savepoint: a failure stays its own
                            job.result = job.work()
                    except BaseException as exc:  # handed to its own thread, raised there
                        job.error = exc
                # A savepoint that could not be rolled back (SQLite drops the whole
                # transaction after a full disk or an I/O error) marks the transaction for
                # rollback, and atomic() would then end quietly having stored nothing.
                if transaction.get_rollback():
                    raise DatabaseError("the group commit was rolled back")
        except BaseException as exc:  # the commit itself failed: none of the rows is stored
            for job in batch:
                if job.error is None:
                    job.error = exc
                    job.result = None
        self.batches += 1
        self.jobs += len(batch)
