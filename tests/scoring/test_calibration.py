"""Calibration on time-blocked folds (folds.py) and train's self-check of its threshold."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lstmae_cli import Detector
from lstmae_cli.cli.app import app
from lstmae_cli.errors import InputError, LstmaeWarning
from lstmae_cli.scoring.folds import held_out_rows, time_blocked_folds

from ..helpers import FAST, make_frame

runner = CliRunner()


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=8, max_value=500), min_size=1, max_size=4),
    folds=st.integers(min_value=2, max_value=6),
)
def test_blocks_hold_out_every_row_once_and_never_train_on_it(lengths, folds):
    plan = time_blocked_folds(lengths, folds, 0.2)
    assert len(plan) == folds
    for series, n in enumerate(lengths):
        held = [fold.held[series] for fold in plan]
        covered = np.zeros(n, int)
        for fold, (start, end) in zip(plan, held, strict=True):
            covered[start:end] += 1
            trained = np.zeros(n, bool)
            for a, b in fold.train[series]:
                trained[a:b] = True
            assert not trained[start:end].any()  # a fold never scores rows it trained on
            assert trained.sum() + (end - start) == n
        assert (covered == 1).all()
        assert held[0][1] == n  # fold 0 (the saved model) holds out the last block
    assert held_out_rows(lengths, folds, 0.2) == sum(lengths)


def test_one_fold_is_the_tail_split():
    (fold,) = time_blocked_folds([100, 50], 1, 0.2)
    assert fold.held == [(80, 100), (40, 50)]
    assert fold.train == [[(0, 80)], [(0, 40)]]
    (whole,) = time_blocked_folds([100], 1, 0.0)
    assert whole.held == [(0, 100)] and whole.train == [[(0, 100)]]


def quiet_start_frame(rows: int = 900) -> pd.DataFrame:
    """Normal data whose noise is three times larger in its first third than afterwards:
    a threshold learned on the tail alone flags much of the start."""
    frame = make_frame(rows, seed=3)
    rng = np.random.default_rng(3)
    for column in ("f0", "f1", "f2"):
        noise = rng.normal(0, 0.05, rows)
        noise[: rows // 3] *= 6
        frame[column] = frame[column] + noise
    return frame


def fitted(frame: pd.DataFrame, **params) -> tuple[Detector, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detector = Detector(**(FAST | params)).fit([("f", frame)])
    return detector, [w for w in caught if issubclass(w.category, LstmaeWarning)]


def test_blocked_calibration_sees_the_whole_period_and_the_self_check_warns(one_thread):
    frame = quiet_start_frame()
    tail, tail_warnings = fitted(frame, calibration_folds=1)
    blocks, block_warnings = fitted(frame, calibration_folds=3)
    assert tail.data_info_["calibration_rows"] == 180  # the last 20 %
    assert blocks.data_info_["calibration_rows"] == 900  # every row, by a network that
    assert tail.data_info_["train_flagged"] > 0.05  # did not fit it
    assert any("flags" in str(w.message) and "dry-run" in str(w.message) for w in tail_warnings)
    assert blocks.data_info_["train_flagged"] < tail.data_info_["train_flagged"] / 3
    assert blocks.threshold_ > tail.threshold_


def test_self_check_share_is_what_threshold_dry_run_counts(one_thread, small_frame):
    detector, _ = fitted(small_frame, calibration_folds=2)
    scores = detector.normal_scores([("small", small_frame)])
    assert detector.data_info_["train_flagged"] == pytest.approx(
        np.mean(scores > detector.threshold_)
    )


def test_folds_too_short_for_a_window_are_an_input_error(small_frame):
    with pytest.raises(InputError, match="calibration-folds"):
        Detector(**(FAST | {"calibration_folds": 60})).fit([("small", small_frame)])


def test_cli_reports_the_share_and_inspect_shows_the_calibration(tmp_path, small_csv):
    model = tmp_path / "m.safetensors"
    args = ["train", str(small_csv), "-o", str(model), "--seq-len", "16", "--hidden", "8"]
    result = runner.invoke(app, [*args, "--epochs", "2", "--calibration-folds", "2"])
    assert result.exit_code == 0, result.output
    assert "% of the training rows" in result.output
    shown = runner.invoke(app, ["inspect", str(model)])
    assert "2 time blocks, 600 rows" in shown.output
    assert "flags" in shown.output  # the share (rich may wrap its words)
    meta = json.loads(runner.invoke(app, ["inspect", str(model), "--format", "json"]).output)
    assert 0.0 <= meta["data"]["train_flagged"] <= 1.0
    loaded = Detector.load(model)
    assert loaded.params.calibration_folds == 2
