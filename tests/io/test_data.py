"""Reading CSV / Parquet / stdin, delimiter sniffing, column roles, numeric checks."""

from __future__ import annotations

import io
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from lstmae_cli.errors import InputError, LstmaeWarning
from lstmae_cli.io.data import (
    MissingFiller,
    detect_time_column,
    feature_matrix,
    parse_times,
    resolve_roles,
    split_series,
)
from lstmae_cli.io.reading import read_frame, read_frames, sniff_decimal, sniff_delimiter


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiters_are_detected(tmp_path, sep):
    path = tmp_path / "d.csv"
    path.write_text(
        sep.join(["time", "a", "b"]) + "\n" + sep.join(["2026-01-01", "1.5", "2"]) + "\n"
    )
    frame = read_frame(path)
    assert list(frame.columns) == ["time", "a", "b"]
    assert frame["a"].iloc[0] == 1.5


@pytest.mark.parametrize(
    ("head", "sep", "decimal"),
    [
        (b"t;a;b\n2026-01-01 00:00:00;3,14;-0,5\n", ";", ","),
        (b"t\ta\n1\t1,2e-3\n2\t7\n", "\t", ","),
        (b"t;a;b\n1;3.14;-0.5\n", ";", "."),
        (b"t;a;b\n1;3,14;2.5\n", ";", "."),  # both marks: not a decimal-comma file
        (b"t;a\n1;2\n", ";", "."),  # integers only
        (b't,a\n1,"3,14"\n', ",", "."),  # a comma-separated file keeps the point
    ],
)
def test_decimal_mark_is_sniffed(head, sep, decimal):
    assert sniff_decimal(head, sep) == decimal


@pytest.mark.parametrize("chunk_rows", [None, 2])
def test_decimal_commas_read_as_the_same_numbers(tmp_path, chunk_rows):
    point, comma = tmp_path / "point.csv", tmp_path / "comma.csv"
    rows = ["time;a;b", "2026-01-01 00:00:00;1.5;-0.25", "2026-01-01 00:00:01;2;1e-3"]
    rows += ["2026-01-01 00:00:02;-.5;3.75"]
    point.write_text("\n".join(rows) + "\n")
    comma.write_text("\n".join(r.replace(".", ",") for r in rows) + "\n")
    expected = pd.concat(read_frames(point, chunk_rows))
    got = pd.concat(read_frames(comma, chunk_rows))
    pd.testing.assert_frame_equal(got, expected)
    assert got["a"].tolist() == [1.5, 2.0, -0.5]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('time,power\n1,"1,234.5"\n2,"-12,345,678"\n3,7\n', [1234.5, -12345678.0, 7.0]),
        ("time;power\n1;1.234,5\n2;12,25\n3;7\n", [1234.5, 12.25, 7.0]),
        ("time\tpower\n1\t1,234.5\n2\t3.5\n", [1234.5, 3.5]),
        ('time,power\n1,"12,345"\n2,"3,5"\n', ["12,345", "3,5"]),  # a decimal comma?
    ],
)
@pytest.mark.parametrize("chunk_rows", [None, 1])
def test_thousands_marks_are_read_where_a_number_shows_them(tmp_path, text, expected, chunk_rows):
    """A formatted spreadsheet's 1,234.5 (or 1.234,5) is a number, not a text column left
    out of the features; where the mark could be a decimal comma, the text stays."""
    path = tmp_path / "formatted.csv"
    path.write_text(text)
    assert pd.concat(read_frames(path, chunk_rows))["power"].tolist() == expected


