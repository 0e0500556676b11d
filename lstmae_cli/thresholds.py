"""Threshold methods: each a small pure function of an array of normal row scores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .errors import UsageError


def quantile_threshold(scores: np.ndarray, q: float = 0.995) -> float:
    """The q-quantile of the normal scores."""
    if not 0.0 < q < 1.0:
        raise UsageError(f"--q must be between 0 and 1, got {q}")
    return float(np.quantile(scores, q))


def sigma_threshold(scores: np.ndarray, k: float = 4.0) -> float:
    """mean + k standard deviations."""
    return float(np.mean(scores) + k * np.std(scores))


def mad_threshold(scores: np.ndarray, k: float = 6.0) -> float:
    """median + k median absolute deviations (scaled to match a normal's sigma)."""
    median = np.median(scores)
    mad = 1.4826 * np.median(np.abs(scores - median))
    return float(median + k * mad)


@dataclass
class ThresholdMethod:
    fit: Callable[..., float]
    defaults: dict[str, float] = field(default_factory=dict)


METHODS: dict[str, ThresholdMethod] = {
    "quantile": ThresholdMethod(quantile_threshold, {"q": 0.995}),
    "sigma": ThresholdMethod(sigma_threshold, {"k": 4.0}),
    "mad": ThresholdMethod(mad_threshold, {"k": 6.0}),
}


def fit_threshold(method: str, scores: np.ndarray, **params: float | None) -> tuple[float, dict]:
    """Fit `method` on row scores; returns (threshold, the parameters actually used)."""
    if method not in METHODS:
        raise UsageError(f"unknown threshold method {method!r} (choose from {', '.join(METHODS)})")
    spec = METHODS[method]
    used = {k: v for k, v in spec.defaults.items()}
    used.update({k: v for k, v in params.items() if v is not None and k in spec.defaults})
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    if scores.size == 0:
        raise UsageError("no scores to fit a threshold on")
    return spec.fit(scores, **used), used
