"""The model's forward + error at scoring time: nn.LSTM's decoder beside the constant-input one.

    OMP_NUM_THREADS=1 python benchmarks/inference_step.py     # about 30 s

`lstmae score` reconstructs batches of windows (512 of seq_len 32, 8 features, the
default model). On the CPU its decoder runs `nn/recurrence.py` (the code's input
projection once per window, one sigmoid per step for all four gates); training and
other devices run `nn.LSTM` (oneDNN). Both paths take turns on the same model and
batch: the median of `--rounds` timings of `--calls` calls each, and the largest
difference between their reconstructions. Writes benchmarks/results/inference_step.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstmae_cli.nn import model as model_module  # noqa: E402
from lstmae_cli.nn.model import LSTMAutoencoder, ModelConfig  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "inference_step.json"


def forward_and_error(net: LSTMAutoencoder, windows: torch.Tensor) -> torch.Tensor:
    """windows: (batch, seq_len, features) -> per-window mean squared error (batch,)."""
    return ((net(windows) - windows) ** 2).mean(dim=(1, 2))


def stock_decoder(lstm, code) -> bool:
    """A stand-in for takes_constant_input_path that always answers no: nn.LSTM decodes."""
    return False


def timed_ms(net: LSTMAutoencoder, windows: torch.Tensor, calls: int) -> float:
    began = time.perf_counter()
    for _ in range(calls):
        forward_and_error(net, windows)
    return (time.perf_counter() - began) / calls * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    net = LSTMAutoencoder(ModelConfig(n_features=args.features)).eval()
    windows = torch.randn(args.batch, args.seq_len, args.features)  # (batch, seq_len, F)
    fast_path = model_module.takes_constant_input_path
    paths = {"nn.LSTM decoder": stock_decoder, "constant-input decoder": fast_path}
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    outputs = {}
    with torch.no_grad():
        for name, chooser in paths.items():
            model_module.takes_constant_input_path = chooser
            outputs[name] = net(windows)
            timed_ms(net, windows, 5)  # warm-up
        for _ in range(args.rounds):
            for name, chooser in paths.items():
                model_module.takes_constant_input_path = chooser
                seconds[name].append(timed_ms(net, windows, args.calls))
    model_module.takes_constant_input_path = fast_path
    difference = (outputs["nn.LSTM decoder"] - outputs["constant-input decoder"]).abs().max()
    result = {
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "batch": args.batch,
        "seq_len": args.seq_len,
        "features": args.features,
        "ms_per_call": {name: float(np.median(ms)) for name, ms in seconds.items()},
        "rounds_ms": seconds,
        "largest_difference": float(difference),
    }
    base, ours = result["ms_per_call"].values()
    print(f"forward + error, batch {args.batch}, {result['threads']} thread(s), median ms a call")
    for name, ms in result["ms_per_call"].items():
        print(f"  {name:24} {ms:7.2f}   turns: {', '.join(f'{t:.1f}' for t in seconds[name])}")
    print(f"  speed-up {base / ours:.2f}x; largest difference {difference:.2e}")
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
