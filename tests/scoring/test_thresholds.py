"""Threshold methods as pure functions of score arrays, their guarantees, and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from typer.testing import CliRunner

from lstmae_cli.cli.app import app
from lstmae_cli.errors import UsageError
from lstmae_cli.scoring.thresholds import (
    budget_threshold,
    conformal_p_values,
    fit_threshold,
    fpr_threshold,
    mad_threshold,
    quantile_threshold,
    resolve_params,
    sigma_threshold,
)

from ..helpers import device_rtol, p_value_bounds

runner = CliRunner()
FAST_ARGS = ["--seq-len", "16", "--hidden", "16", "--epochs", "2", "--batch-size", "64", "-q"]
score_lists = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200)


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


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


@pytest.mark.parametrize(
    "method, params, option",
    [
        ("quantile", {"q": 0.0}, "--q"),
        ("sigma", {"k": -1.0}, "--k"),
        ("pot", {"risk": 1.0}, "--risk"),
        ("pot", {"level": 1.2}, "--pot-level"),
        ("fpr", {"alpha": 0.0}, "--alpha"),
        ("budget", {"alerts_per": -1.0}, "--alerts-per"),
        ("budget", {"rows": 0.5}, "--rows"),
        ("manual", {}, "--value"),
        ("manual", {"value": math.inf}, "--value"),
    ],
)
def test_parameters_are_checked_before_any_data(method, params, option):
    with pytest.raises(UsageError, match=option):
        resolve_params(method, params)


def test_fbeta_refuses_to_fit_without_labels():
    with pytest.raises(UsageError, match="lstmae threshold MODEL DATA --method fbeta"):
        resolve_params("fbeta", {})
    with pytest.raises(UsageError, match="labelled"):
        fit_threshold("fbeta", np.arange(10.0))


@given(score_lists)
def test_quantile_threshold_is_within_the_data(values):
    scores = np.array(values)
    value, _ = fit_threshold("quantile", scores, q=0.95)
    assert scores.min() <= value <= scores.max()


def test_manual_keeps_the_value():
    assert fit_threshold("manual", np.arange(5.0), value=2.5) == (2.5, {"value": 2.5})


# --------------------------------------------------------------------------- POT
def _pot_ratio(sample: np.ndarray, risk: float, true_quantile: float) -> float:
    value, _ = fit_threshold("pot", sample, risk=risk)
    return value / true_quantile


def test_pot_recovers_a_generalized_pareto_quantile():
    """An exact GPD tail (shape 0.25): the 1e-4 quantile, 20x above the fitted level."""
    c, scale, risk = 0.25, 2.0, 1e-4
    truth = stats.genpareto.ppf(1 - risk, c, scale=scale)
    ratios, shapes = [], []
    for seed in range(8):
        sample = stats.genpareto.rvs(c, scale=scale, size=50_000, random_state=seed)
        ratios.append(_pot_ratio(sample, risk, truth))
        shapes.append(fit_threshold("pot", sample, risk=risk)[1]["fit"]["shape"])
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.06)
    assert all(0.7 < r < 1.4 for r in ratios)
    assert np.mean(shapes) == pytest.approx(c, abs=0.05)


def test_pot_extrapolates_beyond_the_data_on_a_student_t_tail():
    """|t| with 3 degrees of freedom, risk 1e-5 with 20 000 rows: past the largest score
    the empirical quantile can only return the maximum; POT extrapolates the tail."""
    risk, n = 1e-5, 20_000
    truth = stats.t.ppf(1 - risk / 2, 3)
    ratios = []
    for seed in range(30):
        sample = np.abs(stats.t.rvs(3, size=n, random_state=seed))
        ratios.append(_pot_ratio(sample, risk, truth))
    assert np.median(ratios) == pytest.approx(1.0, abs=0.1)


def test_pot_says_when_the_tail_is_too_thin():
    scores = np.random.default_rng(3).exponential(size=200)  # 4 peaks above the 0.98 quantile
    with pytest.raises(UsageError, match="at least 10 scores"):
        fit_threshold("pot", scores)
    with pytest.raises(UsageError, match="tail fraction"):
        fit_threshold("pot", np.random.default_rng(3).exponential(size=5000), risk=0.1)


# --------------------------------------------------------------------------- fpr
@pytest.mark.parametrize("n, alpha", [(199, 0.05), (60, 0.1), (1000, 0.01)])
@pytest.mark.parametrize("kind", ["lognormal", "rounded"])
def test_fpr_keeps_its_promise_on_held_out_normal_data(n, alpha, kind):
    """Exchangeable normal data, many times over: calibrate on n scores, count false
    positives on fresh scores from the same distribution; the mean rate is <= alpha
    (within sampling error) and not far below it (the conformal rank is tight)."""
    rng = np.random.default_rng(n)
    reps, fresh = 1000, 500

    def draw(size):
        sample = rng.lognormal(0.0, 1.0, size)
        return np.round(sample) if kind == "rounded" else sample  # ties: still <= alpha

    rates = [np.mean(draw(fresh) > fpr_threshold(draw(n), alpha)[0]) for _ in range(reps)]
    k = math.ceil((n + 1) * (1 - alpha))
    spread = math.sqrt(k * (n + 1 - k) / ((n + 1) ** 2 * (n + 2)) + alpha / fresh)
    assert np.mean(rates) <= alpha + 4 * spread / math.sqrt(reps)
    if kind == "lognormal":
        assert np.mean(rates) >= alpha - 1 / (n + 1) - 4 * spread / math.sqrt(reps)


def test_fpr_needs_enough_scores():
    with pytest.raises(UsageError, match="at least 99"):
        fit_threshold("fpr", np.arange(50.0), alpha=0.01)
    assert fit_threshold("fpr", np.arange(99.0), alpha=0.01)[0] == 98.0


@given(st.lists(st.floats(0, 1e3, allow_nan=False), min_size=1, max_size=100), score_lists)
def test_p_values_count_calibration_scores_at_or_above(calibration, scores):
    calibration, scores = np.sort(calibration), np.array(scores)
    expected = [(1 + sum(c >= s for c in calibration)) / (len(calibration) + 1) for s in scores]
    np.testing.assert_allclose(conformal_p_values(calibration, scores), expected)


@given(
    st.lists(st.floats(0, 1e3, allow_nan=False), min_size=20, max_size=200, unique=True),
    st.sampled_from([0.05, 0.1, 0.2]),
)
def test_fpr_flags_exactly_the_rows_with_small_p_values(calibration, alpha):
    calibration = np.sort(calibration)
    threshold, _ = fit_threshold("fpr", calibration, alpha=alpha)
    probe = np.concatenate([calibration, calibration + 1e-3, [-1.0, 2e3]])
    flagged = probe > threshold
    np.testing.assert_array_equal(flagged, conformal_p_values(calibration, probe) <= alpha)


# ------------------------------------------------------------------------ budget
@given(score_lists, st.integers(0, 20), st.integers(1, 100))
def test_budget_is_the_lowest_threshold_within_the_budget(values, alerts, rows):
    scores = np.array(values)
    alerts = min(alerts, rows)
    value, _ = budget_threshold(scores, alerts, rows)
    allowed = (len(scores) * alerts) // rows
    assert np.sum(scores > value) <= allowed
    if allowed < len(scores):  # anything lower flags every score >= value: over budget
        assert np.sum(scores >= value) > allowed


def test_budget_of_distinct_scores_is_exact():
    scores = np.random.default_rng(4).permutation(3000).astype(float)
    value, used = fit_threshold("budget", scores, alerts_per=5, rows=1000)
    assert np.sum(scores > value) == 15 and used["fit"]["allowed"] == 15
    with pytest.raises(UsageError, match="cannot exceed"):
        fit_threshold("budget", scores, alerts_per=5, rows=2)


# ------------------------------------------------------------------------- fbeta
def _fbeta(labels: np.ndarray, flags: np.ndarray, beta: float) -> float:
    tp = np.sum(labels & flags)
    fp, fn = np.sum(~labels & flags), np.sum(labels & ~flags)
    b2 = beta * beta
    return (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp) if tp else 0.0


@settings(max_examples=60)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.booleans()), min_size=2, max_size=80),
    st.sampled_from([0.5, 1.0, 2.0]),
)
def test_fbeta_threshold_is_the_best_of_all_thresholds(pairs, beta):
    scores = np.array([float(s) for s, _ in pairs])
    labels = np.array([bool(y) for _, y in pairs])
    if not labels.any():
        with pytest.raises(UsageError):
            fit_threshold("fbeta", scores, labels=labels, beta=beta)
        return
    value, used = fit_threshold("fbeta", scores, labels=labels, beta=beta)
    candidates = [scores.min() - 1, *np.unique(scores)]
    best = max(_fbeta(labels, scores > t, beta) for t in candidates)
    assert _fbeta(labels, scores > value, beta) == pytest.approx(best)
    assert used["fit"]["fbeta"] == pytest.approx(best)


def test_fbeta_beta_trades_precision_for_recall():
    rng = np.random.default_rng(5)
    labels = np.r_[np.zeros(900, bool), np.ones(100, bool)]
    scores = np.r_[rng.normal(0, 1, 900), rng.normal(2, 1, 100)]
    recall_first, _ = fit_threshold("fbeta", scores, labels=labels, beta=4.0)
    precision_first, _ = fit_threshold("fbeta", scores, labels=labels, beta=0.25)
    assert recall_first < precision_first


# ---------------------------------------------------------------- detector + CLI
def test_detector_stores_method_params_and_fit(tmp_path, tiny_model):
    from lstmae_cli import Detector

    detector = Detector.load(tiny_model)
    value = detector.set_threshold_from_scores(detector.val_scores_, "fpr", alpha=0.05)
    detector.save(tmp_path / "m.safetensors")
    again = Detector.load(tmp_path / "m.safetensors")
    assert again.threshold_ == value and again.threshold_method_ == "fpr"
    assert again.threshold_params_ == {"alpha": 0.05, "fit": {"calibration_rows": 120}}
    assert np.all(np.diff(again.val_scores_) >= 0)


def test_train_refuses_label_methods_and_missing_values_with_exit_2(tmp_path, small_csv):
    model = tmp_path / "m.safetensors"
    fbeta = run("train", small_csv, "-o", model, "--threshold-method", "fbeta", *FAST_ARGS)
    assert fbeta.exit_code == 2 and "needs labelled data" in fbeta.output
    manual = run("train", small_csv, "-o", model, "--threshold-method", "manual", *FAST_ARGS)
    assert manual.exit_code == 2 and "--value is required" in manual.output
    assert not model.exists()


def test_train_refuses_a_held_out_part_too_small_for_the_method(tmp_path, small_csv):
    """600 rows, 120 held out (the tail): pot at level 0.98 needs 500, fpr at 0.001 needs
    999; with 3 calibration folds all 600 rows are held out, still too few for fpr."""
    model = tmp_path / "m.safetensors"
    tail = [*FAST_ARGS, "--calibration-folds", "1"]
    pot = run("train", small_csv, "-o", model, "--threshold-method", "pot", *tail)
    assert pot.exit_code == 2 and "at least 500 held-out scores" in pot.output
    args = ["--threshold-method", "fpr", "--alpha", "0.001"]
    fpr = run("train", small_csv, "-o", model, *args, *tail)
    assert fpr.exit_code == 2 and "about 120 rows" in fpr.output
    blocks = run("train", small_csv, "-o", model, *args, *FAST_ARGS, "--calibration-folds", "3")
    assert blocks.exit_code == 2 and "about 600 rows" in blocks.output
    assert not model.exists()


@pytest.mark.slow  # a real training run (about 10 s alone, far more on a busy machine)
def test_train_with_the_fpr_method(tmp_path, small_csv):
    model = tmp_path / "m.safetensors"
    result = run(
        "train", small_csv, "-o", model, *FAST_ARGS, "--threshold-method", "fpr", "--alpha", "0.05"
    )
    assert result.exit_code == 0, result.output
    info = json.loads(run("inspect", model, "--format", "json").stdout)["threshold"]
    assert info["method"] == "fpr" and info["params"]["alpha"] == 0.05


def _copy(tiny_model, tmp_path):
    model = tmp_path / "copy.safetensors"
    model.write_bytes(tiny_model.read_bytes())
    return model


def _scores(model, data, *extra) -> pd.DataFrame:
    result = run("score", model, data, "-q", *extra)
    assert result.exit_code == 0, result.output
    return pd.read_csv(pd.io.common.StringIO(result.stdout))


def test_threshold_dry_run_prints_and_keeps_the_bundle(tmp_path, tiny_model, small_csv):
    model = _copy(tiny_model, tmp_path)
    result = run("threshold", model, small_csv, "--method", "budget", "--alerts-per", "5",
                 "--rows", "600", "--dry-run")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "flags 5 of 600 rows" in result.output and "dry run" in result.output
    assert "(budget alerts_per=5 rows=600; fit: allowed=5)" in result.output
    assert model.read_bytes() == tiny_model.read_bytes()


def test_threshold_fbeta_on_labelled_data(tmp_path, tiny_model, small_frame):
    labelled = small_frame.assign(label=0)
    labelled.loc[300:330, "label"] = 1
    labelled.loc[300:330, "f1"] += 2.0
    data = tmp_path / "labelled.csv"
    labelled.to_csv(data, index=False)
    model = _copy(tiny_model, tmp_path)
    assert run("threshold", model, data, "--method", "fbeta").exit_code == 2
    result = run("threshold", model, data, "--method", "fbeta", "--label-column", "label",
                 "--beta", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    info = json.loads(run("inspect", model, "--format", "json").stdout)["threshold"]
    assert info["method"] == "fbeta" and info["params"]["beta"] == 2.0
    scores, labels = _scores(model, data)["score"].to_numpy(), labelled["label"].to_numpy() > 0
    candidates = [scores.min() - 1, *np.unique(scores)]
    best = max(_fbeta(labels, scores > t, 2.0) for t in candidates)
    assert _fbeta(labels, scores > info["value"], 2.0) == pytest.approx(best)


def test_score_p_values_after_an_fpr_refit(tmp_path, tiny_model, small_csv):
    model = _copy(tiny_model, tmp_path)
    result = run("threshold", model, small_csv, "--method", "fpr", "--alpha", "0.1")
    assert result.exit_code == 0, result.output
    out = _scores(model, small_csv, "--p-values", "--merge-gap", "0", "--min-rows", "1")
    from safetensors.numpy import load_file

    calibration = load_file(model)["threshold.val_scores"]
    assert len(calibration) == 600
    # the calibration holds these very rows, scored in other batches: each tie may
    # fall either way by rounding (the CSV's digits; CUDA's batch-dependent sums)
    low, high = p_value_bounds(calibration, out["score"], device_rtol(1e-5))
    written = out["p_value"].to_numpy()  # in CSV digits too
    assert (written >= low * (1 - 1e-5)).all() and (written <= high * (1 + 1e-5)).all()
    assert out["p_value"].between(1 / 601, 1).all()
    np.testing.assert_array_equal(out["is_anomaly"], out["p_value"] <= 0.1)
    assert 0 < out["is_anomaly"].sum() <= 60
    joined = _scores(model, small_csv, "--min-rows", "1")["is_anomaly"]  # short gaps filled
    assert (joined >= out["is_anomaly"]).all()
    assert "p_value" not in _scores(model, small_csv).columns
    events = run("score", model, small_csv, "--p-values", "--level", "event")
    assert events.exit_code == 2 and "--level row" in events.output


def test_every_threshold_method_has_a_fit_and_its_defaults_in_params():
    from lstmae_cli.params import THRESHOLD_METHODS
    from lstmae_cli.scoring.thresholds import FITS

    assert list(FITS) == list(THRESHOLD_METHODS)
