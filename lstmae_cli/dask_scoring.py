"""Scoring on engines that partition the data: Dask (`score_dask`) and Spark (`spark_schema`,
`score_batches` for `mapInPandas`).

Every series must arrive whole in one partition: windows never cross partitions, so a series
cut in two would be scored as two series, its first seq_len rows after the cut scored without
their history. `score_dask` checks this before scoring (it reads the id column once: a
projected column of a Parquet dataset) and refuses a series that is in more than one
partition, naming it; `shuffle=True` repartitions by the id column instead (a Dask shuffle,
which keeps each series' rows in their original order).

Each worker process loads the bundle once (`cached_detector`: a per-process cache keyed by
the bundle's real path, modification time and size), not once per partition; a bundle
rewritten in place is loaded again. `bundle_loads()` counts the loads of this process.

Neither Dask nor Spark is imported until a function here needs it: `pip install
'lstmae[dask]'` for Dask; Spark's own pyspark for `mapInPandas` (`spark_schema` returns a
DDL string and needs no pyspark).
"""

from __future__ import annotations

import glob
import logging
import os
import secrets
import shutil
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lstmae_cli import Detector
from lstmae_cli.errors import InputError, LstmaeError, LstmaeWarning, UsageError, listed
from lstmae_cli.scoring.alerts import AlertRules

if TYPE_CHECKING:  # pragma: no cover
    import dask.dataframe as dd

LEVELS = ("row", "event")
ORDER_COLUMN = "__lstmae_order"  # the original row order, carried through a shuffle
ORDER_BITS = 40  # order = partition number << 40 | position in the partition

_CACHE: dict[tuple, Detector] = {}
_LOADS: dict[str, int] = {}  # real path -> loads of that bundle in this process
_LOCK = threading.Lock()  # one load per process, however many threads a worker runs


# ------------------------------------------------------------------ per-process bundle cache
def cached_detector(path: str | Path, device: str = "auto", precision: str = "fp32") -> Detector:
    """This process's Detector for the bundle at `path`, loaded on first use.

    Keyed by the real path, the file's modification time and size, and the device and
    precision: a bundle rewritten at the same path is loaded again (and the old one dropped).
    Callers must not change the returned object; `with_threshold` gives a copy.
    """
    real = os.path.realpath(path)
    stat = os.stat(real)
    key = (real, stat.st_mtime_ns, stat.st_size, device, precision)
    with _LOCK:
        detector = _CACHE.get(key)
        if detector is None:
            for old in [k for k in _CACHE if k[0] == real]:
                del _CACHE[old]
            detector = Detector.load(real, device=device, precision=precision)
            _CACHE[key] = detector
            _LOADS[real] = _LOADS.get(real, 0) + 1
    return detector


def bundle_loads() -> dict[str, int]:
    """{bundle's real path: times loaded} in this process (Dask: `client.run(bundle_loads)`)."""
    return dict(_LOADS)


# ------------------------------------------------------------------------------- options
@dataclass(frozen=True)
class ScoreOptions:
    """What every partition is scored with (picklable: it travels with each task)."""

    level: str = "row"
    id_column: str | None = None
    time_column: str | None = None
    keep: tuple[str, ...] = ()
    merge_gap: int | None = None
    min_rows: int | None = None
    threshold: float | None = None
    p_values: bool = False
    only_anomalies: bool = False
    device: str = "auto"
    precision: str = "fp32"
    warn: bool = True  # False: the partitions' LstmaeWarnings (out of range, ...) are dropped

    def check(self) -> None:
        if self.level not in LEVELS:
            raise UsageError(f"level must be one of {', '.join(LEVELS)}, not {self.level!r}")
        if self.p_values and self.level != "row":
            raise UsageError("p_values is for level 'row'")
        AlertRules(self.merge_gap, self.min_rows).check()


def _detector(path: str | Path, options: ScoreOptions) -> Detector:
    """The process's cached Detector with this run's threshold."""
    return cached_detector(path, options.device, options.precision).with_threshold(
        options.threshold
    )


