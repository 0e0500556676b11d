"""Generate the sample machine data in sample_data/ (normal training file + labelled test file).

    python sample_data/make_sample.py            # rewrites machine_train.csv, machine_test.csv

Six channels of a pump driven by a motor whose speed follows a slow duty cycle. The test
file holds four labelled anomalies of different kinds; `anomaly` is 1 on their rows and
`anomaly_kind` names them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = ["speed", "current", "temperature", "vibration", "pressure", "flow"]


def machine(rows: int, rng: np.random.Generator, phase: float = 0.0) -> pd.DataFrame:
    """Normal behaviour: every channel follows the motor speed, with its own noise."""
    t = np.arange(rows) + phase
    speed = 1500 + 120 * np.sin(2 * np.pi * t / 400) + 40 * np.sin(2 * np.pi * t / 97)
    speed += rng.normal(0, 4, rows)
    load = (speed - 1500) / 120  # about -1.3 .. 1.3
    current = 10 + 1.5 * load + rng.normal(0, 0.08, rows)
    temperature = 60 + np.convolve(2.0 * load, np.ones(30) / 30, mode="same")
    temperature += rng.normal(0, 0.1, rows)
    vibration = 0.5 + 0.25 * np.sin(2 * np.pi * t / 13) * (1 + 0.2 * load)
    vibration += rng.normal(0, 0.03, rows)
    pressure = 3.0 + 0.4 * load + rng.normal(0, 0.03, rows)
    flow = 12 + 3.0 * (pressure - 3.0) + rng.normal(0, 0.08, rows)
    values = np.column_stack([speed, current, temperature, vibration, pressure, flow])
    return pd.DataFrame(values, columns=FEATURES)


def with_time(frame: pd.DataFrame, start: str) -> pd.DataFrame:
    times = pd.date_range(start, periods=len(frame), freq="s")
    frame = frame.assign(timestamp=times.strftime("%Y-%m-%d %H:%M:%S"))
    return frame[["timestamp", *[c for c in frame.columns if c != "timestamp"]]]


# (kind, first row, rows)
ANOMALIES = [
    ("spike", 400, 6),
    ("level_shift", 900, 80),
    ("broken_correlation", 1500, 120),
    ("stuck_sensor", 2200, 150),
]


def inject(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    frame = frame.copy()
    frame["anomaly"] = 0
    frame["anomaly_kind"] = ""
    for kind, start, length in ANOMALIES:
        rows = slice(start, start + length)
        if kind == "spike":
            frame.loc[frame.index[rows], "vibration"] += 2.0
        elif kind == "level_shift":
            frame.loc[frame.index[rows], "pressure"] += 0.5
        elif kind == "broken_correlation":  # flow no longer follows pressure
            block = frame.iloc[rows]
            reversed_flow = block["flow"].to_numpy()[::-1]
            frame.loc[block.index, "flow"] = reversed_flow + rng.normal(0, 0.1, length)
        elif kind == "stuck_sensor":
            frame.loc[frame.index[rows], "current"] = frame["current"].iloc[start]
        frame.loc[frame.index[rows], ["anomaly", "anomaly_kind"]] = [1, kind]
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    train = with_time(machine(4000, rng), "2026-01-01 00:00:00")
    test = with_time(inject(machine(3000, rng, phase=4000), rng), "2026-01-01 01:06:40")
    train.round(4).to_csv(args.out / "machine_train.csv", index=False)
    test.round(4).to_csv(args.out / "machine_test.csv", index=False)


if __name__ == "__main__":
    main()
