"""Issue 17, the first hour: -q, the out-of-range and missing-value warnings, headerless
files, a terminal on stdin, swapped arguments, readable numbers, the report, --precision,
empty series ids and the dependency floors."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstmae_cli.cli.app import app
from lstmae_cli.errors import InputError

from ..helpers import make_frame

runner = CliRunner()
TINY = ["--seq-len", "16", "--hidden", "8", "--epochs", "2", "--batch-size", "64"]
ROOT = Path(__file__).resolve().parents[2]


def run(*args, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("lstmae: warning:")]


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmae: error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture(scope="module")
def drift_csv(tmp_path_factory, small_frame) -> Path:
    """small_frame with f1 far out of range in rows 100-104 and f0 in row 400."""
    frame = small_frame.copy()
    frame.loc[100:104, "f1"] += 50.0
    frame.loc[400, "f0"] -= 80.0
    path = tmp_path_factory.mktemp("drift") / "drift.csv"
    frame.to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- --quiet
def test_quiet_silences_the_out_of_range_warning_of_score(tiny_model, drift_csv):
    result = run("score", tiny_model, drift_csv, "--fail-on-anomaly", "-q")
    assert result.exit_code in (0, 3), result.output
    assert result.stderr == ""


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "{model}", "{data}", "--label-column", "anomaly"],
        ["threshold", "{model}", "{data}", "--dry-run"],
        ["plot", "{model}", "{data}", "-o", "{out}.png"],
        ["report", "{model}", "{data}", "-o", "{out}.html"],
    ],
)
def test_quiet_on_every_command_that_reads_data(tmp_path, tiny_model, small_frame, command):
    frame = small_frame.copy()
    frame.loc[100:104, "f1"] += 50.0
    frame["anomaly"] = 0
    data = tmp_path / "drift.csv"
    frame.to_csv(data, index=False)
    values = {"model": tiny_model, "data": data, "out": tmp_path / "out"}
    args = [part.format(**values) for part in command]
    loud = run(*args)
    assert loud.exit_code == 0, loud.output
    assert len(warnings_in(loud.stderr)) == 1, loud.stderr
    quiet = run(*args, "-q")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""


def test_quiet_train_prints_no_warning(tmp_path, small_frame):
    data = tmp_path / "labelled.csv"
    small_frame.assign(anomaly=0).to_csv(data, index=False)  # a label-like feature: warned
    loud = run("train", data, "-o", tmp_path / "a.safetensors", *TINY)
    assert loud.exit_code == 0, loud.output
    assert any("looks like a label" in w for w in warnings_in(loud.stderr))
    quiet = run("train", data, "-o", tmp_path / "b.safetensors", *TINY, "-q")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""


# ------------------------------------------------------------ the out-of-range warning
def test_out_of_range_warning_supports_the_finding_once_with_the_count(tiny_model, drift_csv):
    result = run("score", tiny_model, drift_csv, "--chunk-rows", "64")  # 2 chunks with drift
    assert result.exit_code == 0, result.output
    (warning,) = warnings_in(result.stderr)
    assert "6 row(s) with values far outside anything seen in training" in warning
    assert "itself a sign of an anomaly" in warning and "mean little" not in warning
    assert "in f1, f0" in warning and "first at row 101: f1" in warning


# --------------------------------------------------------------- non-finite and missing
def score_warnings(model: Path, frame: pd.DataFrame, data: Path, chunk_rows: int) -> list[str]:
    """Write `frame` to `data`, score it in chunks: the warnings."""
    frame.to_csv(data, index=False)
    scored = run("score", model, data, "--chunk-rows", chunk_rows)
    assert scored.exit_code == 0, scored.output
    return warnings_in(scored.stderr)


def test_missing_and_infinite_values_are_counted_once_per_run(tmp_path, tiny_model, small_frame):
    frame = small_frame.copy()
    frame.loc[[10, 300], "f1"] = np.inf
    frame.loc[20, "f1"] = -np.inf
    frame.loc[[30, 40], "f2"] = np.nan
    data = tmp_path / "gaps.csv"
    (warning,) = score_warnings(tiny_model, frame, data, 100)
    assert "5 missing or non-finite value(s) treated as missing (--missing mask" in warning
    assert warning.endswith("f1 3 (3 inf), f2 2")
    trained = run("train", data, "-o", tmp_path / "m.safetensors", *TINY)
    assert trained.exit_code == 0, trained.output
    (warning,) = [w for w in warnings_in(trained.stderr) if "treated as missing" in w]
    assert "gaps.csv: 5 missing or non-finite" in warning and "f1 3 (3 inf)" in warning
    assert run("score", tiny_model, data, "-q").stderr == ""


def test_a_channel_without_any_value_is_named_as_such(tmp_path, tiny_model, small_frame):
    """A dead sensor at score time: named apart from channels with a few gaps, counted
    over every chunk (the first chunks of f1 have values, so only f2 is dead)."""
    frame = small_frame.assign(f2=np.nan)
    frame.loc[400:, "f1"] = np.nan
    (warning,) = score_warnings(tiny_model, frame, tmp_path / "dead.csv", 200)
    assert "f1 200, f2 600, no value at all in f2: read as the training level" in warning
    frame["f2"] = small_frame["f2"]  # f1 missing in the last chunk alone: not dead
    (warning,) = score_warnings(tiny_model, frame, tmp_path / "dead.csv", 200)
    assert warning.endswith("f1 200")


@pytest.mark.parametrize("chunk_rows", ["1000", "300", "64"])
def test_a_jump_in_the_times_is_named_once(tmp_path, tiny_model, small_frame, chunk_rows):
    """A day without rows (an outage) in minute data: windows across it join rows a day
    apart; named once, with where it is, within a chunk or between two."""
    times = pd.to_datetime(small_frame["timestamp"])
    jumped = small_frame.assign(
        timestamp=times.where(times.index < 300, times + pd.Timedelta("1D"))
    )
    jumped.to_csv(tmp_path / "outage.csv", index=False)
    scored = run("score", tiny_model, tmp_path / "outage.csv", "--chunk-rows", chunk_rows)
    assert scored.exit_code == 0, scored.output
    (warning,) = [w for w in warnings_in(scored.stderr) if "jump" in w]
    assert "outage.csv: the times jump by 1 d at row 301 (1,441x the typical step of 1 min)" in (
        warning
    )
    assert "`train --max-gap 10min` cuts" in warning  # a cut that fits minute data
    small_frame.to_csv(tmp_path / "steady.csv", index=False)
    steady = run("score", tiny_model, tmp_path / "steady.csv", "--chunk-rows", chunk_rows)
    assert not [w for w in warnings_in(steady.stderr) if "jump" in w]


# ------------------------------------------------------------------- headerless files
def headerless(tmp_path: Path, frame: pd.DataFrame, name: str = "raw.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False, header=False)
    return path


def test_a_numeric_first_line_is_refused_with_a_hint(tmp_path, tiny_model, small_frame):
    numbers = headerless(tmp_path, small_frame[["f0", "f1", "f2"]])
    timed = headerless(tmp_path, small_frame, "timed.csv")  # a time column, then numbers
    for data in (numbers, timed):
        for args in (["score", tiny_model, data], ["train", data, "-o", tmp_path / "m"]):
            result = run(*args)
            assert result.exit_code == 1
            line = one_error_line(result)
            assert "the first line looks like data" in line and "use --no-header" in line


def test_no_header_names_round_trip_between_train_and_score(tmp_path, small_frame):
    data = headerless(tmp_path, small_frame[["f0", "f1", "f2"]])
    model = tmp_path / "m.safetensors"
    trained = run("train", data, "-o", model, "--no-header", *TINY, "-q")
    assert trained.exit_code == 0, trained.output
    info = json.loads(run("inspect", model, "--format", "json").stdout)
    assert info["columns"]["features"] == ["c0", "c1", "c2"]
    scored = run("score", model, data, "--no-header", "-q")
    assert scored.exit_code == 0, scored.output
    out = pd.read_csv(io.StringIO(scored.stdout))
    assert len(out) == len(small_frame)  # the first line is a row, not a header
    assert {"err_c0", "err_c1", "err_c2"} <= set(out.columns)
    piped = run("score", model, "-", "--no-header", "-q", input=data.read_text())
    assert piped.exit_code == 0 and len(pd.read_csv(io.StringIO(piped.stdout))) == 600


def test_names_name_the_columns_of_a_headerless_file(tmp_path, tiny_model, small_frame):
    data = headerless(tmp_path, small_frame)
    names = "timestamp,f0,f1,f2"
    scored = run("score", tiny_model, data, "--names", names, "-q")
    assert scored.exit_code == 0, scored.output
    out = pd.read_csv(io.StringIO(scored.stdout))
    assert out["timestamp"].tolist() == small_frame["timestamp"].tolist()
    wrong = run("score", tiny_model, data, "--names", "a,b")
    assert wrong.exit_code == 1
    assert "--names gives 2 names for 4 columns" in one_error_line(wrong)
    duplicated = run("score", tiny_model, data, "--names", "a,a,b,c")
    assert duplicated.exit_code == 2 and "duplicate" in one_error_line(duplicated)


@pytest.mark.parametrize("command", ["threshold", "evaluate", "plot", "report"])
def test_every_reading_command_takes_the_header_options(command):
    help_text = run(command, "--help").stdout
    assert "--no-header" in help_text and "--names" in help_text


def test_a_headerless_pipe_keeps_its_first_line(small_frame):
    from lstmae_cli.io.pipe_reader import read_pipe_csv

    text = small_frame.head(5).to_csv(index=False, header=False).encode()
    names = ["t", "a", "b", "c"]
    handle = io.BufferedReader(io.BytesIO(text))
    options = {"sep": ",", "header": None, "names": names}
    frames = list(read_pipe_csv(handle, 100, options, header_line=False))
    assert sum(len(f) for f in frames) == 5 and list(frames[0].columns) == names


# ------------------------------------------------------------ a terminal on stdin
def test_stdin_is_terminal_asks_isatty(monkeypatch):
    from lstmae_cli.io import reading

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    assert reading.stdin_is_terminal()
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    assert not reading.stdin_is_terminal()


@pytest.mark.parametrize("data", [[], ["-"]])
def test_score_with_a_terminal_on_stdin_is_a_usage_error(monkeypatch, tiny_model, data):
    from lstmae_cli.io import reading

    monkeypatch.setattr(reading, "stdin_is_terminal", lambda: True)
    result = run("score", tiny_model, *data)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "give a file" in line and "pipe data in" in line


# ------------------------------------------------------------------ swapped arguments
def test_swapped_arguments_name_the_model_argument_and_show_usage(tmp_path, tiny_model, small_csv):
    result = run("score", small_csv, tiny_model)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert f"MODEL {small_csv} looks like a CSV data file" in line
    assert "usage: lstmae score [OPTIONS]" in line
    parquet = tmp_path / "data.parquet"
    pd.read_csv(small_csv).to_parquet(parquet)
    result = run("evaluate", parquet, small_csv, "--label-column", "f0")
    assert result.exit_code == 2 and "looks like a Parquet data file" in one_error_line(result)


def test_a_broken_model_file_is_still_not_a_model(tmp_path, small_csv):
    broken = tmp_path / "m.safetensors"
    broken.write_bytes(b"\x00\x01garbage" * 10)
    result = run("score", broken, small_csv)
    assert result.exit_code == 1 and "not an lstmae model file" in one_error_line(result)


# -------------------------------------------------------------------- readable numbers
def significant_digits(text: str) -> int:
    mantissa = text.lower().split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    return len(mantissa.rstrip("0")) if "." in text.split("e")[0] else len(mantissa)


def test_scores_are_written_with_six_significant_digits(tmp_path, tiny_model, small_frame):
    frame = small_frame.copy()
    frame["f0"] += 1e-9 * np.arange(len(frame))  # 17-digit inputs pass through as they are
    frame.loc[300:320, "f1"] += 2.0
    data = tmp_path / "long.csv"
    frame.to_csv(data, index=False)
    rows = run("score", tiny_model, data, "--keep-columns", "f0", "--p-values", "-q")
    assert rows.exit_code == 0, rows.output
    table = pd.read_csv(io.StringIO(rows.stdout), dtype=str)
    computed = ["score", "threshold", "err_f0", "err_f1", "err_f2"]
    for column in computed:
        assert max(significant_digits(v) for v in table[column].dropna()) <= 6, column
    assert max(significant_digits(v) for v in table["p_value"]) > 6  # exact: compared to alpha
    assert table["f0"].tolist() == pd.read_csv(data, dtype=str)["f0"].tolist()
    jsonl = run("score", tiny_model, data, "-f", "jsonl", "-q").stdout.splitlines()
    numbers = re.findall(r'"(?:score|threshold|err_f\d)":(-?[0-9.e+-]+)', "\n".join(jsonl))
    assert numbers and max(significant_digits(n) for n in numbers) <= 6
    events = run("score", tiny_model, data, "--level", "event", "--threshold", "0", "-q")
    frame = pd.read_csv(io.StringIO(events.stdout), dtype=str)
    for column in ("peak_score", "mean_score"):
        assert max(significant_digits(v) for v in frame[column]) <= 6


def test_significant_keeps_what_matters():
    from lstmae_cli.io.output import significant

    values = np.array([4128014.5522781904, 1 / 3, 1.23456789e-9, -2.5e-3 / 3, 0.0, np.nan, 1e-30])
    text = [repr(float(v)) for v in significant(values)]
    assert text[:5] == ["4128010.0", "0.333333", "1.23457e-09", "-0.000833333", "0.0"]
    assert text[5] == "nan" and text[6] == "1e-30"
    assert significant(np.float32([0.12345679]))[0] == 0.123457


def test_evaluate_json_numbers_are_short(tiny_model, small_csv, small_frame, tmp_path):
    data = tmp_path / "labelled.csv"
    small_frame.assign(anomaly=(np.arange(600) % 7 == 0).astype(int)).to_csv(data, index=False)
    result = run("evaluate", tiny_model, data, "--label-column", "anomaly", "--format", "json")
    assert result.exit_code == 0, result.output
    numbers = re.findall(r":\s*(-?\d[0-9.e+-]*)", result.stdout)
    assert numbers and max(significant_digits(n) for n in numbers) <= 6


# ---------------------------------------------------------------------------- report
class Tables:
    """The <table id=...> cells of a report page."""

    def __init__(self, path: Path) -> None:
        from ..views.test_views import parse_report

        self.tables = parse_report(path).tables


def two_series(small_frame: pd.DataFrame) -> pd.DataFrame:
    """Two machines: the last third of a labelled (one event that ends the series, where
    the scorer holds rows back) and a spike in b."""
    a = small_frame.assign(machine="a", anomaly=0)
    b = make_frame(600, seed=3).assign(machine="b", anomaly=0)
    a.loc[400:, "anomaly"] = 1
    b.loc[300:320, ["f1", "anomaly"]] = [3.0, 1]
    return pd.concat([a, b], ignore_index=True)


def test_report_evaluates_each_series_as_evaluate_does(tmp_path, tiny_model, small_frame):
    data = tmp_path / "two.csv"
    two_series(small_frame).to_csv(data, index=False)
    common = ["--label-column", "anomaly", "--id-column", "machine"]
    evaluated = run("evaluate", tiny_model, data, *common, "--format", "json", "-q")
    assert evaluated.exit_code == 0, evaluated.output
    expected = json.loads(evaluated.stdout)["lstmae"]
    page = tmp_path / "report.html"
    result = run("report", tiny_model, data, "-o", page, *common, "-q")
    assert result.exit_code == 0, result.output
    table = Tables(page).tables["evaluate"]
    from lstmae_cli.views.metrics import EVALUATE_COLUMNS, METRIC_LABELS

    assert table[0] == ["metric", *EVALUATE_COLUMNS]  # evaluate's names
    assert [row[0] for row in table[1:]] == list(METRIC_LABELS.values())
    shown = {row[0]: row[1] for row in table[1:]}
    assert int(shown["true events"]) == expected["events"] == 2
    assert int(shown["false-alarm runs"]) == expected["false_alarm_runs"]
    assert float(shown["event recall (any row flagged)"]) == pytest.approx(
        expected["event_recall"], abs=1e-3
    )


def test_report_events_say_which_overlap_a_labelled_anomaly(tmp_path, tiny_model, small_frame):
    frame = small_frame.copy()
    frame.loc[300:320, "f1"] += 3.0
    frame["anomaly"] = 0
    frame.loc[300:320, "anomaly"] = 1
    data = tmp_path / "labelled.csv"
    frame.to_csv(data, index=False)
    page = tmp_path / "report.html"
    args = ["--label-column", "anomaly", "--min-rows", "1", "--merge-gap", "0", "-q"]
    result = run("report", tiny_model, data, "-o", page, *args)
    assert result.exit_code == 0, result.output
    events = Tables(page).tables["events"]
    column = events[0].index("labelled anomaly")
    start, end = events[0].index("start"), events[0].index("end")
    times = frame["timestamp"]
    for row in events[1:]:
        overlaps = row[start] <= times[320] and row[end] >= times[300]
        assert row[column] == ("yes" if overlaps else "no"), row
    assert any(row[column] == "yes" for row in events[1:])


def test_report_prints_method_parameters_for_people(tmp_path, tiny_model, small_csv):
    from lstmae_cli.views.report import method_text

    assert method_text("quantile", {"q": 0.999}) == "quantile (q = 0.999)"
    fitted = method_text("pot", {"risk": 0.001, "level": 0.98, "fit": {"shape": 0.1234567}})
    assert fitted == "pot (risk = 0.001, level = 0.98; fit: shape = 0.123457)"
    page = tmp_path / "report.html"
    assert run("report", tiny_model, small_csv, "-o", page, "-q").exit_code == 0
    facts = dict(row[:2] for row in Tables(page).tables["model"][1:])
    assert facts["threshold"].endswith("quantile (q = 0.999)")
    assert "{" not in facts["threshold"]


@pytest.mark.parametrize("command", ["report", "plot"])
def test_a_text_label_column_is_an_input_error(tmp_path, tiny_model, small_frame, command):
    data = tmp_path / "text.csv"
    small_frame.assign(anomaly=["no"] * 599 + ["yes"]).to_csv(data, index=False)
    out = tmp_path / ("out.html" if command == "report" else "out.png")
    result = run(command, tiny_model, data, "-o", out, "--label-column", "anomaly")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "label column 'anomaly' must hold 0/1" in line and "unexpected" not in line


# ------------------------------------------------------------------------- --precision
def test_precision_is_a_choice(tiny_model, small_csv):
    bad = run("score", tiny_model, small_csv, "--precision", "fp8", "-q")
    assert bad.exit_code == 2 and "--precision" in one_error_line(bad)
    assert "auto" in run("score", "--help").stdout
    auto = run("score", tiny_model, small_csv, "--precision", "auto", "-q")
    assert auto.exit_code == 0, auto.output


# ------------------------------------------------------------------------ empty ids
def test_rows_with_an_empty_id_are_refused(tmp_path, tiny_model, small_frame):
    frame = small_frame.assign(machine=["a"] * 300 + ["b"] * 300).astype({"machine": object})
    frame.loc[[5, 450], "machine"] = None
    data = tmp_path / "ids.csv"
    frame.to_csv(data, index=False)
    for args in (
        ["score", tiny_model, data, "--id-column", "machine"],
        ["train", data, "-o", tmp_path / "m.safetensors", "--id-column", "machine", *TINY],
    ):
        result = run(*args)
        assert result.exit_code == 1
        line = one_error_line(result)
        assert "2 row(s) with an empty 'machine' (first at row 6)" in line


def test_split_series_refuses_empty_ids(small_frame):
    from lstmae_cli.io.data import ColumnRoles, split_series

    frame = small_frame.assign(machine=np.where(np.arange(600) == 7, None, "a"))
    with pytest.raises(InputError, match="1 row"):
        split_series(frame, ColumnRoles(["f0"], id="machine"), "x.csv")


# ------------------------------------------------------------------ dependency floors
def test_dependency_floors_cover_what_the_code_uses():
    from importlib.metadata import version

    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    floors = dict(re.findall(r'^\s*"([A-Za-z0-9_-]+)>=([0-9.]+)"', text, flags=re.M))

    def numbers(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", text)[:2])

    assert numbers(floors["typer"]) >= (0, 26)  # typer._click
    assert numbers(floors["torch"]) >= (2, 5)  # Adam(fused) on CPU 2.4, onnx dynamo=False 2.5
    for name in ("typer", "torch"):
        assert numbers(version(name)) >= numbers(floors[name]), name


# ------------------------------------------------------------ clocks and counters
def test_unix_times_and_a_written_index_are_not_features(tmp_path):
    """An export with Unix times and pandas' index column (`,timestamp,f0,...` with
    0, 1, 2, ... first) trains and scores as the same data with text times: neither the
    clock nor the counter becomes a feature, which later rows would always lie beyond."""
    frame = make_frame(1200)
    seconds = (pd.to_datetime(frame["timestamp"]) - pd.Timestamp(0)) // pd.Timedelta("1s")
    unix = frame.assign(timestamp=seconds)  # 1767225600, 1767225660, ...
    unix.iloc[:600].to_csv(tmp_path / "train.csv")  # the index, as pandas writes it
    unix.iloc[600:].to_csv(tmp_path / "test.csv")  # rows 600..1199
    frame.iloc[:600].to_csv(tmp_path / "plain_train.csv", index=False)
    frame.iloc[600:].to_csv(tmp_path / "plain_test.csv", index=False)
    trained = run("train", tmp_path / "train.csv", "-o", tmp_path / "m.safetensors", *TINY)
    assert trained.exit_code == 0, trained.output
    assert any("Unnamed: 0 rises by the same step" in w for w in warnings_in(trained.stderr))
    plain = run("train", tmp_path / "plain_train.csv", "-o", tmp_path / "p.safetensors", *TINY)
    assert plain.exit_code == 0, plain.output
    scored = run("score", tmp_path / "m.safetensors", tmp_path / "test.csv", "-q")
    expected = run("score", tmp_path / "p.safetensors", tmp_path / "plain_test.csv", "-q")
    got, want = (pd.read_csv(io.StringIO(r.stdout)) for r in (scored, expected))
    assert list(got["timestamp"][:2]) == list(unix["timestamp"][600:602])
    pd.testing.assert_frame_equal(got.drop(columns="timestamp"), want.drop(columns="timestamp"))
    assert got["is_anomaly"].mean() < 0.05


def test_a_numeric_clock_within_each_series_is_found_at_score_time(tmp_path):
    """A model trained without times scores a many-series file whose Unix times rise within
    each machine but fall where the next machine's rows begin: the clock is the time
    column (passed through, not a feature) because it is judged series by series."""
    frame = make_frame(1200).drop(columns="timestamp")
    frame["machine"] = np.repeat(["a", "b"], 600)
    frame.to_csv(tmp_path / "train.csv", index=False)
    model = tmp_path / "m.safetensors"
    trained = run("train", tmp_path / "train.csv", "-o", model, "--id-column", "machine", *TINY)
    assert trained.exit_code == 0, trained.output
    seconds = np.tile(1_767_225_600 + 60 * np.arange(600), 2)  # falls at row 600
    frame.insert(0, "timestamp", seconds)
    frame.to_csv(tmp_path / "test.csv", index=False)
    scored = run("score", model, tmp_path / "test.csv", "-q")
    assert scored.exit_code == 0, scored.output
    got = pd.read_csv(io.StringIO(scored.stdout))
    for machine in ("a", "b"):  # each series in its time order
        assert got.loc[got["machine"] == machine, "timestamp"].tolist() == seconds[:600].tolist()


def test_a_summer_time_switch_in_the_times_trains_and_scores(tmp_path):
    """Offsets that change from +01:00 to +02:00 (Europe, last Sunday of March) are
    compared in UTC: rows keep their order, times are written as they came, an event's
    duration counts the hour that was skipped as no time."""
    frame = make_frame(600)
    local = pd.date_range("2026-03-29 00:00", periods=600, freq="min", tz="Europe/Berlin")
    text = local.strftime("%Y-%m-%dT%H:%M:%S%z")
    frame["timestamp"] = text.str[:-2] + ":" + text.str[-2:]  # 2026-03-29T01:59:00+01:00
    frame.to_csv(tmp_path / "dst.csv", index=False)
    trained = run("train", tmp_path / "dst.csv", "-o", tmp_path / "m.safetensors", *TINY, "-q")
    assert trained.exit_code == 0, trained.output
    every = ["--threshold", "0", "--min-rows", "1", "-q"]
    rows = run("score", tmp_path / "m.safetensors", tmp_path / "dst.csv", *every)
    events = run(
        "score", tmp_path / "m.safetensors", tmp_path / "dst.csv", "--level", "event", *every
    )
    assert rows.exit_code == events.exit_code == 0, rows.output + events.output
    written = pd.read_csv(io.StringIO(rows.stdout))["timestamp"]
    assert written.tolist() == frame["timestamp"].tolist()
    assert "2026-03-29T01:59:00+01:00" in written.tolist()
    event = pd.read_csv(io.StringIO(events.stdout)).iloc[0]
    assert event["duration"] == 599 * 60  # 600 rows a minute apart, in real seconds


def test_rows_that_go_back_in_time_across_chunks_are_named_once(tmp_path, tiny_model, small_frame):
    """Within a chunk rows are sorted; across chunks they cannot be: one warning says so,
    and the per-chunk "not in time order" warning is shown once, not once a chunk."""
    small_frame.iloc[::-1].to_csv(tmp_path / "reversed.csv", index=False)
    small_frame.to_csv(tmp_path / "ordered.csv", index=False)
    backwards = run("score", tiny_model, tmp_path / "reversed.csv", "--chunk-rows", "100")
    assert backwards.exit_code == 0, backwards.output
    said = warnings_in(backwards.stderr)
    assert sum("rows go back in time after row 100 " in w for w in said) == 1, said
    assert sum("not in time order" in w for w in said) == 1, said
    ordered = run("score", tiny_model, tmp_path / "ordered.csv", "--chunk-rows", "100")
    assert ordered.exit_code == 0 and warnings_in(ordered.stderr) == []


def test_a_series_shorter_than_a_window_does_not_stop_the_others(tmp_path, tiny_model):
    """A new machine with a few rows in a long-format file: the others are scored, the
    short one named in a warning; a file with nothing long enough is still an error."""
    long = make_frame(200).assign(machine="m1")
    short = make_frame(10).assign(machine="m2")
    pd.concat([long, short]).to_csv(tmp_path / "fleet.csv", index=False)
    scored = run("score", tiny_model, tmp_path / "fleet.csv", "--id-column", "machine")
    assert scored.exit_code == 0, scored.output
    rows = pd.read_csv(io.StringIO(scored.stdout))
    assert len(rows) == 200 and set(rows["machine"]) == {"m1"}
    said = warnings_in(scored.stderr)
    assert any("1 series shorter than seq_len 16 rows not scored" in w for w in said), said
    assert any("their 10 row(s) left out" in w and w.endswith("fleet.csv[m2]") for w in said)
    short.to_csv(tmp_path / "new.csv", index=False)
    alone = run("score", tiny_model, tmp_path / "new.csv", "--id-column", "machine")
    assert alone.exit_code != 0 and "fewer than seq_len 16" in alone.stderr


def test_training_leaves_out_a_series_too_short_for_its_folds(tmp_path):
    long = make_frame(400).assign(machine="m1")
    short = make_frame(10).assign(machine="m2")
    pd.concat([long, short]).to_csv(tmp_path / "fleet.csv", index=False)
    long.to_csv(tmp_path / "m1.csv", index=False)
    options = ["--id-column", "machine", *TINY]
    fleet = run("train", tmp_path / "fleet.csv", "-o", tmp_path / "fleet.safetensors", *options)
    assert fleet.exit_code == 0, fleet.output
    said = warnings_in(fleet.stderr)
    assert any("1 series too short to train on with --seq-len 16" in w for w in said), said
    assert "trained on 400 rows in 1 series" in fleet.stderr
    alone = run("train", tmp_path / "m1.csv", "-o", tmp_path / "m1.safetensors", *options)
    assert alone.exit_code == 0, alone.output
    thresholds = [
        json.loads(run("inspect", tmp_path / f"{name}.safetensors", "--format", "json").stdout)
        for name in ("fleet", "m1")
    ]
    assert (
        thresholds[0]["threshold"]["value"] == thresholds[1]["threshold"]["value"]
    )  # same training
    short.to_csv(tmp_path / "m2.csv", index=False)
    too_short = run("train", tmp_path / "m2.csv", "-o", tmp_path / "m2.safetensors", *options)
    assert too_short.exit_code != 0 and "fewer than --seq-len 16" in too_short.stderr


# ------------------------------------------------------------------- date and time apart
def date_and_time_apart(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as a data logger writes it: Date;Time;... with day-first dates, `?` missing."""
    times = pd.to_datetime(frame.pop("timestamp"))
    frame = frame.astype(object)
    frame.iloc[5, 0] = "?"
    return pd.concat(
        [
            pd.DataFrame(
                {"Date": times.dt.strftime("%d/%m/%Y"), "Time": times.dt.strftime("%H:%M:%S")}
            ),
            frame,
        ],
        axis=1,
    )


