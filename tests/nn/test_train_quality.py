"""Training behaviour (split, early stopping, seeding) and a detection-quality floor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from lstmae_cli import Detector
from lstmae_cli.errors import InputError

from ..helpers import FAST, device_rtol, make_frame


def test_same_seed_same_model_and_scores(small_frame):
    a = Detector(**FAST, seed=5).fit([("x", small_frame)])
    b = Detector(**FAST, seed=5).fit([("x", small_frame)])
    for name, tensor in a.model_.state_dict().items():
        assert torch.equal(tensor, b.model_.state_dict()[name])
    assert a.threshold_ == b.threshold_
    np.testing.assert_array_equal(
        a.score_frame(small_frame)["score"], b.score_frame(small_frame)["score"]
    )


def test_early_stopping_restores_best_weights(small_frame):
    detector = Detector(**(FAST | {"epochs": 40, "patience": 2, "lr": 0.05}))
    detector.fit([("x", small_frame)])
    history = detector.history_
    best = min(range(len(history)), key=lambda i: history[i]["val_loss"])
    assert len(history) < 40 or best == len(history) - 1
    assert detector.data_info_["best_epoch"] == history[best]["epoch"]


def test_threshold_is_learned_on_the_held_out_tail(small_frame):
    detector = Detector(**FAST, val_fraction=0.25).fit([("x", small_frame)])
    held_out = small_frame.iloc[450:]
    scores = detector.score_frame(held_out)["score"].to_numpy()
    assert detector.val_scores_.shape == (150,)
    np.testing.assert_allclose(
        np.sort(scores), np.sort(detector.val_scores_), rtol=device_rtol(1e-6)
    )
    assert detector.threshold_ == pytest.approx(np.quantile(scores, 0.999), rel=device_rtol(1e-6))


def test_scaler_is_fitted_on_training_rows_only(small_frame):
    shifted = small_frame.copy()
    shifted.loc[480:, "f0"] += 100.0  # only in the held-out 20 %
    detector = Detector(**FAST).fit([("x", shifted)])
    assert abs(detector.scaler_.offset[0]) < 1.0


def test_several_files_are_separate_series():
    a, b = make_frame(300, seed=1), make_frame(200, seed=2)
    detector = Detector(**FAST).fit([("a", a), ("b", b)])
    assert detector.data_info_["series"] == 2 and detector.data_info_["rows"] == 500


def test_too_little_data_is_a_clear_error():
    with pytest.raises(InputError, match="fewer than --seq-len"):
        Detector(**FAST).fit([("x", make_frame(20))])


def test_quality_floor_on_the_machine_data(machine_files):
    """Default options (fewer epochs, for time) find the injected anomalies of every kind."""
    from lstmae_cli.views.metrics import event_metrics, point_metrics

    train, test = machine_files
    detector = Detector(epochs=15).fit([("train", pd.read_csv(train))])
    scored = detector.score_frame(pd.read_csv(test), keep=["anomaly"])
    labels = scored["anomaly"].to_numpy() > 0
    flags = scored["is_anomaly"].to_numpy()
    events, points = event_metrics(labels, flags), point_metrics(labels, flags)
    # measured (score smoothing over 8 rows): event recall 1.0, F1 0.82, FAR 1.8 %, 2 runs
    assert events["event_recall"] >= 0.9, events
    assert points["f1"] >= 0.7, points
    assert points["far"] <= 0.03, points
    assert events["false_alarm_runs"] <= 6, events
    assert detector.data_info_["train_flagged"] <= 0.01  # train's self-check: purely normal