def test_dashes_and_spreadsheet_errors_are_missing_values(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("time,a\n1,0.5\n2,-\n3,?\n4,#DIV/0!\n5,--\n6,-2\n")
    values = read_frame(path)["a"]
    assert values.dtype == np.float64
    assert values.isna().tolist() == [False, True, True, True, True, False]


@pytest.mark.parametrize("chunk_rows", [None, 100])
def test_a_utf16_export_reads_as_the_utf8_one(tmp_path, small_frame, chunk_rows):
    """Excel's "Unicode text": tab-separated UTF-16 with a byte-order mark."""
    small_frame.to_csv(tmp_path / "unicode.txt", sep="\t", index=False, encoding="utf-16")
    small_frame.to_csv(tmp_path / "plain.csv", sep="\t", index=False)
    expected = pd.concat(read_frames(tmp_path / "plain.csv", chunk_rows))
    got = pd.concat(read_frames(tmp_path / "unicode.txt", chunk_rows))
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("text", ['{"time": 1, "a": 2}\n{"time": 2, "a": 3}\n', '[{"a": 1}]'])
def test_json_is_named(tmp_path, text):
    path = tmp_path / "data.jsonl"
    path.write_text(text)
    with pytest.raises(InputError, match="data.jsonl: JSON, not a CSV or Parquet file"):
        read_frame(path)


@pytest.mark.parametrize("chunk_rows", [None, 1])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_excels_separator_line_names_the_delimiter(tmp_path, chunk_rows, bom):
    path = tmp_path / "excel.csv"  # Excel's "sep=;" first line, then the header
    path.write_bytes(
        bom + b"sep=;\r\ntime;a;b\r\n2026-01-01 00:00:00;1,5;2\r\n2026-01-01 00:00:01;3;4,25\r\n"
    )
    frame = pd.concat(read_frames(path, chunk_rows))
    assert list(frame.columns) == ["time", "a", "b"]
    assert frame["a"].tolist() == [1.5, 3.0] and frame["b"].tolist() == [2.0, 4.25]
    assert frame.index.tolist() == [0, 1]  # row numbers count data rows, as without it


@pytest.mark.parametrize("compress", ["gzip", "bz2", "lzma"])
@pytest.mark.parametrize("chunk_rows", [None, 100])
def test_compressed_csv_reads_as_the_plain_one(tmp_path, small_frame, compress, chunk_rows):
    import importlib

    text = small_frame.to_csv(index=False, sep=";", decimal=",").encode()
    path = tmp_path / "log.csv.z"  # the first bytes tell, not the name
    path.write_bytes(importlib.import_module(compress).compress(text))
    (tmp_path / "plain.csv").write_bytes(text)
    expected = pd.concat(read_frames(tmp_path / "plain.csv", chunk_rows))
    pd.testing.assert_frame_equal(pd.concat(read_frames(path, chunk_rows)), expected)


def test_a_damaged_gzip_file_is_named(tmp_path, small_frame):
    import gzip

    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress(small_frame.to_csv(index=False).encode())[:3000])
    with pytest.raises(InputError, match="cut.csv.gz: (a damaged gzip file|cannot decompress)"):
        pd.concat(read_frames(path, 100))


@pytest.mark.parametrize(
    ("magic", "what"), [(b"PK\x03\x04", "Excel .xlsx"), (b"\xd0\xcf\x11\xe0", "Excel .xls")]
)
def test_a_spreadsheet_is_named_with_a_hint(tmp_path, magic, what):
    path = tmp_path / "book"
    path.write_bytes(magic + bytes(range(256)) * 4)
    with pytest.raises(InputError, match=f"{what}.*save the sheet as CSV"):
        read_frame(path)


def test_sniff_defaults_to_comma_for_one_column():
    assert sniff_delimiter(b"value\n1\n2\n") == ","


def test_bom_is_stripped(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffa,b\n1,2\n".encode())
    assert list(read_frame(path).columns) == ["a", "b"]


def test_parquet_is_read_by_content(tmp_path, small_frame):
    path = tmp_path / "x.data"  # no extension: detected by the magic bytes
    small_frame.to_parquet(path)
    frame = read_frame(path)
    pd.testing.assert_frame_equal(frame, small_frame)


def test_stdin_is_read(monkeypatch, small_frame):
    text = small_frame.to_csv(index=False).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(text))))
    frame = read_frame("-")
    assert len(frame) == len(small_frame)


