"""How far can SKAB's leaderboard protocol be pushed when the labels choose? An upper bound.

    python benchmarks/skab_ceiling.py          # a few seconds, no network trained

A score any reconstruction detector approximates on this data: per file, the sensors are
standard-scaled on the 400 training rows and a row scores the mean of the squared scaled
values over a set of channels (its distance from the training rows), averaged over the
last 8 rows as lstmae smooths. A row is flagged above `multiplier` x the largest score of
the training rows. Then, using the labels of the test rows, which is what no detector may
do, every one of the 255 non-empty channel sets and 45 multipliers (0.5 to 2048) is tried
and the best F1 at FAR <= 15 % kept. The result bounds what choosing channels and a
threshold can achieve with this kind of score; it is not a detector.

Writes benchmarks/results/skab_ceiling.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
from skab import DEFAULT_DATA, ROOT, SENSORS, TRAIN_ROWS, labelled_files, read
from sklearn.preprocessing import StandardScaler

from lstmae_cli.scoring.rows import ScoreSmoother
from lstmae_cli.views.metrics import confusion

SMOOTH = 8
MAX_FAR = 0.15
TARGET_F1 = 0.82
MULTIPLIERS = np.geomspace(0.5, 2048, 45)


def squared_z(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(rows, channels) squared scaled values of one file, (test rows,) labels."""
    frame = read(path)
    values = frame[SENSORS].to_numpy(np.float64)
    scaled = StandardScaler().fit(values[:TRAIN_ROWS]).transform(values)  # (rows, channels)
    return scaled**2, frame["anomaly"].to_numpy()[TRAIN_ROWS:] > 0


def best_at_far(files: list[np.ndarray], labels: np.ndarray, channels: list[int]) -> dict:
    """Best F1 over MULTIPLIERS with FAR <= MAX_FAR for the mean over `channels`."""
    scores, limits = [], []
    for squared in files:
        smoothed = ScoreSmoother(SMOOTH)(squared[:, channels].mean(axis=1))  # (rows,)
        scores.append(smoothed[TRAIN_ROWS:])
        limits.append(smoothed[:TRAIN_ROWS].max())
    best = {"f1": 0.0, "far": float("nan"), "mar": float("nan"), "multiplier": None}
    for multiplier in MULTIPLIERS:
        flags = np.concatenate(
            [s > multiplier * limit for s, limit in zip(scores, limits, strict=True)]
        )
        c = confusion(labels, flags)  # counts: sklearn's f1_score is too slow for 11,475 calls
        f1 = 2 * c["tp"] / (2 * c["tp"] + c["fp"] + c["fn"])
        far, mar = c["fp"] / (c["fp"] + c["tn"]), c["fn"] / (c["fn"] + c["tp"])
        if far <= MAX_FAR and f1 > best["f1"]:
            best = {"f1": f1, "far": far, "mar": mar, "multiplier": float(multiplier)}
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "skab_ceiling.json"
    )
    args = parser.parse_args()
    pairs = [squared_z(path) for path in labelled_files(args.data)]
    files = [squared for squared, _ in pairs]
    labels = np.concatenate([y for _, y in pairs])
    subsets = [
        list(c)
        for size in range(1, len(SENSORS) + 1)
        for c in itertools.combinations(range(len(SENSORS)), size)
    ]
    results = sorted(
        ({"channels": [SENSORS[c] for c in s]} | best_at_far(files, labels, s) for s in subsets),
        key=lambda r: -r["f1"],
    )
    every = next(r for r in results if len(r["channels"]) == len(SENSORS))
    reaching = [r for r in results if r["f1"] >= TARGET_F1]
    print(f"Best point F1 at FAR <= {MAX_FAR:.0%}, channels and threshold chosen with the labels")
    print(f"{'channels':64} {'F1':>6} {'FAR %':>6} {'MAR %':>6} {'x max':>7}")
    for r in [*results[:8], every]:
        name = "all eight" if r is every else ", ".join(r["channels"])
        print(
            f"{name:64} {r['f1']:>6.3f} {100 * r['far']:>6.1f} {100 * r['mar']:>6.1f}"
            f" {r['multiplier']:>7.2f}"
        )
    print(
        f"\n{len(reaching)} of {len(results)} channel sets reach F1 >= {TARGET_F1} at FAR <="
        f" {MAX_FAR:.0%}, each only with its channels and multiplier picked by the labels."
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"best": results[:10], "all_eight": every, "reaching_target": len(reaching)}
    args.out.write_text(json.dumps(summary, indent=2))
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
