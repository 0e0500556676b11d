"""Scoring on Dask against a real scheduler: a LocalCluster of 2 worker processes (one
thread each), shared by the module's tests (issue 20).

Each test scores a small fleet (6 machines x 240 rows, one Parquet file each) with a tiny
model and compares with `Detector.score_frame` / `score_events` on the whole frame.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from lstmae_cli import Detector  # noqa: E402
from lstmae_cli.dask_scoring import (  # noqa: E402
    bundle_loads,
    score_batches,
    score_dask,
    spark_schema,
)
from lstmae_cli.errors import InputError  # noqa: E402

from .conftest import make_frame  # noqa: E402
from .helpers import assert_frames_close  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MACHINES, ROWS = 6, 240
KEY = ["machine", "row"]
RTOL = 1e-6  # partitions against one frame: the same windows, batched otherwise


def fleet() -> pd.DataFrame:
    parts = [make_frame(ROWS, seed=s).assign(machine=f"m{s}") for s in range(MACHINES)]
    frame = pd.concat(parts, ignore_index=True)[["machine", "timestamp", "f0", "f1", "f2"]]
    frame.loc[frame.index[ROWS + 100 : ROWS + 110], "f1"] += 4.0  # an anomaly in m1
    return frame


@pytest.fixture(scope="module")
def cluster():
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """The fleet as a partitioned Parquet dataset: one file per machine."""
    folder = tmp_path_factory.mktemp("fleet") / "parts"
    folder.mkdir()
    frame = fleet()
    for number, (_, part) in enumerate(frame.groupby("machine", sort=True)):
        part.to_parquet(folder / f"part-{number:02d}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dask-model") / "tiny.safetensors"
    train = pd.concat([make_frame(400, seed=s).assign(machine=f"m{s}") for s in range(2)])
    Detector(seq_len=8, hidden=8, epochs=1).fit([("train", train)], id_column="machine").save(path)
    return path


def read(folder: Path):
    return dd.read_parquet(str(folder), split_row_groups=False)


def as_dask_dtypes(expected: pd.DataFrame, result: pd.DataFrame) -> pd.DataFrame:
    """Dask reads text as string[pyarrow]: the expected frame's text columns likewise."""
    return expected.astype({c: result[c].dtype for c in ("machine", "timestamp", "start", "end")
                            if c in expected and c in result})  # fmt: skip


def expected_rows(model: Path) -> pd.DataFrame:
    frame = Detector.load(model).score_frame(fleet(), id_column="machine")
    return frame.sort_values(KEY, ignore_index=True)


def test_rows_equal_score_frame(cluster, data, model):
    scores = score_dask(read(data), model, id_column="machine")
    result = scores.compute().sort_values(KEY, ignore_index=True)
    expected = expected_rows(model)
    assert len(result) == MACHINES * ROWS
    assert result.dtypes.to_dict() == scores._meta.dtypes.to_dict()  # meta from the model
    assert_frames_close(result, as_dask_dtypes(expected, result), cpu=RTOL)
    assert result["is_anomaly"].any()


def test_events_equal_score_events(cluster, data, model):
    scores = score_dask(read(data), model, level="event")  # the model's id column
    result = scores.compute().sort_values(["machine", "start_row"], ignore_index=True)
    expected = Detector.load(model).score_events(fleet(), id_column="machine")
    expected = expected.sort_values(["machine", "start_row"], ignore_index=True)
    assert len(result) == len(expected) > 0
    assert result.dtypes.to_dict() == scores._meta.dtypes.to_dict()
    assert_frames_close(result, as_dask_dtypes(expected, result), cpu=RTOL)


def test_each_worker_loads_the_bundle_once(cluster, data, model, tmp_path):
    copy = tmp_path / "loads.safetensors"  # a path of its own: loads counted from 0
    copy.write_bytes(model.read_bytes())
    ddf = read(data)
    assert ddf.npartitions == MACHINES
    score_dask(ddf, copy).compute()
    score_dask(ddf, copy, level="event").compute()  # a second graph: still cached
    loads = {
        w: counts.get(str(copy.resolve()), 0) for w, counts in cluster.run(bundle_loads).items()
    }
    assert sum(loads.values()) >= 1 and set(loads.values()) <= {0, 1}, loads