def _check_p_values(detector: Detector, path: str | Path, options: ScoreOptions) -> None:
    if options.p_values and detector.val_scores_.size == 0:
        raise InputError(
            f"{path}: this model holds no held-out normal scores for p-values; "
            "run `lstmae threshold MODEL NORMAL_DATA` to store some"
        )


def _score_frames(detector: Detector, frames: Iterable[pd.DataFrame], name, options):
    """One stream of frames (a partition, or a Spark task's batches) -> result frames."""
    return list(_scored(detector, frames, name, options))


def _scored(detector: Detector, frames: Iterable[pd.DataFrame], name, options):
    """Result frames as they come: row frames, or all the events in one frame (if any)."""
    run = detector.score(
        frames, options.level, AlertRules(options.merge_gap, options.min_rows), name=name,
        keep=options.keep, id_column=options.id_column, time_column=options.time_column,
        p_values=options.p_values, only_anomalies=options.only_anomalies,
    )  # fmt: skip
    if options.level == "event":
        events = run.frame()
        if len(events):
            yield events
        return
    yield from run


def _conform(frames: list[pd.DataFrame], meta: pd.DataFrame, name: str) -> pd.DataFrame:
    """The frames as one frame with exactly meta's columns and dtypes."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return meta.iloc[:0].copy()
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    missing = [c for c in meta.columns if c not in frame.columns]
    if missing:
        raise InputError(f"{name}: the result lacks column(s) {', '.join(map(str, missing))}")
    frame = frame[list(meta.columns)].reset_index(drop=True)
    changed = {c: meta[c].dtype for c in meta.columns if frame[c].dtype != meta[c].dtype}
    return frame.astype(changed) if changed else frame


# ------------------------------------------------------------------------- output meta
def _template(input_meta: pd.DataFrame, sample: pd.DataFrame | None) -> pd.Series:
    """One plausible input row: the sample's first row, else Dask-style made-up values."""
    if sample is not None and len(sample):
        return sample.iloc[0]
    try:
        from dask.dataframe.utils import meta_nonempty

        return meta_nonempty(input_meta).iloc[0]
    except ImportError:  # Spark: no Dask needed
        return pd.Series({c: _made_up(input_meta[c]) for c in input_meta.columns})


def _made_up(column: pd.Series):
    if pd.api.types.is_bool_dtype(column):
        return True
    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.Timestamp("2026-01-01")
    if pd.api.types.is_numeric_dtype(column):
        return 1
    return "2026-01-01 00:00:00"


