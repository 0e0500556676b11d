"""--missing mask vs ffill vs interpolate on the sample machine with gaps in the data.

Gaps (runs of 1-40 missing entries, about 5 % of all entries, in train and test alike) are
put into the sample-machine generator's data; each policy trains the same detector and is
scored against the injected anomaly labels. Writes benchmarks/results/missing_policy.json.

    python benchmarks/missing_policy.py [--epochs 10] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sample_data"))
sys.path.insert(0, str(ROOT))

from make_sample import inject, machine, with_time  # noqa: E402

from lstmae_cli import Detector  # noqa: E402
from lstmae_cli.views.metrics import event_metrics, point_metrics  # noqa: E402


def punch_gaps(frame: pd.DataFrame, columns: list[str], rng, fraction: float = 0.05):
    gapped = frame.copy()
    target = int(fraction * len(frame) * len(columns))
    holes = 0
    while holes < target:
        column = columns[rng.integers(len(columns))]
        start, length = int(rng.integers(len(frame) - 40)), int(rng.integers(1, 41))
        gapped.loc[start : start + length - 1, column] = np.nan
        holes += length
    return gapped


def run(seed: int, epochs: int) -> dict:
    rng = np.random.default_rng(seed)
    train = with_time(machine(2500, rng), "2026-01-01 00:00:00")
    test = with_time(inject(machine(3000, rng, phase=2500), rng), "2026-01-02 00:00:00")
    features = [c for c in train.columns if c not in ("timestamp", "anomaly")]
    train, test = punch_gaps(train, features, rng), punch_gaps(test, features, rng)
    results = {}
    for policy in ("mask", "ffill", "interpolate"):
        detector = Detector(epochs=epochs, missing=policy, seed=seed)
        detector.fit([("train", train)])
        raw_flags = {"merge_gap": 0, "min_rows": 1}  # score > threshold
        scored = detector.score_frame(test, keep=["anomaly"], **raw_flags)
        labels = scored["anomaly"].to_numpy() > 0
        flags = scored["is_anomaly"].to_numpy()
        points, events = point_metrics(labels, flags), event_metrics(labels, flags)
        results[policy] = {
            "f1": round(points["f1"], 3),
            "far": round(points["far"], 4),
            "event_recall": round(events["event_recall"], 3),
            "false_alarm_runs": events["false_alarm_runs"],
        }
        print(seed, policy, results[policy], flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    out = ROOT / "benchmarks" / "results" / "missing_policy.json"
    out.parent.mkdir(exist_ok=True)
    report = json.loads(out.read_text()) if out.exists() else {"epochs": args.epochs, "runs": {}}
    if report["epochs"] != args.epochs:  # results of other settings are not mixed in
        report = {"epochs": args.epochs, "runs": {}}
    report["runs"] |= {str(s): run(s, args.epochs) for s in args.seeds}
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
