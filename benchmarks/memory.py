"""Peak memory of `lstmae train` and `lstmae score` on a large CSV, beside the tutorial way.

    python benchmarks/memory.py                      # 2,000,000 rows x 8 features
    python benchmarks/memory.py --rows 200000        # quicker
    python benchmarks/memory.py --score-stride 1     # every window scored (slow on few cores)

Each step runs in its own process; its peak resident set size (ru_maxrss from wait4) is
printed and written to benchmarks/results/memory.json. The "tutorial" step stacks every
window into one array and reconstructs them all at once, as most LSTM-autoencoder
tutorials do; it runs on --tutorial-rows rows only, and its figure per million rows is
printed beside lstmae's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lstmae_cli.io.outpath import atomic_path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "memory.json"
FEATURES = 8
SEQ_LEN = 32


def write_csv(path: Path, rows: int, seed: int = 0, block: int = 250_000) -> None:
    """A smooth 8-channel series with a timestamp, written block by block."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-01-01")
    with open(path, "w", encoding="utf-8", newline="") as handle:
        for first in range(0, rows, block):
            t = np.arange(first, min(first + block, rows))
            frame = pd.DataFrame(
                {
                    f"f{i}": np.sin(2 * np.pi * t / (50 + 9 * i) + i) + rng.normal(0, 0.05, len(t))
                    for i in range(FEATURES)
                }
            ).round(4)
            frame.insert(0, "timestamp", (start + pd.to_timedelta(t, unit="s")).astype(str))
            frame.to_csv(handle, index=False, header=first == 0, lineterminator="\n")


def peak_rss(command: list[str], stdout=subprocess.DEVNULL) -> tuple[float, float]:
    """Run `command`; (peak RSS in MiB, wall seconds). Fails loudly on a non-zero exit."""
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - began
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()}")
    messages = process.stderr.read().decode().strip()
    if messages:
        print(messages, file=sys.stderr)
    return usage.ru_maxrss / 1024, seconds  # Linux reports KiB


TUTORIAL = """
import sys
import numpy as np, pandas as pd, torch
from lstmae_cli import Detector
detector = Detector.load(sys.argv[1])
frame = pd.read_csv(sys.argv[2])
values = detector.scaler_.transform(frame[detector.roles_.features].to_numpy())  # (rows, F)
# the tutorial way: every window stacked into one array, reconstructed in one call
windows = np.stack([values[i : i + {seq}] for i in range(len(values) - {seq} + 1)])
x = torch.from_numpy(windows.astype(np.float32))  # (windows, seq_len, F)
with torch.inference_mode():
    reconstruction = detector.model_(x)
errors = ((reconstruction - x) ** 2).numpy()
print(errors.mean())
"""


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def lstmae(*args: str) -> list[str]:
    return [sys.executable, "-m", "lstmae_cli", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--tutorial-rows", type=int, default=50_000)
    parser.add_argument("--score-stride", type=int, default=16)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        run(Path(folder), args)


def run(folder: Path, args) -> None:
    big, small, model = folder / "big.csv", folder / "small.csv", folder / "m.safetensors"
    began = time.perf_counter()
    write_csv(big, args.rows)
    write_csv(small, args.tutorial_rows, seed=1)
    size_mb, seconds = big.stat().st_size / 2**20, time.perf_counter() - began
    print(f"wrote {args.rows:,} x {FEATURES} CSV ({size_mb:,.0f} MiB) in {seconds:.0f}s")
    train_args = [
        *("--seq-len", str(SEQ_LEN), "--epochs", "1", "--stride", "1"),
        *("--max-windows-per-epoch", "20000", "--val-fraction", "0.02"),
        *("--score-stride", str(args.score_stride), "-q"),
    ]
    results = {"rows": args.rows, "features": FEATURES, "seq_len": SEQ_LEN}
    results["score_stride"] = args.score_stride
    results["train"] = measure(
        "train", lstmae("train", str(big), "-o", str(model), *train_args), args.rows
    )
    results["score"] = measure("score", lstmae("score", str(model), str(big), "-q"), args.rows)
    results["score_small"] = measure(
        "score (small)", lstmae("score", str(model), str(small), "-q"), args.tutorial_rows
    )
    tutorial = python("-c", TUTORIAL.replace("{seq}", str(SEQ_LEN)), str(model), str(small))
    results["tutorial_small"] = measure("tutorial (small)", tutorial, args.tutorial_rows)
    report(results, args)


def measure(label: str, command: list[str], rows: int) -> dict:
    mib, seconds = peak_rss(command)
    print(f"{label:18s} {rows:>10,} rows  peak RSS {mib:8,.0f} MiB  {seconds:7.1f}s")
    return {"rows": rows, "peak_rss_mib": round(mib, 1), "seconds": round(seconds, 1)}


def report(results: dict, args) -> None:
    windows = args.rows - SEQ_LEN + 1
    stacked_gib = windows * SEQ_LEN * FEATURES * (8 + 4 + 4 + 4) / 2**30
    tutorial, small = results["tutorial_small"], results["score_small"]
    per_row = (tutorial["peak_rss_mib"] - small["peak_rss_mib"]) / tutorial["rows"]
    results["tutorial_stacked_gib_at_rows"] = round(stacked_gib, 1)
    results["tutorial_extrapolated_gib_at_rows"] = round(
        (small["peak_rss_mib"] + per_row * args.rows) / 1024, 1
    )
    print(
        f"\nlstmae score, {args.rows:,} rows: peak RSS {results['score']['peak_rss_mib']:,.0f} MiB "
        f"({'under' if results['score']['peak_rss_mib'] < 1024 else 'OVER'} 1 GiB)"
    )
    print(f"lstmae train, {args.rows:,} rows: peak RSS {results['train']['peak_rss_mib']:,.0f} MiB")
    print(
        f"tutorial at {args.rows:,} rows: the stacked windows alone (float64 windows, float32 "
        f"copy, reconstruction, errors) take {stacked_gib:,.1f} GiB; measured growth at "
        f"{tutorial['rows']:,} rows extrapolates to "
        f"{results['tutorial_extrapolated_gib_at_rows']:,.1f} GiB"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
