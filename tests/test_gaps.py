"""Row-level alerts: short gaps between flagged rows are flagged, the same in any chunking."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lstmae_cli.cli import app
from lstmae_cli.gaps import GapCloser


def closed_by_hand(flags: list[bool], gap: int) -> list[bool]:
    """Reference: every run of 1..gap unflagged rows with flagged rows on both sides."""
    out = list(flags)
    flagged = [i for i, f in enumerate(flags) if f]
    for a, b in zip(flagged[:-1], flagged[1:], strict=True):
        if 0 < b - a - 1 <= gap:
            out[a + 1 : b] = [True] * (b - a - 1)
    return out


def through(closer: GapCloser, frame: pd.DataFrame, cuts: list[int]) -> pd.DataFrame:
    parts = [closer(frame.iloc[a:b]) for a, b in zip([0, *cuts], [*cuts, len(frame)], strict=True)]
    held = closer.finish()
    return pd.concat([*parts, *([held] if held is not None else [])], ignore_index=True)


@settings(max_examples=300, deadline=None)
@given(
    flags=st.lists(st.booleans(), min_size=1, max_size=120),
    gap=st.integers(0, 8),
    cuts=st.lists(st.integers(0, 120), max_size=5),
)
def test_any_chunking_gives_the_reference_flags(flags, gap, cuts):
    frame = pd.DataFrame({"row": np.arange(len(flags)), "is_anomaly": flags})
    cuts = sorted(c for c in cuts if c <= len(flags))
    out = through(GapCloser(gap), frame, cuts)
    assert out["row"].tolist() == list(range(len(flags)))  # every row once, in order
    assert out["is_anomaly"].tolist() == closed_by_hand(flags, gap)


def test_rows_after_an_alert_wait_at_most_merge_gap_rows():
    closer = GapCloser(3)
    frame = pd.DataFrame({"row": range(6), "is_anomaly": [False, True, False, False, False, False]})
    first = closer(frame.iloc[:4])  # rows 2-3 may still join the alert
    assert first["row"].tolist() == [0, 1]
    second = closer(frame.iloc[4:])  # 4 unflagged rows now: the gap is too long to join
    assert second["row"].tolist() == [2, 3, 4, 5] and not second["is_anomaly"].any()
    assert closer.finish() is None


def test_a_new_alert_is_never_held():
    closer = GapCloser(5)
    out = closer(pd.DataFrame({"row": range(3), "is_anomaly": [False, False, True]}))
    assert out["row"].tolist() == [0, 1, 2] and out["is_anomaly"].tolist() == [False, False, True]


def score_rows(*args) -> pd.DataFrame:
    result = CliRunner().invoke(app, ["score", *map(str, args), "-q"])
    assert result.exit_code == 0, result.output
    return pd.read_csv(io.StringIO(result.stdout))


def test_score_fills_short_gaps_and_merge_gap_0_keeps_raw_flags(tiny_model, small_csv):
    scores = score_rows(tiny_model, small_csv)["score"]
    threshold = float(scores.quantile(0.8))  # flags a fifth of the rows, in many runs
    raw = score_rows(tiny_model, small_csv, "--merge-gap", 0, "--threshold", threshold)
    assert (raw["is_anomaly"] == (raw["score"] > raw["threshold"])).all()
    gap = 8
    alerts = score_rows(tiny_model, small_csv, "--merge-gap", gap, "--threshold", threshold)
    expected = closed_by_hand(raw["is_anomaly"].tolist(), gap)
    assert alerts["is_anomaly"].tolist() == expected
    assert sum(expected) > raw["is_anomaly"].sum()  # the data holds gaps to fill
    chunked = score_rows(
        tiny_model, small_csv, "--merge-gap", gap, "--threshold", threshold, "--chunk-rows", 37
    )
    pd.testing.assert_frame_equal(chunked, alerts)
