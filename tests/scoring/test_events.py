"""Events: merging flagged rows, their timing, scores and the channel that broke."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstmae_cli import Detector
from lstmae_cli.cli.app import app
from lstmae_cli.scoring.alerts import AlertFilter
from lstmae_cli.scoring.levels import EventBuilder, events_from_rows

from ..helpers import FAST, assert_frames_close, make_frame

FEATURES = ["f0", "f1", "f2"]


def row_frame(flagged: list[int], rows: int = 40, hot: str = "f1") -> pd.DataFrame:
    """A row-level score frame: rows in `flagged` score 10 + row, with their error on `hot`."""
    frame = pd.DataFrame({"row": np.arange(rows)})
    frame["score"] = np.where(frame["row"].isin(flagged), 10.0 + frame["row"], 0.5)
    frame["is_anomaly"] = frame["row"].isin(flagged)
    for name in FEATURES:
        frame[f"err_{name}"] = np.where(frame["is_anomaly"] & (name == hot), 8.0, 1.0)
    return frame


def events(frames, merge_gap=0, min_rows=1, weights=None) -> list[dict]:
    """The events of row frames of one series after the alert rules, as `score` finds them:
    the rows' is_anomaly set by an AlertFilter, its runs made events by an EventBuilder."""
    weights = np.ones(3) if weights is None else np.asarray(weights, float)
    alerts = AlertFilter(merge_gap, min_rows)
    final = [*(alerts(frame) for frame in frames), alerts.finish()]
    builder = EventBuilder(FEATURES, weights)
    return list(events_from_rows([f for f in final if f is not None and len(f)], builder))


def spans(found: list[dict]) -> list[tuple[int, int]]:
    return [(e["start_row"], e["end_row"]) for e in found]


FLAGGED = [5, 6, 7, 10, 20, 21, 30]


@pytest.mark.parametrize(
    "merge_gap, min_rows, expected",
    [
        (0, 1, [(5, 7), (10, 10), (20, 21), (30, 30)]),
        (2, 1, [(5, 10), (20, 21), (30, 30)]),
        (2, 3, [(5, 10)]),
        (8, 1, [(5, 10), (20, 30)]),  # 9 unflagged rows between 10 and 20, 8 between 21 and 30
        (9, 1, [(5, 30)]),
    ],
)
def test_merge_gap_and_min_rows(merge_gap, min_rows, expected):
    found = events([row_frame(FLAGGED)], merge_gap, min_rows)
    assert spans(found) == expected
    assert all(e["flagged_rows"] == e["rows"] for e in found)  # the gaps joined are flagged


def test_an_event_is_a_run_of_flagged_rows():
    """The builder applies no rules of its own: every run of flagged rows is one event."""
    builder = EventBuilder(FEATURES, np.ones(3))
    frame = row_frame(FLAGGED)
    found = list(events_from_rows([frame.iloc[:6], frame.iloc[6:21], frame.iloc[21:]], builder))
    assert spans(found) == [(5, 7), (10, 10), (20, 21), (30, 30)]


@pytest.mark.parametrize("cut", [3, 6, 8, 11, 21, 25])
def test_events_do_not_depend_on_where_chunks_end(cut):
    frame = row_frame(FLAGGED)
    whole = events([frame], merge_gap=2)
    assert events([frame.iloc[:cut], frame.iloc[cut:]], merge_gap=2) == whole


def events_by_hand(flags: np.ndarray, merge_gap: int, min_rows: int) -> list[tuple[int, int]]:
    """The rules on a whole series at once: flagged rows at most merge_gap apart joined,
    spans shorter than min_rows dropped."""
    spans_, rows = [], np.flatnonzero(flags)
    for row in rows:
        if spans_ and row - spans_[-1][1] - 1 <= merge_gap:
            spans_[-1] = (spans_[-1][0], int(row))
        else:
            spans_.append((int(row), int(row)))
    return [(a, b) for a, b in spans_ if b - a + 1 >= min_rows]


