"""Read CSV / Parquet / stdin into frames: delimiter and decimal-mark sniffing, chunks,
one-line errors."""

from __future__ import annotations

import bz2
import codecs
import datetime
import gzip
import io
import itertools
import lzma
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from ..errors import InputError, LstmaeWarning, UsageError

PARQUET_MAGIC = b"PAR1"
DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 64 * 1024
Opener = Callable[[BinaryIO], Any]  # a compressed stream -> a raw reader of its text
COMPRESSIONS: dict[bytes, tuple[str, Opener]] = {  # first bytes -> (name, opener)
    b"\x1f\x8b": ("gzip", lambda raw: gzip.GzipFile(fileobj=raw)),
    b"BZh": ("bzip2", bz2.BZ2File),
    b"\xfd7zXZ\x00": ("xz", lzma.LZMAFile),
}
SPREADSHEETS = {
    b"PK\x03\x04": "a zip archive (an Excel .xlsx workbook?)",
    b"\xd0\xcf\x11\xe0": "an Excel .xls workbook",
}
EXCEL_SEPARATOR = re.compile(rb"(?:\xef\xbb\xbf)?sep=([,;\t|])\r?\n")  # `sep=;`, a line
COMMA_DECIMAL = re.compile(r"[-+]?\d*,\d+(?:[eE][-+]?\d+)?")  # 3,14  -0,5  1,2e-3
POINT_DECIMAL = re.compile(r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?")  # 3.14  -0.5  1.2e-3
GROUPED = {  # thousands mark -> a number grouped by it: 1,234.5 12,345,678 / 1.234,5
    ",": re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"),
    ".": re.compile(r"[-+]?\d{1,3}(?:\.\d{3})+(?:,\d+)?"),
}
# read as missing besides pandas' own (NA, N/A, NULL, nan, ...): a dash, spreadsheet errors
MISSING_MARKS = ["-", "--", "?", "#VALUE!", "#DIV/0!", "#REF!", "#NUM!", "#NAME?", "#NULL!"]
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # Excel's "Unicode text"
# a date without its clock (16/12/2006, 2006-12-16) and a clock without its date (17:24:00)
DATE_ONLY = re.compile(r"\s*\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}\s*")
# a date that begins with day and month, or month and day: 05/01/2026, 5.1.26, 05-01-2026
DAY_MONTH_YEAR = r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}\b"
CLOCK_ONLY = re.compile(r"\s*\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s*[AaPp][Mm])?\s*")


@dataclass(frozen=True)
class Header:
    """How a CSV's first line is read: column names (the default), or data (`--no-header`),
    the columns then named `names` (`--names a,b,c`) or c0, c1, ..."""

    present: bool = True
    names: tuple[str, ...] | None = None

    @classmethod
    def from_options(cls, no_header: bool = False, names: str | None = None) -> Header:
        """--no-header / --names -> a Header; --names implies --no-header."""
        if names is None:
            return cls(present=not no_header)
        listed = tuple(n.strip() for n in names.split(","))
        if not all(listed):
            raise UsageError(f"--names {names!r}: an empty name")
        duplicated = sorted({n for n in listed if listed.count(n) > 1})
        if duplicated:
            raise UsageError(f"--names: duplicate name(s) {', '.join(duplicated)}")
        return cls(present=False, names=listed)

    def columns(self, head: bytes, sep: str, name: str) -> list[str] | None:
        """The column names of a headerless CSV whose first bytes are `head`; None: read
        them from its first line."""
        if self.present:
            return None
        fields = len(_first_fields(head, sep))
        if self.names is None:
            return [f"c{i}" for i in range(fields)]
        if len(self.names) != fields:
            raise InputError(f"{name}: --names gives {len(self.names)} names for {fields} columns")
        return list(self.names)


HEADER = Header()


def source_name(source: str | Path) -> str:
    return "<stdin>" if str(source) == "-" else str(source)


