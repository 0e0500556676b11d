"""The single model file: tensors in safetensors, everything else as JSON in its metadata.

Loading parses a JSON header and raw tensor bytes only; nothing in the file is executed.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .errors import ArgumentError, BundleError
from .io.outpath import atomic_path

FORMAT_NAME = "lstmae-bundle"
FORMAT_VERSION = 1
META_KEY = "lstmae"


def save_bundle(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write tensors + meta to `path` (atomically where it is a regular file: outpath)."""
    from safetensors.torch import save

    path = Path(path)
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **meta}
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        # bytes, then one write: save_file renames a temp file of its own onto the path,
        # which would replace a FIFO or device given as the output
        data = save(tensors, metadata={META_KEY: json.dumps(header)})
        with open(tmp, "wb") as handle:
            handle.write(data)


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
        kind = _data_kind(path)
        if kind:
            raise ArgumentError(
                f"MODEL {path} looks like a {kind} data file, not a model (arguments swapped?)"
            ) from exc
        raise BundleError(f"{path}: not an lstmae model file ({_short(exc)})") from exc
    return tensors, _parse_meta(path, header)


def _data_kind(path: Path) -> str | None:
    """'Parquet' or 'CSV' when the file that failed to load as a model looks like data."""
    from .io.reading import DELIMITERS, PARQUET_MAGIC

    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    if head.startswith(PARQUET_MAGIC):
        return "Parquet"
    try:
        first_line = head.decode("utf-8").lstrip("\ufeff").splitlines()[0]
    except (UnicodeDecodeError, IndexError):
        return None
    text = "\0" not in first_line and first_line.isprintable()
    return "CSV" if text and any(d in first_line for d in DELIMITERS) else None


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