@pytest.mark.parametrize("seed", range(6))
def test_events_follow_the_rules_in_any_chunking(seed):
    rng = np.random.default_rng(seed)
    rows = 300
    flags = rng.random(rows) < rng.uniform(0.05, 0.4)
    frame = row_frame(np.flatnonzero(flags).tolist(), rows=rows)
    cuts = np.sort(rng.choice(np.arange(1, rows), size=rng.integers(0, 12), replace=False))
    bounds = [0, *cuts.tolist(), rows]
    chunks = [frame.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    for merge_gap, min_rows in [(0, 1), (1, 1), (3, 2), (0, 3), (7, 5)]:
        expected = events_by_hand(flags, merge_gap, min_rows)
        assert spans(events(chunks, merge_gap, min_rows)) == expected, (merge_gap, min_rows)


def test_event_scores_and_feature_shares():
    found = events([row_frame([5, 6, 7], hot="f2")], weights=[1.0, 1.0, 0.5])
    (event,) = found
    assert (event["rows"], event["flagged_rows"], event["duration"]) == (3, 3, 2.0)
    assert event["peak_score"] == 17.0 and event["mean_score"] == pytest.approx(16.0)
    # per row: f0 1, f1 1, f2 8 * 0.5 = 4 -> shares 1/6, 1/6, 4/6
    assert event["top_feature"] == "f2"
    assert event["top_features"] == "f2:0.67;f0:0.17;f1:0.17"


def test_duration_in_seconds_with_a_time_column():
    frame = row_frame([5, 6, 7, 8])
    frame["timestamp"] = pd.date_range("2026-03-01", periods=len(frame), freq="15s").astype(str)
    builder = EventBuilder(FEATURES, np.ones(3), time_column="timestamp")
    (event,) = events_from_rows([frame], builder)
    assert event["start"] == "2026-03-01 00:01:15" and event["end"] == "2026-03-01 00:02:00"
    assert event["duration"] == 45.0


def test_rows_flagged_everywhere_make_one_event_fast():
    frame = row_frame(list(range(200_000)), rows=200_000)
    (event,) = events([frame])
    assert event["rows"] == 200_000 and event["top_feature"] == "f1"


# -------------------------------------------------------- the broken channel is found
@pytest.fixture(scope="module")
def broken_channel(tmp_path_factory):
    """A model of 4 normal channels, and test data where f2 alone breaks in two places."""
    folder = tmp_path_factory.mktemp("broken")
    normal = make_frame(800, seed=5, features=4)
    model = folder / "m.safetensors"
    Detector(**FAST).fit([("normal", normal)]).save(model)
    test = make_frame(600, seed=6, features=4)
    test.loc[200:239, "f2"] += 3.0  # a step
    test.loc[420:444, "f2"] = test.loc[420:444, "f2"].mean() + np.random.default_rng(0).normal(
        0, 1.0, 25
    )  # noise burst
    data = folder / "test.csv"
    test.to_csv(data, index=False)
    return model, data


def test_event_level_names_the_broken_channel(broken_channel):
    model, data = broken_channel
    args = ["score", model, data, "--level", "event", "--merge-gap", "16", "--min-rows", "5"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    found = pd.read_csv(io.StringIO(result.stdout))
    for first, last in [(200, 239), (420, 444)]:
        overlapping = found[(found["start_row"] <= last) & (found["end_row"] >= first)]
        assert len(overlapping) == 1, found
        event = overlapping.iloc[0]
        assert event["top_feature"] == "f2"
        share, runner_up = (
            float(part.split(":")[1]) for part in event["top_features"].split(";")[:2]
        )
        # well above its fair share of 4 channels, and over twice the next channel's (the
        # smoothed score lets an event run a few normal rows past its end, which dilutes the
        # shares: the noise burst gets 0.49-0.52 across learning rates and score strides)
        assert share >= 0.45 and share >= 2 * runner_up
        assert event["peak_score"] >= event["mean_score"] > 0


def test_library_events_match_the_cli(broken_channel):
    model, data = broken_channel
    detector = Detector.load(model)
    frame = pd.read_csv(data)
    found = detector.score_events(frame, merge_gap=16, min_rows=5)
    chunked = detector.score_events(
        (frame.iloc[i : i + 90] for i in range(0, len(frame), 90)), merge_gap=16, min_rows=5
    )
    assert_frames_close(chunked, found, 1e-5)  # pandas' default
    args = ["score", model, data, "--level", "event", "--merge-gap", "16", "--min-rows", "5"]
    cli = pd.read_csv(io.StringIO(CliRunner().invoke(app, [str(a) for a in args]).stdout))
    assert found["start_row"].tolist() == cli["start_row"].tolist()
    assert found["top_features"].tolist() == cli["top_features"].tolist()


def test_default_merge_gap_is_the_models_seq_len(broken_channel):
    model, data = broken_channel

    def events(*extra: str) -> str:
        args = ["score", str(model), str(data), "--level", "event", "-q", *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        return result.stdout

    seq_len = Detector.load(model).params.seq_len
    default, explicit, apart = (
        events(),
        events("--merge-gap", str(seq_len)),
        events("--merge-gap", "0"),
    )
    assert default == explicit
    # the noise burst flickers around the threshold: 3 runs apart, one event by default
    assert len(pd.read_csv(io.StringIO(apart))) > len(pd.read_csv(io.StringIO(default))) == 2
