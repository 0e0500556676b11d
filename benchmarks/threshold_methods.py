"""Every label-free threshold method on the sample machine, from one trained model.

    python benchmarks/threshold_methods.py [--epochs 30]

Trains once on sample_data/machine_train.csv (default options), fits each method on the
held-out normal scores stored in the model, as `train` would, and evaluates the flags on
sample_data/machine_test.csv (labelled). `fbeta` is fitted on the test labels themselves:
an in-sample upper bound for point F1, not a fair entry. Writes
benchmarks/results/threshold_methods.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstmae_cli import Detector  # noqa: E402
from lstmae_cli.errors import UsageError  # noqa: E402
from lstmae_cli.scoring.thresholds import fit_threshold  # noqa: E402
from lstmae_cli.views.metrics import binary_labels, evaluate_all  # noqa: E402

METHODS = [
    ("quantile", {"q": 0.999}),
    ("quantile", {"q": 0.995}),
    ("sigma", {"k": 4.0}),
    ("mad", {"k": 6.0}),
    ("pot", {"risk": 1e-3}),
    ("pot", {"risk": 1e-4}),
    ("fpr", {"alpha": 0.01}),
    ("fpr", {"alpha": 0.001}),
    ("budget", {"alerts_per": 1, "rows": 1000}),
    ("budget", {"alerts_per": 5, "rows": 1000}),
]
KEYS = ("f1", "precision", "recall", "far", "event_recall", "false_alarm_runs")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    train = pd.read_csv(ROOT / "sample_data/machine_train.csv")
    test = pd.read_csv(ROOT / "sample_data/machine_test.csv")
    began = time.perf_counter()
    detector = Detector(epochs=args.epochs).fit([("train", train)])
    print(f"trained in {time.perf_counter() - began:.0f}s", file=sys.stderr)
    raw_flags = {"merge_gap": 0, "min_rows": 1}  # score > threshold: only thresholds differ
    scored = detector.score_frame(test, "test", keep=["anomaly"], **raw_flags)
    labels, scores = binary_labels(scored["anomaly"], "anomaly"), scored["score"].to_numpy()
    rows = []
    for method, params in METHODS:
        try:
            value, _ = fit_threshold(method, detector.val_scores_, **params)
        except UsageError as exc:
            rows.append({"method": method, "params": params, "error": str(exc)})
            continue
        rows.append(_row(method, params, value, labels, scores))
    value, _ = fit_threshold("fbeta", scores, labels=labels, beta=1.0)
    rows.append(_row("fbeta (fit on the test labels)", {"beta": 1.0}, value, labels, scores))
    baseline = evaluate_all(labels, scores, np.inf)
    result = {
        "epochs": args.epochs,
        "held_out_rows": int(detector.val_scores_.size),
        "methods": rows,
        "flag_all_f1": baseline["flag_all"]["f1"],
        "roc_auc": baseline["lstmae"]["roc_auc"],
        "pr_auc": baseline["lstmae"]["pr_auc"],
    }
    _print(result)
    out = ROOT / "benchmarks/results/threshold_methods.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


def _row(method: str, params: dict, value: float, labels, scores) -> dict:
    report = evaluate_all(labels, scores, value)["lstmae"]
    return {"method": method, "params": params, "threshold": value} | {k: report[k] for k in KEYS}


def _print(result: dict) -> None:
    print(f"| method | threshold | {' | '.join(KEYS)} |")
    print("|---" * (len(KEYS) + 2) + "|")
    for row in result["methods"]:
        name = f"{row['method']} {row['params']}"
        if "error" in row:
            print(f"| {name} | {row['error']} |")
            continue
        cells = [f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in KEYS]
        print(f"| {name} | {row['threshold']:.4g} | {' | '.join(cells)} |")
    print(f"flag every row: F1 {result['flag_all_f1']:.3f}; ROC-AUC {result['roc_auc']:.3f}")


if __name__ == "__main__":
    main()
