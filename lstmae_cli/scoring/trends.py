"""Channels that trend through the training rows: a warning at train time.

A channel whose level keeps rising (or falling) while the model learns "normal" will
most likely leave the training range later, and every row past it scores high: the
main source of false alarms on SKAB (docs/benchmarks.md, "SKAB"). The network cannot
tell such drift from a fault; the user can, so train says so before it happens.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import LstmaeWarning

TREND_CORRELATION = 0.8  # |Pearson r| of a channel with time that counts as a trend
MIN_ROWS = 50  # shorter series say little about a trend


def trend_strength(values: np.ndarray) -> np.ndarray:
    """(rows, F) one series -> (F,) |correlation of each feature with time|, NaN-safe.

    A feature with fewer than MIN_ROWS finite values, or a constant one, scores 0.
    """
    rows, features = values.shape
    strength = np.zeros(features)
    time = np.arange(rows, dtype=np.float64)
    for f in range(features):
        finite = np.isfinite(values[:, f])
        if finite.sum() < MIN_ROWS or np.ptp(values[finite, f]) == 0:
            continue
        strength[f] = abs(np.corrcoef(time[finite], values[finite, f])[0, 1])
    return strength


def trending_features(
    parts: list[np.ndarray], names: list[str], threshold: float = TREND_CORRELATION
) -> dict[str, float]:
    """Features whose |correlation with time| reaches `threshold` in any series part.

    parts: the (rows, F) training rows of each series. Returns {name: strongest |r|}.
    """
    usable = [p for p in parts if len(p) >= MIN_ROWS]
    if not usable:
        return {}
    strongest = np.max([trend_strength(p) for p in usable], axis=0)  # (F,)
    return {n: float(s) for n, s in zip(names, strongest, strict=True) if s >= threshold}


def warn_trending(parts: list[np.ndarray], names: list[str], drift_rate: float = 0.0) -> None:
    """One LstmaeWarning naming the trending features, if any."""
    found = trending_features(parts, names)
    if not found:
        return
    listed = ", ".join(f"{name} (|r| {r:.2f})" for name, r in found.items())
    allowance = (
        f"; a drift slower than --drift-rate {drift_rate:g} (training standard deviations a "
        "row) is followed, raise it if the trend is normal"
        if drift_rate > 0
        else ""
    )
    warnings.warn(
        LstmaeWarning(
            f"these features trend through the training rows: {listed}; later values may "
            "leave the training range and be flagged: train on a span that covers their "
            f"normal range, or leave them out with --exclude-columns{allowance}"
        ),
        stacklevel=2,
    )
