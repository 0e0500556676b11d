"""Where an output goes, by what stands at the path the user gave.

- nothing, or a regular file: a temp file beside it, renamed onto it on success and removed
  on any failure (Ctrl-C included), so a failed write never leaves half a file;
- a symlink: the same, at the link's final target; the link itself stays;
- a character or block device (/dev/null), a FIFO, or an existing path under /dev or
  /proc (/dev/stdout, /dev/fd/N): written directly, as the data comes; never renamed over,
  truncated only as opening for writing does, never removed;
- a Unix socket: written to a temp file, then sent to whoever listens on it; never replaced;
- a directory: a one-line error.
"""

from __future__ import annotations

import os
import secrets
import socket
import stat
import tempfile
from pathlib import Path
from typing import Literal

from ..errors import LstmaeError

TEMP_NAME_TRIES = 100  # as tempfile.mkstemp
DIRECT_ROOTS = ("/dev/", "/proc/")  # paths that name devices or descriptors, never plain files


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def output_kind(path: Path) -> tuple[str, Path]:
    """("file" | "direct" | "socket", the path to write) for an output path.

    "file" paths are written through a temp file and a rename; the path returned is the
    symlink's final target when `path` is a link. LstmaeError for a directory or a path
    that cannot be looked at.
    """
    try:
        mode = os.stat(path).st_mode  # follows links
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise LstmaeError(f"{path}: cannot write here ({exc.strerror})") from exc
    if mode is not None and stat.S_ISDIR(mode):
        raise LstmaeError(f"{path}: is a directory; give a file name")
    if mode is not None and stat.S_ISSOCK(mode):
        return "socket", path
    if mode is not None and (not stat.S_ISREG(mode) or str(path).startswith(DIRECT_ROOTS)):
        return "direct", path
    return "file", Path(os.path.realpath(path)) if path.is_symlink() else path


def check_output_path(path: Path) -> Path:
    """The folder a temp file for `path` goes in; LstmaeError when it cannot hold one."""
    kind, target = output_kind(path)
    if kind != "file":
        return target.parent
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise LstmaeError(f"{path}: folder {folder} does not exist")
    return folder


class atomic_path:  # noqa: N801 - used like a function: `with atomic_path(p) as tmp:`
    """The path to write `path`'s new content to; see the module docstring for each kind."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        self.kind, self.target = output_kind(self.path)
        if self.kind == "direct":
            return self.target
        # a socket's output is gathered in the temp folder, a file's beside its target
        socket_tmp = Path(tempfile.gettempdir())
        folder = socket_tmp if self.kind == "socket" else check_output_path(self.path)
        for _ in range(TEMP_NAME_TRIES):
            # the name is recorded before the file exists, so a Ctrl-C at any point after
            # the file is created finds it to remove (mkstemp returns it only afterwards)
            self.tmp = folder / f".{self.target.name}.{secrets.token_hex(8)}.tmp"
            try:
                os.close(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                return self.tmp
            except FileExistsError:
                continue
            except OSError as exc:
                self.tmp = None
                raise LstmaeError(f"{self.path}: cannot write here ({exc.strerror})") from exc
            except BaseException:  # Ctrl-C included: leave no temp file behind
                self.tmp.unlink(missing_ok=True)
                raise
        raise LstmaeError(f"{self.path}: cannot make a temp file beside it (all names taken)")

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        if self.tmp is None:  # written directly: nothing to rename or remove
            return False
        try:
            if exc_type is None:
                self._finish()
        finally:  # on any failure, Ctrl-C during the rename included; gone after a rename
            self.tmp.unlink(missing_ok=True)
        return False

    def _finish(self) -> None:
        assert self.tmp is not None
        try:
            if self.kind == "socket":
                _send_to_socket(self.tmp, self.target)
                return
            os.chmod(self.tmp, 0o666 & ~_current_umask())  # not mkstemp's 0600
            os.replace(self.tmp, self.target)
        except OSError as error:
            raise LstmaeError(f"{self.path}: cannot write ({error.strerror})") from error


def _send_to_socket(source: Path, address: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock, open(source, "rb") as data:
        sock.connect(str(address))
        sock.sendfile(data)
