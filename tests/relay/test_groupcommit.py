"""Group commit (relay/services/groupcommit.py): rows handed in together are committed
together, each piece fails alone, and nobody hears "stored" before the commit returned."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connection

from relay.models import Message
from relay.services.groupcommit import GroupCommit

pytestmark = pytest.mark.django_db(transaction=True)


def make(queue_id: str) -> Message:
    return Message.objects.create(queue_id=queue_id, envelope_sender="a@sender.test")


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
    for thread in threads[1:]:
        thread.start()
    while len(group._pending) < len(works) - 1:  # every follower has handed its work in
        threading.Event().wait(0.01)
    gate.set()
    for thread in threads:
        thread.join(10)
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
    assert set(Message.objects.values_list("queue_id", flat=True)) == {"A", "B"}


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
