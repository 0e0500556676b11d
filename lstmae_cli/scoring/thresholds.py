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
from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError

Fitted = float | tuple[float, dict]


def _below(value: float) -> float:
    """The largest float below `value`: a threshold that flags every score >= value."""
    return float(np.nextafter(value, -np.inf))


def quantile_threshold(scores: np.ndarray, q: float = 0.999) -> float:
    """The q-quantile of the normal scores."""
    return float(np.quantile(scores, q))


def sigma_threshold(scores: np.ndarray, k: float = 4.0) -> float:
    """mean + k standard deviations."""
    return float(np.mean(scores) + k * np.std(scores))


def mad_threshold(scores: np.ndarray, k: float = 6.0) -> float:
    """median + k median absolute deviations (scaled to match a normal's sigma)."""
    median = np.median(scores)
    mad = 1.4826 * np.median(np.abs(scores - median))
    return float(median + k * mad)


def manual_threshold(scores: np.ndarray, value: float | None = None) -> float:
    """A threshold the user chose; the scores only serve to report what it flags."""
    if value is None:
        raise UsageError("--value is required with the manual threshold method")
    return float(value)


def pot_threshold(scores: np.ndarray, risk: float = 1e-3, level: float = 0.98) -> Fitted:
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


def fbeta_threshold(scores: np.ndarray, labels: np.ndarray, beta: float = 1.0) -> Fitted:
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


def budget_threshold(scores: np.ndarray, alerts_per: float = 1.0, rows: float = 1000.0) -> Fitted:
    """The lowest threshold that flags at most `alerts_per` rows per `rows` of the scores."""
    if alerts_per > rows:
        raise UsageError(f"--alerts-per ({alerts_per}) cannot exceed --rows ({rows})")
    allowed = math.floor(scores.size * alerts_per / rows + 1e-9)
    ordered = np.sort(scores)
    if allowed >= scores.size:
        return _below(ordered[0]), {"allowed": allowed}
    return float(ordered[scores.size - allowed - 1]), {"allowed": allowed}


def fpr_threshold(scores: np.ndarray, alpha: float = 0.01) -> Fitted:
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


@dataclass
class ThresholdMethod:
    fit: Callable[..., Fitted]
    defaults: dict[str, float | None] = field(default_factory=dict)
    needs_labels: bool = False


METHODS: dict[str, ThresholdMethod] = {
    "quantile": ThresholdMethod(quantile_threshold, {"q": 0.999}),
    "sigma": ThresholdMethod(sigma_threshold, {"k": 4.0}),
    "mad": ThresholdMethod(mad_threshold, {"k": 6.0}),
    "manual": ThresholdMethod(manual_threshold, {"value": None}),
    "pot": ThresholdMethod(pot_threshold, {"risk": 1e-3, "level": 0.98}),
    "fbeta": ThresholdMethod(fbeta_threshold, {"beta": 1.0}, needs_labels=True),
    "budget": ThresholdMethod(budget_threshold, {"alerts_per": 1.0, "rows": 1000.0}),
    "fpr": ThresholdMethod(fpr_threshold, {"alpha": 0.01}),
}
LABEL_FREE = [name for name, spec in METHODS.items() if not spec.needs_labels]

_OPEN_UNIT = (lambda v: 0.0 < v < 1.0, "between 0 and 1 (exclusive)")
RULES: dict[str, tuple[Callable[[float], bool], str]] = {
    "q": _OPEN_UNIT,
    "risk": _OPEN_UNIT,
    "level": _OPEN_UNIT,
    "alpha": _OPEN_UNIT,
    "k": (lambda v: v >= 0.0, "at least 0"),
    "beta": (lambda v: v > 0.0, "positive"),
    "alerts_per": (lambda v: v >= 0.0, "at least 0"),
    "rows": (lambda v: v >= 1.0, "at least 1"),
    "value": (math.isfinite, "a finite number"),
}
OPTION_NAMES = {"level": "--pot-level", "alerts_per": "--alerts-per"}


def resolve_params(method: str, params: dict, labelled: bool = False) -> dict:
    """The parameters `method` will use (defaults + given), checked; UsageError if not."""
    if method not in METHODS:
        raise UsageError(f"unknown threshold method {method!r} (choose from {', '.join(METHODS)})")
    spec = METHODS[method]
    if spec.needs_labels and not labelled:
        raise UsageError(
            f"the {method} method needs labelled data: train with a label-free method "
            f"({', '.join(LABEL_FREE)}), then run `lstmae threshold MODEL DATA --method "
            f"{method} --label-column COL`"
        )
    used = dict(spec.defaults)
    used.update({k: v for k, v in params.items() if v is not None and k in spec.defaults})
    for name, value in used.items():
        option = OPTION_NAMES.get(name, f"--{name}")
        if value is None:
            raise UsageError(f"{option} is required with the {method} threshold method")
        ok, rule = RULES[name]
        if not ok(float(value)):
            raise UsageError(f"{option} must be {rule}, got {value}")
    return used


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
    if METHODS[method].needs_labels:
        labels = np.asarray(labels, dtype=bool)
        if labels.shape != keep.shape:
            raise ValueError(f"{labels.shape[0]} labels for {keep.shape[0]} scores")
        args["labels"] = labels[keep]
    result = METHODS[method].fit(scores, **args)
    value, fit = result if isinstance(result, tuple) else (result, None)
    return float(value), used if fit is None else used | {"fit": fit}
