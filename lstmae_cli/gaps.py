"""Row-level alerts: flagged rows at most `merge_gap` rows apart are one alert.

A row's score can dip under the threshold for a few rows inside one incident (windows that
still hold anomalous rows reconstruct their normal rows badly, then less so), so the raw
flags of one incident often come as several runs. The rows of such a short gap are flagged
too, as `--level event` merges them into one event. Measured in benchmarks/synthetic.py.

In a stream only the rows right after a flagged run wait: up to `merge_gap` unflagged rows
are held until the next flagged row (they join the alert) or the gap grows past
`merge_gap` (they are emitted unflagged). A new alert is never delayed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class GapCloser:
    """Fills gaps of at most `merge_gap` unflagged rows between flagged rows of one series."""

    def __init__(self, merge_gap: int) -> None:
        self.merge_gap = merge_gap
        # the unflagged rows (maybe none) right after the last flagged row; None when the
        # gap since the last flagged row is already longer than merge_gap
        self.held: pd.DataFrame | None = None

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A row frame of this series (in row order) -> the rows now final, gaps filled."""
        if self.merge_gap <= 0:
            return frame
        after_flag = self.held is not None
        if after_flag and len(self.held):
            frame = pd.concat([self.held, frame], ignore_index=True)
        self.held = None
        flags = frame["is_anomaly"].to_numpy(dtype=bool)  # (rows,)
        flagged = np.flatnonzero(flags)
        if after_flag:
            flagged = np.concatenate([[-1], flagged])  # the flagged row before the held ones
        if not len(flagged):
            return frame
        filled = self._filled(flags, flagged)
        if filled is not flags:
            frame = frame.assign(is_anomaly=filled)
        tail = len(frame) - 1 - flagged[-1]  # unflagged rows after the last flagged one
        if tail <= self.merge_gap:
            self.held = frame.iloc[len(frame) - tail :]
            return frame.iloc[: len(frame) - tail]
        return frame

    def _filled(self, flags: np.ndarray, flagged: np.ndarray) -> np.ndarray:
        """flags with every gap of 1..merge_gap rows between flagged rows set."""
        gaps = np.diff(flagged) - 1  # (runs - 1,) unflagged rows between flagged ones
        short = np.flatnonzero((gaps > 0) & (gaps <= self.merge_gap))
        if not len(short):
            return flags
        filled = flags.copy()
        for i in short:  # one slice per gap, not per row
            filled[flagged[i] + 1 : flagged[i + 1]] = True
        return filled

    def finish(self) -> pd.DataFrame | None:
        """The rows still held at the end of the series (unflagged), or None."""
        held, self.held = self.held, None
        return held if held is not None and len(held) else None
