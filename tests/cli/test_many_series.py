"""Long-format files with many machines: `--id-column` on train, score and threshold."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstmae_cli import Detector
from lstmae_cli.cli.app import app

from ..helpers import FAST, assert_frames_close, device_rtol, make_frame

runner = CliRunner()
IDS = ("pump-a", "pump-b", "pump-c")
FAST_ARGS = ["--seq-len", "16", "--hidden", "16", "--epochs", "2", "--batch-size", "64"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def machines(rows: int = 300) -> dict[str, pd.DataFrame]:
    """One series per machine, each with its own phase; same timestamps for all."""
    return {
        key: make_frame(rows, seed=i).assign(f0=lambda f, i=i: f["f0"] + i)
        for i, key in enumerate(IDS)
    }


def interleave(series: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Long format, rows of the machines interleaved one by one (time order kept per machine)."""
    parts = [
        frame.assign(machine=key, _order=np.arange(len(frame))) for key, frame in series.items()
    ]
    long = pd.concat(parts).sort_values(["_order", "machine"], kind="stable")
    return long.drop(columns="_order")[["machine", "timestamp", "f0", "f1", "f2"]]


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "long.csv"
    interleave(machines()).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def long_model(tmp_path_factory, long_csv):
    path = tmp_path_factory.mktemp("long_model") / "m.safetensors"
    result = run("train", long_csv, "-o", path, "--id-column", "machine", *FAST_ARGS, "-q")
    assert result.exit_code == 0, result.output
    return path


def test_training_splits_by_id_and_windows_never_cross_ids(long_csv):
    detector = Detector(**FAST)
    series, roles = detector._collect_series(
        [("long", pd.read_csv(long_csv))], None, None, "machine", None
    )
    assert [s.name for s in series] == [f"long[{key}]" for key in IDS]
    for s, key in zip(series, IDS, strict=True):  # each series is that machine alone, in order
        expected = machines()[key][["f0", "f1", "f2"]].to_numpy(np.float64)
        np.testing.assert_array_equal(s.values, expected)
    assert roles.features == ["f0", "f1", "f2"]  # the id is not a feature
    assert detector.roles_ is roles


def test_bundle_remembers_the_id_column(long_model):
    info = json.loads(run("inspect", long_model, "--format", "json").stdout)
    assert info["columns"]["id"] == "machine" and info["data"]["series"] == 3


@pytest.mark.parametrize("chunk_rows", [37, 100000])
def test_each_id_scores_as_if_it_were_alone(long_model, long_csv, tmp_path, chunk_rows):
    result = run("score", long_model, long_csv, "--chunk-rows", chunk_rows, "-q")
    assert result.exit_code == 0, result.output
    out = pd.read_csv(io.StringIO(result.stdout))
    assert list(out.columns[:3]) == ["machine", "timestamp", "row"]
    assert len(out) == 900 and sorted(out["machine"].unique()) == list(IDS)
    detector = Detector.load(long_model)
    for key, frame in machines().items():
        alone = detector.score_frame(frame, id_column=None)
        mine = out[out["machine"] == key].sort_values("row")
        assert mine["row"].tolist() == list(range(300))
        assert mine["timestamp"].tolist() == frame["timestamp"].tolist()
        np.testing.assert_allclose(mine["score"], alone["score"], rtol=device_rtol(1e-5))


def test_rows_of_an_id_are_put_in_time_order(long_model, long_csv, tmp_path):
    shuffled = tmp_path / "shuffled.csv"
    pd.read_csv(long_csv).sample(frac=1.0, random_state=3).to_csv(shuffled, index=False)
    a = pd.read_csv(io.StringIO(run("score", long_model, shuffled, "-q").stdout))
    b = pd.read_csv(io.StringIO(run("score", long_model, long_csv, "-q").stdout))
    key = ["machine", "row"]
    a, b = a.sort_values(key, ignore_index=True), b.sort_values(key, ignore_index=True)
    assert_frames_close(a, b, 1e-6)


def test_window_and_event_levels_keep_the_id(long_model, long_csv):
    windows = pd.read_csv(
        io.StringIO(run("score", long_model, long_csv, "--level", "window", "-q").stdout)
    )
    assert windows.columns[0] == "machine"
    assert windows.groupby("machine").size().to_dict() == {key: 300 // 16 + 1 for key in IDS}
    events = run("score", long_model, long_csv, "--level", "event", "--threshold", "-1", "-q")
    frame = pd.read_csv(io.StringIO(events.stdout))
    assert sorted(frame["machine"]) == list(IDS)  # everything flagged: one event per machine
    assert frame["rows"].tolist() == [300, 300, 300]


def test_threshold_refit_by_id(long_model, long_csv, tmp_path):
    model = tmp_path / "copy.safetensors"
    model.write_bytes(long_model.read_bytes())
    result = run("threshold", model, long_csv, "--id-column", "machine", "--q", "0.9")
    assert result.exit_code == 0, result.output
    assert "of 900 rows" in result.output


def test_messages_name_the_series_with_its_id(tmp_path, tiny_model, small_frame):
    """A series is shown as FILE[ID] in warnings and errors (its series name)."""
    far = small_frame.copy()
    far.loc[250, "f1"] += 50.0
    short = small_frame.head(5)  # fewer rows than seq_len: cannot be scored, named
    fleet = pd.concat([small_frame.assign(machine="a"), far.assign(machine="b")])
    path = tmp_path / "fleet.csv"
    fleet.to_csv(path, index=False)
    result = run("score", tiny_model, path, "--id-column", "machine")
    assert result.exit_code == 0, result.output
    assert "1 row(s) with values far outside" in result.stderr
    assert f"first at {path}[b] row 851: f1" in result.stderr  # its data row in the file
    fleet = pd.concat([small_frame.assign(machine="a"), short.assign(machine="c")])
    fleet.to_csv(path, index=False)
    result = run("score", tiny_model, path, "--id-column", "machine")
    assert result.exit_code == 0 and f"left out of the output: {path}[c]" in result.stderr
    short.assign(machine="c").to_csv(path, index=False)  # nothing else: an error
    result = run("score", tiny_model, path, "--id-column", "machine")
    assert result.exit_code != 0 and f"{path}[c]: " in result.stderr
