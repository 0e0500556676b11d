"""`lstmae score` as a stream: chunking, pipes, output formats, exit codes and the summary."""

from __future__ import annotations

import io
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstmae_cli.cli.app import app
from lstmae_cli.io.pipe_reader import LineBatcher

from ..helpers import assert_frames_close, device_rtol

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def scores(*args) -> pd.DataFrame:
    result = run("score", *args, "-q")
    assert result.exit_code == 0, result.output
    return pd.read_csv(io.StringIO(result.stdout))


def lstmae(*args) -> list[str]:
    return [sys.executable, "-m", "lstmae_cli", *map(str, args)]


# ----------------------------------------------------------------------------- streaming
@pytest.mark.parametrize("chunk_rows", [7, 16, 250])
def test_chunked_scoring_equals_the_whole_file(tiny_model, small_csv, chunk_rows):
    whole = scores(tiny_model, small_csv, "--chunk-rows", "1000000")
    chunked = scores(tiny_model, small_csv, "--chunk-rows", chunk_rows)
    assert_frames_close(chunked, whole, 1e-5)  # CSV: six significant digits


def test_memory_does_not_grow_with_input_length(tiny_model, small_frame):
    from lstmae_cli import Detector

    detector = Detector.load(tiny_model)
    scorer = detector.stream_scorer()
    chunks = (small_frame.iloc[i : i + 50] for i in range(0, len(small_frame), 50))
    kept = []
    for _ in scorer.run(chunks):
        state = scorer.states[""]
        pending = sum(len(p) for p in state.pending)
        kept.append((len(state.scorer.rows), pending))
    seq_len = detector.params.seq_len
    assert len(kept) >= len(small_frame) // 50  # one output frame per chunk, not one at the end
    assert all(rows <= seq_len + 50 and pending <= seq_len + 50 for rows, pending in kept)


def test_a_stream_scorer_needs_only_the_scoring_model(tiny_model, small_frame):
    """StreamScorer takes ScoringModel (scaler, row-scorer maker, score model, threshold,
    ...), not the Detector: it scores the same once the Detector is gone."""
    import gc

    from lstmae_cli import Detector
    from lstmae_cli.scoring.streaming import ScoringModel, StreamScorer

    detector = Detector.load(tiny_model)
    expected = detector.score_frame(small_frame)
    model = detector.scoring_model()
    assert isinstance(model, ScoringModel) and model.features == ["f0", "f1", "f2"]
    assert model.threshold == detector.threshold_ and model.seq_len == detector.params.seq_len
    del detector
    gc.collect()
    scorer = StreamScorer(model, "<frame>", [])
    chunks = (small_frame.iloc[i : i + 64] for i in range(0, len(small_frame), 64))
    pd.testing.assert_frame_equal(pd.concat(scorer.run(chunks), ignore_index=True), expected)


def _pipe_batches(chunk_rows: int, writes: list[tuple[bytes, float]]) -> list[list[bytes]]:
    """Batches LineBatcher makes of `writes` (bytes, pause after) sent through a real pipe."""
    read_fd, write_fd = os.pipe()

    def producer():
        with os.fdopen(write_fd, "wb", buffering=0) as sink:
            for data, pause in writes:
                sink.write(data)
                time.sleep(pause)

    thread = threading.Thread(target=producer)
    thread.start()
    with os.fdopen(read_fd, "rb") as source:
        batches = list(LineBatcher(source, chunk_rows).batches())
    thread.join()
    return batches


def test_pipe_batches_end_at_chunk_rows_and_when_the_producer_pauses():
    lines = [f"{i},{i * 2}\n".encode() for i in range(10)]
    batches = _pipe_batches(4, [(b"".join(lines[:6]), 1.0), (b"".join(lines[6:]), 0.0)])
    assert [len(b) for b in batches] == [4, 2, 4]  # 4 full, 2 handed on at the pause, 4 at EOF
    assert b"\n".join(sum(batches, [])) + b"\n" == b"".join(lines)


def test_pipe_batches_keep_a_last_line_without_newline():
    batches = _pipe_batches(100, [(b"1,2\n3,", 0.2), (b"4", 0.0)])
    assert sum(batches, []) == [b"1,2", b"3,4"]


