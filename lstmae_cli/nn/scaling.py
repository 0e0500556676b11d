"""Fit a scikit-learn scaler on training rows; keep it as plain arrays for the bundle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..params import SCALERS


@dataclass
class AffineScaler:
    """x_scaled = (x - offset) / scale, per feature; the form every sklearn scaler here takes."""

    method: str
    offset: np.ndarray  # (features,)
    scale: np.ndarray  # (features,)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """values: (rows, features) -> (rows, features) float32."""
        return ((values - self.offset) / self.scale).astype(np.float32)

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * self.scale + self.offset


def fit_scaler(method: str, values: np.ndarray) -> AffineScaler:
    """Fit sklearn's scaler named `method` on (rows, features) training values."""
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    values = np.asarray(values, dtype=np.float64)  # no copy of float64 rows
    if method == "standard":
        fitted = StandardScaler().fit(values)
        offset, scale = fitted.mean_, fitted.scale_
    elif method == "minmax":
        fitted = MinMaxScaler().fit(values)  # x * scale_ + min_
        offset, scale = -fitted.min_ / fitted.scale_, 1.0 / fitted.scale_
    elif method == "robust":
        fitted = RobustScaler().fit(values)
        offset, scale = fitted.center_, fitted.scale_
    else:
        raise UsageError(f"unknown scaler {method!r} (choose from {', '.join(SCALERS)})")
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return AffineScaler(method, np.asarray(offset, np.float64), np.asarray(scale, np.float64))
