"""--max-gap: a jump in time cuts a series in parts, trained and scored apart."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstmae_cli import Detector
from lstmae_cli.cli.app import app
from lstmae_cli.errors import LstmaeWarning, UsageError
from lstmae_cli.io.data import time_steps, warn_jump
from lstmae_cli.params import gap_size

from ..helpers import FAST, make_frame

GAPPED = FAST | {"max_gap": "1h", "drift_rate": 0.001, "smooth": 4}
SCORED = ["score", "is_anomaly", "err_f0", "err_f1", "err_f2"]


def jumped(frame: pd.DataFrame, at: list[int]) -> pd.DataFrame:
    """`frame` with its times moved a day later at each row of `at` (an outage there)."""
    times = pd.to_datetime(frame["timestamp"])
    days = sum((frame.index >= row).astype(int) for row in at)
    shifted = times + pd.to_timedelta(days, unit="D")
    return frame.assign(timestamp=shifted.dt.strftime("%Y-%m-%d %H:%M:%S"))


@pytest.fixture(scope="module")
def gapped_model() -> Detector:
    return Detector(**GAPPED).fit([("train", make_frame(600, seed=1))])


def scores(detector: Detector, frame: pd.DataFrame, chunk_rows: int | None = None):
    chunks = (
        [frame]
        if chunk_rows is None
        else [frame.iloc[i : i + chunk_rows] for i in range(0, len(frame), chunk_rows)]
    )
    return pd.concat(detector.stream_scores(chunks), ignore_index=True)


@pytest.mark.parametrize("chunk_rows", [None, 37, 200])
def test_the_parts_score_as_files_of_their_own(gapped_model, chunk_rows):
    """Network state, drift level, smoothing and alerts start afresh after the jump; the
    row numbers go on."""
    frame = jumped(make_frame(500, seed=2), at=[200])
    got = scores(gapped_model, frame, chunk_rows)
    apart = [scores(gapped_model, frame.iloc[:200]), scores(gapped_model, frame.iloc[200:])]
    pd.testing.assert_frame_equal(got[SCORED], pd.concat(apart, ignore_index=True)[SCORED])
    assert got["row"].tolist() == list(range(500))


def test_without_max_gap_windows_join_the_parts(gapped_model):
    frame = jumped(make_frame(500, seed=2), at=[200])
    gapped_model.params.max_gap = None
    try:
        joined = scores(gapped_model, frame)
    finally:
        gapped_model.params.max_gap = "1h"
    apart = scores(gapped_model, frame)
    assert not np.allclose(joined["score"][190:220], apart["score"][190:220])
    np.testing.assert_allclose(joined["score"][:180], apart["score"][:180])


@pytest.mark.parametrize("chunk_rows", [None, 5])
def test_rows_too_few_for_a_window_stay_with_the_part_before(gapped_model, chunk_rows):
    """Jumps at rows 200 and 210 (10 rows, fewer than seq_len 16): those rows are scored
    with the first part, as without max_gap; none is lost."""
    frame = jumped(make_frame(500, seed=3), at=[200, 210])
    got = scores(gapped_model, frame, chunk_rows)
    apart = [scores(gapped_model, frame.iloc[:210]), scores(gapped_model, frame.iloc[210:])]
    pd.testing.assert_frame_equal(got[SCORED], pd.concat(apart, ignore_index=True)[SCORED])
    assert len(got) == 500


def test_training_cuts_the_series_at_jumps_or_names_the_first():
    frame = jumped(make_frame(900, seed=4), at=[300, 600])
    with warnings.catch_warnings():
        warnings.simplefilter("error", LstmaeWarning)  # cut: nothing to warn about
        detector = Detector(**GAPPED).fit([("train", frame)])
    assert detector.data_info_["series"] == 3
    with pytest.warns(LstmaeWarning) as caught:
        whole = Detector(**FAST).fit([("train", frame)])
    assert whole.data_info_["series"] == 1
    (jump,) = [str(w.message) for w in caught if "jump" in str(w.message)]
    assert jump.startswith("train: the times jump by 1 d at row 301 (1,441x the typical step")


def test_a_bad_max_gap_is_a_usage_error(tmp_path, small_frame):
    with pytest.raises(UsageError, match="--max-gap '1 hour': give a duration"):
        Detector(**FAST | {"max_gap": "1 hour"}).fit([("x", small_frame)])
    small_frame.to_csv(tmp_path / "x.csv", index=False)
    model = tmp_path / "m.safetensors"
    args = ["train", str(tmp_path / "x.csv"), "-o", str(model), "--max-gap", "-1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and not model.exists()
    assert "--max-gap '-1': give a duration" in result.stderr


@pytest.mark.parametrize(
    ("step", "jump", "example"),
    [
        ("1s", "1h", "10s"),
        ("5min", "3D", "1h"),
        ("1h", "7D", "12h"),
        ("1D", "365D", "14d"),
        ("7D", "3650D", "70d"),
    ],
)
def test_the_jump_warning_suggests_a_cut_that_fits_the_step(step, jump, example):
    """The --max-gap a jump's warning suggests lies between 10x the typical step and the
    jump, and parses as the option: hourly data is not told to cut at every hour."""
    times = pd.Series(pd.date_range("2026-01-01", periods=50, freq=step))
    times = times.where(times.index < 25, times + pd.Timedelta(jump))
    steps = time_steps(times, None)
    with pytest.warns(LstmaeWarning, match=rf"`train --max-gap {example}` cuts"):
        assert warn_jump(times, steps, "f.csv")
    typical = pd.Timedelta(step).total_seconds()
    assert 10 * typical <= gap_size(example) < np.nanmax(steps)
