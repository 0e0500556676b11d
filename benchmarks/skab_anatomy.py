"""Where SKAB's normal test rows lie, and where a detector's false alarms fall among them.

    python benchmarks/skab_anatomy.py              # data only (seconds) + lstmae, 1 seed
    python benchmarks/skab_anatomy.py --no-lstmae  # data only

SKAB's leaderboard split (benchmarks/skab.py): per labelled file, the first 400 rows train,
the rest is test. The normal test rows are of two kinds: those before the file's first
labelled anomaly, and those after an anomaly has ended (the rig after a fault; SKAB labels
only the fault itself). For each kind this prints:

- the share of rows with some channel outside its training range by more than 10 % of
  that range, per channel and any channel (no model: what any detector that compares a
  row with the training rows must face);
- with lstmae (default options, `score`'s flags, every test row counted as in skab.py's
  honest protocol): the share of those rows flagged, and their part of all false alarms.

Reads ../shared/data/skab by default (`--data DIR`); writes
benchmarks/results/skab_anatomy.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skab import DEFAULT_DATA, SENSORS, TRAIN_ROWS, labelled_files, read  # noqa: E402

MARGIN = 0.1  # beyond the training range by more than this share of it
KINDS = ("before the first anomaly", "after an anomaly")


def row_kinds(labels: np.ndarray) -> dict[str, np.ndarray]:
    """(rows,) anomaly labels of a test part -> a mask of each kind of normal row."""
    seen = np.cumsum(labels) > 0  # at or after the first anomalous row
    return {KINDS[0]: ~labels & ~seen, KINDS[1]: ~labels & seen}


def out_of_range(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """(rows, channels) True where a test value leaves the training range by > MARGIN."""
    low, high = train.min(axis=0), train.max(axis=0)
    margin = MARGIN * (high - low)
    return (test < low - margin) | (test > high + margin)


def anatomy(files: list[Path], flags: list[np.ndarray] | None) -> dict:
    """Counts per kind of normal row (and for anomalous rows) over all files."""
    kinds = [*KINDS, "anomalous"]
    counts = {k: {"rows": 0, "any": 0, "flagged": 0, **dict.fromkeys(SENSORS, 0)} for k in kinds}
    for number, path in enumerate(files):
        frame = read(path)
        values = frame[SENSORS].to_numpy(float)
        labels = frame["anomaly"].to_numpy()[TRAIN_ROWS:] > 0
        beyond = out_of_range(values[:TRAIN_ROWS], values[TRAIN_ROWS:])  # (test rows, 8)
        masks = row_kinds(labels) | {"anomalous": labels}
        for kind, mask in masks.items():
            entry = counts[kind]
            entry["rows"] += int(mask.sum())
            entry["any"] += int(beyond[mask].any(axis=1).sum())
            for channel, count in zip(SENSORS, beyond[mask].sum(axis=0), strict=True):
                entry[channel] += int(count)
            if flags is not None:
                entry["flagged"] += int(flags[number][mask].sum())
    return counts


def lstmae_flags(files: list[Path], seed: int) -> list[np.ndarray]:
    """`score`'s is_anomaly of every test row, the model trained on the file's first rows."""
    from lstmae_cli import Detector
    from lstmae_cli.errors import LstmaeWarning

    warnings.simplefilter("ignore", LstmaeWarning)
    flags = []
    for path in files:
        frame = read(path)
        detector = Detector(seed=seed).fit([(path.name, frame.iloc[:TRAIN_ROWS])], columns=SENSORS)
        scored = detector.score_frame(frame[["datetime", *SENSORS]], path.name)
        flags.append(scored["is_anomaly"].to_numpy(bool)[TRAIN_ROWS:])
    return flags


def report(counts: dict, with_flags: bool) -> None:
    normal = sum(counts[k]["rows"] for k in KINDS)
    false_alarms = sum(counts[k]["flagged"] for k in KINDS)
    print(f"{'test rows':26} {'rows':>6} {'share':>6} {'beyond range':>12} {'flagged':>8}")
    for kind, entry in counts.items():
        share = f"{entry['rows'] / normal:6.1%}" if kind in KINDS else f"{'-':>6}"
        flagged = f"{entry['flagged'] / entry['rows']:8.1%}" if with_flags else f"{'-':>8}"
        print(
            f"{kind:26} {entry['rows']:>6} {share} {entry['any'] / entry['rows']:>12.1%} {flagged}"
        )
        busiest = sorted(SENSORS, key=lambda c: -entry[c])[:3]
        print(
            "    most often beyond: "
            + ", ".join(f"{c} {entry[c] / entry['rows']:.1%}" for c in busiest)
        )
    if with_flags:
        print(
            f"FAR {false_alarms / normal:.1%}; false alarms after an anomaly: "
            f"{counts[KINDS[1]]['flagged'] / max(false_alarms, 1):.1%} of them"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-lstmae", action="store_true", help="the data's anatomy only")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/skab_anatomy.json")
    args = parser.parse_args()
    started = time.time()
    files = labelled_files(args.data)
    flags = None if args.no_lstmae else lstmae_flags(files, args.seed)
    counts = anatomy(files, flags)
    report(counts, flags is not None)
    payload = {
        "files": len(files),
        "margin": MARGIN,
        "lstmae": None if flags is None else {"seed": args.seed, "options": "defaults"},
        "counts": counts,
        "seconds": round(time.time() - started, 1),
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{payload['seconds']:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
