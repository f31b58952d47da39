"""Raw message storage: one file per message, written durably before the 250 reply.

"Store before 250" (DESIGN.md): a file is written under a temporary name in its final
directory, flushed, fsync'ed, renamed into place (atomic on POSIX) and the directory is
fsync'ed, so that a crash leaves either the whole message or nothing under its final name.
Names are relative to ``settings.MAILGATE_SPOOL_DIR`` (read at each call, so tests and
operators can move it) and look like ``20261203/<queue_id>.eml``: one directory a day keeps
directories small and makes pruning cheap.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

_QUEUE_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")
_NAME = re.compile(r"^[0-9]{8}/[0-9A-Za-z]{1,64}\.eml$")


class SpoolError(OSError):
    """The spool could not store (or find) a message; the smtpd answers ``451 4.3.0``."""


def spool_root() -> Path:
    return Path(settings.MAILGATE_SPOOL_DIR)


def spool_path(name: str) -> Path:
    """The file of spool name `name`; refuses anything that could leave the spool."""
    if not _NAME.fullmatch(name):
        raise SpoolError(f"invalid spool name {name!r}")
    return spool_root() / name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_dir(path: Path) -> None:
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    _fsync_dir(path.parent)  # make the new directory entry itself durable


def spool_write(queue_id: str, data: bytes | Iterable[bytes]) -> str:
    """Write `data` (bytes, or chunks written one after the other) durably; return its name.

    Chunks let the caller prepend a header without concatenating a large message in memory.
    """
    if not _QUEUE_ID.fullmatch(queue_id):
        raise SpoolError(f"invalid queue id {queue_id!r}")
    name = f"{datetime.now(UTC):%Y%m%d}/{queue_id}.eml"
    final = spool_path(name)
    chunks: Iterable[bytes] = (data,) if isinstance(data, bytes | bytearray) else data
    temp = final.parent / f".tmp-{queue_id}-{secrets.token_hex(4)}"
    try:
        _ensure_dir(final.parent)
        with open(temp, "xb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(temp, final)
        _fsync_dir(final.parent)
    except BaseException as exc:  # whatever failed, no partial file stays behind
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(exc, OSError):
            raise SpoolError(f"cannot write spool file {name}: {exc}") from exc
        raise
    return name


def spool_open(name: str) -> BinaryIO:
    try:
        return open(spool_path(name), "rb")  # the caller closes it
    except OSError as exc:
        raise SpoolError(f"cannot open spool file {name}: {exc}") from exc


def spool_read(name: str) -> bytes:
    with spool_open(name) as fh:
        return fh.read()


def spool_delete(name: str) -> None:
    """Remove a spool file; a file that is already gone is fine."""
    with contextlib.suppress(FileNotFoundError):
        spool_path(name).unlink()
