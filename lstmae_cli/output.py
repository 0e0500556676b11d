"""Write result frames as CSV / JSONL / Parquet to stdout or a file, chunk by chunk.

Files are written to a temp file beside the target and renamed at the end, so a failure
or Ctrl-C never leaves a half-written output behind.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import pandas as pd

from .bundle import atomic_path
from .errors import LstmaeError, UsageError

FORMATS = ("csv", "jsonl", "parquet")


def write_frames(frames: Iterable[pd.DataFrame], fmt: str, output: str | None) -> int:
    """Write every frame; returns the number of rows written."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r} (choose from {', '.join(FORMATS)})")
    if output in (None, "-"):
        if fmt == "parquet":
            raise UsageError("--format parquet needs --output FILE (it cannot stream to stdout)")
        return _write_text(frames, fmt, sys.stdout)
    with atomic_path(Path(output)) as tmp:
        if fmt == "parquet":
            return _write_parquet(frames, tmp)
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            return _write_text(frames, fmt, handle)


def _write_text(frames: Iterable[pd.DataFrame], fmt: str, handle: TextIO) -> int:
    rows, header = 0, True
    for frame in frames:
        if fmt == "csv":
            frame.to_csv(handle, index=False, header=header, lineterminator="\n")
        elif len(frame):
            text = frame.to_json(
                orient="records", lines=True, date_format="iso", double_precision=15
            )
            handle.write(text if text.endswith("\n") else text + "\n")
        header = False
        rows += len(frame)
        handle.flush()
    return rows


def _write_parquet(frames: Iterable[pd.DataFrame], path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer, rows = None, 0
    try:
        for frame in frames:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(str(path), table.schema)
            writer.write_table(_cast(table, writer.schema, rows))
            rows += len(frame)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        pq.write_table(pa.table({}), str(path))
    return rows


def _cast(table, schema, first_row: int):
    """`table` in the file's schema; a column whose type changed is a clear error."""
    import pyarrow as pa

    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        for field in schema:
            column = table.schema.field(field.name) if field.name in table.schema.names else None
            if column is not None and column.type != field.type:
                raise LstmaeError(
                    f"column '{field.name}' is {field.type} in the first {first_row} output "
                    f"rows, then {column.type}; Parquet keeps one type per column: use "
                    "--format csv or jsonl, or a larger --chunk-rows"
                ) from exc
        raise LstmaeError(f"cannot write Parquet: {exc}") from exc
