"""Window- and event-level output, both derived from the row-level score frames."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .alerts import joined_runs

TOP_FEATURES = 3


def _series_key(frame: pd.DataFrame, id_column: str | None) -> str:
    return str(frame[id_column].iloc[0]) if id_column else ""


def _positions(frame: pd.DataFrame, time_column: str | None) -> np.ndarray:
    """What `start`/`end` show: the time column when there is one, else the row number."""
    return frame[time_column].to_numpy() if time_column else frame["row"].to_numpy()


# ---------------------------------------------------------------------------- windows
def windows_from_rows(
    frames: Iterable[pd.DataFrame],
    size: int,
    threshold: float,
    id_column: str | None = None,
    time_column: str | None = None,
) -> Iterator[pd.DataFrame]:
    """Consecutive windows of `size` rows per series: start, end, score (mean row score)."""
    buffers: dict[str, list[pd.DataFrame]] = {}
    for frame in frames:
        key = _series_key(frame, id_column)
        buffered = pd.concat([*buffers.get(key, []), frame], ignore_index=True)
        n_full = len(buffered) // size * size
        buffers[key] = [buffered.iloc[n_full:]]
        if n_full:
            yield _window_rows(buffered.iloc[:n_full], size, threshold, id_column, time_column)
    for parts in buffers.values():
        rest = parts[0]
        if len(rest):
            yield _window_rows(rest, len(rest), threshold, id_column, time_column)


def _window_rows(
    rows: pd.DataFrame, size: int, threshold: float, id_column: str | None, time_column: str | None
) -> pd.DataFrame:
    positions = _positions(rows, time_column).reshape(-1, size)  # (windows, size)
    scores = rows["score"].to_numpy().reshape(-1, size).mean(axis=1)  # (windows,)
    out = pd.DataFrame({"start": positions[:, 0], "end": positions[:, -1]})
    out["start_row"] = rows["row"].to_numpy()[::size]
    out["score"], out["threshold"] = scores, threshold
    out["is_anomaly"] = scores > threshold
    if id_column:
        out.insert(0, id_column, rows[id_column].iloc[0])
    return out


# ----------------------------------------------------------------------------- events
@dataclass
class OpenEvent:
    start_row: int
    start: object
    end_row: int = 0
    end: object = None
    flagged: int = 0
    peak: float = -np.inf
    total: float = 0.0
    feature_errors: np.ndarray = field(default_factory=lambda: np.zeros(0))


class EventBuilder:
    """Makes each run of consecutive flagged rows of a series an event, as row frames stream
    past. The alert rules (short gaps joined, short alerts dropped) have already set the
    rows' is_anomaly (alerts.py): they are not applied again here."""

    def __init__(
        self,
        features: list[str],
        weights: np.ndarray,
        id_column: str | None = None,
        time_column: str | None = None,
    ) -> None:
        self.features = features
        self.weights = weights  # (features,): makes each feature's error relative to normal
        self.id_column, self.time_column = id_column, time_column
        self.open: dict[str, OpenEvent] = {}
        self.error_columns = [f"err_{f}" for f in features]

    def feed(self, frame: pd.DataFrame) -> list[dict]:
        """Take one row frame of one series; return the events that can no longer grow."""
        key = _series_key(frame, self.id_column)
        done: list[dict] = []
        flagged = frame[frame["is_anomaly"].to_numpy()]
        rows = flagged["row"].to_numpy()
        positions = _positions(flagged, self.time_column)
        errors = flagged[self.error_columns].to_numpy()  # (flagged, features)
        errors = np.nan_to_num(errors) * self.weights  # entries missing (--missing mask) count 0
        scores = flagged["score"].to_numpy()
        for begin, end in joined_runs(rows, 0):  # loops over runs, not rows
            event = self.open.get(key)
            if event is not None and rows[begin] > event.end_row + 1:
                done += self._close(key)
                event = None
            if event is None:
                event = self.open[key] = OpenEvent(
                    int(rows[begin]), positions[begin], feature_errors=np.zeros(len(self.features))
                )
            event.end_row, event.end = int(rows[end - 1]), positions[end - 1]
            event.flagged += end - begin
            event.peak = max(event.peak, float(scores[begin:end].max()))
            event.total += float(scores[begin:end].sum())
            event.feature_errors += errors[begin:end].sum(axis=0)
        event = self.open.get(key)
        if event is not None and len(frame) and frame["row"].iloc[-1] > event.end_row:
            done += self._close(key)
        return done

    def finish(self) -> list[dict]:
        return [e for key in list(self.open) for e in self._close(key)]

    def _close(self, key: str) -> list[dict]:
        event = self.open.pop(key)
        shares = event.feature_errors / max(event.feature_errors.sum(), 1e-300)
        order = np.argsort(-shares)[:TOP_FEATURES]
        record: dict[str, object] = {self.id_column: key} if self.id_column else {}
        record |= {
            "start": event.start,
            "end": event.end,
            "start_row": event.start_row,
            "end_row": event.end_row,
            "duration": _duration(event.start, event.end, event.end_row - event.start_row),
            "rows": event.end_row - event.start_row + 1,
            "flagged_rows": event.flagged,
            "peak_score": event.peak,
            "mean_score": event.total / event.flagged,
            "top_feature": self.features[order[0]],
            "top_features": ";".join(f"{self.features[i]}:{shares[i]:.2f}" for i in order),
        }
        return [record]


