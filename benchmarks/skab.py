"""SKAB (Skoltech Anomaly Benchmark) through lstmae, beside the published results.

    python benchmarks/skab.py                       # default options, 3 seeds, both protocols
    python benchmarks/skab.py --seeds 1 --set seq_len=16 --set scoring=mean

Leaderboard protocol: for each of the 34 labelled files, the first 400 rows train (scaler,
network, threshold: the tool's own defaults, nothing tuned per file), the rest is test.
All test rows are pooled for point F1, FAR = FP / (FP + TN) and MAR = FN / (FN + TP).
The whole file is streamed through `score` (as a deployed detector would see it) and the
rows after the first 400 are kept.

Strict protocol: train once on anomaly-free/anomaly-free.csv, test on every labelled file
whole.

Reads ../shared/data/skab by default (`--data DIR`); writes benchmarks/results/skab.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from options import parse_overrides  # noqa: E402

from lstmae_cli import Detector  # noqa: E402
from lstmae_cli.errors import LstmaeWarning  # noqa: E402
from lstmae_cli.metrics import point_metrics  # noqa: E402

SENSORS = [
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
]
TRAIN_ROWS = 400
PUBLISHED = [  # (detector, F1, FAR %, MAR %) from the SKAB leaderboard
    ("Conv-AE", 0.78, 13.55, 28.02),
    ("MSET", 0.78, 39.73, 14.13),
    ("T-squared + Q (PCA)", 0.76, 26.62, 24.92),
    ("LSTM-AE (Keras, window 10)", 0.74, 29.96, 25.92),
    ("T-squared", 0.66, 19.21, 42.60),
    ("LSTM-VAE", 0.56, 9.13, 55.03),
    ("Isolation forest", 0.29, 2.56, 82.89),
]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "skab"


def labelled_files(data: Path) -> list[Path]:
    files = sorted(p for p in data.glob("*/*.csv") if p.parent.name != "anomaly-free")
    if not files:
        raise SystemExit(f"no SKAB files under {data} (use --data DIR)")
    return files


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep=";")


def score_rows(
    detector: Detector, frame: pd.DataFrame, alerts: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(flags, scores) of every row, as `lstmae score` writes them; alerts: its --merge-gap
    and --min-rows as merge_gap / min_rows (missing: the defaults)."""
    scored = detector.score_frame(frame[["datetime", *SENSORS]], "skab", **(alerts or {}))
    return scored["is_anomaly"].to_numpy(), scored["score"].to_numpy()


def leaderboard(files: list[Path], params: dict, seed: int, alerts: dict | None = None) -> dict:
    """Per-file train/test on the leaderboard protocol; pooled metrics."""
    labels, flags = [], []
    for path in files:
        frame = read(path)
        detector = Detector(**params, seed=seed)
        detector.fit([(path.name, frame.iloc[:TRAIN_ROWS])], columns=SENSORS)
        flagged, _ = score_rows(detector, frame, alerts)
        labels.append(frame["anomaly"].to_numpy()[TRAIN_ROWS:] > 0)
        flags.append(flagged[TRAIN_ROWS:])
    return point_metrics(np.concatenate(labels), np.concatenate(flags))


def strict(
    files: list[Path], free: Path, params: dict, seed: int, alerts: dict | None = None
) -> dict:
    """Train once on the anomaly-free file; test on every labelled file whole."""
    detector = Detector(**params, seed=seed)
    detector.fit([(free.name, read(free))], columns=SENSORS)
    labels, flags = [], []
    for path in files:
        frame = read(path)
        labels.append(frame["anomaly"].to_numpy() > 0)
        flags.append(score_rows(detector, frame, alerts)[0])
    return point_metrics(np.concatenate(labels), np.concatenate(flags))


def flag_all(files: list[Path], skip: int) -> dict:
    labels = np.concatenate([read(p)["anomaly"].to_numpy()[skip:] > 0 for p in files])
    return point_metrics(labels, np.ones_like(labels))


def summarise(runs: list[dict]) -> dict:
    keys = ("f1", "far", "mar", "precision", "recall")
    return {
        k: (float(np.mean([r[k] for r in runs])), float(np.std([r[k] for r in runs]))) for k in keys
    }


def print_table(title: str, ours: dict, baseline: dict, published: bool) -> None:
    print(f"\n{title}")
    print(f"{'detector':32} {'F1':>14} {'FAR %':>14} {'MAR %':>14}")
    f1, far, mar = ours["f1"], ours["far"], ours["mar"]
    print(
        f"{'lstmae (this run)':32} {f1[0]:>8.3f} ±{f1[1]:.3f}"
        f" {100 * far[0]:>8.2f} ±{100 * far[1]:<4.1f} {100 * mar[0]:>8.2f} ±{100 * mar[1]:<4.1f}"
    )
    if published:
        for name, p_f1, p_far, p_mar in PUBLISHED:
            print(f"{name:32} {p_f1:>14.2f} {p_far:>14.2f} {p_mar:>14.2f}")
    print(
        f"{'flag every row (trivial)':32} {baseline['f1']:>14.3f} {100 * baseline['far']:>14.2f}"
        f" {100 * baseline['mar']:>14.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], help="Detector option, key=value")
    parser.add_argument(
        "--merge-gap", type=int, default=None, help="as `score --merge-gap` (default: seq_len)"
    )
    parser.add_argument(
        "--min-rows", type=int, default=None, help="as `score --min-rows` (default: smooth + 1)"
    )
    parser.add_argument("--skip-strict", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (the per-file models are tiny)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "skab.json")
    args = parser.parse_args()
    params = parse_overrides(args.set)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", LstmaeWarning)  # drift outside the training range: known
    files = labelled_files(args.data)
    began = time.perf_counter()
    alerts = {"merge_gap": args.merge_gap, "min_rows": args.min_rows}
    alerts = {name: value for name, value in alerts.items() if value is not None}
    runs = [leaderboard(files, params, seed, alerts) for seed in range(args.seeds)]
    result = {"params": params, "alerts": alerts, "seeds": args.seeds}
    result["files"] = len(files)
    result["leaderboard"] = {"runs": runs, "summary": summarise(runs)}
    result["leaderboard"]["flag_all"] = flag_all(files, TRAIN_ROWS)
    print_table(
        f"SKAB leaderboard protocol ({len(files)} files, {args.seeds} seeds, mean ± std)",
        result["leaderboard"]["summary"],
        result["leaderboard"]["flag_all"],
        published=True,
    )
    if not args.skip_strict:
        free = args.data / "anomaly-free" / "anomaly-free.csv"
        strict_runs = [strict(files, free, params, seed, alerts) for seed in range(args.seeds)]
        result["strict"] = {"runs": strict_runs, "summary": summarise(strict_runs)}
        result["strict"]["flag_all"] = flag_all(files, 0)
        print_table(
            "Strict protocol (train on anomaly-free.csv, test every labelled file whole)",
            result["strict"]["summary"],
            result["strict"]["flag_all"],
            published=False,
        )
    result["seconds"] = round(time.perf_counter() - began, 1)
    print(f"\n{result['seconds']:.0f} s; options: {params or 'defaults'}; alerts: {alerts}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
