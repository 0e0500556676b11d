"""Detection metrics for `lstmae evaluate`: point-wise, ranking, and event-wise."""

from __future__ import annotations

import numpy as np


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


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a boolean array."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def event_metrics(labels: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    """Event recall (true events with any flagged row), event precision (flagged runs that
    touch a true event), mean detection delay in rows, and false-alarm runs."""
    labels, flags = labels.astype(bool), flags.astype(bool)
    true_events, flag_runs = runs(labels), runs(flags)
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


def point_adjusted_f1(labels: np.ndarray, flags: np.ndarray) -> float:
    """F1 after marking a whole true event found when any of its rows is flagged.

    An optimistic metric, common in the literature; never read it as point F1.
    """
    labels, adjusted = labels.astype(bool), flags.astype(bool).copy()
    for start, end in runs(labels):
        if adjusted[start:end].any():
            adjusted[start:end] = True
    return point_metrics(labels, adjusted)["f1"]


def evaluate_all(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, dict]:
    """Everything `evaluate` reports, with the flag-all and flag-none baselines beside it."""
    flags = scores > threshold
    ours = point_metrics(labels, flags) | ranking_metrics(labels, scores)
    ours |= event_metrics(labels, flags)
    ours["point_adjusted_f1"] = point_adjusted_f1(labels, flags)
    everything = np.ones_like(flags)
    nothing = np.zeros_like(flags)
    return {
        "lstmae": ours,
        "flag_all": point_metrics(labels, everything) | event_metrics(labels, everything),
        "flag_none": point_metrics(labels, nothing) | event_metrics(labels, nothing),
    }
