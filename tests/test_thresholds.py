"""Threshold methods as pure functions of score arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lstmae_cli.errors import UsageError
from lstmae_cli.thresholds import fit_threshold, mad_threshold, quantile_threshold, sigma_threshold


def test_quantile_matches_numpy():
    scores = np.random.default_rng(0).exponential(size=10_000)
    assert quantile_threshold(scores, 0.99) == pytest.approx(np.quantile(scores, 0.99))
    assert np.mean(scores > quantile_threshold(scores, 0.99)) == pytest.approx(0.01, abs=1e-3)


def test_sigma_and_mad_on_a_normal_sample():
    scores = np.random.default_rng(1).normal(10, 2, 100_000)
    assert sigma_threshold(scores, 3) == pytest.approx(16, abs=0.05)
    assert mad_threshold(scores, 3) == pytest.approx(16, abs=0.1)


def test_mad_ignores_a_few_outliers_that_move_sigma():
    scores = np.concatenate([np.random.default_rng(2).normal(0, 1, 1000), [1e4] * 5])
    assert mad_threshold(scores, 4) < 5 < sigma_threshold(scores, 4)


def test_fit_threshold_records_parameters():
    value, used = fit_threshold("quantile", np.arange(101.0), q=0.9)
    assert value == pytest.approx(90.0) and used == {"q": 0.9}
    _, defaults = fit_threshold("sigma", np.arange(10.0))
    assert defaults == {"k": 4.0}


def test_bad_method_and_parameters():
    with pytest.raises(UsageError):
        fit_threshold("nope", np.ones(3))
    with pytest.raises(UsageError):
        fit_threshold("quantile", np.ones(3), q=1.5)
    with pytest.raises(UsageError):
        fit_threshold("quantile", np.array([np.nan]))


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200))
def test_quantile_threshold_is_within_the_data(values):
    scores = np.array(values)
    value, _ = fit_threshold("quantile", scores, q=0.95)
    assert scores.min() <= value <= scores.max()
