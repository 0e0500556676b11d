"""The CSV writer: pyarrow's fast path writes what pandas would, and falls back to pandas."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from lstmae_cli.io.output import _arrow_csv, write_frames


def written(frame: pd.DataFrame, tmp_path, name: str = "out.csv") -> str:
    path = tmp_path / name
    write_frames([frame], "csv", str(path))
    return path.read_text()


def scored_frame(rows: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-01-01", periods=rows, freq="s"),
            "row": np.arange(rows),
            "score": rng.random(rows) * 100,
            "is_anomaly": rng.random(rows) > 0.5,
            "err_f0": rng.random(rows).astype(np.float32),
            "out_of_range": pd.Series([None] * (rows - 1) + ["f0"], dtype="str"),
        }
    )


def test_fast_path_reads_back_as_pandas_output(tmp_path):
    frame = scored_frame()
    assert _arrow_csv(frame) is not None  # this frame takes the fast path
    ours = pd.read_csv(io.StringIO(written(frame, tmp_path)))
    reference = pd.read_csv(io.StringIO(frame.to_csv(index=False)))
    pd.testing.assert_frame_equal(ours, reference)


def test_fast_path_text_keeps_pandas_spelling(tmp_path):
    text = written(scored_frame(3), tmp_path).splitlines()
    assert text[0] == "timestamp,row,score,is_anomaly,err_f0,out_of_range"
    assert text[1].startswith("2026-01-01 00:00:00,0,")  # whole seconds, no fraction
    assert {line.split(",")[3] for line in text[1:]} <= {"True", "False"}
    assert text[3].endswith(",f0")


def test_sub_second_times_are_exact(tmp_path):
    times = ["2026-01-01 00:00:00.250", "2026-01-01 00:00:01"]
    frame = pd.DataFrame({"t": pd.to_datetime(times, format="ISO8601")})
    text = written(frame, tmp_path)
    assert text.splitlines()[1:] == ["2026-01-01 00:00:00.250", "2026-01-01 00:00:01.000"]
    back = pd.read_csv(io.StringIO(text), parse_dates=["t"])
    assert list(back["t"]) == list(frame["t"])


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"features": ["f0,f1", "f2"], "x": [1.0, 2.0]}),  # a delimiter in a value
        pd.DataFrame({'say "hi"': [1, 2]}),  # a quote in a column name
        pd.DataFrame({"t": pd.date_range("2026-01-01", periods=2, freq="s", tz="Europe/Paris")}),
        pd.DataFrame({"kept": pd.Series(["a", 1], dtype=object), "x": [1.0, 2.0]}),  # mixed
        pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "x": [1.0, 2.0]}),  # nullable
        pd.DataFrame({"b": pd.array([True, None], dtype="boolean"), "x": [1.0, 2.0]}),
        pd.DataFrame({"d": pd.to_timedelta([1, 2], unit="s"), "x": [1.0, 2.0]}),
        pd.DataFrame({"s": pd.Series(["a", None], dtype="str")}),  # one column: "" kept
    ],
)
def test_frames_needing_quotes_or_offsets_are_written_by_pandas(frame, tmp_path):
    assert _arrow_csv(frame) is None
    assert written(frame, tmp_path) == frame.to_csv(index=False, lineterminator="\n")


def test_chunks_write_one_header_and_every_row(tmp_path):
    path = tmp_path / "out.csv"
    frames = [scored_frame(10), scored_frame(10).assign(row=lambda f: f["row"] + 10)]
    assert write_frames(frames, "csv", str(path)) == 20
    back = pd.read_csv(path)
    assert list(back["row"]) == list(range(20))


def test_text_handle_without_byte_buffer():
    handle = io.StringIO()
    from lstmae_cli.io.output import _write_csv

    _write_csv(scored_frame(4), True, handle)
    back = pd.read_csv(io.StringIO(handle.getvalue()))
    assert len(back) == 4 and list(back.columns)[0] == "timestamp"


# ------------------------------------------------------------ written behind (a thread)
def frames_of(count: int, rows: int = 10):
    for k in range(count):
        yield scored_frame(rows).assign(row=lambda f, k=k: f["row"] + k * rows)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_writing_behind_gives_the_same_file(fmt, tmp_path):
    a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    assert write_frames(frames_of(7), fmt, str(a), exact=()) == 70
    assert write_frames(frames_of(7), fmt, str(b), exact=(), behind=True) == 70
    assert a.read_bytes() == b.read_bytes()


def test_exact_columns_are_written_as_they_are(tmp_path):
    frame = pd.DataFrame({"score": [0.123456789], "value": [0.123456789]})
    path = tmp_path / "out.csv"
    write_frames([frame], "csv", str(path), exact=("value",))
    assert path.read_text().splitlines()[1] == "0.123457,0.123456789"


def test_an_error_computing_frames_stops_the_writer_and_leaves_no_file(tmp_path):
    path = tmp_path / "out.csv"

    def failing():
        yield from frames_of(3)
        raise ValueError("bad chunk")

    with pytest.raises(ValueError, match="bad chunk"):
        write_frames(failing(), "csv", str(path), behind=True)
    assert list(tmp_path.iterdir()) == []


def test_an_error_writing_is_raised_on_the_calling_thread(monkeypatch, tmp_path):
    """The writer fails on its second frame; the caller, with many frames left, neither
    blocks nor goes on computing them all, and sees the writer's error."""
    import lstmae_cli.io.output as output

    computed = []
    write_csv = output._write_csv

    def fail_second(frame, header, handle):
        if not header:
            raise OSError(28, "No space left on device")
        write_csv(frame, header, handle)

    def counted():
        for frame in frames_of(200):
            computed.append(frame)
            yield frame

    monkeypatch.setattr(output, "_write_csv", fail_second)
    with pytest.raises(OSError, match="No space left"):
        write_frames(counted(), "csv", str(tmp_path / "out.csv"), behind=True)
    assert len(computed) < 200
    assert list(tmp_path.iterdir()) == []


def test_parquet_dictionary_encodes_text_columns_only(tmp_path):
    """Scores, errors, rows and times are all distinct: no dictionary for them (slower and
    larger); text that repeats (an id, a passthrough note) keeps one."""
    import pyarrow.parquet as pq

    from lstmae_cli.io.output import dictionary_columns

    rows = 5000
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-01-01", periods=rows, freq="s"),
            "machine": np.where(np.arange(rows) % 2, "pump-a", "pump-b"),
            "row": np.arange(rows),
            "score": np.random.default_rng(0).random(rows),
            "is_anomaly": np.arange(rows) % 7 == 0,
        }
    )
    out = tmp_path / "scores.parquet"
    write_frames([frame.iloc[:2000], frame.iloc[2000:]], "parquet", str(out))
    assert pd.read_parquet(out).equals(frame)
    meta = pq.ParquetFile(out).metadata
    encodings = {
        meta.schema.column(i).name: meta.row_group(0).column(i).encodings
        for i in range(meta.num_columns)
    }
    dictionary = {name for name, kinds in encodings.items() if "RLE_DICTIONARY" in kinds}
    assert dictionary == {"machine"}
    assert dictionary_columns(pq.read_schema(out)) == ["machine"]
