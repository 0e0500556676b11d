"""Pick the feature columns of a frame, make numeric arrays, fill missing values, split series."""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

try:
    from pandas.tseries.api import guess_datetime_format
except ImportError:  # pandas < 2.2
    guess_datetime_format = None

from ..errors import InputError, LstmaeWarning, listed
from ..params import MISSING_POLICIES
from .reading import CLOCK_ONLY, DAY_MONTH_YEAR, all_match, looks_like_dates

GAP_FACTOR = 100  # a step this many times the typical one is a jump (an outage, a stop)
TIME_NAMES = ("timestamp", "datetime", "time", "date", "ts")
# words that name a numeric time column (1767225600, seconds since 1970): "unix_time",
# "timestamp_ms", "epoch"
NUMERIC_TIME_WORDS = frozenset((*TIME_NAMES, "epoch", "unix", "unixtime", "epochtime"))
# a number and a unit without digits: 19.5 °C, -3 bar, 12%, 4,2 kW (not 2026-01-01, 12:00)
NUMBER_WITH_UNIT = r"\s*[-+]?\d+(?:[.,]\d+)?\s*[^\d\s.,:/+-][^\d]*"
CLOCK_ROWS = 10  # rows a column must rise evenly through to be taken for a counter or clock
# names of 0/1 columns that are most likely labels, not measurements
LABEL_NAMES = frozenset(
    ("anomaly", "anomalies", "is_anomaly", "label", "labels", "target", "class", "fault")
    + ("faults", "attack", "outlier", "outliers", "changepoint", "changepoints")
)


@dataclass
class ColumnRoles:
    """Which columns are features and which carry time, series id and labels."""

    features: list[str]
    time: str | None = None
    id: str | None = None
    label: str | None = None
    keep: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"features": self.features, "time": self.time, "id": self.id, "label": self.label}


def detect_time_column(frame: pd.DataFrame, id_column: str | None = None) -> str | None:
    """A datetime column, or a text column whose values parse as dates; else a numeric
    column named as a time (`timestamp`, `unix_time`, `epoch`, ...) whose values never
    decrease (within each series of `id_column`): Unix times, seconds or steps."""
    for name in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[name]):
            return name
    named_first = sorted(frame.columns, key=lambda c: str(c).lower() not in TIME_NAMES)
    for name in named_first:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        if looks_like_dates(column.dropna().head(20)):
            return name
    for name in frame.columns:
        if name != id_column and _named_as_time(name) and _a_clock(frame, name, id_column):
            return name
    return None


def _named_as_time(name: object) -> bool:
    words = re.split(r"[^0-9a-z]+", str(name).lower())
    return any(word in NUMERIC_TIME_WORDS for word in words)


def _a_clock(frame: pd.DataFrame, name: str, id_column: str | None) -> bool:
    """Whether numeric column `name` never decreases (in each series) and does not stand
    still: a duration or a setting named "time" goes up and down, or stays."""
    column = frame[name]
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return False
    if column.isna().any() or column.nunique() < 2:
        return False
    if id_column is None or id_column not in frame.columns:
        return bool(column.is_monotonic_increasing)
    return bool(column.groupby(frame[id_column], sort=False).is_monotonic_increasing.all())


def resolve_roles(
    frame: pd.DataFrame,
    name: str,
    features: list[str] | None = None,
    time: str | None = None,
    id_column: str | None = None,
    label: str | None = None,
    exclude: list[str] | None = None,
) -> ColumnRoles:
    """Check the named columns exist; default features are the numeric columns left over."""
    named = [c for c in [time, id_column, label, *(features or []), *(exclude or [])] if c]
    require_columns(frame, named, name)
    time = time or detect_time_column(frame, id_column)
    if features is None:
        reserved = {time, id_column, label, *(exclude or [])}
        features = [c for c in frame.columns if c not in reserved and _is_feature(frame[c])]
        others = [c for c in frame.columns if c not in reserved and c not in features]
        with_units = _warn_numbers_with_units(frame, others, name)
        _warn_other_columns(frame, [c for c in others if c not in with_units], name)
        features = _without_clocks(frame, _without_empty(frame, features, name), name)
        _warn_label_like(frame, features, name)
    if not features:
        raise InputError(f"{name}: no numeric feature columns found (use --columns a,b,c)")
    return ColumnRoles(features=list(features), time=time, id=id_column, label=label)


