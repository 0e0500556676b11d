"""Write result frames as CSV / JSONL / Parquet to stdout or a file, chunk by chunk.

Regular files are written to a temp file beside the target and renamed at the end, so a
failure or Ctrl-C never leaves a half-written output behind; FIFOs and devices are written
directly, frame by frame (outpath.py).
"""

from __future__ import annotations

import functools
import json
import re
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from queue import Queue
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import pandas as pd

from ..errors import LstmaeError, UsageError
from ..params import FORMATS
from .outpath import atomic_path

if TYPE_CHECKING:
    import pyarrow as pa

SIGNIFICANT_DIGITS = 6  # of the scores in CSV / JSONL output
# p_value stays exact: it is compared with an alpha (p_value <= 0.1), and is a count ratio
SCORE_COLUMNS = frozenset(("score", "threshold", "peak_score", "mean_score"))
EXACT_POWERS = 22  # 10.0 ** k is exact for k <= 22
QUEUED_FRAMES = 2  # frames computed ahead of a writer thread (write_frames' `behind`)
CSV_BATCH_ROWS = 8192  # rows Arrow formats at a time: 10-12 % faster than its 1,024
_END = object()  # the end of the frames handed to a writer thread


def significant(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """float64 values rounded to `digits` significant digits, so that they print short
    (4128014.5522781904 -> 4128010.0, a float32 0.12345679 -> 0.123457); NaN, inf and 0
    are kept."""
    x = np.asarray(values, dtype=np.float64)
    out = x.copy()
    finite = np.flatnonzero(np.isfinite(x) & (x != 0))
    if not finite.size:
        return out
    v = x[finite]
    shift = digits - 1 - np.floor(np.log10(np.abs(v))).astype(np.int64)  # (n,)
    rounded = np.empty_like(v)
    up = (shift >= 0) & (shift <= EXACT_POWERS)  # integer / exact power of ten: nearest double
    down = (shift < 0) & (shift >= -EXACT_POWERS)
    rounded[up] = np.round(v[up] * 10.0 ** shift[up]) / 10.0 ** shift[up]
    rounded[down] = np.round(v[down] / 10.0 ** -shift[down]) * 10.0 ** -shift[down]
    rest = ~(up | down)  # extremely small or large: rare, by text
    rounded[rest] = [float(f"{value:.{digits}g}") for value in v[rest]]
    out[finite] = rounded
    return out


def readable(frame: pd.DataFrame, exact: Collection[str] = ()) -> pd.DataFrame:
    """The score columns of an output frame (score, threshold, peak_score, mean_score,
    err_*) to SIGNIFICANT_DIGITS significant digits; the columns in `exact`
    (passed through from the input) and all others as they are."""
    columns = {
        c: significant(frame[c].to_numpy())
        for c in frame.columns
        if (c in SCORE_COLUMNS or str(c).startswith("err_"))
        and c not in exact
        and frame[c].dtype.kind == "f"
    }
    if not columns:
        return frame
    frame = frame.assign(**columns)
    frame.attrs["short_floats"] = list(columns)  # JSONL: written as shortest text (_jsonl)
    return frame


def write_frames(
    frames: Iterable[pd.DataFrame],
    fmt: str,
    output: str | None,
    exact: Collection[str] | None = None,
    behind: bool = False,
) -> int:
    """Write every frame; returns the number of rows written.

    exact: with CSV / JSONL, the frames are written `readable`, these columns as they are
    (None: every column as it is). behind: a second thread rounds and writes each frame
    while this one computes the next (for a process allowed more than one core;
    docs/speed.md, "Scoring on several cores").
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r} (choose from {', '.join(FORMATS)})")
    prepare = None
    if exact is not None and fmt != "parquet":
        prepare = functools.partial(readable, exact=exact)
    if output in (None, "-"):
        if fmt == "parquet":
            raise UsageError("--format parquet needs --output FILE (it cannot stream to stdout)")
        return _written(lambda given: _write_text(given, fmt, sys.stdout), frames, prepare, behind)
    with atomic_path(Path(output)) as tmp:
        if fmt == "parquet":
            return _written(lambda given: _write_parquet(given, tmp), frames, prepare, behind)
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            return _written(lambda given: _write_text(given, fmt, handle), frames, prepare, behind)


Prepare = Callable[[pd.DataFrame], pd.DataFrame]


def _written(
    write: Callable[[Iterable[pd.DataFrame]], int],
    frames: Iterable[pd.DataFrame],
    prepare: Prepare | None,
    behind: bool,
) -> int:
    """write(each frame, prepared), on a writer thread fed through a short queue when
    `behind`.

    The frames are computed here, on the calling thread, so that errors, Ctrl-C and
    progress stay where they were; an error of the writer is raised here too, after it
    stopped taking frames. At most QUEUED_FRAMES frames wait for the writer.
    """
    if not behind:
        return write(_prepared(frames, prepare))
    handoff: Queue = Queue(maxsize=QUEUED_FRAMES)
    outcome: dict[str, Any] = {}

    def writer() -> None:
        try:
            outcome["rows"] = write(_prepared(_until_end(handoff), prepare))
        except BaseException as error:  # noqa: BLE001 (raised again on the calling thread)
            outcome["error"] = error
            for _ in _until_end(handoff):  # take what comes, so the caller never blocks
                pass

    thread = threading.Thread(target=writer, name="lstmae-writer", daemon=True)
    thread.start()
    try:
        for frame in frames:
            if "error" in outcome:
                break
            handoff.put(frame)
    finally:
        handoff.put(_END)
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return int(outcome["rows"])


def _prepared(frames: Iterable[pd.DataFrame], prepare: Prepare | None) -> Iterable[pd.DataFrame]:
    return frames if prepare is None else map(prepare, frames)


def _until_end(handoff: Queue) -> Iterator[pd.DataFrame]:
    """The frames put in `handoff`, up to _END."""
    while (frame := handoff.get()) is not _END:
        yield frame


def _write_text(frames: Iterable[pd.DataFrame], fmt: str, handle: TextIO) -> int:
    rows, header = 0, True
    for frame in frames:
        if fmt == "csv":
            _write_csv(frame, header, handle)
        elif len(frame):
            text = _jsonl(frame)
            handle.write(text if text.endswith("\n") else text + "\n")
        header = False
        rows += len(frame)
        handle.flush()
    return rows


def _jsonl(frame: pd.DataFrame) -> str:
    """JSON lines; the columns `readable` rounded as their shortest text (8.15829, where
    pandas would write 8.158289999999999), the others as pandas writes them."""
    short = [c for c in frame.attrs.get("short_floats", ()) if c in frame.columns]
    if short:
        frame = frame.assign(**{c: _shortest_text(frame[c]) for c in short})
    text = frame.to_json(orient="records", lines=True, date_format="iso", double_precision=15)
    if not short:
        return text
    keys = "|".join(re.escape(json.dumps(str(c))) for c in short)
    return re.sub(f'([{{,])({keys}):"([^"]*)"', r"\1\2:\3", text)  # "score":"8.1" -> 8.1


def _shortest_text(column: pd.Series) -> pd.Series:
    """float64 -> the shortest text that reads back as the same number; NaN, inf -> None."""
    values = column.to_numpy(dtype=np.float64)
    text = values.astype(str).astype(object)
    text[~np.isfinite(values)] = None
    return pd.Series(text, index=column.index)


def _write_csv(frame: pd.DataFrame, header: bool, handle: TextIO) -> None:
    """pyarrow's C++ writer where the text comes out as pandas would write it, else pandas."""
    body = _arrow_csv(frame)
    if body is None:
        frame.to_csv(handle, index=False, header=header, lineterminator="\n")
        return
    text_header = ",".join(map(str, frame.columns)) + "\n" if header else ""
    binary = getattr(handle, "buffer", None)
    if binary is None:
        handle.write(text_header + bytes(body).decode("utf-8"))
        return
    handle.write(text_header)
    handle.flush()  # the header reaches the byte stream before the body
    binary.write(memoryview(body))  # Arrow's buffer as it is: no copy into a bytes object


def _arrow_csv(frame: pd.DataFrame) -> pa.Buffer | None:
    """The rows of `frame` as CSV bytes (an Arrow buffer), no header; None where pandas
    must write them.

    Arrow would quote every string and write booleans as true/false; here booleans become
    True/False and nothing is quoted. Only plain columns take this path (numbers, booleans
    without gaps, tz-naive times, text); a frame with any other column, or needing quotes
    (a delimiter, quote or line end in a value or a column name), or of one column only,
    is left to pandas.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    names = [str(c) for c in frame.columns]
    if len(names) < 2:  # pandas quotes a lone empty field so that the line is not blank
        return None
    if any(any(ch in name for ch in ',"\r\n') for name in names) or len(set(names)) < len(names):
        return None
    if not all(_plain(frame[column]) for column in frame.columns):
        return None
    try:
        columns = {
            name: _arrow_column(frame[c]) for name, c in zip(names, frame.columns, strict=True)
        }
        sink = pa.BufferOutputStream()
        options = pa_csv.WriteOptions(
            include_header=False, quoting_style="none", batch_size=CSV_BATCH_ROWS
        )
        pa_csv.write_csv(pa.table(columns), sink, options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return sink.getvalue()


def _plain(series: pd.Series) -> bool:
    """Whether Arrow writes this column as pandas does (after _arrow_column)."""
    kind = series.dtype.kind
    if kind in "fiu":
        return isinstance(series.dtype, np.dtype)  # not the nullable Int64 / Float64 kinds
    if kind == "b":
        return isinstance(series.dtype, np.dtype)  # numpy bool: never missing
    if kind == "M":
        return not isinstance(series.dtype, pd.DatetimeTZDtype)
    if isinstance(series.dtype, pd.StringDtype) or kind == "O":
        return pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
    return False


def _arrow_column(series: pd.Series):
    """One column for Arrow: booleans as True/False text, times in their coarsest unit."""
    import pyarrow as pa

    if series.dtype.kind == "b":  # pandas' text, taken from a two-word dictionary in C++
        flags = pa.array(series.to_numpy(bool).view(np.uint8))
        return pa.array(["False", "True"]).take(flags)
    return _coarsest_time_unit(pa.Array.from_pandas(series.reset_index(drop=True)))


def _coarsest_time_unit(column):
    """Timestamps in the coarsest unit that keeps them exact (whole seconds print as such)."""
    import pyarrow as pa

    if not pa.types.is_timestamp(column.type):
        return column
    for unit in ("s", "ms", "us"):
        try:
            return column.cast(pa.timestamp(unit), safe=True)
        except pa.ArrowInvalid:
            continue
    return column


def _write_parquet(frames: Iterable[pd.DataFrame], path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer, rows = None, 0
    # a Python file keeps its own position: Arrow's own file would lseek, which a FIFO refuses
    with open(path, "wb") as handle:
        sink = pa.PythonFile(handle, mode="w")
        try:
            for frame in frames:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(
                        sink, table.schema, use_dictionary=dictionary_columns(table.schema)
                    )
                writer.write_table(_cast(table, writer.schema, rows))
                rows += len(frame)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            pq.write_table(pa.table({}), sink)
    return rows


def dictionary_columns(schema) -> list[str]:
    """The columns Parquet should dictionary-encode: text only (ids, labels, passthrough
    notes), whose values repeat. Arrow's default encodes every column so, and for the
    scores, errors, row numbers and times, all distinct, that cost 97 ms against 15 ms per
    100,000 output rows and made the file larger (9.7 against 8.2 MB)."""
    import pyarrow as pa

    text = (pa.types.is_string, pa.types.is_large_string, pa.types.is_dictionary)
    return [field.name for field in schema if any(kind(field.type) for kind in text)]


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