def test_a_series_split_across_partitions_is_refused(cluster, model):
    frame = fleet()
    ddf = dd.from_pandas(frame, npartitions=4, sort=False)  # 360-row partitions cut machines
    with pytest.raises(InputError, match=r"series machine='m1' is in 2 partitions \(0, 1\)"):
        score_dask(ddf, model)
    # shuffle=True repartitions by id, each series keeping its rows in order
    result = score_dask(ddf, model, shuffle=True).compute().sort_values(KEY, ignore_index=True)
    assert_frames_close(result, as_dask_dtypes(expected_rows(model), result), cpu=RTOL)


def test_a_frame_indexed_by_id_needs_no_check(cluster, data, model):
    ddf = read(data).set_index("machine", sort=True, npartitions=3)  # ids never cross
    result = score_dask(ddf, model).compute().sort_values(KEY, ignore_index=True)
    assert_frames_close(result, as_dask_dtypes(expected_rows(model), result), cpu=RTOL)


def test_no_id_column_with_many_partitions_is_refused(cluster, data, model):
    ddf = read(data).drop(columns="machine")
    with pytest.raises(InputError, match="no id column, and 6 partitions"):
        score_dask(ddf, model)


def test_a_worker_killed_mid_run_is_retried(cluster, data, model, tmp_path):
    """A worker dies (os._exit) in the middle of partition 3: the scheduler retries the
    task on a restarted worker and the result has every row, none missing or doubled."""
    marker = tmp_path / "died-once"

    def die_once(frame, partition_info=None):
        if partition_info and partition_info["number"] == 3 and not marker.exists():
            marker.touch()
            os._exit(1)
        return frame

    ddf = read(data)
    ddf = ddf.map_partitions(die_once, meta=ddf._meta)
    result = score_dask(ddf, model, check=False).compute()
    assert marker.exists()  # it did die
    result = result.sort_values(KEY, ignore_index=True)
    assert_frames_close(result, as_dask_dtypes(expected_rows(model), result), cpu=RTOL)


def test_options_reach_the_workers(cluster, data, model):
    detector = Detector.load(model)
    low = float(np.quantile(detector.val_scores_, 0.5))
    result = score_dask(read(data), model, threshold=low, only_anomalies=True, keep=["f0"])
    result = result.compute()
    assert len(result) and result["is_anomaly"].all() and (result["threshold"] == low).all()
    assert list(result.columns[:4]) == ["machine", "timestamp", "f0", "row"]


# --- Spark's helpers, on pandas frames -----------------------------------------------------


def test_spark_schema_names_the_output_columns(model):
    expected = Detector.load(model).score_frame(fleet().head(50), id_column="machine")
    schema = spark_schema(model)
    names = [field.split(" ")[0].strip("`") for field in schema.split(", ")]
    assert names == list(expected.columns)
    assert "`score` double" in schema and "`err_f0` float" in schema
    assert "`is_anomaly` boolean" in schema and "`row` bigint" in schema
    events = spark_schema(model, {"machine": "string", "timestamp": "timestamp"}, level="event")
    assert events.startswith("`machine` string, `start` timestamp, `end` timestamp")


def test_score_batches_streams_series_across_batches(model):
    """mapInPandas hands a task's rows in batches: a series may continue in the next one."""
    frame = fleet()
    batches = [frame.iloc[i : i + 100] for i in range(0, len(frame), 100)]  # cut mid-series
    result = pd.concat(score_batches(iter(batches), model, id_column="machine"))
    result = result.sort_values(KEY, ignore_index=True)
    assert_frames_close(result, expected_rows(model), cpu=RTOL)


def test_help_does_not_import_dask():
    code = (
        "import runpy, sys\n"
        "sys.argv = ['lstmae', '--help']\n"
        "try:\n    runpy.run_module('lstmae_cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed', 'pyspark'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert "score" in result.stdout
    assert result.stdout.strip().endswith("[]"), result.stdout[-300:]
