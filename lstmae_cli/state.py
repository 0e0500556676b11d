"""A fitted Detector's state (`FittedState`) <-> the tensors and JSON metadata of its
safetensors bundle, in one place: a new fitted attribute is a field here, with its entry in
`tensors` / `metadata` and in `from_bundle`."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ._version import __version__
from .errors import UsageError
from .io.data import ColumnRoles
from .nn.model import LSTMAutoencoder, ModelConfig, count_parameters
from .nn.scaling import AffineScaler
from .params import TrainConfig
from .scoring.rows import ScoreModel


@dataclass(frozen=True)
class FittedParts:
    """The pieces of a fitted Detector that scoring and saving need, none of them None
    (`FittedState.require`)."""

    roles: ColumnRoles
    scaler: AffineScaler
    model: LSTMAutoencoder
    score_model: ScoreModel
    threshold: float


@dataclass
class FittedState:
    """What `fit` learns (a Detector's attributes ending in `_`, here without the `_`)."""

    roles: ColumnRoles | None = None  # features, time / id columns
    scaler: AffineScaler | None = None
    model: LSTMAutoencoder | None = None
    score_model: ScoreModel | None = None  # (rows, F) errors -> (rows,) raw row scores
    threshold: float | None = None
    threshold_method: str = "quantile"
    threshold_params: dict = field(default_factory=dict)  # used, and fitted under "fit"
    val_scores: np.ndarray = field(default_factory=lambda: np.empty(0))  # held-out normal
    range: tuple[np.ndarray, np.ndarray] | None = None  # scaled (low, high) per feature
    history: list[dict] = field(default_factory=list)  # one record per epoch
    data_info: dict = field(default_factory=dict)  # the training data's size, span, sha256

    def require(self) -> FittedParts:
        """The fitted pieces; a UsageError while any is missing (not fitted, not loaded)."""
        roles, scaler, model, score_model = self.roles, self.scaler, self.model, self.score_model
        threshold = self.threshold
        if (
            roles is None
            or scaler is None
            or model is None
            or score_model is None
            or threshold is None
        ):
            raise UsageError("this Detector is not fitted: call fit() or Detector.load()")
        return FittedParts(roles, scaler, model, score_model, threshold)

    def tensors(self) -> dict[str, torch.Tensor]:
        """Network weights, scaler, held-out scores, score calibration and training range."""
        parts = self.require()
        tensors = {f"model.{k}": v for k, v in parts.model.state_dict().items()}
        tensors["scaler.offset"] = torch.from_numpy(parts.scaler.offset)
        tensors["scaler.scale"] = torch.from_numpy(parts.scaler.scale)
        tensors["threshold.val_scores"] = torch.from_numpy(np.sort(self.val_scores))
        tensors["score.center"] = torch.from_numpy(parts.score_model.center)
        # "score.precision": the inverse covariance, under the name bundles have always used
        tensors["score.precision"] = torch.from_numpy(parts.score_model.inverse_covariance)
        if self.range is not None:
            tensors["range.low"], tensors["range.high"] = map(torch.from_numpy, self.range)
        return tensors

    def metadata(self) -> dict:
        """The bundle's metadata entries of the fitted state, in the bundle's order."""
        parts = self.require()
        return {
            "model": parts.model.config.to_dict(),
            "parameter_count": count_parameters(parts.model),
            "columns": parts.roles.to_dict(),
            "scaler": parts.scaler.method,
            "threshold": {
                "value": parts.threshold,
                "method": self.threshold_method,
                "params": self.threshold_params,
            },
            "history": self.history,
            "data": self.data_info,
        }

    @classmethod
    def from_bundle(cls, tensors: dict, meta: dict, scoring: str) -> FittedState:
        """The state a bundle holds; `scoring` is the model's row scoring (TrainConfig).

        Raises KeyError / ValueError / RuntimeError where metadata and tensors disagree.
        """
        config = ModelConfig(**meta["model"])
        model = LSTMAutoencoder(config)
        weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        model.load_state_dict(weights, strict=True)
        columns = meta["columns"]
        roles = ColumnRoles(
            list(columns["features"]), columns.get("time"), columns.get("id"), columns.get("label")
        )
        n = (config.n_features,)
        offset, scale = _arrays(tensors, ["scaler.offset", "scaler.scale"], n, "scaler arrays")
        what = "score calibration arrays"
        (center,) = _arrays(tensors, ["score.center"], n, what)
        (inverse_covariance,) = _arrays(tensors, ["score.precision"], n * 2, what)
        threshold = meta["threshold"]
        state = cls(
            roles=roles,
            scaler=AffineScaler(meta["scaler"], offset, scale),
            model=model.eval(),
            score_model=ScoreModel(scoring, center, inverse_covariance),
            threshold=float(threshold["value"]),
            threshold_method=threshold["method"],
            threshold_params=dict(threshold["params"]),
            val_scores=tensors.get("threshold.val_scores", torch.empty(0)).numpy(),
            history=list(meta.get("history", [])),
            data_info=dict(meta.get("data", {})),
        )
        if "range.low" in tensors:  # bundles before the drift guard have no range
            low, high = _arrays(tensors, ["range.low", "range.high"], n, "training range arrays")
            state.range = (low, high)
        return state


def bundle_metadata(config: TrainConfig, state: FittedState) -> dict:
    """The bundle's JSON: the training options, the fitted state's entries, the versions."""
    return {
        "params": asdict(config),
        **state.metadata(),
        "versions": {
            "lstmae": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }


def _arrays(tensors: dict, names: list[str], shape: tuple, what: str) -> tuple[np.ndarray, ...]:
    """The named tensors as arrays, each of `shape`, else a ValueError about `what`."""
    arrays = tuple(tensors[name].numpy() for name in names)
    if any(a.shape != shape for a in arrays):
        raise ValueError(f"{what} do not match the feature count")
    return arrays
