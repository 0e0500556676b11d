"""Threshold methods: each a small pure function of an array of row scores.

A row is flagged when its score is strictly above the threshold. Every method returns the
threshold (and, for some, a few fitted numbers worth keeping, stored under "fit" in the
bundle next to the parameters). Label-free methods fit on normal scores; `fbeta` needs
labelled scores. `conformal_p_values` turns scores into p-values against held-out normal
scores, the same calibration that `fpr` uses.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..params import LABELLED_METHODS, resolve_params

Fitted = float | tuple[float, dict]


@dataclass
class ThresholdRefit:
    """What `Detector.refit_threshold` did: the threshold before and after, and the row
    scores (and labels, for fbeta) of the data it was fitted on."""

    old: float
    old_method: str
    value: float
    method: str
    params: dict  # the parameters the method used (and its fitted numbers under "fit")
    scores: np.ndarray  # (rows,) every row's score, NaN where a row could not be scored
    labels: np.ndarray | None  # (rows,) bool, true = anomalous; fbeta only
    calibration_rows: int | None  # rows now held for p-values; None: unchanged (manual, fbeta)


def _below(value: float) -> float:
    """The largest float below `value`: a threshold that flags every score >= value."""
    return float(np.nextafter(value, -np.inf))


def quantile_threshold(scores: np.ndarray, q: float) -> float:
    """The q-quantile of the normal scores."""
    return float(np.quantile(scores, q))


def sigma_threshold(scores: np.ndarray, k: float) -> float:
    """mean + k standard deviations."""
    return float(np.mean(scores) + k * np.std(scores))


def mad_threshold(scores: np.ndarray, k: float) -> float:
    """median + k median absolute deviations (scaled to match a normal's sigma)."""
    median = np.median(scores)
    mad = 1.4826 * np.median(np.abs(scores - median))
    return float(median + k * mad)


def manual_threshold(scores: np.ndarray, value: float | None) -> float:
    """A threshold the user chose; the scores only serve to report what it flags."""
    if value is None:
        raise UsageError("--value is required with the manual threshold method")
    return float(value)


def pot_threshold(scores: np.ndarray, risk: float, level: float) -> Fitted:
    """Peaks over threshold (Siffer et al., KDD 2017): the score exceeded with probability
    `risk`, extrapolated from a generalized Pareto fit to the excesses over the
    `level`-quantile t:  z = t + scale / shape * ((risk * n / peaks) ** -shape - 1).
    """
    from scipy.stats import genpareto

    init = float(np.quantile(scores, level))
    excesses = scores[scores > init] - init  # (peaks,)
    n, peaks = scores.size, excesses.size
    if peaks < 10:
        raise UsageError(
            f"pot needs at least 10 scores above the {level} quantile, got {peaks}; "
            "give more data or lower --pot-level"
        )
    if risk >= peaks / n:
        raise UsageError(f"--risk {risk} must be below the tail fraction {peaks / n:.4g}")
    if np.ptp(excesses) == 0:
        raise UsageError("pot: every score above the initial quantile is the same; no tail")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        shape, _, scale = genpareto.fit(excesses, floc=0.0)
    ratio = risk * n / peaks
    if abs(shape) < 1e-9:
        value = init - scale * math.log(ratio)
    else:
        value = init + scale / shape * (ratio**-shape - 1.0)
    fit = {"init_threshold": init, "shape": float(shape), "scale": float(scale), "peaks": peaks}
    return float(value), fit


def fbeta_threshold(scores: np.ndarray, labels: np.ndarray, beta: float) -> Fitted:
    """The threshold with the highest F-beta on labelled scores (ties: fewer alerts)."""
    from sklearn.metrics import precision_recall_curve

    if not labels.any():
        raise UsageError("fbeta needs rows labelled anomalous in the label column; found none")
    precision, recall, cuts = precision_recall_curve(labels, scores)  # flag: score >= cut
    b2 = beta * beta
    denominator = b2 * precision[:-1] + recall[:-1]
    fbeta = (1 + b2) * precision[:-1] * recall[:-1] / np.where(denominator > 0, denominator, 1)
    best = int(np.flatnonzero(fbeta == fbeta.max())[-1])
    lower = scores[scores < cuts[best]]
    value = (float(lower.max()) + float(cuts[best])) / 2 if lower.size else _below(cuts[best])
    if not value < cuts[best]:  # adjacent floats: the midpoint rounded up
        value = _below(cuts[best])
    fit = {"fbeta": float(fbeta[best]), "precision": float(precision[best])}
    return value, fit | {"recall": float(recall[best])}


def budget_threshold(scores: np.ndarray, alerts_per: float, rows: float) -> Fitted:
    """The lowest threshold that flags at most `alerts_per` rows per `rows` of the scores."""
    if alerts_per > rows:
        raise UsageError(f"--alerts-per ({alerts_per}) cannot exceed --rows ({rows})")
    allowed = math.floor(scores.size * alerts_per / rows + 1e-9)
    ordered = np.sort(scores)
    if allowed >= scores.size:
        return _below(ordered[0]), {"allowed": allowed}
    return float(ordered[scores.size - allowed - 1]), {"allowed": allowed}


def fpr_threshold(scores: np.ndarray, alpha: float) -> Fitted:
    """Split-conformal threshold: the ceil((n + 1)(1 - alpha))-th smallest normal score.

    For a new score exchangeable with these n, P(score > threshold) <= alpha. It flags
    exactly the rows whose conformal p-value is at most alpha.
    """
    n = scores.size
    rank = math.ceil((n + 1) * (1 - alpha) - 1e-9)
    if rank > n:
        need = math.ceil((1 - alpha) / alpha - 1e-9)
        raise UsageError(f"fpr with --alpha {alpha} needs at least {need} normal scores, got {n}")
    return float(np.sort(scores)[rank - 1]), {"calibration_rows": n}


def conformal_p_values(calibration: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """p = (1 + #{calibration >= s}) / (n + 1) for each score s; `calibration` sorted."""
    n = calibration.size
    at_or_above = n - np.searchsorted(calibration, scores, side="left")  # (rows,)
    return (1.0 + at_or_above) / (n + 1.0)


# method -> its fitting function: f(scores, **parameters) -> threshold or (threshold, fit);
# the methods, their parameters and defaults are params.THRESHOLD_METHODS.
FITS: dict[str, Callable[..., Fitted]] = {
    "quantile": quantile_threshold,
    "sigma": sigma_threshold,
    "mad": mad_threshold,
    "manual": manual_threshold,
    "pot": pot_threshold,
    "fbeta": fbeta_threshold,
    "budget": budget_threshold,
    "fpr": fpr_threshold,
}


def minimum_scores(method: str, params: dict) -> int:
    """How many normal scores `method` needs at least (checked before training)."""
    used = resolve_params(method, params)
    if method == "pot":
        return math.ceil(10 / (1 - used["level"]) - 1e-9)
    if method == "fpr":
        return math.ceil((1 - used["alpha"]) / used["alpha"] - 1e-9)
    return 1


def check_enough_scores(method: str, params: dict, available: int) -> None:
    """UsageError when about `available` held-out scores are too few for `method`."""
    need = minimum_scores(method, params)
    if available < need:
        raise UsageError(
            f"the {method} threshold needs at least {need} held-out scores; the held-out part "
            f"will have about {available} rows: give more data, raise --val-fraction, or "
            "choose other parameters"
        )


def describe(method: str, params: dict) -> str:
    """'pot risk=0.001 level=0.98; fit: shape=0.12 scale=3.4 ...' for people."""
    fit = params.get("fit", {})
    given = " ".join(f"{k}={v:.6g}" for k, v in params.items() if k != "fit")
    fitted = " ".join(f"{k}={v:.4g}" for k, v in fit.items())
    return f"{method} {given}" + (f"; fit: {fitted}" if fitted else "")


def fit_threshold(
    method: str, scores: np.ndarray, labels: np.ndarray | None = None, **params: float | None
) -> tuple[float, dict]:
    """Fit `method` on row scores; returns (threshold, the parameters actually used).

    Fitted numbers some methods report (the tail of `pot`, F-beta of `fbeta`, ...) are
    added under "fit". `labels` (true = anomalous row) are needed by `fbeta` only.
    """
    used = resolve_params(method, params, labelled=labels is not None)
    scores = np.asarray(scores, dtype=np.float64)
    keep = np.isfinite(scores)
    scores = scores[keep]
    if scores.size == 0:
        raise UsageError("no scores to fit a threshold on")
    args = dict(used)
    if method in LABELLED_METHODS:
        labels = np.asarray(labels, dtype=bool)
        if labels.shape != keep.shape:
            raise ValueError(f"{labels.shape[0]} labels for {keep.shape[0]} scores")
        args["labels"] = labels[keep]
    result = FITS[method](scores, **args)
    value, fit = result if isinstance(result, tuple) else (result, None)
    return float(value), used if fit is None else used | {"fit": fit}
