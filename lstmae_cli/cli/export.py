"""`lstmae export`: a bundle's network as ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import err, settle_heap
from .options import QuietOpt


def export(
    model: Annotated[Path, typer.Argument(help="Model bundle from `lstmae train`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="ONNX file to write.")],
    opset: Annotated[int, typer.Option(help="ONNX opset (LSTM needs at least 9).")] = 17,
    quiet: QuietOpt = False,
) -> None:
    """Write MODEL's network as ONNX for onnxruntime and other engines.

    Input `windows` (batch, seq_len, features), already scaled; output `reconstruction`,
    same shape; batch and seq_len are dynamic. Features, scaler, score calibration and
    threshold are JSON in the file's metadata_props under `lstmae`.
    """
    from ..detector import Detector
    from ..export import export_onnx

    settle_heap()
    detector = Detector.load(model, device="cpu")
    export_onnx(detector, output, opset)
    if not quiet:
        err(f"wrote {output} (opset {opset}; scaler and threshold in metadata_props 'lstmae')")