def test_chunks_cover_the_file(small_csv, small_frame):
    chunks = list(read_frames(small_csv, chunk_rows=100))
    assert [len(c) for c in chunks] == [100] * 6
    assert sum(len(c) for c in chunks) == len(small_frame)


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_frame(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        read_frame(tmp_path / "empty.csv")


def test_time_column_is_detected_and_not_a_feature(small_frame):
    assert detect_time_column(small_frame) == "timestamp"
    roles = resolve_roles(small_frame, "x")
    assert roles.time == "timestamp"
    assert roles.features == ["f0", "f1", "f2"]


@pytest.mark.parametrize(
    "name", ["timestamp", "unix_time", "Time (s)", "epoch", "timestamp_ms", "ts"]
)
def test_a_numeric_clock_named_as_time_is_the_time_column(name):
    frame = pd.DataFrame({name: [1767225600, 1767225601, 1767225601, 1767225605]})
    frame["a"], frame["b"] = [0.5, 1.5, 0.7, 0.2], [3.0, 2.0, 1.0, 2.0]
    roles = resolve_roles(frame, "x")
    assert roles.time == name and roles.features == ["a", "b"]


@pytest.mark.parametrize(
    "values",
    [[3.0, 1.0, 2.0, 5.0], [4.0, 4.0, 4.0, 4.0], [1.0, 2.0, None, 4.0]],
    ids=["goes down: a duration", "stands still: a setting", "has gaps"],
)
def test_a_numeric_time_that_is_no_clock_stays_a_feature(values):
    frame = pd.DataFrame({"cycle_time": values, "a": [0.5, 1.5, 0.7, 0.2]})
    roles = resolve_roles(frame, "x")
    assert roles.time is None and roles.features == ["cycle_time", "a"]


def test_a_numeric_clock_rises_within_each_series():
    frame = pd.DataFrame(
        {"id": ["m1", "m1", "m2", "m2"], "ts": [10, 11, 5, 6], "a": [0.5, 1.5, 0.7, 0.2]}
    )
    assert resolve_roles(frame, "x", id_column="id").time == "ts"
    assert detect_time_column(frame) is None  # 11 -> 5: not one clock over the file
    assert detect_time_column(frame.assign(t=frame.pop("ts")), "id") is None  # not a time name


def test_dates_win_over_a_numeric_clock(small_frame):
    frame = small_frame.assign(unix_time=range(len(small_frame)))
    assert resolve_roles(frame, "x").time == "timestamp"


def test_a_row_counter_is_left_out_of_the_features_with_a_warning():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"Unnamed: 0": np.arange(7, 19), "a": rng.normal(size=12), "b": rng.integers(0, 9, 12)}
    )
    with pytest.warns(LstmaeWarning, match="Unnamed: 0 rises by the same step") as caught:
        roles = resolve_roles(frame, "x")
    assert roles.features == ["a", "b"] and len(caught) == 1
    assert resolve_roles(frame, "x", features=["Unnamed: 0", "a"]).features[0] == "Unnamed: 0"


def test_a_clock_in_float_seconds_is_left_out_but_a_noisy_ramp_is_kept():
    rng = np.random.default_rng(1)
    elapsed = np.arange(50) * 0.1  # 0.30000000000000004 and the like: the same step
    ramp = np.arange(50) * 0.1 + rng.normal(0, 0.01, 50)  # a sensor that warms up
    frame = pd.DataFrame({"elapsed": elapsed, "ramp": np.maximum.accumulate(ramp)})
    with pytest.warns(LstmaeWarning, match="elapsed rises by the same step"):
        assert resolve_roles(frame, "x").features == ["ramp"]


