"""Group commit (relay/services/groupcommit.py): rows handed in together are committed
together, each piece fails alone, and nobody hears "stored" before the commit returned."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import DatabaseError, connection

from relay.models import Message
from relay.services.groupcommit import GroupCommit

pytestmark = pytest.mark.django_db(transaction=True)


def make(queue_id: str) -> Message:
    return Message.objects.create(queue_id=queue_id, envelope_sender="a@sender.test")


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def run_in_threads(group: GroupCommit, works: list) -> list:
    """Each work in its own thread, all started while the first one holds the lead."""
    results: list = [None] * len(works)
    gate = threading.Event()

    def first() -> Message:
        gate.wait(5)  # the others queue up behind this leader meanwhile
        return works[0]()

    def call(index: int, work) -> None:
        try:
            results[index] = group.run(work)
        except BaseException as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(0, first))]
    threads += [threading.Thread(target=call, args=(i, w)) for i, w in enumerate(works) if i]
    threads[0].start()
    wait_until(lambda: group._leading)  # thread 0 leads, held at the gate
    for thread in threads[1:]:
        thread.start()
    wait_until(lambda: len(group._pending) == len(works) - 1)  # the rest queued behind it
    gate.set()
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()
    return results


def test_alone__committed_at_once_in_a_batch_of_one():
    group = GroupCommit()
    message = group.run(lambda: make("Q1"))
    assert Message.objects.get(queue_id="Q1").pk == message.pk
    assert (group.batches, group.jobs) == (1, 1)


def test_together__fewer_commits_than_messages_and_each_gets_its_own_row():
    group = GroupCommit()
    ids = [f"Q{n}" for n in range(6)]
    results = run_in_threads(group, [lambda q=q: make(q) for q in ids])
    assert [r.queue_id for r in results] == ids
    assert set(Message.objects.values_list("queue_id", flat=True)) == set(ids)
    # The first commit holds the leader's own row; everything that queued behind it went in
    # the second.
    assert (group.batches, group.jobs) == (2, 6)


def test_a_failing_piece_fails_alone():
    group = GroupCommit()

    def broken() -> Message:
        make("BROKEN")
        raise DatabaseError("disk full")

    results = run_in_threads(group, [lambda: make("A"), broken, lambda: make("B")])
    assert isinstance(results[1], DatabaseError)
    assert [r.queue_id for r in (results[0], results[2])] == ["A", "B"]
    assert set(Message.objects.values_list("queue_id", flat=True)) == {"A", "B"}
    assert group.batches == 2  # BROKEN and B shared a commit: only the savepoint went


def test_a_savepoint_that_cannot_be_rolled_back_fails_the_whole_batch():
    """SQLite drops the whole transaction after a full disk; the savepoint is then gone and
    nothing of the batch is stored: every piece must hear so, none may hear "stored"."""
    group = GroupCommit()

    def broken() -> Message:
        make("BROKEN")

        def gone(sid):
            raise DatabaseError("no such savepoint")

        connection.savepoint_rollback = gone  # this thread's (the leader's) connection
        raise DatabaseError("database or disk is full")

    results = run_in_threads(
        group, [lambda: make("A"), lambda: make("B"), broken, lambda: make("C")]
    )
    # A was the first leader's own batch; B, BROKEN and C shared the second one.
    assert results[0].queue_id == "A"
    assert all(isinstance(r, DatabaseError) for r in results[1:]), results
    assert "rolled back" in str(results[1])  # B ran fine, but its rows went with the batch
    assert list(Message.objects.values_list("queue_id", flat=True)) == ["A"]


def test_a_failed_commit_fails_every_piece_and_stores_nothing(monkeypatch):
    group = GroupCommit()

    def commit_fails() -> None:
        raise DatabaseError("disk I/O error")

    monkeypatch.setattr(connection, "commit", commit_fails)
    with pytest.raises(DatabaseError, match="disk I/O"):
        group.run(lambda: make("D"))
    monkeypatch.undo()
    assert not Message.objects.exists()
    assert group.run(lambda: make("E")).queue_id == "E"  # the next batch is fine