def _warn_numbers_with_units(frame: pd.DataFrame, columns: list, name: str) -> list:
    """Warn about text columns of numbers with a unit (19.5 °C, 3 bar, 12%): they are not
    features, and a user who exported them so most likely meant them to be. Those named."""
    named = []
    for column in columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        sample = values.dropna().head(200).astype(str)
        if len(sample) and sample.str.fullmatch(NUMBER_WITH_UNIT).mean() >= 0.8:
            warnings.warn(
                LstmaeWarning(
                    f"{name}: {column} holds numbers with a unit ({sample.iloc[0].strip()}) "
                    "and is not used as a feature; write the numbers alone to use it"
                ),
                stacklevel=4,
            )
            named.append(column)
    return named


def _warn_other_columns(frame: pd.DataFrame, columns: list, name: str) -> None:
    """Name, in one warning, the columns that are not features because they hold no numbers
    (True/False, text such as states or names, dates other than the time column); a
    True/False column counts as 0/1 when --columns names it."""
    columns = [c for c in columns if not all_match(frame[c], CLOCK_ONLY)]  # the time's clock
    kinds = [(c, _kind_of(frame[c])) for c in columns if not frame[c].isna().all()]
    if kinds:
        listed_columns = ", ".join(f"{c} ({kind})" for c, kind in kinds)
        left_out = "is not used as a feature" if len(kinds) == 1 else "are not used as features"
        says = "; --columns chooses the features yourself"
        if any(kind == "True/False" for _, kind in kinds):
            says += " (a True/False column counts as 0/1)"
        warnings.warn(
            LstmaeWarning(f"{name}: {listed_columns} {left_out}{says}"),
            stacklevel=4,
        )


def _kind_of(column: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(column):
        return "True/False"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "dates"
    return "text"


def _without_empty(frame: pd.DataFrame, features: list[str], name: str) -> list[str]:
    """`features` less the columns without a single value (a sensor not connected, the
    empty column a trailing delimiter makes), with a warning: nothing to learn from."""
    empty = [c for c in features if frame[c].isna().all()]
    says = ("has no values and is not", "have no values and are not")
    return _left_out(features, empty, name, *(f"{s} used as a feature" for s in says))


def _without_clocks(frame: pd.DataFrame, features: list[str], name: str) -> list[str]:
    """`features` less the columns that rise by the same step every row (an index written
    with the data, a row number, seconds since the start), with a warning: later data
    always lies beyond such a column's training range, so it would flag every row."""
    clocks = [c for c in features if _steps_evenly(frame[c])]
    if len(clocks) == len(features):
        return features  # nothing else to learn from: they stay
    says = [
        f"{rises} by the same step every row (a row counter or a clock) and {is_not} used as "
        "a feature: later data would lie beyond its training range; --columns chooses the "
        "features yourself"
        for rises, is_not in (("rises", "is not"), ("rise", "are not"))
    ]
    return _left_out(features, clocks, name, *says)


def _left_out(features: list[str], dropped: list[str], name: str, one: str, many: str) -> list[str]:
    """`features` less `dropped`, with one warning naming them: `one` or `many` (by their
    number) says what follows the names."""
    if dropped:
        says = one if len(dropped) == 1 else many
        warnings.warn(LstmaeWarning(f"{name}: {', '.join(map(str, dropped))} {says}"), stacklevel=5)
    return [c for c in features if c not in dropped]


def _steps_evenly(column: pd.Series) -> bool:
    """At least CLOCK_ROWS rows, each above the last by the same step (within 1 %)."""
    if len(column) < CLOCK_ROWS or not pd.api.types.is_numeric_dtype(column):
        return False
    if pd.api.types.is_bool_dtype(column):
        return False
    steps = np.diff(column.to_numpy(dtype=np.float64))  # NaN where a value is missing
    step = float(np.median(steps))
    return bool(step > 0 and (np.abs(steps - step) <= 0.01 * step).all())


def _warn_label_like(frame: pd.DataFrame, features: list[str], name: str) -> None:
    """Warn when a column picked as a feature looks like a label: named so, only 0 and 1."""
    suspects = [
        c
        for c in features
        if str(c).strip().lower() in LABEL_NAMES
        and set(pd.to_numeric(frame[c], errors="coerce").dropna().unique()) <= {0, 1}
    ]
    if suspects:
        option_value = ",".join(map(str, suspects))
        one = len(suspects) == 1
        says = (
            "looks like a label (only 0 and 1) and is used as a feature; if it is a label"
            if one
            else "look like labels (only 0 and 1) and are used as features; if they are labels"
        )
        warnings.warn(
            LstmaeWarning(
                f"{name}: {', '.join(map(str, suspects))} {says}, leave "
                f"{'it' if one else 'them'} out with --exclude-columns {option_value}"
            ),
            stacklevel=3,
        )


def _is_feature(column: pd.Series) -> bool:
    """Numeric columns, and text columns whose values are mostly numbers (a few typos)."""
    if pd.api.types.is_bool_dtype(column):
        return False
    if pd.api.types.is_numeric_dtype(column):
        return True
    if pd.api.types.is_datetime64_any_dtype(column):
        return False
    sample = column.dropna().head(1000)
    if sample.empty:
        return False
    numbers = pd.to_numeric(sample, errors="coerce").notna()
    return bool(numbers.mean() >= 0.5)


def require_columns(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:12]))
        raise InputError(f"{name}: missing column(s) {', '.join(missing)} (file has: {have})")


