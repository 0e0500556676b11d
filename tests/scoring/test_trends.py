"""train warns about features that trend through the training rows (scoring/trends.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lstmae_cli import Detector
from lstmae_cli.cli.app import app
from lstmae_cli.errors import LstmaeWarning
from lstmae_cli.scoring.trends import MIN_ROWS, trend_strength, trending_features, warn_trending

from ..helpers import FAST, make_frame

runner = CliRunner()
TRAIN = ["--seq-len", "16", "--hidden", "8", "--epochs", "1", "--batch-size", "64", "-q"]


def with_ramp(rows: int = 600, noise: float = 0.05) -> pd.DataFrame:
    """make_frame's sines plus `temp`, rising through the rows."""
    frame = make_frame(rows)
    rng = np.random.default_rng(1)
    frame["temp"] = np.linspace(0, 1, rows) + rng.normal(0, noise, rows)
    return frame


def test_strength_of_a_ramp_a_cycle_and_a_constant():
    t = np.arange(500, dtype=np.float64)
    values = np.stack([t, np.sin(2 * np.pi * t / 50), np.full(500, 3.0), -t], axis=1)
    strength = trend_strength(values)
    np.testing.assert_allclose(strength[[0, 3]], 1.0)
    assert strength[1] < 0.1  # ten whole cycles: about 0.08
    assert strength[2] == 0.0


def test_missing_values_are_skipped_and_short_features_score_zero():
    t = np.arange(400, dtype=np.float64)
    ramp = t.copy()
    ramp[::3] = np.nan
    mostly_missing = np.full(400, np.nan)
    mostly_missing[: MIN_ROWS - 1] = t[: MIN_ROWS - 1]
    strength = trend_strength(np.stack([ramp, mostly_missing], axis=1))
    np.testing.assert_allclose(strength, [1.0, 0.0])


@settings(max_examples=50, deadline=None)
@given(
    scale=st.floats(0.01, 100.0) | st.floats(-100.0, -0.01),
    offset=st.floats(-1e3, 1e3),
    seed=st.integers(0, 1000),
)
def test_strength_ignores_units_and_direction(scale, offset, seed):
    rng = np.random.default_rng(seed)
    values = np.cumsum(rng.normal(size=(300, 2)), axis=0)  # random walks: any strength
    np.testing.assert_allclose(
        trend_strength(values * scale + offset), trend_strength(values), atol=1e-9
    )


def test_the_strongest_series_counts_and_short_series_are_ignored():
    t = np.arange(300, dtype=np.float64)
    flat = np.stack([np.sin(t / 5), np.cos(t / 7)], axis=1)
    rising = np.stack([np.sin(t / 5), t / 300], axis=1)
    short = np.stack([t[:10], t[:10]], axis=1)  # a perfect trend, too short to count
    assert trending_features([flat, short], ["a", "b"]) == {}
    found = trending_features([flat, rising, short], ["a", "b"])
    assert list(found) == ["b"]
    assert found["b"] == pytest.approx(1.0)


def test_detector_fit_warns_once_naming_the_trending_feature():
    frame = with_ramp()
    with pytest.warns(LstmaeWarning, match=r"temp \(\|r\| 0\.9\d\)") as caught:
        Detector(**FAST, seed=0).fit([("ramp", frame)], time_column="timestamp")
    trends = [w for w in caught if "trend" in str(w.message)]  # the self-check may warn too
    assert len(trends) == 1
    assert "f0" not in str(trends[0].message)


def test_detector_fit_is_silent_on_stationary_features():
    with warnings.catch_warnings():
        warnings.simplefilter("error", LstmaeWarning)
        Detector(**FAST, seed=0).fit([("flat", make_frame())], time_column="timestamp")


def test_a_weak_trend_in_noise_does_not_warn():
    frame = with_ramp(noise=1.0)  # the rise is small beside the noise: |r| about 0.3
    assert trending_features([frame[["temp"]].to_numpy()], ["temp"]) == {}


def test_cli_train_prints_one_warning_line_and_still_trains(tmp_path):
    data, model = tmp_path / "ramp.csv", tmp_path / "m.safetensors"
    with_ramp().to_csv(data, index=False)
    loud = [arg for arg in TRAIN if arg != "-q"]  # -q silences warnings too
    result = runner.invoke(app, ["train", str(data), "-o", str(model), *loud])
    assert result.exit_code == 0, result.output
    trend = "lstmae: warning: these features trend through the training rows"
    lines = [line for line in result.stderr.splitlines() if line.startswith(trend)]
    assert len(lines) == 1, result.stderr
    assert "temp" in lines[0] and "--exclude-columns" in lines[0]
    assert model.exists()
    quiet = runner.invoke(app, ["train", str(data), "-o", str(model), *TRAIN])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr


def test_warning_names_the_drift_allowance_when_one_is_set():
    ramp = [with_ramp()[["temp"]].to_numpy()]
    with pytest.warns(LstmaeWarning, match=r"--drift-rate 0\.001") as caught:
        warn_trending(ramp, ["temp"], drift_rate=0.001)
    assert len(caught) == 1
    with pytest.warns(LstmaeWarning) as plain:
        warn_trending(ramp, ["temp"])
    assert "--drift-rate" not in str(plain[0].message)
