"""The generated suite (benchmarks/synthetic.py): the generator, and lstmae's quality floor.

The floors were first measured on the small configuration below (seed 0, one torch thread,
the defaults before issue 16): point F1 0.83, PR-AUC 0.84, event recall 1.0, 0 false-alarm
runs. They sit below (above, for false alarms) so that noise passes and a real regression
fails; the default options are now checked at the benchmark's size (see the tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import synthetic  # noqa: E402

from lstmae_cli.views.metrics import runs  # noqa: E402

SMALL = {"train_rows": 2500, "test_rows": 3000, "per_kind": 2}
FLOORS = {"f1": 0.75, "pr_auc": 0.78, "event_recall": 0.9}
MOST_FALSE_ALARM_RUNS = 2


@pytest.fixture(scope="module")
def small_data():
    return synthetic.make_dataset(0, **SMALL)


def test_generator_is_deterministic_and_seed_dependent(small_data):
    train, test = small_data
    again_train, again_test = synthetic.make_dataset(0, **SMALL)
    assert train.equals(again_train) and test.equals(again_test)
    other_train, _ = synthetic.make_dataset(1, **SMALL)
    assert not np.allclose(train.to_numpy(), other_train.to_numpy())


def test_test_series_holds_every_kind_apart(small_data):
    train, test = small_data
    assert list(train.columns) == synthetic.FEATURES
    assert len(train) == SMALL["train_rows"] and len(test) == SMALL["test_rows"]
    labels, kinds = test["anomaly"].to_numpy() > 0, test["kind"].to_numpy()
    assert np.array_equal(labels, kinds != "")
    events = runs(labels)
    assert len(events) == SMALL["per_kind"] * len(synthetic.KINDS)  # no two instances touch
    found = [kinds[start] for start, _ in events]
    assert sorted(found) == sorted(k for k in synthetic.KINDS for _ in range(SMALL["per_kind"]))
    starts, ends = np.array(events).T
    assert starts[0] >= synthetic.MIN_GAP and (starts[1:] - ends[:-1]).min() >= synthetic.MIN_GAP
    for start, end in events:
        assert set(kinds[start:end]) == {kinds[start]}


def test_normal_channels_are_correlated(small_data):
    train, _ = small_data
    corr = np.corrcoef(train.to_numpy(), rowvar=False)
    off_diagonal = np.abs(corr[~np.eye(len(corr), dtype=bool)])
    assert off_diagonal.max() > 0.5  # shared latents, not independent noise


def test_pca_baseline_sees_the_anomalies(small_data):
    """The injected instances are visible: a plain PCA on windows finds most of them."""
    train, test = small_data
    [(scores, flags)] = synthetic.run_baseline(synthetic.PCABaseline(), train, [test])
    result = synthetic.evaluate(test, scores, flags)
    assert result["event_recall"] >= 0.7 and result["pr_auc"] >= 0.6


def test_covering_mean_matches_a_loop():
    rng = np.random.default_rng(3)
    window_scores, seq_len = rng.random(20), 5
    rows = len(window_scores) + seq_len - 1
    expected = [
        np.mean([window_scores[w] for w in range(len(window_scores)) if w <= r < w + seq_len])
        for r in range(rows)
    ]
    np.testing.assert_allclose(synthetic.covering_mean(window_scores, seq_len), expected)


def test_per_kind_recall_counts_instances(small_data):
    _, test = small_data
    kinds = test["kind"].to_numpy()
    flags = kinds == "spike"  # a detector that flags exactly the spikes
    result = synthetic.evaluate(test, flags.astype(float), flags)
    assert result["event_recall.spike"] == 1.0 and result["point_recall.spike"] == 1.0
    assert result["event_recall.drift"] == 0.0
    assert result["event_recall"] == pytest.approx(1 / len(synthetic.KINDS))
    assert result["false_alarm_runs"] == 0


@pytest.fixture(scope="module")
def benchmark_data():
    """The benchmark's own size (benchmarks/synthetic.py defaults), data seed 0."""
    return synthetic.make_dataset(0, train_rows=5000, test_rows=6000, per_kind=3)


def check_floors(train, test, params: dict | None = None) -> None:
    [(scores, flags)] = synthetic.run_lstmae(train, [test], seed=0, params=params)
    ours = synthetic.evaluate(test, scores, flags)
    for key, floor in FLOORS.items():
        assert ours[key] >= floor, f"{key} {ours[key]:.3f} below its floor {floor}"
    assert ours["false_alarm_runs"] <= MOST_FALSE_ALARM_RUNS
    [(seed_scores, seed_flags)] = synthetic.run_baseline(synthetic.SeedTutorial(0), train, [test])
    tutorial = synthetic.evaluate(test, seed_scores, seed_flags)
    assert ours["pr_auc"] > tutorial["pr_auc"] and ours["f1"] > tutorial["f1"]


@pytest.mark.slow  # trains lstmae at default options: three networks on 5,000 rows
def test_lstmae_quality_floor_on_generated_suite(benchmark_data, one_thread):
    """Measured at the defaults of issue 16 (seed 0): F1 0.805, PR-AUC 0.816, event recall
    0.905, 0 false-alarm runs. On the small configuration (2,500 training rows) the same
    defaults give F1 0.44 (event recall 0.64): three calibration folds on so few rows set
    the threshold too high. A known weakness of the new defaults, not hidden here: the
    next test keeps the tail calibration's floor on the short data."""
    check_floors(*benchmark_data)


@pytest.mark.slow  # one network on 2,500 rows
def test_tail_calibration_floor_on_short_training_data(small_data, one_thread):
    """`--calibration-folds 1` on the small configuration (seed 0): F1 0.819, PR-AUC 0.855,
    event recall 0.929, 0 false-alarm runs."""
    check_floors(*small_data, params={"calibration_folds": 1})