def test_short_or_gapped_columns_are_no_clocks():
    frame = pd.DataFrame({"n": np.arange(9), "a": np.arange(9) * 2.0})  # fewer than 10 rows
    gapped = pd.DataFrame({"n": [*range(5), None, *range(6, 12)], "a": np.ones(12)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", LstmaeWarning)
        assert resolve_roles(frame, "x").features == ["n", "a"]
        assert resolve_roles(gapped, "x").features == ["n", "a"]


def test_a_file_of_clocks_only_keeps_them():
    """Nothing else to learn from: the counters stay features rather than no feature."""
    frame = pd.DataFrame({"n": np.arange(1, 13), "m": np.arange(4, 16)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", LstmaeWarning)
        assert resolve_roles(frame, "x").features == ["n", "m"]


def test_an_empty_column_is_left_out_of_the_features_with_a_warning(tmp_path):
    path = tmp_path / "export.csv"  # a trailing ";" makes an empty, unnamed last column
    path.write_text("time;a;dead;\n2026-01-01 00:00:00;1,5;;\n2026-01-01 00:00:01;2,5;;\n")
    frame = read_frame(path)
    with pytest.warns(LstmaeWarning, match="dead, Unnamed: 3 have no values") as caught:
        roles = resolve_roles(frame, "export.csv")
    assert roles.features == ["a"] and len(caught) == 1


def test_numbers_with_a_unit_are_named_in_a_warning():
    frame = pd.DataFrame(
        {
            "time": ["2026-01-01 00:00:00", "2026-01-01 00:00:01", "2026-01-01 00:00:02"],
            "temp": ["19.5 °C", "20,1 °C", "-3 °C"],
            "state": ["OK", "OK", "WARN"],
            "a": [0.5, 1.5, 0.7],
        }
    )
    with pytest.warns(LstmaeWarning, match=r"temp holds numbers with a unit \(19.5 °C\)") as w:
        assert resolve_roles(frame, "x").features == ["a"]
    # the words are named apart, once; the time and the numbers with a unit are not
    assert [str(m.message) for m in w][1:] == [
        "x: state (text) is not used as a feature; --columns chooses the features yourself"
    ]


def test_columns_without_numbers_are_named_in_one_warning():
    """True/False, text and a second date column are left out of the features: named, so
    that a user who meant them to count hears of it (and how); columns chosen by
    --columns, or none left out, say nothing."""
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2026-01-01", periods=4, freq="s"),
            "a": [0.5, 1.5, 0.7, 0.2],
            "pump_on": [True, False, True, True],
            "mode": ["RUN", "RUN", "IDLE", None],
            "serviced": pd.to_datetime(["2025-12-01"] * 4),
            "dead": [None] * 4,
        }
    )
    with pytest.warns(LstmaeWarning) as caught:
        assert resolve_roles(frame, "x").features == ["a"]
    others = [str(m.message) for m in caught if "not used as features" in str(m.message)]
    assert others == [
        "x: pump_on (True/False), mode (text), serviced (dates) are not used as features; "
        "--columns chooses the features yourself (a True/False column counts as 0/1)"
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", LstmaeWarning)
        assert resolve_roles(frame, "x", features=["a", "pump_on"]).features == ["a", "pump_on"]
        assert resolve_roles(frame[["time", "a"]], "x").features == ["a"]


def test_a_row_with_an_unreadable_time_stays_where_the_file_has_it():
    from lstmae_cli.io.data import sort_by_time

    times = ["2026-01-01 00:00:00", "N/A", "2026-01-01 00:00:03", "2026-01-01 00:00:02", ""]
    frame = pd.DataFrame({"time": times, "a": [0, 1, 2, 3, 4]})
    with pytest.warns(LstmaeWarning, match="2 missing or unreadable time") as caught:
        ordered = sort_by_time(frame, "time")
    assert ordered["a"].tolist() == [0, 1, 3, 4, 2]  # each after its row before: 00:00, 00:02
    assert any("not in time order" in str(w.message) for w in caught)


def test_roles_exclude_label_and_id():
    frame = pd.DataFrame({"id": [1, 1], "a": [1.0, 2.0], "label": [0, 1], "b": [3.0, 4.0]})
    roles = resolve_roles(frame, "x", id_column="id", label="label")
    assert roles.features == ["a", "b"]


def test_label_like_feature_columns_warn_and_stay_features():
    frame = pd.DataFrame(
        {"a": [0.5, 1.5, 2.5], " Anomaly": [0, 1, 0], "changepoint": [0.0, None, 1.0]}
    )
    with pytest.warns(LstmaeWarning, match="look like labels") as caught:
        roles = resolve_roles(frame, "f.csv")
    assert roles.features == ["a", " Anomaly", "changepoint"]  # a warning, not a change
    assert len(caught) == 1
    assert "--exclude-columns  Anomaly,changepoint" in str(caught[0].message)


@pytest.mark.parametrize(
    "columns",
    [
        {"anomaly": [0, 2, 1]},  # named like a label, but not 0/1
        {"flag": [0, 1, 0]},  # 0/1, but not named like a label
    ],
)
def test_no_label_warning_when_name_or_values_do_not_fit(columns):
    frame = pd.DataFrame({"a": [0.5, 1.5, 2.5], **columns})
    with warnings.catch_warnings():
        warnings.simplefilter("error", LstmaeWarning)
        resolve_roles(frame, "f.csv")


def test_no_label_warning_for_excluded_or_chosen_columns():
    frame = pd.DataFrame({"a": [0.5, 1.5, 2.5], "anomaly": [0, 1, 0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", LstmaeWarning)
        assert resolve_roles(frame, "f.csv", exclude=["anomaly"]).features == ["a"]
        assert resolve_roles(frame, "f.csv", label="anomaly").features == ["a"]
        chosen = resolve_roles(frame, "f.csv", features=["a", "anomaly"])  # the user's choice
    assert chosen.features == ["a", "anomaly"]


def test_named_missing_column_is_reported():
    frame = pd.DataFrame({"a": [1.0]})
    with pytest.raises(InputError, match="missing column.*zz"):
        resolve_roles(frame, "f.csv", features=["a", "zz"])


def test_text_in_numeric_column_names_column_and_row():
    frame = pd.DataFrame({"a": ["1", "2", "oops", "4"]})
    with pytest.raises(InputError, match=r"column 'a', row 3: 'oops' is not a number"):
        feature_matrix(frame, ["a"], "f.csv")


def test_inf_becomes_missing_and_is_filled():
    frame = pd.DataFrame({"a": [1.0, np.inf, 3.0], "b": [np.nan, 1.0, 2.0]})
    values = feature_matrix(frame, ["a", "b"], "f")
    filled = MissingFiller("ffill", ["a", "b"], "f")(values)
    np.testing.assert_array_equal(filled, [[1, 1], [1, 1], [3, 2]])


def test_filler_carries_last_value_across_chunks():
    filler = MissingFiller("ffill", ["a"], "f")
    filler(np.array([[1.0], [2.0]], np.float32))
    np.testing.assert_array_equal(filler(np.array([[np.nan], [5.0]], np.float32)), [[2.0], [5.0]])


def test_missing_error_policy():
    with pytest.raises(InputError, match="row 2"):
        MissingFiller("error", ["a"], "f")(np.array([[1.0], [np.nan]], np.float32))


def test_series_are_split_by_id_and_sorted_by_time():
    frame = pd.DataFrame(
        {"id": ["a", "b", "a", "b"], "t": [2, 1, 1, 2], "v": [20.0, 1.0, 10.0, 2.0]}
    )
    roles = resolve_roles(frame, "x", time="t", id_column="id")
    series = dict(split_series(frame, roles))
    assert series["a"]["v"].tolist() == [10.0, 20.0]
    assert series["b"]["v"].tolist() == [1.0, 2.0]


def test_mask_policy_fills_like_ffill_and_default_fills_a_column_never_seen():
    values = np.array([[np.nan, 1.0], [np.nan, np.nan], [3.0, 2.0]], np.float32)
    filled = MissingFiller("mask", ["a", "b"], "f", default=np.array([9.0, 8.0]))(values)
    np.testing.assert_array_equal(filled, [[9, 1], [9, 1], [3, 2]])
    with pytest.raises(InputError, match="column 'a' has no numeric values"):
        MissingFiller("mask", ["a", "b"], "f")(np.array([[np.nan, 1.0]], np.float32))


def test_rows_are_numbered_in_the_file_even_after_sorting(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("t,v\n3,1\n1,2\n2,oops\n")
    frame = read_frame(path)
    roles = resolve_roles(frame, "t.csv", features=["v"], time="t")
    ((_, part),) = split_series(frame, roles)
    with pytest.raises(InputError, match=r"row 3: 'oops'"):
        feature_matrix(part, ["v"], "t.csv")


def test_chunks_are_indexed_by_file_row(small_csv):
    chunks = list(read_frames(small_csv, chunk_rows=250))
    assert [c.index[0] for c in chunks] == [0, 250, 500]


def test_mostly_numeric_text_column_is_a_feature_and_text_is_not():
    frame = pd.DataFrame({"a": ["1", "2", "x", "4"], "b": ["u", "v", "w", "1"], "c": [1.0] * 4})
    assert resolve_roles(frame, "f").features == ["a", "c"]


def test_header_only_and_binary_and_duplicate_names(tmp_path):
    (tmp_path / "h.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="no data rows"):
        read_frame(tmp_path / "h.csv")
    (tmp_path / "b.csv").write_bytes(b"a,b\n\x00\x01\x02\x03")
    with pytest.raises(InputError, match="binary data"):
        read_frame(tmp_path / "b.csv")
    (tmp_path / "d.csv").write_text("a;b;a\n1;2;3\n")
    with pytest.raises(InputError, match="duplicate column name"):
        read_frame(tmp_path / "d.csv")


def test_unsorted_and_duplicate_times_warn():
    from lstmae_cli.errors import LstmaeWarning
    from lstmae_cli.io.data import sort_by_time

    frame = pd.DataFrame({"t": [2, 1, 1], "v": [1.0, 2.0, 3.0]})
    with pytest.warns(LstmaeWarning) as caught:
        ordered = sort_by_time(frame, "t")
    assert ordered["v"].tolist() == [2.0, 3.0, 1.0]  # stable: equal times keep file order
    messages = [str(w.message) for w in caught]
    assert any("duplicate time(s) in 't' (first at row 3)" in m for m in messages)
    assert any("not in time order" in m for m in messages)


TIME_TEXTS = {
    "iso": ["2026-01-01 00:00:00", "2026-01-01 00:00:01", "2026-01-01 00:00:01"],
    "T and dates": ["2026-01-01T00:00:00", "2026-01-02", "2026-01-02 03:00"],
    "nanoseconds": ["2026-01-01 00:00:00.123456789", "2026-01-01 00:00:01.5"],
    "zone": ["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"],
    "offset": ["2026-01-01T00:00:00+02:00", "2026-01-01T00:00:01+02:00"],
    "missing": ["2026-01-01 00:00:00", None, "", "NaT"],
    "a bad value": ["2026-01-01 00:00:00", "garbage", "2026-02-30"],
    "not iso": ["01/02/2026 10:00", "01/03/2026 10:00"],
    "zone name": ["2026-01-01 00:00:00 UTC", "2026-01-01 00:00:01 UTC"],
    "out of range": ["2026-01-01", "99999-01-01"],
    "numbers": ["1", "2"],
}


@pytest.mark.parametrize("dtype", ["str", object])
@pytest.mark.parametrize("name", sorted(TIME_TEXTS))
def test_parse_times_equals_pandas_mixed_format(name, dtype):
    """parse_times reads ISO 8601 text alone first: the same times as format="mixed"."""
    from lstmae_cli.io.data import parse_times

    column = pd.Series(TIME_TEXTS[name], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pd.to_datetime(column, errors="coerce", format="mixed")
    parsed = parse_times(column)
    assert parsed.dtype == expected.dtype
    pd.testing.assert_series_equal(parsed, expected)


@pytest.mark.parametrize(
    "times",
    [
        ["2026-01-01 00:00:00", "2026-01-01 00:00:01", "2026-01-01 00:00:02"],
        [1.0, 2.0, 3.5],
        [np.nan, 1.0, 2.0],
        ["2026-01-01 00:00:00", None, "2026-01-01 00:00:02"],
        ["2026-01-01 00:00:01", "2026-01-01 00:00:01", "2026-01-01 00:00:02"],
        ["2026-01-01 00:00:02", "2026-01-01 00:00:01", "2026-01-01 00:00:03"],
        ["2026-01-01 00:00:00"],
    ],
)
def test_sort_by_time_warns_only_out_of_order_or_repeated_times(times):
    from lstmae_cli.io.data import sort_by_time

    frame = pd.DataFrame({"t": times, "v": np.arange(len(times), dtype=float)})
    parsed = pd.to_datetime(frame["t"], format="mixed") if isinstance(times[0], str) else frame["t"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ordered = sort_by_time(frame, "t")
    in_place = parsed.ffill().bfill()  # a missing time stays after the row before it
    expected = frame.iloc[np.argsort(in_place.to_numpy(), kind="stable")]
    pd.testing.assert_frame_equal(ordered, expected)
    messages = " ".join(str(w.message) for w in caught)
    assert ("duplicate time" in messages) == bool((parsed.duplicated() & parsed.notna()).any())
    assert ("not in time order" in messages) == (not in_place.is_monotonic_increasing)
    assert ("missing or unreadable time" in messages) == bool(parsed.isna().any())


def test_a_parquet_date_column_is_the_time_column(tmp_path, small_frame):
    """Parquet's date32 reads as Python dates (object dtype): still the time column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    days = pd.date_range("2020-01-01", periods=len(small_frame), freq="D").date
    table = pa.table(
        {"day": pa.array(days, pa.date32()), **{c: small_frame[c] for c in ("f0", "f1", "f2")}}
    )
    pq.write_table(table, tmp_path / "days.parquet")
    frame = read_frame(tmp_path / "days.parquet")
    assert frame["day"].dtype == object
    assert detect_time_column(frame) == "day"
    assert parse_times(frame["day"].iloc[::-1]).is_monotonic_decreasing


@pytest.mark.parametrize(
    "form",
    ["%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d/%m/%y %H:%M", "%d-%m-%Y"],
)
@pytest.mark.parametrize("days", [5, 60])
def test_day_first_and_month_first_dates_are_read_right(form, days):
    """A European export (05/01/2026 = 5 January) was read half month-first: 02/01 became
    1 February while 13/01 stayed 13 January, and sorting shuffled the rows. The order
    comes from a number over 12 or, where none is (the first 12 days), from the reading
    that goes forward over the shorter span."""
    from lstmae_cli.io.data import parse_times

    freq = "D" if form == "%d-%m-%Y" else "h"
    times = pd.Series(
        pd.date_range("2026-01-01", periods=days * (1 if freq == "D" else 24), freq=freq)
    )
    parsed = parse_times(times.dt.strftime(form))
    pd.testing.assert_series_equal(parsed, times, check_names=False, check_freq=False)


def test_dates_that_are_not_all_written_alike_are_each_read():
    """The format of the first time reads most quickly; a time written otherwise (midnight
    without its clock, as spreadsheets write it) is read alone, a bad one is NaT."""
    from lstmae_cli.io.data import parse_times

    column = pd.Series(["13/01/2026 23:00", "14/01/2026", "14/01/2026 01:00", "nope", None])
    expected = ["2026-01-13 23:00", "2026-01-14 00:00", "2026-01-14 01:00", None, None]
    pd.testing.assert_series_equal(parse_times(column), pd.Series(pd.to_datetime(expected)))


def test_a_dotted_date_column_is_the_time_column():
    frame = pd.DataFrame({"Datum": ["13.01.2026", "14.01.2026"], "a": [1.0, 2.0]})
    assert resolve_roles(frame, "x").time == "Datum"


def test_a_date_column_and_the_clock_column_after_it_are_joined():
    from lstmae_cli.io.reading import join_date_and_time

    frame = pd.DataFrame(
        {
            "Date": ["16/12/2006", "16/12/2006", None],
            "Time": ["17:24:00", "5:25 PM", "17:26:00"],
            "a": [1.0, 2.0, 3.0],
        }
    )
    joined = join_date_and_time(frame.copy())
    assert joined["Date"].tolist()[:2] == ["16/12/2006 17:24:00", "16/12/2006 5:25 PM"]
    assert pd.isna(joined["Date"].iloc[2]) and joined["Time"].equals(frame["Time"])
    apart = frame[["Date", "a", "Time"]]  # not side by side: left as they are
    pd.testing.assert_frame_equal(join_date_and_time(apart.copy()), apart)
    dated = frame.assign(Date=["2006-12-16 17:24:00"] * 3)  # the date has its clock already
    pd.testing.assert_frame_equal(join_date_and_time(dated.copy()), dated)