def _duration(start: Any, end: Any, row_span: int) -> float:
    """end - start: seconds for dates, the time column's unit for numbers, rows without time."""
    if start is None:
        return float(row_span)
    if isinstance(start, (int, float, np.number)) and not isinstance(start, bool):
        return float(end) - float(start)
    try:
        return (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds()
    except (ValueError, TypeError):
        return float(row_span)


def events_from_rows(frames: Iterable[pd.DataFrame], builder: EventBuilder) -> Iterator[dict]:
    for frame in frames:
        yield from builder.feed(frame)
    yield from builder.finish()


# ------------------------------------------------------------------- one score run
@dataclass
class Tally:
    """What the summary line on stderr reports."""

    rows: int = 0
    anomalies: int = 0
    events: int = 0


class ScoreRun:
    """One scoring pass (`Detector.score`): iterate it once for the frames at its level;
    `tally` counts what went past (rows, anomalous rows, events) and is complete at the end.

    passthrough, id_column and time_column are the input columns carried to the output, as
    decided from the first chunk. With keep_events, `events` lists the events (as
    `--level event` writes them) at every level, in the order they closed.
    """

    def __init__(
        self, scorer, chunks: Iterable[pd.DataFrame], level: str, only_anomalies: bool = False,
        keep_events: bool = False,
    ) -> None:  # fmt: skip
        self.scorer, self.level = scorer, level
        self.tally = Tally()
        self.events: list[dict] | None = [] if keep_events else None
        rows = scorer.run(chunks)
        self._frames = at_level(rows, scorer, level, self.tally, only_anomalies, self.events)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return self._frames

    def frame(self) -> pd.DataFrame:
        """Every frame of the run in one (an empty frame when there are none)."""
        parts = list(self)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    @property
    def passthrough(self) -> list[str]:
        return self.scorer.passthrough

    @property
    def id_column(self) -> str | None:
        return self.scorer.id_column

    @property
    def time_column(self) -> str | None:
        return self.scorer.time_column


def at_level(
    rows: Iterable[pd.DataFrame],
    scorer,
    level: str,
    tally: Tally | None = None,
    only_anomalies: bool = False,
    events: list[dict] | None = None,
) -> Iterator[pd.DataFrame]:
    """Row frames from a StreamScorer -> frames at `level` ("row", "window" or "event").

    Events (the runs of flagged rows, after the scorer's alert rules) are counted into
    `tally` at every level, and appended to `events` when it is a list.
    """
    tally = tally if tally is not None else Tally()
    rows = iter(rows)
    first = next(rows, None)  # after the first chunk the scorer knows its id / time columns
    if first is None:
        return
    model, id_column, time_column = scorer.model, scorer.id_column, scorer.time_column
    weights = model.score_model.feature_weights  # (features,)
    builder = EventBuilder(model.features, weights, id_column, time_column)
    counted = _count(itertools.chain([first], rows), builder, tally, level != "event", events)
    if level == "event":
        for event in events_from_rows(counted, builder):
            tally.events += 1
            if events is not None:
                events.append(event)
            yield pd.DataFrame([event])
        return
    if level == "window":
        size = model.seq_len
        counted = windows_from_rows(counted, size, model.threshold, id_column, time_column)
    for frame in counted:
        yield frame[frame["is_anomaly"].to_numpy()] if only_anomalies else frame


def _count(
    frames: Iterable[pd.DataFrame],
    builder: EventBuilder,
    tally: Tally,
    count_events: bool,
    events: list[dict] | None,
) -> Iterator[pd.DataFrame]:
    """Count rows, flagged rows and (with count_events) events, appending those to `events`
    when it is a list."""
    for frame in frames:
        tally.rows += len(frame)
        tally.anomalies += int(frame["is_anomaly"].sum())
        if count_events:
            _closed(builder.feed(frame), tally, events)
        yield frame
    if count_events:
        _closed(builder.finish(), tally, events)


def _closed(found: list[dict], tally: Tally, events: list[dict] | None) -> None:
    tally.events += len(found)
    if events is not None:
        events += found
