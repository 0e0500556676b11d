"""Pick the default architecture by measurement: `seed` vs `linear` decoder on generated data.

    python benchmarks/arch_choice.py [--seeds 3] [--epochs 30]

Generates the sample machine (normal train file, test file with four labelled anomaly
kinds) with several data seeds, trains both architectures at otherwise default options and
prints PR-AUC, point F1 at the learned threshold, event recall and false-alarm runs.
Writes benchmarks/results/arch_choice.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "sample_data"))

from make_sample import inject, machine  # noqa: E402

from lstmae_cli import Detector  # noqa: E402
from lstmae_cli.views.metrics import event_metrics, point_metrics, ranking_metrics  # noqa: E402


def run_once(arch: str, data_seed: int, epochs: int) -> dict:
    rng = np.random.default_rng(data_seed)
    train = machine(4000, rng)
    test = inject(machine(3000, rng, phase=4000), rng)
    detector = Detector(arch=arch, epochs=epochs, seed=data_seed)
    began = time.perf_counter()
    detector.fit([("train", train)])
    seconds = time.perf_counter() - began
    scored = detector.score_frame(  # raw flags: the architectures alone are compared
        test.drop(columns=["anomaly_kind"]), keep=["anomaly"], merge_gap=0, min_rows=1
    )
    labels = scored["anomaly"].to_numpy() > 0
    scores = scored["score"].to_numpy()
    flags = scored["is_anomaly"].to_numpy()
    point, ranking, events = (
        point_metrics(labels, flags),
        ranking_metrics(labels, scores),
        event_metrics(labels, flags),
    )
    return {
        "arch": arch,
        "data_seed": data_seed,
        "pr_auc": ranking["pr_auc"],
        "roc_auc": ranking["roc_auc"],
        "f1": point["f1"],
        "event_recall": events["event_recall"],
        "false_alarm_runs": events["false_alarm_runs"],
        "val_loss": min(h["val_loss"] for h in detector.history_),
        "train_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    results = [run_once(a, s, args.epochs) for s in range(args.seeds) for a in ("seed", "linear")]
    keys = [
        "pr_auc",
        "roc_auc",
        "f1",
        "event_recall",
        "false_alarm_runs",
        "val_loss",
        "train_seconds",
    ]
    print(f"{'arch':8}" + "".join(f"{k:>18}" for k in keys))
    for arch in ("seed", "linear"):
        rows = [r for r in results if r["arch"] == arch]
        cells = "".join(
            f"{np.mean([r[k] for r in rows]):>12.4f} ±{np.std([r[k] for r in rows]):<5.3f}"
            for k in keys
        )
        print(f"{arch:8}{cells}")
    out = ROOT / "benchmarks" / "results" / "arch_choice.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
