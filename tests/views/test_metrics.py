"""`evaluate` metrics against hand-computed cases and independent brute-force computations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lstmae_cli.cli.app import app
from lstmae_cli.errors import InputError
from lstmae_cli.views.metrics import METRIC_LABELS, binary_labels, evaluate_all, runs

runner = CliRunner()


# ------------------------------------------------- independent reference computations
def ref_runs(mask, groups=None):
    """Runs of True, by walking the rows one at a time."""
    found, start = [], None
    for i, value in enumerate(mask):
        new_series = groups is not None and i > 0 and groups[i] != groups[i - 1]
        if start is not None and (not value or new_series):
            found.append((start, i))
            start = None
        if value and start is None:
            start = i
    if start is not None:
        found.append((start, len(mask)))
    return found


def ref_f1(labels, flags):
    tp = sum(y and f for y, f in zip(labels, flags, strict=True))
    return 2 * tp / (sum(labels) + sum(flags)) if tp else 0.0


def ref_reference(labels, scores, threshold, groups=None, flags=None):
    """Every metric of `evaluate_all(...)["lstmae"]`, from the definitions."""
    labels, scores = [bool(v) for v in labels], [float(s) for s in scores]
    flags = [s > threshold for s in scores] if flags is None else [bool(f) for f in flags]
    pairs = list(zip(labels, flags, strict=True))
    tp, fp = pairs.count((True, True)), pairs.count((False, True))
    fn, tn = pairs.count((True, False)), pairs.count((False, False))
    out = {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "flagged": tp + fp}
    out["precision"] = tp / (tp + fp) if tp + fp else 0.0
    out["recall"] = tp / (tp + fn) if tp + fn else 0.0
    out["f1"] = ref_f1(labels, flags)
    out["far"] = fp / (fp + tn) if fp + tn else 0.0
    out["mar"] = fn / (fn + tp) if fn + tp else 0.0
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if pos and neg:  # Mann-Whitney form of ROC-AUC; AP as the sum of precision at each hit
        wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
        out["roc_auc"] = wins / (len(pos) * len(neg))
        cuts = sorted(set(scores), reverse=True)
        ap, last_recall = 0.0, 0.0
        for cut in cuts:
            at = [s >= cut for s in scores]
            hits = sum(a and y for a, y in zip(at, labels, strict=True))
            recall = hits / len(pos)
            ap += (recall - last_recall) * hits / sum(at)
            last_recall = recall
        out["pr_auc"] = ap
        out["best_f1"] = max(ref_f1(labels, [s >= c for s in scores]) for c in cuts)
    events, flag_runs = ref_runs(labels, groups), ref_runs(flags, groups)
    delays = [next(i - a for i in range(a, b) if flags[i]) for a, b in events if any(flags[a:b])]
    touching = sum(any(labels[a:b]) for a, b in flag_runs)
    out |= {"events": len(events), "false_alarm_runs": len(flag_runs) - touching}
    out["event_recall"] = len(delays) / len(events) if events else 0.0
    out["event_precision"] = touching / len(flag_runs) if flag_runs else 0.0
    out["mean_delay_rows"] = sum(delays) / len(delays) if delays else float("nan")
    adjusted = list(flags)
    for a, b in events:
        if any(flags[a:b]):
            adjusted[a:b] = [True] * (b - a)
    out["point_adjusted_f1"] = ref_f1(labels, adjusted)
    return out


def assert_matches(report: dict, expected: dict) -> None:
    for key, value in expected.items():
        if isinstance(value, float) and np.isnan(value):
            assert np.isnan(report[key]), key
        else:
            assert report[key] == pytest.approx(value, abs=1e-9), key


# ----------------------------------------------------------------- hand-computed case
def test_a_hand_computed_case():
    #          0  1  2  3  4  5  6  7  8  9 10 11
    labels = [0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0]
    scores = [1, 6, 2, 7, 8, 1, 9, 1, 1, 1, 1, 1]
    report = evaluate_all(np.array(labels), np.array(scores, float), threshold=5)["lstmae"]
    # flagged rows 1, 3, 4, 6 -> TP 2 (3, 4), FP 2 (1, 6), FN 3 (2, 8, 9), TN 5
    assert (report["tp"], report["fp"], report["fn"], report["tn"]) == (2, 2, 3, 5)
    assert report["precision"] == 0.5 and report["recall"] == 0.4
    assert report["f1"] == pytest.approx(2 * 0.5 * 0.4 / 0.9)
    assert report["far"] == pytest.approx(2 / 7) and report["mar"] == pytest.approx(3 / 5)
    # true events [2, 5) and [8, 10); flagged runs [1, 2), [3, 5), [6, 7)
    assert report["events"] == 2 and report["event_recall"] == 0.5
    assert report["event_precision"] == pytest.approx(1 / 3) and report["false_alarm_runs"] == 2
    assert report["mean_delay_rows"] == 1.0  # event at 2 first flagged at 3
    # point-adjusted: rows 2-4 count as found -> TP 3, FP 2, FN 2
    assert report["point_adjusted_f1"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 2))
    # ROC-AUC: 5 positives x 7 negatives; positives 2, 7, 8, 1, 1 against 1, 6, 1, 9, 1, 1, 1
    wins = 5 + 6 + 6 + 2.5 + 2.5  # 2 beats the five 1s; 7, 8 also beat 6; each 1 ties five
    assert report["roc_auc"] == pytest.approx(wins / 35)


def test_baselines_flag_all_and_nothing():
    labels = np.array([0] * 90 + [1] * 10, bool)
    report = evaluate_all(labels, np.arange(100.0), threshold=1e9)
    everything, nothing = report["flag_all"], report["flag_none"]
    assert everything["recall"] == 1.0 and everything["precision"] == pytest.approx(0.1)
    assert everything["f1"] == pytest.approx(2 * 0.1 / 1.1) and everything["far"] == 1.0
    assert everything["roc_auc"] == 0.5 and everything["pr_auc"] == pytest.approx(0.1)
    assert everything["event_recall"] == 1.0 and everything["point_adjusted_f1"] > 0
    assert nothing["f1"] == 0 and nothing["far"] == 0 and nothing["mar"] == 1.0
    assert nothing["event_recall"] == 0 and np.isnan(nothing["mean_delay_rows"])
    assert report["lstmae"]["flagged"] == 0 and report["lstmae"]["pr_auc"] == pytest.approx(1.0)
    assert list(report["lstmae"]) == list(METRIC_LABELS)


def test_events_do_not_run_across_series():
    mask = np.array([0, 1, 1, 1, 1, 0], bool)
    assert runs(mask) == [(1, 5)]
    assert runs(mask, np.array(list("aaabbb"))) == [(1, 3), (3, 5)]


# ------------------------------------------------------------------------ hypothesis
rows = st.lists(
    st.tuples(st.booleans(), st.integers(0, 12), st.sampled_from("ab")), min_size=1, max_size=60
)


@settings(max_examples=60, deadline=None)
@given(rows, st.integers(-1, 12), st.booleans())
def test_evaluate_matches_an_independent_computation(data, threshold, by_series):
    data = sorted(data, key=lambda r: r[2]) if by_series else data
    labels = np.array([y for y, _, _ in data])
    scores = np.array([float(s) for _, s, _ in data])
    groups = np.array([g for _, _, g in data]) if by_series else None
    report = evaluate_all(labels, scores, threshold + 0.5, groups)
    assert_matches(report["lstmae"], ref_reference(labels, scores, threshold + 0.5, groups))
    flat = np.zeros(len(data))
    assert_matches(report["flag_all"], ref_reference(labels, flat, -1.0, groups))
    assert_matches(report["flag_none"], ref_reference(labels, flat, 1.0, groups))


@given(st.lists(st.booleans(), max_size=50), st.lists(st.sampled_from("abc"), max_size=50))
def test_runs_match_a_row_by_row_walk(mask, keys):
    n = min(len(mask), len(keys))
    groups = np.array(sorted(keys[:n]))
    assert runs(np.array(mask[:n], bool), groups) == ref_runs(mask[:n], groups)


# -------------------------------------------------------------------------- labels
def test_binary_labels():
    np.testing.assert_array_equal(binary_labels([0, 1, None, 2.0], "y"), [0, 1, 0, 1])
    np.testing.assert_array_equal(binary_labels(pd.Series([True, False]), "y"), [1, 0])
    with pytest.raises(InputError, match="'y' must hold 0/1"):
        binary_labels(["0", "yes"], "y")


# ----------------------------------------------------------------------------- CLI
def run(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


@pytest.fixture(scope="module")
def labelled_csv(tmp_path_factory, small_frame):
    frame = small_frame.assign(label=0)
    for start in (100, 400):
        frame.loc[start : start + 20, "label"] = 1
        frame.loc[start : start + 20, "f1"] += 3.0
    path = tmp_path_factory.mktemp("eval") / "labelled.csv"
    frame.to_csv(path, index=False)
    return path


def strict_json(text: str) -> dict:
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_evaluate_json_matches_the_scores_it_writes(tiny_model, labelled_csv):
    result = run("evaluate", tiny_model, labelled_csv, "--label-column", "label", "--format",
                 "json", "--threshold", "1.5")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = strict_json(result.stdout)
    assert set(report) == {"lstmae", "flag_all", "flag_none"}
    scored = run("score", tiny_model, labelled_csv, "-q", "--keep-columns", "label",
                 "--threshold", "1.5")  # fmt: skip
    frame = pd.read_csv(pd.io.common.StringIO(scored.stdout))
    labels, scores = frame["label"].to_numpy() > 0, frame["score"].to_numpy()
    expected = ref_reference(labels, scores, 1.5, flags=frame["is_anomaly"])  # score's alerts
    for key, value in expected.items():
        assert report["lstmae"][key] == pytest.approx(value, rel=1e-4), key
    assert report["lstmae"]["threshold"] == 1.5 and report["lstmae"]["events"] == 2


def test_evaluate_merge_gap_0_judges_raw_flags(tiny_model, labelled_csv):
    args = ["evaluate", tiny_model, labelled_csv, "--label-column", "label", "--format", "json"]
    raw_flags = ("--merge-gap", "0", "--min-rows", "1")
    raw = strict_json(run(*args, "--threshold", "1.5", *raw_flags).stdout)["lstmae"]
    scored = run("score", tiny_model, labelled_csv, "-q", "--keep-columns", "label")
    frame = pd.read_csv(pd.io.common.StringIO(scored.stdout))
    expected = ref_reference(frame["label"].to_numpy() > 0, frame["score"].to_numpy(), 1.5)
    for key in ("flagged", "f1", "false_alarm_runs", "event_recall"):
        assert raw[key] == pytest.approx(expected[key], rel=1e-4), key


def test_evaluate_table_shows_baselines_and_the_optimistic_label(tiny_model, labelled_csv):
    result = run("evaluate", tiny_model, labelled_csv, "--label-column", "label")
    assert result.exit_code == 0, result.output
    for text in ("flag every row", "flag nothing", "point-adjusted F1 (OPTIMISTIC)", "optimistic"):
        assert text in result.stdout


def test_evaluate_without_anomalies_writes_null_not_nan(tiny_model, small_csv, small_frame):
    data = small_frame.assign(label=0).to_csv(index=False)
    result = run("evaluate", tiny_model, "-", "--label-column", "label", "--format", "json",
                 input=data)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert strict_json(result.stdout)["lstmae"]["roc_auc"] is None


def test_evaluate_keeps_events_inside_each_series(tiny_model, small_frame, tmp_path):
    first = small_frame.iloc[:300].assign(unit="a", label=0)
    second = small_frame.iloc[300:].assign(unit="b", label=0)
    first.loc[280:, "label"] = 1  # last 20 rows of a, first 20 of b: two events
    second.loc[300:319, "label"] = 1
    path = tmp_path / "two.csv"
    pd.concat([second, first]).to_csv(path, index=False)  # b before a in the file
    result = run("evaluate", tiny_model, path, "--label-column", "label", "--id-column", "unit",
                 "--format", "json", "--threshold", "0")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = strict_json(result.stdout)["lstmae"]
    assert report["events"] == 2 and report["event_recall"] == 1.0 and report["tp"] == 40


def test_evaluate_bad_labels_are_one_line(tiny_model, small_frame):
    data = small_frame.assign(label="maybe").to_csv(index=False)
    result = run("evaluate", tiny_model, "-", "--label-column", "label", input=data)
    assert result.exit_code == 1 and "must hold 0/1" in result.output
    assert "Traceback" not in result.output