def test_first_rows_come_out_before_the_input_ends(tiny_model, small_frame):
    """producer | lstmae score m - | consumer: output appears while stdin is still open."""
    text = small_frame.to_csv(index=False).splitlines(keepends=True)
    process = subprocess.Popen(
        lstmae("score", tiny_model, "-", "-q"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: readline below must not read ahead of communicate()
    )
    process.stdin.write("".join(text[:201]).encode())  # header + 200 rows; stdin stays open
    process.stdin.flush()
    ready, _, _ = select.select([process.stdout], [], [], 120)
    assert ready, "no output while the input was still open"
    header = process.stdout.readline().decode()
    first = process.stdout.readline().decode()
    assert header.startswith("timestamp,row,score") and first.split(",")[1] == "0"
    assert process.poll() is None  # still waiting for the rest of the input
    process.stdin.write("".join(text[201:]).encode())
    rest, errors = process.communicate(timeout=120)
    assert process.returncode == 0, errors.decode()
    assert 2 + len(rest.decode().splitlines()) == len(small_frame) + 1


def test_ctrl_c_exits_130_without_traceback_or_output_file(tiny_model, small_frame, tmp_path):
    out = tmp_path / "scores.csv"
    process = subprocess.Popen(
        lstmae("score", tiny_model, "-", "-o", out, "--chunk-rows", "50"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdin.write(small_frame.to_csv(index=False).encode()[:4000])
    process.stdin.flush()
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".scores.csv.*")) and time.monotonic() < deadline:
        time.sleep(0.1)  # the temp output file appears once the model is loaded and reading
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=60)
    process.stdin.close()
    assert process.returncode == 130
    assert errors.decode().strip().splitlines() == ["lstmae: interrupted"]
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temp file


# ------------------------------------------------------------------------------- formats
def test_jsonl_and_parquet_hold_the_same_rows_as_csv(tiny_model, small_csv, tmp_path):
    csv = scores(tiny_model, small_csv)
    jsonl = run("score", tiny_model, small_csv, "-f", "jsonl", "-q")
    assert jsonl.exit_code == 0, jsonl.output
    records = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert len(records) == len(csv) and set(records[0]) == set(csv.columns)
    np.testing.assert_allclose([r["score"] for r in records], csv["score"], rtol=device_rtol(1e-9))
    out = tmp_path / "scores.parquet"
    assert run("score", tiny_model, small_csv, "-f", "parquet", "-o", out, "-q").exit_code == 0
    parquet = pd.read_parquet(out)
    assert list(parquet.columns) == list(csv.columns)
    same = device_rtol(1e-5)  # CSV: 6 digits
    np.testing.assert_allclose(parquet["score"], csv["score"], rtol=same)
    assert parquet["is_anomaly"].tolist() == csv["is_anomaly"].tolist()


@pytest.mark.parametrize(
    ("name", "format_args", "kind"),
    [
        ("out.parquet", [], "parquet"),
        ("out.PQ", [], "parquet"),
        ("out.jsonl", [], "jsonl"),
        ("out.ndjson", [], "jsonl"),
        ("out.txt", [], "csv"),
        ("out", [], "csv"),
        ("out.parquet", ["-f", "csv"], "csv"),  # a format given stands
    ],
)
def test_output_format_follows_the_extension_unless_given(
    tiny_model, small_csv, tmp_path, name, format_args, kind
):
    out = tmp_path / name
    assert run("score", tiny_model, small_csv, "-o", out, "-q", *format_args).exit_code == 0
    expected = len(pd.read_csv(small_csv))
    if kind == "parquet":
        assert len(pd.read_parquet(out)) == expected
    elif kind == "jsonl":
        lines = out.read_text().splitlines()
        assert len(lines) == expected and "score" in json.loads(lines[0])
    else:
        assert len(pd.read_csv(out)) == expected


def test_parquet_input_scores_like_csv(tiny_model, small_csv, small_frame, tmp_path):
    data = tmp_path / "in.parquet"
    small_frame.to_parquet(data)
    from_parquet = scores(tiny_model, data, "--chunk-rows", "100")
    assert_frames_close(from_parquet, scores(tiny_model, small_csv), 1e-5)


def test_parquet_needs_an_output_file(tiny_model, small_csv):
    result = run("score", tiny_model, small_csv, "-f", "parquet")
    assert result.exit_code == 2 and "--output" in result.output


