"""A fitted Detector <-> the tensors and JSON metadata of its safetensors bundle."""

from __future__ import annotations

import platform
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np
import torch

from ._version import __version__
from .io.data import ColumnRoles
from .nn.model import LSTMAutoencoder, ModelConfig, count_parameters
from .nn.scaling import AffineScaler
from .scoring.rows import ScoreModel

if TYPE_CHECKING:
    from .detector import Detector


def bundle_tensors(detector: Detector) -> dict[str, torch.Tensor]:
    """Network weights, scaler, held-out scores, score calibration and training range."""
    d = detector
    tensors = {f"model.{k}": v for k, v in d.model_.state_dict().items()}
    tensors["scaler.offset"] = torch.from_numpy(d.scaler_.offset)
    tensors["scaler.scale"] = torch.from_numpy(d.scaler_.scale)
    tensors["threshold.val_scores"] = torch.from_numpy(np.sort(d.val_scores_))
    tensors["score.center"] = torch.from_numpy(d.score_model_.center)
    # "score.precision": the inverse covariance, under the name bundles have always used
    tensors["score.precision"] = torch.from_numpy(d.score_model_.inverse_covariance)
    if d.range_ is not None:
        tensors["range.low"], tensors["range.high"] = map(torch.from_numpy, d.range_)
    return tensors


def bundle_metadata(detector: Detector) -> dict:
    d = detector
    return {
        "params": asdict(d.params.train_config()),  # not the run-time device, precision
        "model": d.model_.config.to_dict(),
        "parameter_count": count_parameters(d.model_),
        "columns": d.roles_.to_dict(),
        "scaler": d.scaler_.method,
        "threshold": {
            "value": d.threshold_,
            "method": d.threshold_method_,
            "params": d.threshold_params_,
        },
        "history": d.history_,
        "data": d.data_info_,
        "versions": {
            "lstmae": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }


def restore(detector: Detector, tensors: dict, meta: dict) -> Detector:
    """Fill an unfitted `detector` (built from the saved options) from a bundle's contents.

    Raises KeyError / ValueError / RuntimeError where metadata and tensors disagree.
    """
    config = ModelConfig(**meta["model"])
    model = LSTMAutoencoder(config)
    weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(weights, strict=True)
    detector.model_ = model.eval()
    columns = meta["columns"]
    detector.roles_ = ColumnRoles(
        list(columns["features"]), columns.get("time"), columns.get("id"), columns.get("label")
    )
    n = (config.n_features,)
    offset, scale = _arrays(tensors, ["scaler.offset", "scaler.scale"], n, "scaler arrays")
    detector.scaler_ = AffineScaler(meta["scaler"], offset, scale)
    what = "score calibration arrays"
    (center,) = _arrays(tensors, ["score.center"], n, what)
    (inverse_covariance,) = _arrays(tensors, ["score.precision"], n * 2, what)
    detector.score_model_ = ScoreModel(detector.params.scoring, center, inverse_covariance)
    threshold = meta["threshold"]
    detector.threshold_ = float(threshold["value"])
    detector.threshold_method_ = threshold["method"]
    detector.threshold_params_ = dict(threshold["params"])
    detector.val_scores_ = tensors.get("threshold.val_scores", torch.empty(0)).numpy()
    detector.history_ = list(meta.get("history", []))
    detector.data_info_ = dict(meta.get("data", {}))
    if "range.low" in tensors:  # bundles before the drift guard have no range
        low, high = _arrays(tensors, ["range.low", "range.high"], n, "training range arrays")
        detector.range_ = (low, high)
    return detector


def _arrays(tensors: dict, names: list[str], shape: tuple, what: str) -> tuple[np.ndarray, ...]:
    """The named tensors as arrays, each of `shape`, else a ValueError about `what`."""
    arrays = tuple(tensors[name].numpy() for name in names)
    if any(a.shape != shape for a in arrays):
        raise ValueError(f"{what} do not match the feature count")
    return arrays
