"""How far label-free detectors get on SKAB under the honest rule: F1 at each false-alarm rate.

    python benchmarks/skab_frontier.py        # seconds, no training, no network

Per labelled file, the first 400 rows are the training data; every later row is a test row
(honest rule: every test row counted, a row flagged from the rows up to it). Each detector
scores rows from the standard-scaled values (a trailing mean of `--smooth` rows, as
lstmae smooths its scores) and flags those above `multiple` x the largest training score;
the multiple is the only knob and is swept (it is the same for every file: no labels
choose anything per file). Detectors, all label-free:

- t2: squared Mahalanobis distance from the training rows (Hotelling's T-squared);
- t2-no-trend: the same without the channels whose training rows trend (|r| with time >= 0.5);
- mean-square: mean of the squared scaled values (each channel weighs the same);
- capped: mean over channels of min(z^2 / its training mean, 16) (no channel dominates);
- adaptive: mean-square against a per-channel baseline that follows the data (EWMA 0.005)
  while rows are not flagged (slow drift absorbed, alerts frozen).

For each, the best F1 at FAR <= 25 % (the honest target) and the best F1 overall are
printed; writes benchmarks/results/skab_frontier.json. lstmae's own reconstruction errors
behave like these distances on SKAB (benchmarks/skab_ceiling.py); the sweep shows where the
trade-off between false alarms and missed rows lies on this data.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from skab import DEFAULT_DATA, SENSORS, TRAIN_ROWS, labelled_files, read  # noqa: E402

MULTIPLES = (0.75, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0)
TARGET_FAR = 0.25


def trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    sums = np.cumsum(np.concatenate([[0.0], x]))
    ends = np.arange(1, len(x) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def scaled(values: np.ndarray) -> np.ndarray:
    train = values[:TRAIN_ROWS]
    return (values - train.mean(axis=0)) / (train.std(axis=0) + 1e-9)


def t2(z: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    z = z if keep is None else z[:, keep]
    covariance = np.cov(z[:TRAIN_ROWS], rowvar=False) + 1e-6 * np.eye(z.shape[1])
    return np.einsum("ij,jk,ik->i", z, np.linalg.pinv(covariance), z)


def t2_no_trend(z: np.ndarray) -> np.ndarray:
    t = np.arange(TRAIN_ROWS)
    strength = [abs(np.corrcoef(t, c)[0, 1]) if c.std() > 0 else 0.0 for c in z[:TRAIN_ROWS].T]
    return t2(z, np.array(strength) < 0.5)


def mean_square(z: np.ndarray) -> np.ndarray:
    return (z**2).mean(axis=1)


def capped(z: np.ndarray) -> np.ndarray:
    ratio = z**2 / (z[:TRAIN_ROWS] ** 2).mean(axis=0)
    return np.minimum(ratio, 16.0).mean(axis=1)


DETECTORS = {"t2": t2, "t2-no-trend": t2_no_trend, "mean-square": mean_square, "capped": capped}


def flags_for(z: np.ndarray, name: str, multiple: float, smooth: int) -> np.ndarray:
    """Test-row flags of one file."""
    if name == "adaptive":
        return adaptive_flags(z, multiple, smooth)
    scores = trailing_mean(DETECTORS[name](z), smooth)
    return scores[TRAIN_ROWS:] > multiple * scores[:TRAIN_ROWS].max()


def adaptive_flags(z: np.ndarray, multiple: float, smooth: int, rate: float = 0.005):
    threshold = multiple * trailing_mean(mean_square(z[:TRAIN_ROWS]), smooth).max()
    baseline, recent, flags = np.zeros(z.shape[1]), [], []
    for row in z[TRAIN_ROWS:]:
        recent = [*recent[-(smooth - 1) :], float(((row - baseline) ** 2).mean())]
        flagged = float(np.mean(recent)) > threshold
        if not flagged:
            baseline += rate * (row - baseline)
        flags.append(flagged)
    return np.array(flags)


def pooled(labels: list[np.ndarray], flags: list[np.ndarray]) -> dict:
    truth, flag = np.concatenate(labels), np.concatenate(flags)
    tp, fp = int((truth & flag).sum()), int((~truth & flag).sum())
    fn, tn = int((truth & ~flag).sum()), int((~truth & ~flag).sum())
    return {"f1": 2 * tp / max(2 * tp + fp + fn, 1), "far": fp / max(fp + tn, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--smooth", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/skab_frontier.json")
    args = parser.parse_args()
    frames = [read(path) for path in labelled_files(args.data)]
    zs = [scaled(f[SENSORS].to_numpy(float)) for f in frames]
    labels = [f["anomaly"].to_numpy()[TRAIN_ROWS:] > 0 for f in frames]
    result: dict = {"smooth": args.smooth, "target_far": TARGET_FAR, "detectors": {}}
    print(f"{'detector':12} {'best F1 at FAR <= 25 %':>24} {'best F1 (its FAR)':>20}")
    for name in [*DETECTORS, "adaptive"]:
        curve = []
        for multiple in MULTIPLES:
            flags = [flags_for(z, name, multiple, args.smooth) for z in zs]
            curve.append({"multiple": multiple, **pooled(labels, flags)})
        within = [c for c in curve if c["far"] <= TARGET_FAR]
        best_within = max(within, key=lambda c: c["f1"]) if within else None
        best = max(curve, key=lambda c: c["f1"])
        result["detectors"][name] = {"curve": curve, "best_within": best_within, "best": best}
        inside = (
            f"{best_within['f1']:.3f} (FAR {100 * best_within['far']:.1f} %)" if within else "-"
        )
        print(f"{name:12} {inside:>24} {best['f1']:>8.3f} ({100 * best['far']:.1f} %)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
