"""`lstmae export`: the ONNX network reconstructs as torch does, and its metadata is enough
to rebuild the row scores and flags of `lstmae score`."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from lstmae_cli import Detector
from lstmae_cli.cli.app import app
from lstmae_cli.export import read_metadata

runner = CliRunner()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_model):
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    result = runner.invoke(app, ["export", str(tiny_model), "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


def session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("batch, seq_len", [(1, 16), (7, 16), (3, 40)])
def test_onnxruntime_reconstruction_equals_torch(exported, tiny_model, batch, seq_len):
    model = Detector.load(tiny_model, device="cpu").model_
    windows = torch.randn(batch, seq_len, 3, generator=torch.Generator().manual_seed(batch))
    with torch.inference_mode():
        expected = model(windows).numpy()  # (batch, seq_len, features)
    (got,) = session(exported).run(["reconstruction"], {"windows": windows.numpy()})
    assert got.shape == (batch, seq_len, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_metadata_holds_scaler_calibration_and_threshold(exported, tiny_model):
    detector = Detector.load(tiny_model, device="cpu")
    meta = read_metadata(exported)
    runtime = session(exported).get_modelmeta().custom_metadata_map  # what a deployer reads
    assert json.loads(runtime["lstmae"]) == meta
    assert meta["features"] == ["f0", "f1", "f2"]
    assert meta["seq_len"] == 16
    np.testing.assert_array_equal(meta["scaler"]["offset"], detector.scaler_.offset)
    np.testing.assert_array_equal(
        meta["scoring"]["precision"], detector.score_model_.inverse_covariance
    )
    assert meta["threshold"]["value"] == detector.threshold_


def without_drift(scaled: np.ndarray, rate: float, block: int = 32) -> np.ndarray:
    """The metadata's drift rule, row by row: the level before each block is taken off."""
    level, out = np.zeros(scaled.shape[1]), np.empty_like(scaled)
    for start in range(0, len(scaled), block):
        rows = scaled[start : start + block].astype(np.float64)
        out[start : start + block] = rows - level
        if len(rows) == block:
            level += np.clip(np.median(rows, axis=0) - level, -rate * block, rate * block)
    return out


def onnx_row_scores(path, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row scores and flags from the ONNX file alone, following its metadata."""
    meta = read_metadata(path)
    scaler, scoring = meta["scaler"], meta["scoring"]
    values = frame[meta["features"]].to_numpy(np.float64)
    scaled = ((values - scaler["offset"]) / scaler["scale"]).astype(np.float32)  # (rows, F)
    scaled = without_drift(scaled, meta["drift"]["rate"])
    seq_len, stride, rows = meta["seq_len"], meta["score_stride"], len(scaled)
    starts = list(range(0, rows - seq_len + 1, stride))
    if starts[-1] + seq_len < rows:  # a last window ending at the last row covers the tail
        starts.append(rows - seq_len)
    windows = np.stack([scaled[s : s + seq_len] for s in starts])  # (windows, seq_len, F)
    (recon,) = session(path).run(None, {"windows": windows})
    sums, counts = np.zeros(scaled.shape), np.zeros(rows)
    for start, error in zip(starts, (recon - windows) ** 2, strict=True):
        sums[start : start + seq_len] += error
        counts[start : start + seq_len] += 1
    errors = sums / counts[:, None]  # (rows, F)
    if scoring["method"] == "mahalanobis":
        centered = errors - scoring["center"]
        raw = np.einsum("ij,jk,ik->i", centered, np.array(scoring["precision"]), centered)
    else:
        raw = (errors / (scoring["center"] if scoring["method"] == "normalized" else 1)).mean(1)
    scores = pd.Series(raw).rolling(meta["smooth"], min_periods=1).mean().to_numpy()
    return scores, scores > meta["threshold"]["value"]


def test_metadata_is_enough_to_score_like_the_cli(exported, tiny_model, small_frame):
    frame = small_frame.copy()
    frame.loc[300:305, "f1"] += 3.0  # something to flag
    # raw flags (--merge-gap 0 --min-rows 1): the metadata's rule before alerts are formed
    detector = Detector.load(tiny_model, device="cpu")
    expected = detector.score_frame(frame, merge_gap=0, min_rows=1)
    scores, flags = onnx_row_scores(exported, frame)
    np.testing.assert_allclose(scores, expected["score"], rtol=1e-3, atol=1e-6)
    assert flags[300:306].any()
    assert (flags == expected["is_anomaly"].to_numpy()).mean() > 0.99


def test_export_writes_atomically_and_reports(tmp_path, tiny_model):
    target = tmp_path / "m.onnx"
    result = runner.invoke(app, ["export", str(tiny_model), "-o", str(target), "--opset", "14"])
    assert result.exit_code == 0 and "wrote" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temp file left


@pytest.mark.parametrize(
    "args, code, text",
    [
        (["--opset", "5"], 2, "--opset must be between"),
        (["-o", "/nonexistent/folder/m.onnx"], 1, "does not exist"),
    ],
)
def test_export_errors_are_one_line(tmp_path, tiny_model, args, code, text):
    output = ["-o", str(tmp_path / "m.onnx")] if "-o" not in args else []
    result = runner.invoke(app, ["export", str(tiny_model), *output, *args])
    assert result.exit_code == code
    assert text in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_export_of_a_non_model_is_an_error(tmp_path, small_csv):
    result = runner.invoke(app, ["export", str(small_csv), "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 2 and "looks like a CSV data file" in result.stderr  # swapped?
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)))
    result = runner.invoke(app, ["export", str(garbage), "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1 and "not an lstmae model file" in result.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_missing_onnx_package_is_a_clear_error(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError
    result = runner.invoke(app, ["export", str(tiny_model), "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1 and "pip install 'lstmae[onnx]'" in result.stderr
