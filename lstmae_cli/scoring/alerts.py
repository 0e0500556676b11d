"""Row-level alerts: flagged rows at most `merge_gap` rows apart are one alert, and an alert
spanning fewer than `min_rows` rows is dropped.

A row's score can dip under the threshold for a few rows inside one incident (windows that
still hold anomalous rows reconstruct their normal rows badly, then less so), so the raw
flags of one incident often come as several runs: the rows of such a short gap are flagged
too, as `--level event` merges them into one event. And one odd raw row, spread by the
trailing-mean smoothing over `smooth` rows, can cross the threshold on its own: an alert
must span more rows than that (default min_rows = smooth + 1). Their effect, measured:
docs/how-it-works.md (`--merge-gap`, `--min-rows`).

In a stream, rows wait only while their flag can still change: the rows of an alert until
it spans `min_rows` rows (then they are emitted at once, and the rest of the alert as it
comes), and up to `merge_gap` unflagged rows after it, until the next flagged row (they
join the alert) or until the gap is longer (they are emitted unflagged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..params import alert_defaults


@dataclass(frozen=True)
class AlertRules:
    """merge_gap: flagged rows at most this many rows apart are one alert, the rows between
    flagged too; min_rows: alerts spanning fewer rows are dropped. None takes the model's
    default (params.alert_defaults: seq_len, smooth + 1); 0 and 1: score > threshold."""

    merge_gap: int | None = None
    min_rows: int | None = None

    def check(self) -> None:
        if (self.merge_gap is not None and self.merge_gap < 0) or (
            self.min_rows is not None and self.min_rows < 1
        ):
            raise UsageError("merge_gap must be at least 0 and min_rows at least 1")

    def resolve(self, seq_len: int, smooth: int | None) -> tuple[int, int]:
        """(merge_gap, min_rows) for a model of this seq_len and smooth."""
        default_gap, default_rows = alert_defaults(seq_len, smooth)
        return (
            default_gap if self.merge_gap is None else self.merge_gap,
            default_rows if self.min_rows is None else self.min_rows,
        )


class AlertFilter:
    """Joins and filters the raw `is_anomaly` flags of one series, chunk after chunk."""

    def __init__(self, merge_gap: int = 0, min_rows: int = 1) -> None:
        self.merge_gap, self.min_rows = merge_gap, min_rows
        self.held: pd.DataFrame | None = None  # rows not final yet, with their raw flags
        self.carried = 0  # rows of a confirmed alert already emitted, right before `held`

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A row frame of this series (in row order) -> the rows now final, flags set."""
        if self.merge_gap <= 0 and self.min_rows <= 1:
            return frame
        if self.held is not None and len(self.held):
            frame = pd.concat([self.held, frame], ignore_index=True)
        return self._resolve(frame, final=False)

    def finish(self) -> pd.DataFrame | None:
        """The rows still held at the end of the series, their flags final, or None."""
        held, self.held = self.held, None
        if held is None or not len(held):
            self.carried = 0
            return None
        return self._resolve(held, final=True)

    def _resolve(self, frame: pd.DataFrame, final: bool) -> pd.DataFrame:
        """Set the flags of the rows that are final; hold the rest."""
        raw = frame["is_anomaly"].to_numpy(dtype=bool)  # (rows,)
        flagged = np.flatnonzero(raw)
        if self.carried:
            flagged = np.concatenate([[-1], flagged])  # the emitted part of an open alert
        self.held, carried, self.carried = None, self.carried, 0
        alerts = np.zeros(len(frame), dtype=bool)
        cut = len(frame)  # rows before `cut` are emitted
        for first, last in self._runs(flagged):
            span = last - first + 1 + (carried - 1 if first < 0 else 0)
            still_open = not final and len(frame) - 1 - last <= self.merge_gap
            if still_open and span < self.min_rows:
                cut = max(first, 0)  # may still grow into an alert: hold it whole
            elif span >= self.min_rows:
                alerts[max(first, 0) : last + 1] = True
                if still_open:  # confirmed: emit it, hold the rows after it
                    cut, self.carried = last + 1, span
        if cut < len(frame):
            self.held = frame.iloc[cut:]
        if not (alerts[:cut] == raw[:cut]).all():
            frame = frame.assign(is_anomaly=alerts)
        return frame.iloc[:cut]

    def _runs(self, flagged: np.ndarray) -> list[tuple[int, int]]:
        """(first, last) flagged index of each alert: flagged rows <= merge_gap apart."""
        runs = joined_runs(flagged, self.merge_gap)
        return [(int(flagged[begin]), int(flagged[end - 1])) for begin, end in runs]


def joined_runs(rows: np.ndarray, merge_gap: int) -> list[tuple[int, int]]:
    """(begin, end) index ranges of `rows` (sorted row numbers) with gaps of at most merge_gap."""
    if not len(rows):
        return []
    breaks = np.flatnonzero(np.diff(rows) - 1 > merge_gap) + 1
    bounds = [0, *breaks.tolist(), len(rows)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))
