"""Chunk-by-chunk row scoring of one input, many series at once, with bounded memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .data import MissingFiller, detect_time_column, feature_matrix, require_columns, sort_by_time
from .errors import InputError
from .scoring import RowScorer
from .thresholds import p_value_columns

if TYPE_CHECKING:
    from .detector import Detector


class SeriesState:
    """What one series carries between chunks: its scorer, filler and rows not yet emitted."""

    def __init__(self, scorer: RowScorer, filler: MissingFiller, label: str) -> None:
        self.scorer, self.filler, self.label = scorer, filler, label
        self.pending: list[pd.DataFrame] = []  # pass-through columns of rows not yet emitted
        self.next_row = 0  # row number (within the series) of the next row to emit


class StreamScorer:
    """Turns input chunks into row-level score frames, emitting rows as soon as they are final."""

    def __init__(
        self,
        detector: Detector,
        name: str,
        keep: list[str],
        id_column: str | None = None,
        time_column: str | None = None,
    ) -> None:
        self.detector, self.name, self.keep = detector, name, keep
        self.features = detector.roles_.features
        self.id_column, self.time_column = id_column, time_column
        self.states: dict[str, SeriesState] = {}
        self.rows_read = 0
        self.passthrough: list[str] = []

    def run(self, chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for number, chunk in enumerate(chunks):
            if number == 0:
                self._plan_columns(chunk)
            yield from self._score_chunk(chunk)
        if not self.states:
            raise InputError(f"{self.name}: no data rows")
        for state in self.states.values():
            try:
                errors = state.scorer.finish()
            except InputError as exc:
                raise InputError(f"{state.label}: {exc}") from exc
            yield self._frame(state, errors)

    def _plan_columns(self, chunk: pd.DataFrame) -> None:
        """Decide the id / time / kept columns from the model's roles and the first chunk."""
        roles = self.detector.roles_
        require_columns(chunk, [*self.features, *self.keep], self.name)
        if self.id_column is None and roles.id in chunk.columns:
            self.id_column = roles.id
        if self.time_column is None:
            have_trained = roles.time in chunk.columns
            self.time_column = roles.time if have_trained else detect_time_column(chunk)
        require_columns(chunk, [c for c in (self.id_column, self.time_column) if c], self.name)
        named = [self.id_column, self.time_column, *self.keep]
        self.passthrough = list(dict.fromkeys(c for c in named if c))

    def _score_chunk(self, chunk: pd.DataFrame) -> Iterator[pd.DataFrame]:
        first_row = self.rows_read
        self.rows_read += len(chunk)
        for key, part in self._groups(chunk):
            state = self._state(key)
            values = feature_matrix(part, self.features, self.name, first_row)  # (rows, F)
            values = state.filler(values)
            state.pending.append(part[self.passthrough])
            errors = state.scorer.push(self.detector.scaler_.transform(values))
            if len(errors):
                yield self._frame(state, errors)

    def _groups(self, chunk: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
        groups = (
            [("", chunk)]
            if self.id_column is None
            else [(str(k), g) for k, g in chunk.groupby(self.id_column, sort=False)]
        )
        if self.time_column is None:
            return groups
        return [(key, sort_by_time(part, self.time_column)) for key, part in groups]

    def _state(self, key: str) -> SeriesState:
        if key not in self.states:
            label = f"{self.name}[{key}]" if key else self.name
            filler = MissingFiller(self.detector.params.missing, self.features, label)
            self.states[key] = SeriesState(self.detector._row_scorer(), filler, label)
        return self.states[key]

    def _frame(self, state: SeriesState, errors: np.ndarray) -> pd.DataFrame:
        """Output rows for the next len(errors) pending rows of `state`."""
        n = len(errors)
        pending = pd.concat(state.pending) if len(state.pending) > 1 else state.pending[0]
        emitted, rest = pending.iloc[:n], pending.iloc[n:]
        state.pending = [rest]
        frame = emitted.reset_index(drop=True)
        frame.insert(len(frame.columns), "row", np.arange(state.next_row, state.next_row + n))
        state.next_row += n
        columns = score_columns(errors, self.features, self.detector)
        return frame.assign(**columns)


def score_columns(errors: np.ndarray, features: list[str], detector: Detector) -> dict:
    """(rows, features) per-feature errors -> the score columns of the row-level output."""
    scores, threshold = detector.score_model_.score(errors), detector.threshold_
    columns = {"score": scores, "threshold": np.full(len(scores), threshold)}
    columns["is_anomaly"] = scores > threshold
    columns |= p_value_columns(detector, scores)
    columns |= {f"err_{name}": errors[:, i] for i, name in enumerate(features)}
    return columns
