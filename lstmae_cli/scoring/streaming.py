"""Chunk-by-chunk row scoring of one input, many series at once, with bounded memory."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputError, LstmaeWarning, listed
from ..io.data import (
    MissingFiller,
    MissingTally,
    detect_time_column,
    feature_matrix,
    jump_rows,
    refuse_empty_ids,
    require_columns,
    row_number,
    time_ordered,
    time_steps,
    warn_jump,
)
from .alerts import AlertFilter, AlertRules
from .drift import DriftTracker
from .rows import RowScorer, ScoreSmoother, score_observed
from .thresholds import conformal_p_values

if TYPE_CHECKING:
    from ..io.data import ColumnRoles
    from ..nn.scaling import AffineScaler
    from .rows import ScoreModel


@dataclass
class ScoringModel:
    """What scoring needs of a fitted model (`Detector.scoring_model()`), and no more."""

    roles: ColumnRoles  # the features, and the id / time columns it was trained with
    scaler: AffineScaler
    new_row_scorer: Callable[[], RowScorer]  # a fresh scorer of the network, one per series
    score_model: ScoreModel  # (rows, F) errors -> (rows,) raw row scores
    threshold: float
    seq_len: int
    smooth: int  # rows of the trailing mean over the raw row scores
    drift_rate: float  # the drift allowance (drift.py); 0: none
    missing: str  # the --missing policy
    range: tuple[np.ndarray, np.ndarray] | None  # scaled (low, high) per feature, or None
    calibration: np.ndarray  # (rows,) held-out normal row scores, for p-values
    max_gap: float | None = None  # a jump in time that starts a new part of a series

    @property
    def features(self) -> list[str]:
        return self.roles.features


class SeriesState:
    """What one series carries between chunks: its scorer, filler and rows not yet emitted."""

    # what a series, and each part of it after a jump in time, starts afresh with
    # (StreamScorer._start_part)
    scorer: RowScorer
    drift: DriftTracker
    smoother: ScoreSmoother
    alerts: AlertFilter

    def __init__(self, filler: MissingFiller, series_name: str) -> None:
        self.filler, self.series_name = filler, series_name
        self.pending: list[pd.DataFrame] = []  # pass-through columns of rows not yet emitted
        self.next_row = 0  # row number (within the series) of the next row to emit
        self.last_time: object = None  # the latest time of the chunks so far
        # rows after a jump in time (max_gap), (rows, first file row), until they fill a window
        self.held: list[tuple[pd.DataFrame, int]] = []


class StreamScorer:
    """Turns input chunks into row-level score frames, emitting rows as soon as they are final.

    alerts: the AlertRules (None in them: the model's defaults): flagged rows at most
    merge_gap rows apart are one alert, the rows between them flagged too, and alerts
    spanning fewer than min_rows rows are not flagged (alerts.py). p_values: add the p_value column
    (each row's conformal p-value against the model's held-out normal scores).
    """

    def __init__(
        self,
        model: ScoringModel,
        name: str,
        keep: list[str],
        id_column: str | None = None,
        time_column: str | None = None,
        alerts: AlertRules | None = None,
        p_values: bool = False,
    ) -> None:
        self.model, self.name, self.keep = model, name, keep
        rules = alerts or AlertRules()
        self.merge_gap, self.min_rows = rules.resolve(model.seq_len, model.smooth)
        self.p_values = p_values
        self.features = model.features
        self.id_column, self.time_column = id_column, time_column
        self.states: dict[str, SeriesState] = {}
        self.rows_read = 0
        self.passthrough: list[str] = []
        # warned about once per run, at its end: values out of range, values missing
        self.out_of_range = RangeTally()
        self.missing = MissingTally(self.features)
        self.warned_back_in_time = False
        self.warned_gap = False

    def run(self, chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for number, chunk in enumerate(chunks):
            if number == 0:
                self._plan_columns(chunk)
            yield from self._score_chunk(chunk)
        if not self.states:
            raise InputError(f"{self.name}: no data rows")
        for state in self.states.values():  # rows after a last jump, too few for a window
            yield from self._release(state, new_part=False)
        for state in self._scorable_states():
            yield from self._finish(state)
        self.missing.warn(self.name, self.model.missing)
        self.out_of_range.warn(self.name)

    def _plan_columns(self, chunk: pd.DataFrame) -> None:
        """Decide the id / time / kept columns from the model's roles and the first chunk."""
        roles = self.model.roles
        require_columns(chunk, [*self.features, *self.keep], self.name)
        if self.id_column is None and roles.id in chunk.columns:
            self.id_column = roles.id
        if self.time_column is None:
            have_trained = roles.time in chunk.columns
            self.time_column = (
                roles.time if have_trained else detect_time_column(chunk, self.id_column)
            )
        require_columns(chunk, [c for c in (self.id_column, self.time_column) if c], self.name)
        named = [self.id_column, self.time_column, *self.keep]
        self.passthrough = list(dict.fromkeys(c for c in named if c))

    def _score_chunk(self, chunk: pd.DataFrame) -> Iterator[pd.DataFrame]:
        first_row = self.rows_read
        self.rows_read += len(chunk)
        for key, part, times in self._groups(chunk):
            state = self._state(key)
            steps = None
            if times is not None:
                steps = time_steps(times, state.last_time)  # (rows,)
                self._check_gaps(state, times, steps)
                self._check_order(state, times)
            for piece, after_jump in self._pieces(part, steps):
                yield from self._feed(state, piece, first_row, after_jump)

    def _pieces(
        self, part: pd.DataFrame, steps: np.ndarray | None
    ) -> list[tuple[pd.DataFrame, bool]]:
        """`part` cut before each row whose time jumps by more than the model's max_gap:
        (rows, whether they start after a jump)."""
        jumps = set() if steps is None else set(jump_rows(steps, self.model.max_gap))
        if not jumps:
            return [(part, False)]
        starts = sorted({0, *jumps})
        ends = [*starts[1:], len(part)]
        return [(part.iloc[a:b], a in jumps) for a, b in zip(starts, ends, strict=True)]

    def _feed(
        self, state: SeriesState, part: pd.DataFrame, first_row: int, after_jump: bool
    ) -> Iterator[pd.DataFrame]:
        """Score `part` as the next rows of `state`'s series. After a jump (--max-gap) its
        rows start a new part of the series (a fresh network state, drift level and alert
        filter) once they fill a window; until then they are held. Rows that never fill one
        before the next jump or the end stay with the part before (as without max_gap)."""
        if after_jump and state.held:
            yield from self._release(state, new_part=False)
        if after_jump and state.scorer.total_rows >= self.model.seq_len:
            state.held = [(part, first_row)]
        elif state.held:
            state.held.append((part, first_row))
        else:
            yield from self._push(state, part, first_row)
        if sum(len(rows) for rows, _ in state.held) >= self.model.seq_len:
            yield from self._release(state, new_part=True)

    def _release(self, state: SeriesState, new_part: bool) -> Iterator[pd.DataFrame]:
        """Score the held rows: as a new part of the series, or as more of the current."""
        held, state.held = state.held, []
        if held and new_part:
            yield from self._finish(state)
            self._start_part(state)
        for part, first_row in held:
            yield from self._push(state, part, first_row)

    def _finish(self, state: SeriesState) -> Iterator[pd.DataFrame]:
        """The last rows of `state`'s series (or part of one)."""
        try:
            errors = state.scorer.finish()
        except InputError as exc:
            raise InputError(f"{state.series_name}: {exc}") from exc
        last = state.alerts(self._frame(state, errors))
        held = state.alerts.finish()
        for frame in (last, held):  # the alert filter may hold every row of the last one
            if frame is not None and len(frame):
                yield frame

    def _start_part(self, state: SeriesState) -> None:
        """A series, or a new part of one after a jump: what the windows, the drift level,
        the smoothing and the alerts carry starts afresh (missing values are still filled
        from before)."""
        state.scorer = self.model.new_row_scorer()
        state.drift = DriftTracker(len(self.features), self.model.drift_rate)
        state.smoother = ScoreSmoother(self.model.smooth)
        state.alerts = AlertFilter(self.merge_gap, self.min_rows)

    def _push(
        self, state: SeriesState, part: pd.DataFrame, first_row: int
    ) -> Iterator[pd.DataFrame]:
        """Score `part` as the next rows of `state`: yield the rows that became final."""
        values = feature_matrix(part, self.features, self.name, first_row)  # (rows, F)
        missing = np.isnan(values)  # (rows, F), before filling
        if missing.any():
            self.missing.add(part)
        else:
            self.missing.add_complete_rows(len(part))
        scaled = self.model.scaler.transform(state.filler(values))
        scaled = state.drift(scaled)  # (rows, F) what the network sees
        extra = guard_columns(self.model, missing, scaled)
        self.out_of_range.add(state.series_name, extra, part)
        state.pending.append(part[self.passthrough].assign(**extra))
        errors = state.scorer.push(scaled)
        if len(errors):
            frame = state.alerts(self._frame(state, errors))
            if len(frame):
                yield frame

    def _scorable_states(self) -> list[SeriesState]:
        """Every series; where some are shorter than one window and others are not, the
        others, with a warning: one new machine in a long file does not stop the rest."""
        seq_len = self.model.seq_len
        states = list(self.states.values())
        short = [s for s in states if s.scorer.total_rows < seq_len]
        if not short or len(short) == len(states):
            return states  # none short, or nothing to score: RowScorer.finish says so
        names = listed(s.series_name for s in short)
        rows = sum(s.scorer.total_rows for s in short)
        warnings.warn(
            LstmaeWarning(
                f"{len(short)} series shorter than seq_len {seq_len} rows not scored, their "
                f"{rows} row(s) left out of the output: {names}"
            ),
            stacklevel=3,
        )
        return [s for s in states if s.scorer.total_rows >= seq_len]

    def _check_gaps(self, state: SeriesState, times: pd.Series, steps: np.ndarray) -> None:
        """Warn once where a series' times jump (warn_jump) and the model does not cut
        there (max_gap)."""
        if not self.warned_gap and self.model.max_gap is None:
            self.warned_gap = warn_jump(times, steps, state.series_name, state.scorer.total_rows)

    def _check_order(self, state: SeriesState, times: pd.Series) -> None:
        """Warn once when a series' chunk (in time order) starts before the end of the
        chunks before it: the rows are scored in arrival order, not sorted across chunks."""
        first, last = times.iloc[0], times.iloc[-1]
        try:
            back = state.last_time is not None and first < state.last_time
        except TypeError:  # times of different kinds (with and without a zone)
            back = False
        if back and not self.warned_back_in_time:
            self.warned_back_in_time = True
            warnings.warn(
                LstmaeWarning(
                    f"{state.series_name}: rows go back in time after row "
                    f"{state.scorer.total_rows} ({first} after {state.last_time}): a file "
                    "is sorted by time only within each chunk of --chunk-rows rows, so "
                    "these are scored in the order they come; sort the file by time"
                ),
                stacklevel=2,
            )
        if pd.notna(last):
            state.last_time = last

    def _groups(self, chunk: pd.DataFrame) -> list[tuple[str, pd.DataFrame, pd.Series | None]]:
        """(series key, its rows in time order, their parsed times or None) of `chunk`."""
        if self.id_column is not None:
            refuse_empty_ids(chunk, self.id_column, self.name)
        groups = (
            [("", chunk)]
            if self.id_column is None
            else [(str(k), g) for k, g in chunk.groupby(self.id_column, sort=False)]
        )
        if self.time_column is None:
            return [(key, part, None) for key, part in groups]
        return [(key, *time_ordered(part, self.time_column)) for key, part in groups]

    def _state(self, key: str) -> SeriesState:
        if key not in self.states:
            series_name = f"{self.name}[{key}]" if key else self.name
            model = self.model
            default = model.scaler.offset if model.missing == "mask" else None
            filler = MissingFiller(model.missing, self.features, series_name, default)
            state = SeriesState(filler, series_name)
            self._start_part(state)
            self.states[key] = state
        return self.states[key]

    def _frame(self, state: SeriesState, errors: np.ndarray) -> pd.DataFrame:
        """Output rows for the next len(errors) pending rows of `state`."""
        n = len(errors)
        pending = pd.concat(state.pending) if len(state.pending) > 1 else state.pending[0]
        emitted, rest = pending.iloc[:n], pending.iloc[n:]
        state.pending = [rest]
        frame, missing = pop_missing(emitted.reset_index(drop=True), self.features)
        out_of_range = frame.pop("out_of_range") if "out_of_range" in frame else None
        frame.insert(len(frame.columns), "row", np.arange(state.next_row, state.next_row + n))
        state.next_row += n
        calibration = self.model.calibration if self.p_values else None
        columns = score_columns(errors, self.model, missing, state.smoother, calibration)
        frame = frame.assign(**columns)
        return frame if out_of_range is None else frame.assign(out_of_range=out_of_range)


def score_columns(
    errors: np.ndarray,
    model: ScoringModel,
    missing: np.ndarray | None = None,
    smoother: ScoreSmoother | None = None,
    calibration: np.ndarray | None = None,
) -> dict:
    """(rows, features) per-feature errors -> the score columns of the row-level output.

    missing: (rows, features) entries that were missing (--missing mask): left out of the
    score, and their err_ column is empty. calibration: held-out normal row scores; given,
    a p_value column (the conformal p-value of each row's score against them).
    """
    observed = None if missing is None else ~missing
    scores = score_observed(model.score_model, errors, observed)
    scores = smoother(scores) if smoother is not None else scores
    errors = errors if missing is None else np.where(missing, np.nan, errors)
    threshold = model.threshold
    columns = {"score": scores, "threshold": np.full(len(scores), threshold)}
    columns["is_anomaly"] = scores > threshold
    if calibration is not None:  # the `p_value` column, when asked for
        columns["p_value"] = conformal_p_values(calibration, scores)
    shown = errors.astype(np.float32)  # the network's own precision; shorter text, faster CSV
    columns |= {f"err_{name}": shown[:, i] for i, name in enumerate(model.features)}
    return columns


# ------------------------------------------------------ drift guard and --missing mask
RANGE_MARGIN = 3.0  # scaled units beyond the training range before a value is reported
MISSING_PREFIX = "_missing_"


def guard_columns(model: ScoringModel, missing: np.ndarray, scaled: np.ndarray) -> dict:
    """Per-row columns carried with the pending rows: out_of_range, and the missing mask."""
    features = model.features
    columns = {}
    if model.range is not None:
        columns["out_of_range"] = out_of_range(scaled, *model.range, features)
    if model.missing == "mask" and missing.any():
        columns |= {MISSING_PREFIX + f: missing[:, i] for i, f in enumerate(features)}
    return columns


def out_of_range(
    scaled: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    features: list[str],
    margin: float = RANGE_MARGIN,
) -> np.ndarray:
    """(rows, F) scaled values -> (rows,) the features more than `margin` scaled units
    outside their training range [low, high], joined by ';' ('' when none)."""
    beyond = (scaled < low - margin) | (scaled > high + margin)  # (rows, F)
    flags = np.full(len(scaled), "", dtype=object)
    for row in np.flatnonzero(beyond.any(axis=1)):
        flags[row] = ";".join(f for f, b in zip(features, beyond[row], strict=True) if b)
    return flags


class RangeTally:
    """Rows with features far outside the training range: counted over a run, then one
    warning naming how many, the first one and the features involved."""

    def __init__(self) -> None:
        self.rows = 0
        self.first: tuple[str, int, str] | None = None  # (series, row, features) of the first
        self.features: dict[str, None] = {}  # every feature out of range, in order met

    def add(self, series_name: str, extra: dict, part: pd.DataFrame) -> None:
        flags = extra.get("out_of_range")
        if flags is None:
            return
        beyond = np.flatnonzero(flags != "")
        if not beyond.size:
            return
        self.rows += beyond.size
        if self.first is None:
            position = int(beyond[0])
            self.first = (series_name, row_number(part.index, position), flags[position])
        for at in beyond:
            self.features |= dict.fromkeys(flags[at].split(";"))

    def warn(self, name: str) -> None:
        if self.first is None:
            return
        series_name, row, features = self.first
        where = f"row {row}" if series_name == name else f"{series_name} row {row}"
        message = (
            f"{name}: {self.rows} row(s) with values far outside anything seen in training, "
            f"itself a sign of an anomaly (more than {RANGE_MARGIN:g} scaled units beyond the "
            f"training range in {', '.join(self.features)}; first at {where}: {features}); "
            "see the out_of_range column"
        )
        warnings.warn(LstmaeWarning(message), stacklevel=2)


def pop_missing(frame: pd.DataFrame, features: list[str]) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Take the missing-mask columns out of `frame` -> (frame, (rows, F) bool or None)."""
    names = [MISSING_PREFIX + f for f in features]
    if names[0] not in frame.columns:
        return frame, None
    missing = frame[names].eq(True).to_numpy()  # rows from chunks without gaps: NaN -> False
    return frame.drop(columns=names), missing
