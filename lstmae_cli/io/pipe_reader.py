"""Read CSV arriving on a pipe in chunks that are handed on as soon as the producer pauses.

pandas' chunked reader fills a large byte buffer before it parses anything, so behind
`tail -f` it would wait for hundreds of kilobytes. Here a chunk ends when it holds
`chunk_rows` rows, when no new bytes arrive for IDLE_SECONDS, or when its oldest row has
waited MAX_WAIT_SECONDS; each chunk is parsed by pandas with the header line in front.
A quoted field with a newline inside is not supported on pipes (it is for files).
"""

from __future__ import annotations

import io
import os
import select
import time
from collections.abc import Iterator
from typing import BinaryIO

import pandas as pd

IDLE_SECONDS = 0.1
MAX_WAIT_SECONDS = 1.0
READ_BYTES = 1 << 16


def is_pipe(handle: BinaryIO) -> bool:
    """True for a pipe, socket or terminal; False for a regular file (redirected with <)."""
    import stat

    try:
        mode = os.fstat(handle.fileno()).st_mode
    except (OSError, ValueError, io.UnsupportedOperation):
        return False
    return not stat.S_ISREG(mode)


def _ready(handle: BinaryIO, timeout: float) -> bool:
    """Whether a read would return at once (True when that cannot be known)."""
    try:
        readable, _, _ = select.select([handle], [], [], timeout)
    except (OSError, ValueError, TypeError):
        return True
    return bool(readable)


class LineBatcher:
    """Collects complete lines from a byte stream into batches (see the module docstring)."""

    def __init__(self, handle: BinaryIO, chunk_rows: int) -> None:
        self.handle, self.chunk_rows = handle, chunk_rows
        self.tail = b""  # bytes after the last newline seen
        self.lines: list[bytes] = []
        self.oldest = 0.0  # when the first line of the current batch arrived

    def batches(self) -> Iterator[list[bytes]]:
        # read1 returns what Python has buffered, else blocks for one read of the pipe; after
        # it the buffer is empty, so select() on the descriptor tells whether more is waiting.
        # typeshed's BinaryIO has no read1; the handle is a buffered reader (sys.stdin.buffer)
        data = self.handle.read1(READ_BYTES)  # type: ignore[attr-defined]
        while data:
            self._add(data)
            while len(self.lines) >= self.chunk_rows:
                yield self._take(self.chunk_rows)
            waited = time.monotonic() - self.oldest
            if self.lines and (waited > MAX_WAIT_SECONDS or not _ready(self.handle, IDLE_SECONDS)):
                yield self._take(len(self.lines))
            data = self.handle.read1(READ_BYTES)  # type: ignore[attr-defined]
        if self.tail.strip():
            self.lines.append(self.tail)
        if self.lines:
            yield self._take(len(self.lines))

    def _add(self, data: bytes) -> None:
        pieces = (self.tail + data).split(b"\n")
        self.tail = pieces.pop()
        if pieces and not self.lines:
            self.oldest = time.monotonic()
        self.lines.extend(p for p in pieces if p.strip())

    def _take(self, n: int) -> list[bytes]:
        batch, self.lines = self.lines[:n], self.lines[n:]
        self.oldest = time.monotonic()
        return batch


def read_pipe_csv(
    handle: BinaryIO, chunk_rows: int, read_options: dict, header_line: bool = True
) -> Iterator[pd.DataFrame]:
    """Frames of at most `chunk_rows` rows from CSV text on a pipe, as soon as rows arrive.

    read_options: pandas.read_csv's (sep, decimal, ...); header_line False: the first line
    is data (read_options name the columns)."""
    header = handle.readline() if header_line else b""
    for lines in LineBatcher(handle, chunk_rows).batches():
        text = header + b"\n".join(lines) + b"\n"
        yield pd.read_csv(io.BytesIO(text), **read_options)
