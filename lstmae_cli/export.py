"""ONNX export of a bundle's network, with what scoring needs around it as metadata.

The graph is the autoencoder alone: input `windows` (batch, seq_len, features), already
scaled, output `reconstruction` of the same shape; batch and seq_len are dynamic axes.
Everything else a scorer needs (feature order, scaler, score calibration, threshold,
window options) is JSON under the `lstmae` key of the model's metadata_props, readable
with `onnxruntime.InferenceSession(path).get_modelmeta().custom_metadata_map["lstmae"]`.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .errors import LstmaeError, UsageError
from .io.outpath import atomic_path
from .params import alert_defaults

if TYPE_CHECKING:
    from .detector import Detector
    from .nn.model import LSTMAutoencoder

DEFAULT_OPSET = 17  # LSTM is in every opset >= 7; 17 is widely supported by runtimes
META_KEY = "lstmae"
INPUT, OUTPUT = "windows", "reconstruction"


def export_onnx(detector: Detector, path: str | Path, opset: int = DEFAULT_OPSET) -> None:
    """Write `detector`'s network to `path` (atomically) as an ONNX model with metadata."""
    if not 9 <= opset <= 20:
        raise UsageError("--opset must be between 9 and 20")
    onnx = _import_onnx()
    detector.require_fitted()
    graph = onnx.load_from_string(_trace(detector, opset))
    onnx.helper.set_model_props(graph, {META_KEY: json.dumps(scoring_metadata(detector))})
    graph.doc_string = (
        f"lstmae LSTM autoencoder: {INPUT} (batch, seq_len, features), scaled -> {OUTPUT}, "
        f"same shape. Scaler, score calibration and threshold: metadata_props['{META_KEY}']."
    )
    onnx.checker.check_model(graph)
    with atomic_path(Path(path)) as tmp:
        onnx.save(graph, str(tmp))


def _trace(detector: Detector, opset: int) -> bytes:
    """The network as ONNX bytes (TorchScript exporter: no onnxscript needed)."""
    model = _cpu_copy(detector)
    n_features = model.config.n_features
    example = torch.zeros(2, detector.params.seq_len, n_features)  # (batch, seq_len, features)
    axes = {0: "batch", 1: "seq_len"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the legacy-exporter and LSTM batch notes: tested below
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,  # type: ignore[arg-type]  # stubs say a path; the exporter takes a file too
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: axes, OUTPUT: axes},
            opset_version=opset,
            dynamo=False,
        )
    return buffer.getvalue()


def _cpu_copy(detector: Detector) -> LSTMAutoencoder:
    from .nn.model import LSTMAutoencoder

    fitted = detector.require_fitted().model
    model = LSTMAutoencoder(fitted.config)
    model.load_state_dict({k: v.cpu() for k, v in fitted.state_dict().items()})
    return model.eval()


def scoring_metadata(detector: Detector) -> dict:
    """What turns raw rows into scores around the network, as plain JSON values."""
    p, parts = detector.params, detector.require_fitted()
    scaler, score, roles = parts.scaler, parts.score_model, parts.roles
    merge_gap, min_rows = alert_defaults(p.seq_len, p.smooth)
    return {
        "features": list(roles.features),
        "time_column": roles.time,
        "id_column": roles.id,
        "seq_len": p.seq_len,
        "score_stride": p.score_stride,
        "missing": p.missing,
        "smooth": getattr(p, "smooth", None) or 1,  # trailing mean of row scores (1: none)
        "scaler": {
            "method": scaler.method,
            "offset": scaler.offset.tolist(),
            "scale": scaler.scale.tolist(),
            "formula": "scaled = (value - offset) / scale",
        },
        "drift": {
            "rate": p.drift_rate,
            "rule": "per series and feature, a level starting at 0 subtracted from the scaled "
            "values before the network; after each whole block of 32 rows (counted from the "
            "series' first row) it moves toward the block's median by at most 32 * rate; "
            "rate 0: none",
        },
        "scoring": {
            "method": score.method,
            "center": score.center.tolist(),
            "precision": score.inverse_covariance.tolist(),  # the metadata's name for it
        },
        "threshold": {
            "value": parts.threshold,
            "method": detector.threshold_method_,
            "params": detector.threshold_params_,
        },
        "row_errors": "a row's error per feature is the mean squared error over the windows "
        "covering it; `scoring` turns those errors into a raw row score; the row score is "
        "the mean of the last `smooth` raw scores of its series (fewer at the start); "
        "anomalous when score > threshold",
        "alerts": f"`lstmae score` then forms alerts per series (its defaults --merge-gap "
        f"{merge_gap} --min-rows {min_rows}): the rows of every gap of at most {merge_gap} rows "
        f"between flagged rows are flagged too, and alerts spanning fewer than {min_rows} rows "
        "are not flagged",
    }


def read_metadata(path: str | Path) -> dict:
    """The `lstmae` metadata of an exported ONNX file."""
    onnx = _import_onnx()
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    if META_KEY not in props:
        raise LstmaeError(f"{path}: not an ONNX file exported by lstmae (no metadata)")
    return json.loads(props[META_KEY])


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise LstmaeError("ONNX export needs the onnx package: pip install 'lstmae[onnx]'") from exc
    return onnx