@pytest.mark.parametrize("chunk_rows", ["100000", "64"])
def test_a_date_column_and_a_time_column_are_read_as_one_time(tmp_path, small_frame, chunk_rows):
    """Date;Time files (data loggers, spreadsheets; the household power data set): the
    time column is the date with its clock, so rows are not all 'duplicate times' of a
    day and events say when in the day they happened; the clock column is no feature and
    is not named as left out; chunks read alike."""
    frame = date_and_time_apart(small_frame.copy())
    frame.to_csv(tmp_path / "logger.csv", sep=";", index=False)
    trained = run("train", tmp_path / "logger.csv", "-o", tmp_path / "m.safetensors", *TINY)
    assert trained.exit_code == 0, trained.output
    assert [w for w in warnings_in(trained.stderr) if "missing" not in w] == []
    scored = run(
        "score", tmp_path / "m.safetensors", tmp_path / "logger.csv", "--chunk-rows", chunk_rows
    )
    assert scored.exit_code == 0, scored.output
    rows = pd.read_csv(io.StringIO(scored.stdout))
    expected = pd.to_datetime(small_frame["timestamp"]).dt.strftime("%d/%m/%Y %H:%M:%S")
    assert rows["Date"].tolist() == expected.tolist()
    assert [w for w in warnings_in(scored.stderr) if "missing" not in w] == []
