"""Batch size and learning rate: the validation loss each (batch, lr) reaches, epoch by epoch.

    python benchmarks/batch_lr.py                    # all data sets, every candidate
    python benchmarks/batch_lr.py --epochs 3 --quick

Which (batch size, learning rate) a CUDA GPU should train with by default (issue 19) has
two sides. How fast a step runs depends on the device; how much a step, or an epoch,
lowers the validation loss does not (up to float noise: the same arithmetic in the same
order on any device). This benchmark measures the second side on the CPU: lstmae's training
loop (`train_autoencoder`, default model) on each data set, for each candidate, records the
validation loss after every epoch of at most --windows-per-epoch windows. The GPU side,
seconds per epoch at each batch size, is `benchmarks/speed.py --gpu-only`.

Data sets (no held-out evaluation data among them):
- `sines`: the 1,000,000 x 8 series of speed.py's GPU step (issue 19's measurement);
- `machine`: sample_data/make_sample.machine, 500,000 rows x 6, the demo's kind of data.

Writes benchmarks/results/batch_lr.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from speed import series  # noqa: E402

from lstmae_cli.nn.model import ModelConfig  # noqa: E402
from lstmae_cli.nn.train import TrainSettings, train_autoencoder  # noqa: E402
from lstmae_cli.nn.windows import WindowBank  # noqa: E402
from lstmae_cli.params import DetectorParams  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "batch_lr.json"
# (batch, lr): the CPU default, then larger batches at the square-root rule
# lr = 0.002 * sqrt(batch / 128) (0.0057, 0.008, 0.0113) and beside it
CANDIDATES = (
    (128, 0.002),
    (1024, 0.0057),
    (2048, 0.008),
    (4096, 0.008),
    (4096, 0.0113),
    (4096, 0.016),
)


def standardised(values: np.ndarray, n_train: int) -> np.ndarray:
    mean, std = values[:n_train].mean(0), values[:n_train].std(0)
    return ((values - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def data_sets(quick: bool) -> dict[str, np.ndarray]:
    from sample_data.make_sample import machine

    rows = 200_000 if quick else 1_000_000
    sets = {"sines": series(rows, seed=5)}
    machine_rows = machine(rows // 2, np.random.default_rng(7))
    sets["machine"] = machine_rows.select_dtypes("number").to_numpy(np.float64)
    return {name: standardised(v, int(len(v) * 0.8)) for name, v in sets.items()}


def run(values: np.ndarray, batch: int, lr: float, args) -> dict:
    """Train the default model on the first 80 % (the last 20 % validates), `args.epochs`
    epochs without early stopping; the validation loss after each epoch."""
    p = DetectorParams()
    n_train = int(len(values) * 0.8)
    train = WindowBank.from_series([values[:n_train]], p.seq_len, 1)
    val_rows = values[n_train:][: args.val_windows + p.seq_len - 1]
    val = WindowBank.from_series([val_rows], p.seq_len, 1)
    settings = TrainSettings(
        epochs=args.epochs,
        batch_size=batch,
        lr=lr,
        patience=args.epochs,
        max_windows_per_epoch=args.windows_per_epoch,
    )
    config = ModelConfig(values.shape[1], p.hidden, p.layers, p.arch)
    began = time.process_time()
    result = train_autoencoder(config, train, val, settings)
    losses = [h["val_loss"] for h in result.history]
    steps = -(-min(len(train), args.windows_per_epoch) // batch)
    return {
        "batch": batch,
        "lr": lr,
        "windows_per_epoch": min(len(train), args.windows_per_epoch),
        "steps_per_epoch": steps,
        "val_windows": len(val),
        "val_loss": losses,
        "cpu_seconds": time.process_time() - began,
    }


def report(name: str, runs: list[dict]) -> None:
    longest = max(len(r["val_loss"]) for r in runs)
    print(f"\n{name}: validation loss after each epoch (lower is better)")
    epochs = " | ".join(f"ep {i + 1}" for i in range(longest))
    print(f"| batch | lr | steps/epoch | {epochs} |")
    print("|---|---|---|" + "---|" * longest)
    for r in runs:
        cells = " | ".join(f"{v:.4f}" for v in r["val_loss"])
        print(f"| {r['batch']} | {r['lr']:g} | {r['steps_per_epoch']} | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--windows-per-epoch", type=int, default=400_000)
    parser.add_argument("--val-windows", type=int, default=50_000)
    parser.add_argument("--quick", action="store_true", help="200,000 sine rows")
    parser.add_argument("--sets", default="", help="comma-separated data set names (all)")
    parser.add_argument("--candidates", default="", help="e.g. 128:0.002,1024:0.004 (all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    candidates = CANDIDATES
    if args.candidates:
        pairs = (c.split(":") for c in args.candidates.split(","))
        candidates = tuple((int(b), float(lr)) for b, lr in pairs)
    sets = data_sets(args.quick)
    chosen = [s for s in args.sets.split(",") if s] or list(sets)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in chosen:
        entry = results.setdefault("data", {}).setdefault(name, {"runs": {}})
        entry["shape"] = list(sets[name].shape)
        for batch, lr in candidates:  # a later run of the same (batch, lr) replaces it
            done = entry["runs"][f"{batch}:{lr:g}"] = run(sets[name], batch, lr, args)
            print(f"{name} batch {batch} lr {lr:g}: {done['val_loss']}", flush=True)
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        report(name, list(entry["runs"].values()))


if __name__ == "__main__":
    main()
