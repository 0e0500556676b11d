"""Detection metrics for `lstmae evaluate`: point-wise, ranking, and event-wise.

Labels and flags are boolean arrays, one entry per row (true = anomalous / flagged).
`groups` (one series key per row, rows of a series contiguous and in time order) keeps
events from running across series boundaries.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

# the columns of evaluate_all's result, as `evaluate` and `report` head them
EVALUATE_COLUMNS = ("lstmae", "flag every row", "flag nothing")
METRIC_LABELS = {
    "precision": "point precision",
    "recall": "point recall",
    "f1": "point F1",
    "far": "false-alarm rate FP/(FP+TN)",
    "mar": "missed-alarm rate FN/(FN+TP)",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC (average precision)",
    "best_f1": "best point F1 over all thresholds",
    "events": "true events",
    "event_recall": "event recall (any row flagged)",
    "event_precision": "event precision (flagged runs touching an event)",
    "false_alarm_runs": "false-alarm runs",
    "mean_delay_rows": "mean detection delay (rows)",
    "point_adjusted_f1": "point-adjusted F1 (OPTIMISTIC)",
    "flagged": "flagged rows",
    "tp": "TP",
    "fp": "FP",
    "tn": "TN",
    "fn": "FN",
}


def binary_labels(values, column: str) -> np.ndarray:
    """A label column -> bool array (true = anomalous); missing counts as normal."""
    import pandas as pd

    series = pd.Series(values)
    if series.dtype == bool:
        return series.to_numpy()
    numeric = pd.to_numeric(series, errors="coerce")
    bad = numeric.isna() & series.notna()
    if bad.any():
        raise InputError(
            f"label column {column!r} must hold 0/1 (or true/false); found {series[bad].iloc[0]!r}"
        )
    return numeric.fillna(0).to_numpy(dtype=float) > 0


def confusion(labels: np.ndarray, flags: np.ndarray) -> dict[str, int]:
    labels, flags = labels.astype(bool), flags.astype(bool)
    return {
        "tp": int(np.sum(labels & flags)),
        "fp": int(np.sum(~labels & flags)),
        "tn": int(np.sum(~labels & ~flags)),
        "fn": int(np.sum(labels & ~flags)),
    }


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def point_metrics(labels: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    """Precision, recall, F1, false-alarm rate FP/(FP+TN), missed-alarm rate FN/(FN+TP)."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    c = confusion(labels, flags)
    labels, flags = labels.astype(bool), flags.astype(bool)
    return {
        "precision": float(precision_score(labels, flags, zero_division=0)),
        "recall": float(recall_score(labels, flags, zero_division=0)),
        "f1": float(f1_score(labels, flags, zero_division=0)),
        "far": _ratio(c["fp"], c["fp"] + c["tn"]),
        "mar": _ratio(c["fn"], c["fn"] + c["tp"]),
        **c,
    }


def ranking_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision) and the best F1 over all thresholds."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        return {"roc_auc": float("nan"), "pr_auc": float("nan"), "best_f1": float("nan")}
    precision, recall, _ = precision_recall_curve(labels, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "best_f1": float(f1.max()),
    }


def runs(mask: np.ndarray, groups: np.ndarray | None = None) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a boolean array; runs end at group changes."""
    mask = np.asarray(mask, dtype=bool)
    if mask.size == 0:
        return []
    new_group = np.zeros(mask.size, dtype=bool)  # (rows,) true where a series begins
    new_group[0] = True
    if groups is not None:
        groups = np.asarray(groups)
        new_group[1:] = groups[1:] != groups[:-1]
    before = np.concatenate([[False], mask[:-1]])
    after = np.concatenate([mask[1:], [False]])
    last_of_group = np.concatenate([new_group[1:], [True]])
    starts = np.flatnonzero(mask & (~before | new_group))
    ends = np.flatnonzero(mask & (~after | last_of_group)) + 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def event_metrics(
    labels: np.ndarray, flags: np.ndarray, groups: np.ndarray | None = None
) -> dict[str, float]:
    """Event recall (true events with any flagged row), event precision (flagged runs that
    touch a true event), mean detection delay in rows, and false-alarm runs."""
    labels, flags = labels.astype(bool), flags.astype(bool)
    true_events, flag_runs = runs(labels, groups), runs(flags, groups)
    delays = []
    for start, end in true_events:
        hit = np.flatnonzero(flags[start:end])
        if hit.size:
            delays.append(int(hit[0]))
    touching = sum(bool(labels[start:end].any()) for start, end in flag_runs)
    return {
        "events": len(true_events),
        "event_recall": _ratio(len(delays), len(true_events)),
        "event_precision": _ratio(touching, len(flag_runs)),
        "false_alarm_runs": len(flag_runs) - touching,
        "mean_delay_rows": float(np.mean(delays)) if delays else float("nan"),
    }


def point_adjusted_f1(
    labels: np.ndarray, flags: np.ndarray, groups: np.ndarray | None = None
) -> float:
    """F1 after marking a whole true event found when any of its rows is flagged.

    An optimistic metric, common in the literature; never read it as point F1.
    """
    labels, adjusted = labels.astype(bool), flags.astype(bool).copy()
    for start, end in runs(labels, groups):
        if adjusted[start:end].any():
            adjusted[start:end] = True
    return point_metrics(labels, adjusted)["f1"]


def detection_metrics(
    labels: np.ndarray, scores: np.ndarray, flags: np.ndarray, groups: np.ndarray | None = None
) -> dict[str, float]:
    """Every metric `evaluate` reports for one detector (scores and the flags it raised)."""
    report = point_metrics(labels, flags) | ranking_metrics(labels, scores)
    report |= event_metrics(labels, flags, groups)
    report["point_adjusted_f1"] = point_adjusted_f1(labels, flags, groups)
    report["flagged"] = int(np.sum(flags))
    return {key: report[key] for key in METRIC_LABELS}


def evaluate_all(
    labels: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    groups: np.ndarray | None = None,
    flags: np.ndarray | None = None,
) -> dict[str, dict]:
    """Everything `evaluate` reports, with the flag-all and flag-none baselines beside it.

    flags: the rows the detector flagged (`score`'s is_anomaly, gaps joined by --merge-gap);
    None: scores > threshold. The baselines score every row the same, so their ranking
    metrics are those of a constant score (ROC-AUC 0.5, PR-AUC the share of anomalous rows).
    """
    labels, scores = np.asarray(labels, dtype=bool), np.asarray(scores, dtype=float)
    if labels.shape != scores.shape:
        raise ValueError(f"{labels.size} labels for {scores.size} scores")
    flags = scores > threshold if flags is None else np.asarray(flags, dtype=bool)
    flat = np.zeros_like(scores)
    return {
        "lstmae": detection_metrics(labels, scores, flags, groups),
        "flag_all": detection_metrics(labels, flat, np.ones_like(labels), groups),
        "flag_none": detection_metrics(labels, flat, np.zeros_like(labels), groups),
    }