def test_output_file_is_written_whole_and_alone(tiny_model, small_csv, tmp_path):
    out = tmp_path / "scores.csv"
    assert run("score", tiny_model, small_csv, "-o", out, "-q").exit_code == 0
    assert len(pd.read_csv(out)) == 600 and [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_failed_run_leaves_no_output_file(tiny_model, small_frame, tmp_path):
    data, out = tmp_path / "bad.csv", tmp_path / "scores.csv"
    broken = small_frame.astype({"f1": object})
    broken.loc[400, "f1"] = "oops"  # after the first chunks have been written
    broken.to_csv(data, index=False)
    result = run("score", tiny_model, data, "-o", out, "--chunk-rows", "100")
    assert result.exit_code == 1 and "'f1', row 401" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["bad.csv"]


def test_only_anomalies_and_keep_columns(tiny_model, small_frame, tmp_path):
    data = tmp_path / "tagged.csv"
    small_frame.assign(site="north", note=np.arange(600) % 7).to_csv(data, index=False)
    every_alert = ("--min-rows", "1")  # the tiny model's short alerts count here
    full = scores(tiny_model, data, "--keep-columns", "site,note", *every_alert)
    assert full["site"].eq("north").all() and full["note"].tolist() == list(np.arange(600) % 7)
    assert 0 < full["is_anomaly"].sum() < 600, "fixture should flag some rows, not all"
    flagged = scores(tiny_model, data, "--only-anomalies", "--chunk-rows", "64", *every_alert)
    assert flagged["is_anomaly"].all()
    assert flagged["row"].tolist() == full.loc[full["is_anomaly"], "row"].tolist()
    missing = run("score", tiny_model, data, "--keep-columns", "nope")
    assert missing.exit_code == 1 and "missing column(s) nope" in missing.output


def test_only_anomalies_at_window_and_event_level(tiny_model, small_csv):
    windows = scores(tiny_model, small_csv, "--level", "window")
    flagged = scores(tiny_model, small_csv, "--level", "window", "--only-anomalies")
    assert flagged["start_row"].tolist() == windows.loc[windows["is_anomaly"], "start_row"].tolist()
    events = scores(tiny_model, small_csv, "--level", "event", "--min-rows", "1")
    assert len(events), "fixture should give some events"
    pd.testing.assert_frame_equal(
        scores(tiny_model, small_csv, "--level", "event", "--only-anomalies", "--min-rows", "1"),
        events,
    )


# --------------------------------------------------------------------- summary and codes
def test_summary_line_counts_rows_anomalies_and_events(tiny_model, small_csv):
    rules = ("--merge-gap", "3", "--min-rows", "1")
    rows = scores(tiny_model, small_csv, *rules)
    events = scores(tiny_model, small_csv, "--level", "event", *rules)
    result = run("score", tiny_model, small_csv, *rules)
    last = result.stderr.strip().splitlines()[-1]
    flagged = int(rows["is_anomaly"].sum())
    assert last.startswith(
        f"lstmae: scored 600 rows: {flagged} anomalous rows, {len(events)} events"
    )
    assert last.endswith("rows/s")
    assert run("score", tiny_model, small_csv, "--quiet").stderr == ""


@pytest.mark.parametrize(
    "args, code",
    [
        (["--chunk-rows", "0"], 2),
        (["--merge-gap", "-1"], 2),
        (["--min-rows", "0"], 2),
        (["--format", "xml"], 2),
        (["--threshold", "1e12", "--fail-on-anomaly"], 0),
        (["--threshold", "-1", "--fail-on-anomaly"], 3),
    ],
)
def test_exit_codes(tiny_model, small_csv, args, code):
    result = run("score", tiny_model, small_csv, "-q", *args)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output


def test_parquet_column_changing_type_is_a_one_line_error(tiny_model, small_frame, tmp_path):
    data, out = tmp_path / "drift.csv", tmp_path / "out.parquet"
    drift = small_frame.assign(note=None)
    drift.loc[400:, "note"] = "valve open"  # empty (float NaN) in the first chunks, text later
    drift.to_csv(data, index=False)
    args = ["--keep-columns", "note", "-f", "parquet", "-o", out, "--chunk-rows", "100"]
    result = run("score", tiny_model, data, *args)
    assert result.exit_code == 1
    assert "column 'note' is double" in result.output and "then string" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["drift.csv"]
    whole = run("score", tiny_model, data, *args[:-1], "100000", "-q")  # one chunk: one type
    assert whole.exit_code == 0 and pd.read_parquet(out)["note"].iloc[-1] == "valve open"


def test_training_windows_are_indices_into_the_rows_not_copies():
    from lstmae_cli.nn.windows import WindowBank

    values = np.random.default_rng(0).normal(size=(20_000, 8)).astype(np.float32)
    bank = WindowBank.from_series([values[:12_000], values[12_000:]], seq_len=32, stride=1)
    assert len(bank) == (12_000 - 31) + (8_000 - 31)
    held = bank.rows.nbytes + bank.starts.nbytes  # what the bank keeps
    assert held < 2 * values.nbytes < len(bank) * 32 * 8 * 4  # far below stacked windows
    assert bank.rows.shape == values.shape


def test_pipeline_recipes_use_real_options():
    """Every --option in the pipeline recipes of docs/pipelines.md exists on its command."""
    import re
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "pipelines.md").read_text()
    text = page.replace("\\\n", " ")
    commands = re.findall(r"lstmae (train|score|threshold) ([^|\n]*)", text)
    assert {c for c, _ in commands} == {"train", "score", "threshold"}
    for command, args in commands:
        help_text = run(command, "--help").output
        for option in re.findall(r"(?<!\S)(--[a-z-]+)", args):
            assert option in help_text, (command, option)
