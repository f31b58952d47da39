"""The DATA stream: CRLF-normalised, dot-stuffed, NUL-free, streamed in chunks.

Why (corpus section 2, OUT-1/OUT-2; RFC 5321 §2.3.8 and §4.1.1.4): a stored message may hold
bare CR or bare LF (SMTP smuggling: `\\n.\\n`, `\\r.\\r`, ...). A peer that takes either for a
line end would see an early end of data and run the rest as commands. So:

* every bare CR, bare LF and CRLF becomes CRLF (a bare CR is a line break too: SM-3);
* NUL bytes are stripped: RFC 5321 §4.5.2 / RFC 5322 §3.5 / RFC 6152 §3 allow no NUL in
  text or 8BITMIME data (only BINARYMIME, which we never use), and stripping cannot create a
  line break; stripping happens first, so `\\r\\n\\x00.\\r\\n` (SM-7) becomes a stuffed dot line;
* a '.' at the start of every line is doubled (RFC 5321 §4.5.2 transparency);
* the data ends with CRLF, so the terminator is always CRLF "." CRLF.

Long lines are not rewrapped (§4.5.3.1.6 is the peer's to enforce; rewrapping breaks DKIM).
Memory is bounded by the chunk size, whatever the message size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 64 * 1024
TERMINATOR = b".\r\n"  # sent after data that already ends in CRLF


class Normaliser:
    """Feed raw chunks, get wire-ready chunks; state carries across chunk boundaries."""

    def __init__(self) -> None:
        self._held_cr = False  # a trailing CR may be the first half of a CRLF
        self._line_start = True

    def feed(self, chunk: bytes) -> bytes:
        chunk = chunk.replace(b"\x00", b"")
        if self._held_cr:
            chunk = b"\r" + chunk
            self._held_cr = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            self._held_cr = True
        if not chunk:
            return b""
        out = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
        out = out.replace(b"\r\n.", b"\r\n..")
        if self._line_start and out.startswith(b"."):
            out = b"." + out
        self._line_start = out.endswith(b"\r\n")
        return out

    def finish(self) -> bytes:
        """The bytes that close the data: a held CR, or a missing final CRLF."""
        if self._held_cr or not self._line_start:
            self._held_cr = False
            self._line_start = True
            return b"\r\n"
        return b""


def wire_chunks(prepend: bytes, stream: BinaryIO, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """The DATA payload (without the final '.' line) in wire form."""
    normaliser = Normaliser()
    if prepend:
        yield normaliser.feed(prepend)
    while block := stream.read(chunk_size):
        out = normaliser.feed(block)
        if out:
            yield out
    yield normaliser.finish()


@dataclass(frozen=True, slots=True)
class DataInfo:
    size: int  # exact octets of the wire form, for SIZE= (RFC 1870 §3)
    eight_bit: bool  # any octet above 127: BODY=8BITMIME when offered (RFC 6152)


def measure(prepend: bytes, open_data: Callable[[], BinaryIO]) -> DataInfo:
    """One streaming pass over the message to learn its wire size and whether it is 8-bit."""
    size = 0
    eight_bit = False
    with open_data() as stream:
        for out in wire_chunks(prepend, stream):
            size += len(out)
            eight_bit = eight_bit or not out.isascii()
    return DataInfo(size, eight_bit)