def feature_matrix(
    frame: pd.DataFrame, features: list[str], name: str, first_row: int = 0
) -> np.ndarray:
    """The feature columns as float64, (rows, features); inf becomes NaN. Scaling makes
    them float32: a channel far from zero (12,345,678.9 +- 2) keeps its variation."""
    require_columns(frame, features, name)
    columns = [_numeric_column(frame[c], c, name, first_row) for c in features]
    values = np.column_stack(columns)  # (rows, features) float64
    values[~np.isfinite(values)] = np.nan
    return values


def _numeric_column(column: pd.Series, feature: str, name: str, first_row: int) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna()
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        value = str(column.iloc[position])[:40]
        row = row_number(column.index, position, first_row)
        raise InputError(f"{name}: column '{feature}', row {row}: {value!r} is not a number")
    return converted.to_numpy(dtype=np.float64, na_value=np.nan)


def row_number(index: pd.Index, position: int, first_row: int = 0) -> int:
    """1-based data row (header not counted) of `position`; read_frames indexes rows by file row."""
    if pd.api.types.is_integer_dtype(index) and int(index[position]) >= first_row:
        return int(index[position]) + 1
    return first_row + position + 1


class MissingFiller:
    """Fill NaNs row-stream by row-stream, remembering the last valid row between chunks.

    `mask` fills like `ffill` (the network needs a value), and the caller leaves the
    entries that were missing out of the loss and the row score. `default` (features,)
    fills a column that has had no value yet (at score time: the training mean); without
    it such a column is an error.
    """

    def __init__(
        self, policy: str, features: list[str], name: str, default: np.ndarray | None = None
    ) -> None:
        if policy not in MISSING_POLICIES:
            raise InputError(f"unknown --missing policy {policy!r}")
        self.policy, self.features, self.name = policy, features, name
        self.last_valid: np.ndarray | None = None  # (features,)
        if default is not None:
            self.last_valid = np.asarray(default, dtype=np.float64).copy()
        self.rows_seen = 0

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """values: (rows, features) with NaN for missing -> same shape, no NaN."""
        first_row, self.rows_seen = self.rows_seen, self.rows_seen + len(values)
        missing = np.isnan(values)
        if not missing.any():
            self.last_valid = values[-1].copy() if len(values) else self.last_valid
            return values
        if self.policy == "error":
            row, col = np.argwhere(missing)[0]
            raise InputError(
                f"{self.name}: column '{self.features[col]}', row {first_row + row + 1}: "
                "missing or non-finite value (see --missing)"
            )
        frame = pd.DataFrame(values)
        if self.last_valid is not None:
            frame = pd.concat([pd.DataFrame(self.last_valid[None, :]), frame], ignore_index=True)
        if self.policy == "interpolate":
            frame = frame.interpolate(limit_direction="both")
        filled = frame.ffill().bfill()
        if self.last_valid is not None:
            filled = filled.iloc[1:]
        result = filled.to_numpy(dtype=np.float64)
        empty = np.isnan(result).all(axis=0)
        if empty.any():
            column = self.features[int(np.flatnonzero(empty)[0])]
            raise InputError(f"{self.name}: column '{column}' has no numeric values")
        self.last_valid = result[-1].copy()
        return result


