"""lstmae: anomaly detection for multivariate time series with an LSTM autoencoder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__

__all__ = ["AlertRules", "Detector", "LstmaeError", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from .detector import Detector
    from .errors import LstmaeError
    from .scoring.alerts import AlertRules


def __getattr__(name: str):
    # Keep `import lstmae_cli` (and so `lstmae --help`) free of torch and pandas.
    if name == "Detector":
        from .detector import Detector

        return Detector
    if name == "LstmaeError":
        from .errors import LstmaeError

        return LstmaeError
    if name == "AlertRules":
        from .scoring.alerts import AlertRules

        return AlertRules
    raise AttributeError(name)
