"""The drift allowance (drift.py): slow level drift is followed, faster changes stay flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmae_cli import Detector
from lstmae_cli.scoring.drift import BLOCK, DriftTracker, track_series

from ..helpers import FAST, make_frame


@settings(max_examples=150, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    rate=st.sampled_from([0.0, 0.0005, 0.01, 0.2]),
)
def test_any_chunking_gives_the_whole_series_result(cuts, rate):
    values = np.random.default_rng(1).normal(size=(400, 3)).astype(np.float32)
    values[:, 0] += np.linspace(0, 5, 400)
    whole = track_series(values, rate)
    tracker, parts, previous = DriftTracker(3, rate), [], 0
    for cut in [*sorted(cuts), 400]:
        parts.append(tracker(values[previous:cut]))
        previous = cut
    assert np.array_equal(np.concatenate(parts), whole)
    assert whole.dtype == values.dtype


def test_level_follows_slow_drift_and_lags_a_jump():
    rows = 3200
    slow = np.linspace(0, 2, rows)[:, None]  # 2 units over 3200 rows: 0.000625 a row
    assert abs(track_series(slow, 0.001)[-BLOCK:].mean()) < 0.1  # followed
    jump = np.where(np.arange(rows) >= 1600, 3.0, 0.0)[:, None]
    left = track_series(jump, 0.001)
    assert left[1600 + 10 * BLOCK, 0] > 2.5  # 320 rows after the jump, most of it is there
    assert np.array_equal(track_series(jump, 0.0), jump)  # rate 0: off


def test_the_first_block_is_not_shifted_and_a_median_ignores_spikes():
    values = np.zeros((3 * BLOCK, 1))
    values[BLOCK // 2, 0] = 1000.0  # one wild value in the first block
    tracked = track_series(values, 0.5)
    assert tracked[BLOCK // 2, 0] == 1000.0
    assert np.all(tracked[BLOCK:] == 0.0)  # the median of the block is 0: no level moved


def warming(rows: int, start: int = 0, rise: float = 0.0) -> pd.DataFrame:
    """make_frame's channels, f0 warming up by `rise` (in its own standard deviations) over
    the rows: a slow drift within normal operation."""
    frame = make_frame(rows + start, seed=5).iloc[start:].reset_index(drop=True)
    spread = frame["f0"].std()
    frame["f0"] = frame["f0"] + np.linspace(0, rise * spread, rows)
    return frame


def test_slow_warm_up_is_not_flagged_with_the_allowance(one_thread):
    train = warming(900)
    later = warming(2400, start=900, rise=6.0)  # ends 6 standard deviations above training
    flagged = {}
    for rate in (0.0, 0.005):
        detector = Detector(**(FAST | {"drift_rate": rate, "calibration_folds": 3}))
        detector.fit([("train", train)])
        flagged[rate] = detector.score_frame(later)["is_anomaly"].mean()
    assert flagged[0.0] > 0.3  # without it, the warm-up floods
    assert flagged[0.005] < 0.05


def test_a_sudden_shift_is_still_flagged_with_the_allowance(one_thread):
    train = warming(900)
    later = warming(1200, start=900)
    later.loc[600:, "f1"] += 4 * later["f1"].std()  # a sudden, lasting fault
    detector = Detector(**(FAST | {"drift_rate": 0.005, "calibration_folds": 3}))
    flags = detector.fit([("train", train)]).score_frame(later)["is_anomaly"].to_numpy()
    assert flags[600:800].mean() > 0.8
    assert flags[:560].mean() < 0.05
