"""Row-level alerts: short gaps joined, alerts shorter than --min-rows dropped, any chunking."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lstmae_cli.cli.app import app
from lstmae_cli.scoring.alerts import AlertFilter

from ..helpers import assert_frames_close


def alerts_by_hand(flags: list[bool], gap: int, min_rows: int = 1) -> list[bool]:
    """Reference: fill every run of 1..gap unflagged rows between flagged rows, then unflag
    every run (gaps filled) spanning fewer than min_rows rows."""
    out = list(flags)
    flagged = [i for i, f in enumerate(flags) if f]
    for a, b in zip(flagged[:-1], flagged[1:], strict=True):
        if 0 < b - a - 1 <= gap:
            out[a + 1 : b] = [True] * (b - a - 1)
    i = 0
    while i < len(out):
        if out[i]:
            j = i
            while j < len(out) and out[j]:
                j += 1
            if j - i < min_rows:
                out[i:j] = [False] * (j - i)
            i = j
        else:
            i += 1
    return out


def through(alerts: AlertFilter, frame: pd.DataFrame, cuts: list[int]) -> pd.DataFrame:
    bounds = zip([0, *cuts], [*cuts, len(frame)], strict=True)
    parts = [alerts(frame.iloc[a:b]) for a, b in bounds]
    held = alerts.finish()
    return pd.concat([*parts, *([held] if held is not None else [])], ignore_index=True)


@settings(max_examples=400, deadline=None)
@given(
    flags=st.lists(st.booleans(), min_size=1, max_size=120),
    gap=st.integers(0, 8),
    min_rows=st.integers(1, 12),
    cuts=st.lists(st.integers(0, 120), max_size=5),
)
def test_any_chunking_gives_the_reference_flags(flags, gap, min_rows, cuts):
    frame = pd.DataFrame({"row": np.arange(len(flags)), "is_anomaly": flags})
    cuts = sorted(c for c in cuts if c <= len(flags))
    out = through(AlertFilter(gap, min_rows), frame, cuts)
    assert out["row"].tolist() == list(range(len(flags)))  # every row once, in order
    assert out["is_anomaly"].tolist() == alerts_by_hand(flags, gap, min_rows)


def frame_of(flags: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"row": range(len(flags)), "is_anomaly": [bool(f) for f in flags]})


def test_rows_after_an_alert_wait_at_most_merge_gap_rows():
    alerts, frame = AlertFilter(3), frame_of([0, 1, 0, 0, 0, 0])
    assert alerts(frame.iloc[:4])["row"].tolist() == [0, 1]  # rows 2-3 may still join
    second = alerts(frame.iloc[4:])  # 4 unflagged rows now: too long a gap to join
    assert second["row"].tolist() == [2, 3, 4, 5] and not second["is_anomaly"].any()
    assert alerts.finish() is None


def test_an_alert_is_emitted_once_it_spans_min_rows_rows():
    alerts, frame = AlertFilter(0, 3), frame_of([0, 1, 1, 1, 1, 0])
    assert alerts(frame.iloc[:3])["row"].tolist() == [0]  # rows 1-2: too short so far
    confirmed = alerts(frame.iloc[3:4])
    assert confirmed["row"].tolist() == [1, 2, 3] and confirmed["is_anomaly"].all()
    assert alerts(frame.iloc[4:5])["is_anomaly"].tolist() == [True]  # the rest as it comes
    assert alerts(frame.iloc[5:])["is_anomaly"].tolist() == [False]


def test_a_short_blip_is_no_alert():
    out = through(AlertFilter(2, 4), frame_of([0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 1, 1]), [5])
    assert out["is_anomaly"].astype(int).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]


def score_rows(*args) -> pd.DataFrame:
    result = CliRunner().invoke(app, ["score", *map(str, args), "-q"])
    assert result.exit_code == 0, result.output
    return pd.read_csv(io.StringIO(result.stdout))


def test_score_alerts_follow_merge_gap_and_min_rows(tiny_model, small_csv):
    scores = score_rows(tiny_model, small_csv)["score"]
    threshold = float(scores.quantile(0.8))  # flags a fifth of the rows, in many runs
    raw = score_rows(
        tiny_model, small_csv, "--merge-gap", 0, "--min-rows", 1, "--threshold", threshold
    )
    assert (raw["is_anomaly"] == (raw["score"] > raw["threshold"])).all()
    for gap, min_rows in ((8, 1), (8, 12), (0, 5)):
        args = ("--merge-gap", gap, "--min-rows", min_rows, "--threshold", threshold)
        alerts = score_rows(tiny_model, small_csv, *args)
        expected = alerts_by_hand(raw["is_anomaly"].tolist(), gap, min_rows)
        assert alerts["is_anomaly"].tolist() == expected
        assert expected != raw["is_anomaly"].tolist()  # the data holds gaps / short runs
        chunked = score_rows(tiny_model, small_csv, *args, "--chunk-rows", 37)
        assert_frames_close(chunked, alerts, 1e-5)  # pandas' default


def test_default_alert_rules_come_from_the_model(tiny_model):
    from lstmae_cli import Detector

    detector = Detector.load(tiny_model)
    scorer = detector.stream_scorer()
    assert scorer.merge_gap == detector.params.seq_len
    assert scorer.min_rows == detector.params.smooth + 1
