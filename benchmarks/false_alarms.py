"""False alarms at the default options: the sample machine and purely normal real data.

    python benchmarks/false_alarms.py                     # 3 seeds, default options
    python benchmarks/false_alarms.py --seeds 1 --set calibration_folds=1

- sample machine (sample_data/): train on machine_train.csv, score machine_test.csv as
  `lstmae score` does; point F1, event recall, false-alarm runs (flagged runs touching no
  labelled anomaly), and the share of the training file's rows the threshold flags (raw
  flags, as `lstmae threshold MODEL machine_train.csv --dry-run` counts them);
- purely normal real data (SKAB's anomaly-free.csv, ../shared/data/skab): train on its
  first half, score the second half; the share of rows flagged and the alerts raised.
  This file is used by no other benchmark; its results were read while the defaults of
  issue 16 were chosen (docs/benchmarks.md says how), so it is not unseen data any more.

The threshold of each model is printed too, with its spread over the seeds.
Writes benchmarks/results/false_alarms.json.
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
from lstmae_cli.views.metrics import event_metrics, point_metrics, runs  # noqa: E402

SAMPLE = ROOT / "sample_data"
FREE = ROOT.parent / "shared" / "data" / "skab" / "anomaly-free" / "anomaly-free.csv"


def sample_machine(params: dict, seed: int) -> dict:
    train = pd.read_csv(SAMPLE / "machine_train.csv")
    test = pd.read_csv(SAMPLE / "machine_test.csv")
    detector = Detector(**params, seed=seed).fit([("train", train)])
    scored = detector.score_frame(test)
    labels = test["anomaly"].to_numpy() > 0
    flags = scored["is_anomaly"].to_numpy(bool)
    events = event_metrics(labels, flags)
    own = detector.normal_scores([("train", train)])
    return {
        "threshold": detector.threshold_,
        "f1": point_metrics(labels, flags)["f1"],
        "event_recall": events["event_recall"],
        "false_alarm_runs": events["false_alarm_runs"],
        "train_rows_flagged": float(np.mean(own > detector.threshold_)),
    }


def normal_real(params: dict, seed: int) -> dict:
    frame = pd.read_csv(FREE, sep=";").drop(columns=["anomaly", "changepoint"], errors="ignore")
    half = len(frame) // 2
    detector = Detector(**params, seed=seed).fit([("first half", frame.iloc[:half])])
    flags = detector.score_frame(frame.iloc[half:])["is_anomaly"].to_numpy(bool)
    return {
        "threshold": detector.threshold_,
        "rows_flagged": float(flags.mean()),
        "alerts": len(runs(flags)),
        "rows": int(len(flags)),
    }


def spread(values: list[float]) -> float:
    mean = float(np.mean(values))
    return float(np.max(np.abs(np.array(values) - mean)) / mean)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], help="Detector option, key=value")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/false_alarms.json")
    args = parser.parse_args()
    params = parse_overrides(args.set)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", LstmaeWarning)
    began = time.perf_counter()
    machine = [sample_machine(params, seed) for seed in range(args.seeds)]
    free = [normal_real(params, seed) for seed in range(args.seeds)] if FREE.is_file() else []
    mean = {key: float(np.mean([m[key] for m in machine])) for key in machine[0]}
    print(f"options: {params or 'defaults'}; {args.seeds} seeds (mean)")
    print(
        f"sample machine: F1 {mean['f1']:.3f}, event recall {mean['event_recall']:.3f}, "
        f"false-alarm runs {mean['false_alarm_runs']:.1f}, training rows flagged "
        f"{100 * mean['train_rows_flagged']:.2f} %, threshold {mean['threshold']:.4g} "
        f"(spread ±{100 * spread([m['threshold'] for m in machine]):.0f} %)"
    )
    if free:
        share = float(np.mean([f["rows_flagged"] for f in free]))
        alerts = float(np.mean([f["alerts"] for f in free]))
        print(
            f"SKAB anomaly-free.csv, second half ({free[0]['rows']} rows, purely normal): "
            f"{100 * share:.2f} % of rows flagged, {alerts:.1f} alerts, threshold spread "
            f"±{100 * spread([f['threshold'] for f in free]):.0f} %"
        )
    result = {"params": params, "seeds": args.seeds, "sample_machine": machine}
    result |= {"anomaly_free": free, "seconds": round(time.perf_counter() - began, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{result['seconds']:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
