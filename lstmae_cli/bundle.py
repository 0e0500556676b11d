"""The single model file: tensors in safetensors, everything else as JSON in its metadata.

Loading parses a JSON header and raw tensor bytes only; nothing in the file is executed.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import torch

from .errors import BundleError, LstmaeError

FORMAT_NAME = "lstmae-bundle"
FORMAT_VERSION = 1
META_KEY = "lstmae"
TEMP_NAME_TRIES = 100  # as tempfile.mkstemp


def save_bundle(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write tensors + meta to `path` atomically (temp file in the same folder, then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **meta}
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(header)})


def load_bundle(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a bundle -> (tensors, meta); a file that is not one raises BundleError."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own and OS errors for bad files
        raise BundleError(f"{path}: not an lstmae model file ({_short(exc)})") from exc
    return tensors, _parse_meta(path, header)


def _parse_meta(path: Path, header: dict) -> dict:
    if META_KEY not in header:
        raise BundleError(f"{path}: a safetensors file, but not an lstmae model (no metadata)")
    try:
        meta = json.loads(header[META_KEY])
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: model metadata is not valid JSON") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise BundleError(f"{path}: metadata is not an lstmae bundle header")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BundleError(
            f"{path}: bundle format version {version} is newer than this lstmae reads "
            f"({FORMAT_VERSION}); upgrade lstmae"
        )
    return meta


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output_path(path: Path) -> Path:
    """The folder `path` will be written in; LstmaeError when it cannot hold a new file."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise LstmaeError(f"{path}: folder {folder} does not exist")
    if path.is_dir():
        raise LstmaeError(f"{path}: is a directory; give a file name")
    return folder


class atomic_path:  # noqa: N801 - used like a function: `with atomic_path(p) as tmp:`
    """A temp path beside `path`; renamed onto `path` on success, removed on any failure."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __enter__(self) -> Path:
        folder = check_output_path(self.path)
        for _ in range(TEMP_NAME_TRIES):
            # the name is recorded before the file exists, so a Ctrl-C at any point after
            # the file is created finds it to remove (mkstemp returns it only afterwards)
            self.tmp = folder / f".{self.path.name}.{secrets.token_hex(8)}.tmp"
            try:
                os.close(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                return self.tmp
            except FileExistsError:
                continue
            except OSError as exc:
                raise LstmaeError(f"{self.path}: cannot write here ({exc.strerror})") from exc
            except BaseException:  # Ctrl-C included: leave no temp file behind
                self.tmp.unlink(missing_ok=True)
                raise
        raise LstmaeError(f"{self.path}: cannot make a temp file beside it (all names taken)")

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                try:
                    os.chmod(self.tmp, 0o666 & ~_current_umask())  # not mkstemp's 0600
                    os.replace(self.tmp, self.path)
                except OSError as error:
                    raise LstmaeError(f"{self.path}: cannot write ({error.strerror})") from error
        finally:  # on any failure, Ctrl-C during the rename included; gone after a rename
            self.tmp.unlink(missing_ok=True)
        return False