class MissingTally:
    """Counts, per feature, the values a run treated as missing: empty, NaN or +-inf."""

    def __init__(self, features: list[str]) -> None:
        self.features = features
        self.missing = np.zeros(len(features), dtype=np.int64)  # (features,)
        self.infinite = np.zeros(len(features), dtype=np.int64)  # (features,) of them +-inf
        self.rows = 0  # rows counted, missing or not

    def add(self, frame: pd.DataFrame) -> None:
        """Count the feature columns of `frame` (already checked numeric by feature_matrix)."""
        self.add_complete_rows(len(frame))
        for i, feature in enumerate(self.features):
            column = frame[feature]
            if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
                column = pd.to_numeric(column, errors="coerce")
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            infinite = int(np.isinf(values).sum())
            self.missing[i] += int(np.isnan(values).sum()) + infinite
            self.infinite[i] += infinite

    def add_complete_rows(self, rows: int) -> None:
        """Count rows without a missing value (not given to `add`)."""
        self.rows += rows

    def warn(self, name: str, policy: str) -> None:
        """One warning naming the counts per feature, if anything was missing."""
        total = int(self.missing.sum())
        if total == 0:
            return
        counts = [
            f"{feature} {n}" + (f" ({k} inf)" if k else "")
            for feature, n, k in zip(self.features, self.missing, self.infinite, strict=True)
            if n
        ]
        dead = [f for f, n in zip(self.features, self.missing, strict=True) if n == self.rows]
        if dead and policy == "mask":
            counts.append(
                f"no value at all in {listed(dead)}: read as the training level, "
                "which can raise the other channels' errors (a dead sensor?)"
            )
        how = {
            "mask": "filled for the network, left out of the loss and the row score",
            "ffill": "filled with the last value",
            "interpolate": "interpolated",
        }.get(policy, "filled")
        warnings.warn(
            LstmaeWarning(
                f"{name}: {total} missing or non-finite value(s) treated as missing "
                f"(--missing {policy}: {how}): {', '.join(counts)}"
            ),
            stacklevel=2,
        )


def refuse_empty_ids(frame: pd.DataFrame, id_column: str, name: str, first_row: int = 0) -> None:
    """Rows without a series id belong to no series: a one-line error, never dropped."""
    empty = frame[id_column].isna().to_numpy()
    if empty.any():
        row = row_number(frame.index, int(np.flatnonzero(empty)[0]), first_row)
        raise InputError(
            f"{name}: {int(empty.sum())} row(s) with an empty '{id_column}' (first at row "
            f"{row}); every row needs a series id: fill it in or drop those rows"
        )


def split_series(
    frame: pd.DataFrame, roles: ColumnRoles, name: str = "data"
) -> list[tuple[str, pd.DataFrame]]:
    """One frame per series id (all rows when there is no id column), each in time order;
    a row with an empty id is an error."""
    if roles.id is None:
        groups = [("", frame)]
    else:
        refuse_empty_ids(frame, roles.id, name)
        groups = [(str(key), part) for key, part in frame.groupby(roles.id, sort=False)]
    if roles.time is not None:
        groups = [(key, sort_by_time(part, roles.time)) for key, part in groups]
    return groups


def sort_by_time(frame: pd.DataFrame, time: str) -> pd.DataFrame:
    """Rows in time order (stable: rows with equal times keep their file order)."""
    return time_ordered(frame, time)[0]


def time_ordered(frame: pd.DataFrame, time: str) -> tuple[pd.DataFrame, pd.Series]:
    """`frame` in time order (stable), and its parsed times in that order, a missing or
    unreadable one replaced by the time before it."""
    order = parse_times(frame[time])
    if _strictly_increasing(order):  # the usual case: in order, no duplicates, none missing
        return frame, order
    _warn_duplicate_times(order, time)
    order = _missing_times_in_place(order, time)
    if order.is_monotonic_increasing:
        return frame, order
    warnings.warn(LstmaeWarning(f"rows are not in time order: sorted by '{time}'"), stacklevel=3)
    positions = np.argsort(order.to_numpy(), kind="stable")
    return frame.iloc[positions], order.iloc[positions]


