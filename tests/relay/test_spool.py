"""The spool: durable writes under a temporary name, safe names, nothing half-written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from relay import spool
from relay.spool import SpoolError, spool_delete, spool_open, spool_read, spool_write


@pytest.fixture
def spool_dir(settings, tmp_path: Path) -> Path:
    settings.MAILGATE_SPOOL_DIR = tmp_path / "spool"
    return tmp_path / "spool"


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_write_read_delete(spool_dir):
    name = spool_write("01ABCDEF", b"Subject: x\r\n\r\nbody\r\n")
    assert re.fullmatch(r"\d{8}/01ABCDEF\.eml", name)
    assert spool_read(name) == b"Subject: x\r\n\r\nbody\r\n"
    with spool_open(name) as fh:
        assert fh.read(7) == b"Subject"
    assert files(spool_dir) == [spool_dir / name]
    spool_delete(name)
    spool_delete(name)  # already gone is fine
    assert files(spool_dir) == []


def test_chunks_are_written_in_order(spool_dir):
    name = spool_write("01CHUNKS", iter([b"Received: x\r\n", b"", b"body\r\n"]))
    assert spool_read(name) == b"Received: x\r\nbody\r\n"


def test_write_fsyncs_file_and_directory_then_renames(spool_dir, monkeypatch):
    calls: list[str] = []
    real_fsync, real_rename = os.fsync, os.rename
    monkeypatch.setattr(spool.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(
        spool.os, "rename", lambda a, b: (calls.append("rename"), real_rename(a, b))[1]
    )
    spool_write("01DURABLE", b"x")
    # new day directory (its parent fsync'ed), file fsync, rename, directory fsync
    assert calls[-3:] == ["fsync", "rename", "fsync"]


def test_spool_dir_is_a_file__spool_error_and_nothing_left(settings, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    settings.MAILGATE_SPOOL_DIR = blocker
    with pytest.raises(SpoolError):
        spool_write("01BLOCKED", b"x")
    assert blocker.read_bytes() == b""


def test_failed_write_leaves_no_temporary_file(spool_dir, monkeypatch):
    def broken_rename(a, b):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spool.os, "rename", broken_rename)
    with pytest.raises(SpoolError, match="No space left"):
        spool_write("01NOSPACE", b"x" * 1000)
    assert files(spool_dir) == []


@pytest.mark.parametrize(
    ("error", "raised"), [(OSError("gone"), SpoolError), (KeyboardInterrupt(), KeyboardInterrupt)]
)
def test_failing_chunk_source_leaves_nothing(spool_dir, error, raised):
    def chunks():
        yield b"first"
        raise error

    with pytest.raises(raised):
        spool_write("01PARTIAL", chunks())
    assert files(spool_dir) == []


@pytest.mark.parametrize(
    "name", ["../etc/passwd", "/etc/passwd", "20261203/../../x.eml", "x.eml", ""]
)
def test_names_that_leave_the_spool_are_refused(spool_dir, name):
    with pytest.raises(SpoolError):
        spool_read(name)
    with pytest.raises(SpoolError):
        spool_delete(name)


@pytest.mark.parametrize("queue_id", ["", "../x", "a/b", "x" * 65])
def test_bad_queue_ids_are_refused(spool_dir, queue_id):
    with pytest.raises(SpoolError):
        spool_write(queue_id, b"x")


def test_missing_file__spool_error(spool_dir):
    with pytest.raises(SpoolError):
        spool_read("20260101/01MISSING.eml")