def stdin_is_terminal() -> bool:
    """Whether stdin is a terminal: reading it would wait for someone to type."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed
        return False


def _open_binary(source: str | Path) -> BinaryIO:
    if str(source) == "-":
        return sys.stdin.buffer
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a data file")
    return open(path, "rb")  # noqa: SIM115 - closed by the caller


def _peek(handle: BinaryIO, size: int = SNIFF_BYTES) -> bytes:
    if hasattr(handle, "peek"):
        return handle.peek(size)[:size]
    head = handle.read(size)
    handle.seek(0)
    return head


def sniff_delimiter(head: bytes) -> str:
    """The most frequent of `,` `;` tab `|` in the header line (`,` when none occurs)."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    first_line = text.splitlines()[0] if text else ""
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def sniff_encoding(head: bytes, name: str) -> str:
    """utf-8-sig; where the first bytes are not UTF-8 but read as Windows-1252 (a Western
    European export: `Temp \xb0C` for Temp °C), cp1252, with a warning. A byte that is no
    UTF-8 further on is still an error (_read_csv)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        return "utf-8-sig"  # neither: _read_csv names the first byte that is no UTF-8
    warnings.warn(
        LstmaeWarning(f"{name}: not UTF-8 text; read as Windows-1252 (Western European)"),
        stacklevel=3,
    )
    return "cp1252"


def _sample_fields(head: bytes, sep: str) -> list[str]:
    """The fields of the sniffed lines (quotes understood), stripped; a last line cut
    short left out."""
    import csv

    lines = head.decode("utf-8", errors="replace").splitlines()
    lines = lines[:-1] if len(lines) > 1 and not head.endswith(b"\n") else lines
    return [f.strip() for row in csv.reader(lines, delimiter=sep) for f in row]


def sniff_decimal(head: bytes, sep: str) -> str:
    """The decimal mark of the numbers in `head` (sniff_number_marks)."""
    return sniff_number_marks(head, sep)[0]


def sniff_number_marks(head: bytes, sep: str) -> tuple[str, str | None]:
    """(decimal mark, thousands mark or None) of the numbers in `head`, its fields parsed
    once. Decimal: `,` where a file not separated by commas writes its numbers with a
    decimal comma (as spreadsheets do in much of Europe: 3,14 or 1.234,5) and none with a
    point; else `.`. Thousands: the other mark, where a number shows it grouping thousands
    beyond doubt (1,234.5 from a formatted spreadsheet, 1.234,5, 12,345,678); None where
    none does (12,345 alone could be a decimal)."""
    fields = _sample_fields(head, sep)
    decimal = "."
    if sep != ",":
        comma = any(COMMA_DECIMAL.fullmatch(f) or _grouped(f, ".", ",") for f in fields)
        point = any(POINT_DECIMAL.fullmatch(f) for f in fields)
        decimal = "," if comma and not point else "."
    mark = "," if decimal == "." else "."
    return decimal, mark if any(_grouped(f, mark, decimal) for f in fields) else None


def _grouped(field: str, mark: str, decimal: str) -> bool:
    """Whether `field` is a number whose thousands are grouped by `mark`, beyond doubt."""
    return bool(GROUPED[mark].fullmatch(field)) and (decimal in field or field.count(mark) > 1)


def read_frames(
    source: str | Path, chunk_rows: int | None = None, header: Header = HEADER
) -> Iterator[pd.DataFrame]:
    """Yield the table in `source` (a path or "-") as frames of at most `chunk_rows` rows."""
    name = source_name(source)
    handle = _open_binary(source)
    try:
        handle, head = _decompressed(handle, _peek(handle), name)
        handle, head = _utf8_of_utf16(handle, head, name)
        if not head.strip():
            raise InputError(f"{name}: file is empty")
        if head.startswith(PARQUET_MAGIC):
            if not header.present:
                raise UsageError(f"{name}: Parquet names its columns; --no-header is for CSV")
            frames = _read_parquet(handle, name, chunk_rows)
        else:
            _refuse_binary(head, name)
            directive = EXCEL_SEPARATOR.match(head)
            if directive:  # Excel's first line `sep=;` names the delimiter
                handle.readline()
                head, sep = head[directive.end() :], directive.group(1).decode()
            else:
                sep = sniff_delimiter(head)
            names = header.columns(head, sep, name)
            if names is None:
                _refuse_numeric_header(head, sep, name)
                _refuse_duplicate_names(head, sep, name)
            encoding = sniff_encoding(head, name)
            decimal, thousands = sniff_number_marks(head, sep)
            options = {"sep": sep, "decimal": decimal, "thousands": thousands}
            options |= {"encoding": encoding, "na_values": MISSING_MARKS}
            frames = _read_csv(handle, name, options, chunk_rows, source, names)
        yield from _numbered(frames, name)
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def _numbered(frames: Iterator[pd.DataFrame], name: str) -> Iterator[pd.DataFrame]:
    """Skip empty chunks and index every row by its 0-based row number in the file."""
    rows = 0
    for frame in frames:
        if len(frame):
            frame.index = pd.RangeIndex(rows, rows + len(frame))
            rows += len(frame)
            yield frame
    if rows == 0:
        raise InputError(f"{name}: no data rows (only a header?)")


def _decompressed(handle: BinaryIO, head: bytes, name: str) -> tuple[BinaryIO, bytes]:
    """(handle, head) of the text inside a gzip, bzip2 or xz stream (a rotated log,
    `data.csv.gz`), recognised by its first bytes; others as they are."""
    for magic, (kind, opener) in COMPRESSIONS.items():
        if head.startswith(magic):
            stream = io.BufferedReader(opener(handle), SNIFF_BYTES)
            try:
                return stream, _peek(stream)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise InputError(f"{name}: a damaged {kind} file: {_first_line(exc)}") from exc
    return handle, head


def _utf8_of_utf16(handle: BinaryIO, head: bytes, name: str) -> tuple[BinaryIO, bytes]:
    """(handle, head) of a UTF-16 text (Excel's "Unicode text", with its byte-order mark)
    as UTF-8, read whole; others as they are."""
    if not head.startswith(UTF16_BOMS):
        return handle, head
    try:
        text = handle.read().decode("utf-16")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-16 text after its byte-order mark") from exc
    if handle is not sys.stdin.buffer:
        handle.close()
    data = io.BytesIO(text.encode("utf-8"))
    return data, _peek(data)


def _refuse_binary(head: bytes, name: str) -> None:
    """Text files have no NUL bytes and few control characters; name the spreadsheets."""
    for magic, what in SPREADSHEETS.items():
        if head.startswith(magic):
            raise InputError(f"{name}: {what}, not a CSV or Parquet file; save the sheet as CSV")
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        raise InputError(f"{name}: JSON, not a CSV or Parquet file; convert it to CSV")
    control = sum(b < 32 and b not in (9, 10, 13) for b in head[:4096])
    if b"\0" in head or control > len(head[:4096]) // 20:
        raise InputError(f"{name}: binary data, not a CSV or Parquet file")


def _first_fields(head: bytes, sep: str) -> list[str]:
    """The fields of the first line, stripped."""
    import csv

    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    return [c.strip() for c in next(csv.reader(text.splitlines()[:1], delimiter=sep), [])]


def _refuse_numeric_header(head: bytes, sep: str, name: str) -> None:
    """A header line of numbers only is the first data row of a file without a header."""
    fields = _first_fields(head, sep)
    numbers = pd.to_numeric(pd.Series(fields, dtype=object), errors="coerce").notna()
    if not fields or not all(fields) or not numbers.any():
        return
    others = [f for f, number in zip(fields, numbers, strict=True) if not number]
    if not others or looks_like_dates(pd.Series(others, dtype=object)):  # a time, numbers
        raise InputError(
            f"{name}: the first line looks like data, not column names: "
            "use --no-header (columns c0, c1, ...) or --names a,b,c"
        )


def looks_like_dates(sample: pd.Series) -> bool:
    """Text that parses as dates, or date objects (a Parquet date32 column reads as them)."""
    if not sample.empty and all(isinstance(v, datetime.date) for v in sample):
        return True
    if sample.empty or not all(isinstance(v, str) for v in sample):
        return False
    dated = [any(ch in v for ch in "-:/") or re.match(DAY_MONTH_YEAR, v) for v in sample]
    if not all(dated) or not all(any(ch.isdigit() for ch in v) for v in sample):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def _refuse_duplicate_names(head: bytes, sep: str, name: str) -> None:
    """Two columns with one name would be told apart by position only: refuse them."""
    names = _first_fields(head, sep)
    duplicated = sorted({c for c in names if names.count(c) > 1})
    if duplicated:
        raise InputError(f"{name}: duplicate column name(s) {', '.join(map(repr, duplicated))}")


def read_frame(source: str | Path, header: Header = HEADER) -> pd.DataFrame:
    """The whole table in `source` as one frame."""
    frames = list(read_frames(source, header=header))
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _read_csv(
    handle: BinaryIO,
    name: str,
    dialect: dict,
    chunk_rows: int | None,
    source: str | Path = "-",
    names: list[str] | None = None,
) -> Iterator[pd.DataFrame]:
    """dialect: the sniffed `sep`, `decimal` and `encoding`; names: the columns of a file
    without a header line, None: its first line names them."""
    from .pipe_reader import is_pipe, read_pipe_csv

    options = dialect | {"low_memory": False}
    if names is not None:
        options |= {"header": None, "names": names}
    chunks: Iterable[pd.DataFrame]
    try:
        if chunk_rows is not None and is_pipe(handle):  # rows go on as soon as they arrive
            chunks = read_pipe_csv(handle, chunk_rows, options, names is None)
        else:
            reader = pd.read_csv(handle, chunksize=chunk_rows, **options)
            chunks = [reader] if chunk_rows is None else reader
        for chunk in chunks:
            yield join_date_and_time(_check_header(chunk, name))
    except UnicodeDecodeError as exc:
        where = _first_bad_utf8(source)
        raise InputError(f"{name}: {where}not UTF-8 text; save it as UTF-8") from exc
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{name}: no columns to read (empty file?)") from exc
    except pd.errors.ParserError as exc:
        raise InputError(f"{name}: cannot parse as CSV: {_first_line(exc)}") from exc
    except (EOFError, lzma.LZMAError, gzip.BadGzipFile) as exc:  # a compressed file cut short
        raise InputError(f"{name}: cannot decompress: {_first_line(exc)}") from exc


def _read_parquet(handle: BinaryIO, name: str, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if handle is sys.stdin.buffer:
        handle = io.BytesIO(handle.read())
    try:
        parquet = pq.ParquetFile(handle)
        for batch in parquet.iter_batches(batch_size=chunk_rows or 1 << 20):
            yield join_date_and_time(_check_header(batch.to_pandas(), name))
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{name}: cannot read as Parquet: {_first_line(exc)}") from exc


def join_date_and_time(frame: pd.DataFrame) -> pd.DataFrame:
    """A text column of dates followed by one of clock times (`Date;Time`, as data loggers
    and spreadsheets write them): the date column holds both (`16/12/2006 17:24:00`), so
    that it is the time column and the times have their clock. The clock column stays."""
    columns = list(frame.columns)
    for date, clock in itertools.pairwise(columns):
        if all_match(frame[date], DATE_ONLY) and all_match(frame[clock], CLOCK_ONLY):
            frame[date] = frame[date].str.strip() + " " + frame[clock].str.strip()
            break
    return frame


def all_match(column: pd.Series, pattern: re.Pattern) -> bool:
    """Text whose every value (at least one) is `pattern`, whole."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
        return False
    values = column.dropna()
    if values.empty or not isinstance(values.iloc[0], str) or not pattern.fullmatch(values.iloc[0]):
        return False
    return bool(values.astype(str).str.fullmatch(pattern).all())


def _check_header(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    frame.columns = [str(c).strip() for c in frame.columns]
    duplicated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if duplicated:
        raise InputError(f"{name}: duplicate column name(s): {', '.join(duplicated)}")
    return frame


def _first_bad_utf8(source: str | Path) -> str:
    """'line N, byte B: ' of the first line that is not UTF-8 ('' for stdin)."""
    if str(source) == "-":
        return ""
    with open(source, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {number}, byte {exc.start + 1} (0x{line[exc.start]:02x}): "
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