def time_steps(times: pd.Series, before: object) -> np.ndarray:
    """(rows,) each time less the one before it (the first: less `before`, the last time
    of the chunks before), in seconds for datetimes; NaN where either is missing."""
    times = times.reset_index(drop=True)
    steps = times.diff()
    if before is not None and len(times):
        # times of different kinds (with and without a zone) have no step between them
        with contextlib.suppress(TypeError, ValueError):
            steps.iloc[0] = times.iloc[0] - before
    if pd.api.types.is_timedelta64_dtype(steps):
        return steps.dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(steps, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def warn_jump(times: pd.Series, steps: np.ndarray, name: str, rows_before: int = 0) -> bool:
    """Warn where `times` (one series, in order; `steps` from time_steps) jump by more than
    GAP_FACTOR times their typical step, an outage or a stop: windows across it join rows
    far apart in time. Whether it warned."""
    moving = steps[steps > 0]
    if len(moving) < 2:
        return False
    typical = float(np.median(moving))
    at = int(np.nanargmax(steps))
    if not steps[at] > GAP_FACTOR * typical:
        return False
    jump, step = (_duration(times, s) for s in (float(steps[at]), typical))
    warnings.warn(
        LstmaeWarning(
            f"{name}: the times jump by {jump} at row {rows_before + at + 1} "
            f"({steps[at] / typical:,.0f}x the typical step of {step}): windows across a jump "
            "join rows far apart in time, and the rows after it may be flagged; "
            f"`train --max-gap {_gap_example(times, typical, float(steps[at]))}` cuts series "
            "at such jumps"
        ),
        stacklevel=3,
    )
    return True


# round --max-gap values, in seconds and as the option is written
ROUND_GAPS = [
    (seconds * size, f"{seconds}{unit}")
    for unit, size, counts in (
        ("s", 1, (1, 2, 5, 10, 15, 30)),
        ("min", 60, (1, 2, 5, 10, 15, 30)),
        ("h", 3_600, (1, 2, 3, 6, 12)),
        ("d", 86_400, (1, 2, 7, 14, 30)),
    )
    for seconds in counts
]


def _gap_example(times: pd.Series, typical: float, jump: float) -> str:
    """A --max-gap for the warning of a jump: the first round duration from 10x the typical
    step up, and below the jump; a bare number where the times are numbers."""
    if not pd.api.types.is_datetime64_any_dtype(times):
        return f"{10 * typical:g}"
    fitting = [text for size, text in ROUND_GAPS if 10 * typical <= size < jump]
    return fitting[0] if fitting else f"{math.ceil(10 * typical / 86_400)}d"


def _duration(times: pd.Series, seconds: float) -> str:
    """A step between two times as a user reads it: 1.5 h, 2 d; numbers as they are."""
    if not pd.api.types.is_datetime64_any_dtype(times):
        return f"{seconds:g}"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def jump_rows(steps: np.ndarray, max_gap: float | None) -> list[int]:
    """The positions in `steps` (time_steps) of the rows that come after a jump of more
    than `max_gap` (seconds for dates and times, else the time column's units); none
    without max_gap."""
    return [] if max_gap is None else np.flatnonzero(steps > max_gap).tolist()


def _strictly_increasing(order: pd.Series) -> bool:
    """Each time after the one before (a missing time, NaT or NaN, compares False)."""
    values = order.to_numpy()
    if values.dtype.kind not in "Mmiuf":
        return False
    return bool((values[1:] > values[:-1]).all())


def _missing_times_in_place(order: pd.Series, time: str) -> pd.Series:
    """Times with each missing or unreadable one replaced by the time before it (the first
    ones by the first time), so that a sort keeps such rows where the file has them."""
    missing = order.isna()
    if not missing.any():
        return order
    row = row_number(order.index, int(np.flatnonzero(missing.to_numpy())[0]))
    warnings.warn(
        LstmaeWarning(
            f"{int(missing.sum())} missing or unreadable time(s) in '{time}' (first at row "
            f"{row}); those rows are kept after the row before them"
        ),
        stacklevel=4,
    )
    return order.ffill().bfill()


def _warn_duplicate_times(order: pd.Series, time: str) -> None:
    duplicated = order.duplicated() & order.notna()
    if duplicated.any():
        row = row_number(order.index, int(np.flatnonzero(duplicated.to_numpy())[0]))
        warnings.warn(
            LstmaeWarning(
                f"{int(duplicated.sum())} duplicate time(s) in '{time}' (first at row {row}); "
                "those rows are kept in file order"
            ),
            stacklevel=3,
        )


def parse_times(column: pd.Series) -> pd.Series:
    """Times as datetime64 (numbers and datetimes as they are); text that does not parse
    becomes NaT.

    Times with different UTC offsets (a summer-time switch) are compared in UTC. Text is
    first read as ISO 8601 alone, in half the time: pandas' "mixed" format tries
    the same ISO parser on each value before anything else, so where every value is ISO
    8601 the times are the same; otherwise (any other form, a value that does not parse,
    mixed time zones) it is read as before.
    """
    if pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return column
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.to_datetime(column, format="ISO8601")
        except (ValueError, TypeError, OverflowError):
            pass
        day_first = _day_first(column)
        if day_first is not None:
            return _parse_mixed(column, day_first)
        # day and month both <= 12 throughout: the reading in time order over the shorter span
        readings = [_parse_mixed(column, first) for first in (False, True)]
        return min(readings, key=_disorder)


def _parse_mixed(column: pd.Series, day_first: bool) -> pd.Series:
    """Text times in the format of the first one (fast), each that does not fit it read
    alone (10-100x slower: a value written otherwise, a time zone that changes)."""
    parsed = _parse_as_first(column, day_first)
    if parsed is None:
        return _parse_mixed_alone(column, day_first)
    unread = parsed.isna() & column.notna()
    if not unread.any():
        return parsed
    try:
        alone = pd.to_datetime(column[unread], errors="coerce", format="mixed", dayfirst=day_first)
    except ValueError:  # offsets that change (+01:00, then +02:00 from a DST switch)
        return _parse_mixed_alone(column, day_first)
    if alone.dtype != parsed.dtype:
        return _parse_mixed_alone(column, day_first)
    parsed[unread] = alone
    return parsed


def _parse_mixed_alone(column: pd.Series, day_first: bool) -> pd.Series:
    try:
        return pd.to_datetime(column, errors="coerce", format="mixed", dayfirst=day_first)
    except ValueError:
        return pd.to_datetime(column, errors="coerce", format="mixed", dayfirst=day_first, utc=True)


def _parse_as_first(column: pd.Series, day_first: bool) -> pd.Series | None:
    """The times read in the format pandas guesses from the first one (unreadable ones
    NaT); None without such a format."""
    first = column.dropna()
    if first.empty or guess_datetime_format is None:
        return None
    form = guess_datetime_format(str(first.iloc[0]), dayfirst=day_first)
    if form is None:
        return None
    try:
        parsed = pd.to_datetime(column, errors="coerce", format=form)
    except (ValueError, TypeError, OverflowError):
        return None
    return parsed if pd.api.types.is_datetime64_any_dtype(parsed) else None


def _day_first(column: pd.Series) -> bool | None:
    """Whether text dates that begin with two numbers (05/01/2026, 05.01.2026) put the day
    first: True where a first number is over 12, False where a second one is (or the dates
    do not begin so: read as pandas reads them); None where both are <= 12 throughout."""
    text = column.dropna().astype(str)
    beginnings = pd.Series(text.str.slice(0, 12).unique())  # a few per day
    fields = beginnings.str.extract(DAY_MONTH_YEAR)
    if fields.empty or fields[0].isna().mean() > 0.5:
        return False
    fields = fields.dropna().astype(int)
    if (fields[0] > 12).any():
        return True
    if (fields[1] > 12).any():
        return False
    return None


def _disorder(times: pd.Series) -> tuple[int, float]:
    """(steps back in time, span in seconds) of a reading of times in file order: the
    right reading of ambiguous dates goes forward in small steps, the wrong one jumps
    by months."""
    values = times.dropna()
    if values.empty:
        return (0, 0.0)
    steps = values.diff().dt.total_seconds().to_numpy()[1:]
    return (int((steps < 0).sum()), float((values.max() - values.min()).total_seconds()))