def output_meta(
    detector: Detector,
    input_meta: pd.DataFrame,
    options: ScoreOptions,
    sample: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The empty frame a partition's result has: the columns and dtypes of `score_frame`
    (level "row") or `score_events` (level "event") for input with `input_meta`'s dtypes.

    Found by scoring a made-up series of the input's dtypes (its feature values 0, every
    row flagged so that there is an event): the model decides the score columns, the input
    the dtypes of the columns passed through (id, time, keep).
    """
    features, p = detector.require_fitted().roles.features, detector.params
    template = _template(input_meta, sample)
    rows = max(p.seq_len, options.min_rows or 1) + p.resolved_smooth + 1
    made_up = pd.DataFrame(
        {
            c: pd.Series(np.zeros(rows) if c in features else [template[c]] * rows).astype(
                input_meta[c].dtype
            )
            for c in input_meta.columns
            if c != ORDER_COLUMN
        }
    )
    probe = detector.with_threshold(-np.inf)  # every row flagged: one event to take columns from
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the made-up rows' duplicate times, range, ...
        frames = _score_frames(probe, [made_up], "<meta>", replace(options, only_anomalies=False))
    if not frames:  # pragma: no cover - every row is flagged
        raise InputError("could not derive the output columns from the model")
    return frames[0].iloc[:0].reset_index(drop=True)


def _passthrough(row_meta: pd.DataFrame) -> list[str]:
    """The input columns a row-level result carries (id, time, keep): those before `row`."""
    columns = list(row_meta.columns)
    return columns[: columns.index("row")]


# ------------------------------------------------------------------------------- Dask
def score_dask(  # noqa: PLR0913 (keyword options mirroring `lstmae score`, as documented)
    ddf: dd.DataFrame,
    model_path: str | Path,
    id_column: str | None = None,
    level: str = "row",
    *,
    time_column: str | None = None,
    keep: Iterable[str] = (),
    merge_gap: int | None = None,
    min_rows: int | None = None,
    threshold: float | None = None,
    p_values: bool = False,
    only_anomalies: bool = False,
    device: str = "auto",
    precision: str = "fp32",
    shuffle: bool = False,
    check: bool = True,
    warn: bool = True,
) -> dd.DataFrame:
    """Score a Dask DataFrame with the bundle at `model_path`; a lazy Dask DataFrame back.

    level "row": the columns and dtypes of `Detector.score_frame` (one row per input row);
    "event": those of `Detector.score_events`. `meta` comes from the model and `ddf`'s dtypes.
    Each series must lie whole in one partition: with `check` (default) the id column is
    read once now and a series found in two partitions is refused (InputError naming it);
    `shuffle=True` repartitions by id instead (keeping each series' row order). A frame
    indexed by the id column with known divisions (`set_index(id)`) is whole by
    construction and not checked.
    Without an id column (none given, none in the model) `ddf` must have one partition.

    The bundle is read by the workers, at the same path: a shared disk. Each worker process
    loads it once. device "auto" takes a GPU where a worker has one.
    """
    keep = tuple(keep)
    options = ScoreOptions(
        level, id_column, time_column, keep, merge_gap, min_rows, threshold, p_values,
        only_anomalies, device, precision, warn,
    )  # fmt: skip
    options.check()
    detector = Detector.load(model_path, device="cpu")  # the client's copy: meta only
    _check_p_values(detector, model_path, options)
    roles = detector.require_fitted().roles
    columns = list(ddf.columns)
    indexed = False
    if id_column is None and roles.id is not None and roles.id in [*columns, ddf.index.name]:
        id_column = roles.id
    if id_column is not None and id_column not in columns:
        if ddf.index.name != id_column:
            raise InputError(f"no column '{id_column}' (columns: {', '.join(map(str, columns))})")
        indexed = ddf.known_divisions  # then an id is in one partition: divisions split ids
        ddf = ddf.reset_index()
    missing = [c for c in [*roles.features, *keep] if c not in ddf.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(map(str, missing))}")
    if id_column is None and ddf.npartitions > 1:
        raise InputError(
            f"no id column, and {ddf.npartitions} partitions: each partition would be scored "
            "as a series of its own; give id_column (a column naming each series) so that "
            "series can be checked to lie whole in one partition"
        )
    options = replace(options, id_column=id_column)
    input_meta = ddf._meta
    options = replace(options, time_column=_time_column(detector, ddf, input_meta, options))
    meta = output_meta(detector, input_meta, options)
    if shuffle and id_column is not None and not indexed:
        ddf = ddf.map_partitions(_with_order, meta=_with_order(ddf._meta)).shuffle(on=id_column)
    elif check and id_column is not None and not indexed:
        refuse_split_series(ddf, id_column)
    return ddf.map_partitions(
        score_partition,
        str(Path(model_path).resolve()),
        options,
        meta,
        meta=meta,
        enforce_metadata=False,
        align_dataframes=False,
    )


def _time_column(detector, ddf, input_meta: pd.DataFrame, options: ScoreOptions) -> str | None:
    """The time column every partition uses: given, the model's, or detected as `lstmae
    score` does (from the first rows of the first partition, when nothing else decides)."""
    if options.time_column is not None:
        if options.time_column not in input_meta.columns:
            raise InputError(f"no time column '{options.time_column}'")
        return options.time_column
    trained = detector.roles_.time
    if trained is not None and trained in input_meta.columns:
        return trained
    others = [
        c
        for c in input_meta.columns
        if c not in detector.roles_.features and c != options.id_column and c not in options.keep
    ]
    if not others:
        return None
    sample = None
    if not any(pd.api.types.is_datetime64_any_dtype(input_meta[c]) for c in others) and any(
        not pd.api.types.is_numeric_dtype(input_meta[c]) for c in others
    ):  # text that may hold dates: look at real values, as `lstmae score` does
        sample = ddf.head(20, npartitions=1)
    row_meta = output_meta(detector, input_meta, replace(options, level="row"), sample)
    named = {options.id_column, *options.keep}
    found = [c for c in _passthrough(row_meta) if c not in named]
    return found[0] if found else None


def _with_order(frame: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
    number = partition_info["number"] if partition_info else 0
    order = (np.int64(number) << ORDER_BITS) + np.arange(len(frame), dtype=np.int64)
    return frame.assign(**{ORDER_COLUMN: order})


def score_partition(
    frame: pd.DataFrame,
    model_path: str,
    options: ScoreOptions,
    meta: pd.DataFrame,
    partition_info: dict | None = None,
) -> pd.DataFrame:
    """One partition -> its scores (every series in it whole), with exactly meta's columns."""
    name = f"partition {partition_info['number']}" if partition_info else "partition"
    if ORDER_COLUMN in frame.columns:
        frame = frame.sort_values(ORDER_COLUMN, kind="stable").drop(columns=ORDER_COLUMN)
    if not len(frame):
        return meta.iloc[:0].copy()
    detector = _detector(model_path, options)
    with warnings.catch_warnings():
        if not options.warn:
            warnings.simplefilter("ignore", LstmaeWarning)
        return _conform(_score_frames(detector, [frame], name, options), meta, name)


def refuse_split_series(ddf: dd.DataFrame, id_column: str) -> None:
    """InputError when a series (an id) is found in more than one partition of `ddf`.

    Reads the id column once (of a Parquet dataset, only that column) and compares the
    distinct ids of every partition.
    """
    id_meta = ddf._meta[id_column]
    meta = pd.DataFrame({"id": id_meta.iloc[:0], "partition": pd.Series([], dtype="int64")})
    found = ddf[[id_column]].map_partitions(_distinct_ids, id_column, meta=meta).compute()
    split = found[found["id"].duplicated(keep=False)]
    if split.empty:
        return
    first = split["id"].iloc[0]
    parts = sorted(split.loc[split["id"] == first, "partition"].tolist())
    shown = listed(parts, 5)
    others = split["id"].nunique() - 1
    more = f" ({others} more series likewise)" if others else ""
    raise InputError(
        f"series {id_column}={first!r} is in {len(parts)} partitions ({shown}){more}: "
        "each series must be whole in one partition, or its windows would be cut; "
        f"partition the data by '{id_column}' (e.g. one file per series), or repartition "
        "by it: shuffle=True (lstmae score --engine dask --shuffle)"
    )


def _distinct_ids(frame: pd.DataFrame, id_column: str, partition_info=None) -> pd.DataFrame:
    ids = frame[id_column].drop_duplicates().reset_index(drop=True)
    number = partition_info["number"] if partition_info else 0
    return pd.DataFrame({"id": ids, "partition": np.full(len(ids), number, dtype="int64")})


# ----------------------------------------------- Parquet datasets (lstmae score --engine dask)
def read_dataset(source: str | Path) -> dd.DataFrame:
    """A Parquet dataset, a folder or a glob ('data/*.parquet'), one partition per file
    (never split by row groups: a file's series stay whole)."""
    import dask.dataframe as dd

    text = str(source)
    if glob.has_magic(text):
        found = sorted(glob.glob(text))
    elif Path(text).is_dir():
        found = sorted(str(p) for p in Path(text).rglob("*") if p.is_file() and _parquet(p))
    else:
        found = [text] if Path(text).is_file() else []
    if not found:
        raise InputError(f"{source}: no Parquet files (give a folder, a glob or a file)")
    try:
        return dd.read_parquet(text, split_row_groups=False)
    except (OSError, ValueError) as exc:  # pyarrow's errors for a file that is not Parquet
        raise InputError(f"{source}: cannot read as Parquet ({_one_line(exc)})") from exc


def _parquet(path: Path) -> bool:
    return path.suffix in (".parquet", ".parq", ".pq") and not path.name.startswith((".", "_"))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None):
    """A Client of the scheduler at `scheduler` (tcp://host:8786), or of a LocalCluster of
    `workers` processes (default: the CPUs this process may use), one thread each."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="30s", set_as_default=False)
        except OSError as exc:
            raise LstmaeError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from exc
        with client:
            yield client
        return
    workers = workers or local_workers()
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,  # with the nanny's OMP_NUM_THREADS=1: one torch thread
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,  # a failed task is reported once, by write_dataset
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def local_workers() -> int:
    """The CPUs this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


Progress = Callable[[int, int, int], None]  # (partitions done, partitions, rows written)


def write_dataset(
    scores: dd.DataFrame, output: str | Path, client, on_progress: Progress | None = None
) -> dict:
    """Compute `scores` on `client`, one Parquet file per partition, into the folder
    `output`: written under a temporary name beside it and renamed when every partition is
    written; on any failure (a task's error, a worker lost too often, Ctrl-C) the temporary
    folder is removed and nothing is left at `output`.

    `output` must not exist or be an empty folder. Returns {"partitions", "rows",
    "anomalies"} (anomalies: rows with is_anomaly, when the result has that column).
    """
    import dask
    import pyarrow as pa

    output = Path(output)
    _check_output_folder(output)
    schema = pa.Schema.from_pandas(scores._meta, preserve_index=False)
    temp = output.parent / f".{output.name}.{secrets.token_hex(6)}.tmp"
    temp.mkdir()
    futures = []
    try:
        parts = scores.to_delayed()
        write = dask.delayed(_write_part, pure=False)
        tasks = [
            write(part, str(temp / f"part.{n:05d}.parquet"), schema) for n, part in enumerate(parts)
        ]
        futures = client.compute(tasks)
        totals = {"partitions": len(futures), "rows": 0, "anomalies": 0}
        for done, future in enumerate(_as_completed(futures), start=1):
            counts = _result(future)
            totals["rows"] += counts["rows"]
            totals["anomalies"] += counts["anomalies"]
            if on_progress is not None:
                on_progress(done, len(futures), totals["rows"])
        if output.is_dir():
            output.rmdir()  # empty (checked): the finished folder takes its place
        os.rename(temp, output)
        return totals
    except BaseException:
        for future in futures:
            future.cancel()
        shutil.rmtree(temp, ignore_errors=True)
        raise


def score_dataset(
    data: str | Path,
    model_path: str | Path,
    output: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    shuffle: bool = False,
    on_progress: Progress | None = None,
    **options: Any,
) -> dict:
    """`lstmae score MODEL DATA --engine dask -o OUTPUT`: the Parquet dataset DATA (a folder
    or a glob) scored on the scheduler at `scheduler`, or on a LocalCluster of `workers`
    processes, into the folder OUTPUT (see `write_dataset`). Options as `score_dask`.
    Returns write_dataset's counts with "workers" added."""
    _check_output_folder(Path(output))
    ddf = read_dataset(data)  # before a cluster starts: a wrong path fails at once
    with dask_client(scheduler, workers) as client, client.as_current():
        scores = score_dask(ddf, model_path, shuffle=shuffle, **options)
        totals = write_dataset(scores, output, client, on_progress)
        return totals | {"workers": len(client.nthreads())}


def _check_output_folder(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        what = "a folder that is not empty" if output.is_dir() else "a file"
        raise LstmaeError(f"{output}: exists and is {what}; give a new (or empty) folder")
    if not output.parent.is_dir():
        raise LstmaeError(f"{output}: folder {output.parent} does not exist")


def _as_completed(futures):
    from distributed import as_completed

    return as_completed(futures)


def _result(future) -> dict:
    """A finished task's counts; its failure as one LstmaeError line."""
    from distributed import KilledWorker

    try:
        return future.result()
    except LstmaeError:
        raise
    except KilledWorker as exc:
        raise LstmaeError(
            "a worker died each time it ran a task (out of memory? the worker logs say; "
            f"smaller partitions need less): {_one_line(exc)}"
        ) from exc
    except Exception as exc:  # a task's own error, raised here by the client
        raise LstmaeError(f"a task failed: {type(exc).__name__}: {_one_line(exc)}") from exc


def _write_part(frame: pd.DataFrame, path: str, schema) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .io.output import dictionary_columns

    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    pq.write_table(table, path, use_dictionary=dictionary_columns(table.schema))
    anomalies = int(frame["is_anomaly"].sum()) if "is_anomaly" in frame.columns else 0
    return {"rows": len(frame), "anomalies": anomalies}


# ------------------------------------------------------------------------------- Spark
def score_batches(
    frames: Iterable[pd.DataFrame], model_path: str | Path, **options: Any
) -> Iterator[pd.DataFrame]:
    """For Spark's `mapInPandas`: a task's Arrow batches (in order) -> result frames.

    Series may continue from one batch to the next (they are scored as one stream), but
    every series must be whole within the task and in row order: `repartition(id)` then
    `sortWithinPartitions(id, time)`. Options as `score_dask` (level, id_column,
    time_column, keep, merge_gap, min_rows, threshold, p_values, only_anomalies, device,
    precision). The bundle is loaded once per Python worker process.
    """
    settings = ScoreOptions(**_as_options(options))
    settings.check()
    detector = _detector(model_path, settings)
    _check_p_values(detector, model_path, settings)
    yield from _scored(detector, frames, "partition", settings)


def _as_options(options: dict) -> dict:
    known = set(ScoreOptions.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(unknown)} (known: {', '.join(known)})")
    if "keep" in options:
        options = options | {"keep": tuple(options["keep"])}
    return options


SPARK_TYPES = {  # pandas dtype kind -> Spark SQL type
    "f8": "double",
    "f4": "float",
    "i8": "bigint",
    "i4": "int",
    "i2": "smallint",
    "i1": "tinyint",
    "b1": "boolean",
}
PANDAS_TYPES = {  # Spark SQL type -> pandas dtype, for the made-up input
    "double": "float64",
    "float": "float32",
    "bigint": "int64",
    "int": "int32",
    "smallint": "int16",
    "tinyint": "int8",
    "boolean": "bool",
    "timestamp": "datetime64[us]",
    "timestamp_ntz": "datetime64[us]",
}


def spark_schema(
    model_path: str | Path,
    input_schema: Any = None,
    *,
    level: str = "row",
    id_column: str | None = None,
    time_column: str | None = None,
    keep: Iterable[str] = (),
    p_values: bool = False,
) -> str:
    """The output schema of `score_batches` as a Spark DDL string, for `mapInPandas`.

    input_schema: the input DataFrame's `df.schema` (a pyspark StructType), so that the
    columns passed through (id, time, keep) keep their Spark types; without it they are
    strings. The id and time columns default to the model's (those it was trained with).
    """
    options = ScoreOptions(
        level=level, id_column=id_column, time_column=time_column, keep=tuple(keep),
        p_values=p_values,
    )  # fmt: skip
    options.check()
    detector = Detector.load(model_path, device="cpu")
    _check_p_values(detector, model_path, options)
    roles = detector.require_fitted().roles
    spark_types = _input_types(input_schema)
    id_column = id_column or (roles.id if not spark_types or roles.id in spark_types else None)
    time_column = time_column or (
        roles.time if not spark_types or roles.time in spark_types else None
    )
    if not spark_types:
        spark_types = {c: "string" for c in [id_column, time_column, *options.keep] if c}
    spark_types = {f: "double" for f in roles.features} | spark_types  # features: any number
    input_meta = pd.DataFrame(
        {c: pd.Series([], dtype=PANDAS_TYPES.get(t, "str")) for c, t in spark_types.items()}
    )
    options = replace(options, id_column=id_column, time_column=time_column)
    meta = output_meta(detector, input_meta, options)
    fields = []
    for name in meta.columns:
        if name in spark_types and name not in roles.features:
            kind = spark_types[name]  # passed through as it came
        elif name in ("start", "end") and level == "event":
            kind = spark_types.get(time_column, "bigint") if time_column else "bigint"
        else:
            kind = SPARK_TYPES.get(getattr(meta[name].dtype, "str", "")[1:], "string")
        fields.append(f"`{name}` {kind}")
    return ", ".join(fields)


def _input_types(schema: Any) -> dict[str, str]:
    """{column: Spark type} of a pyspark StructType (or a {name: type} dict); {} for None."""
    if schema is None:
        return {}
    if isinstance(schema, dict):
        return dict(schema)
    return {field.name: field.dataType.simpleString() for field in schema.fields}
