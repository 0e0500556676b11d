"""Scoring on Dask against a real scheduler: a LocalCluster of 2 worker processes (one
thread each), shared by the module's tests (issue 20).

Each test scores a small fleet (6 machines x 240 rows, one Parquet file each) with a tiny
model and compares with `Detector.score_frame` / `score_events` on the whole frame.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
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
    write_dataset,
)
from lstmae_cli.errors import InputError, LstmaeError  # noqa: E402

from .helpers import assert_frames_close, make_frame  # noqa: E402

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


def test_a_worker_dying_every_time_fails_cleanly(cluster, data, model, tmp_path):
    """A task whose worker dies on every attempt: one clear error, no output folder."""

    def always_die(frame, partition_info=None):
        if partition_info and partition_info["number"] == 2:
            os._exit(1)
        return frame

    ddf = read(data)
    scores = score_dask(ddf.map_partitions(always_die, meta=ddf._meta), model, check=False)
    before = cluster.run_on_scheduler(_set_allowed_failures, 0)
    try:
        with pytest.raises(LstmaeError, match="a worker died each time it ran a task"):
            write_dataset(scores, tmp_path / "scores", cluster)
    finally:
        cluster.run_on_scheduler(_set_allowed_failures, before)
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its temporary name


def _set_allowed_failures(value: int, dask_scheduler=None) -> int:
    before = dask_scheduler.allowed_failures
    dask_scheduler.allowed_failures = value
    return before


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


# --- the recipes in docs/scaling-out.md ------------------------------------------------------

SCALING_OUT = ROOT / "docs" / "scaling-out.md"


def docs_blocks(heading: str, lang: str = "python") -> list[str]:
    """The ```lang blocks under `### heading` in docs/scaling-out.md."""
    text = SCALING_OUT.read_text().split(f"### {heading}\n", 1)[1]
    text = re.split(r"^##+ ", text, maxsplit=1, flags=re.M)[0]
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


@pytest.fixture
def docs_workdir(tmp_path, data, model, monkeypatch) -> Path:
    """fleet/ (the Parquet dataset) and model.safetensors, as the recipes name them."""
    (tmp_path / "fleet").symlink_to(data)
    shutil.copy(model, tmp_path / "model.safetensors")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_docs_dask_library_recipe_runs(cluster, docs_workdir, model):
    (code,) = docs_blocks("Dask, from Python")
    namespace: dict = {}
    exec(compile(code, "scaling-out.md", "exec"), namespace)  # our own docs
    expected = expected_rows(model)
    assert len(namespace["alerts"]) == int(expected["is_anomaly"].sum()) > 0
    assert namespace["alerts"]["is_anomaly"].all()
    events = Detector.load(model).score_events(fleet(), id_column="machine")
    assert len(namespace["events"]) == len(events)


@pytest.mark.slow
def test_docs_spark_recipe_runs(model, monkeypatch):
    """The mapInPandas recipe as written, on a local Spark with 100-row Arrow batches (so
    that machines continue from one batch to the next)."""
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install pyspark)")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime for Spark (java not on PATH, JAVA_HOME unset)")
    from pyspark.sql import SparkSession

    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100")
        .config("spark.sql.shuffle.partitions", "3")
        .getOrCreate()
    )
    try:
        function, wiring = docs_blocks("Spark: mapInPandas")
        frame = fleet().sample(frac=1.0, random_state=0)  # rows in no order: the recipe sorts
        namespace: dict = {}
        exec(compile(function, "scaling-out.md", "exec"), namespace)
        namespace["MODEL"] = str(model)
        namespace["df"] = spark.createDataFrame(
            frame.astype({"machine": object, "timestamp": object})
        )
        exec(compile(wiring, "scaling-out.md", "exec"), namespace)
        result = namespace["scores"].toPandas()
    finally:
        spark.stop()
    expected = expected_rows(model)
    result = result.astype(expected.dtypes.to_dict()).sort_values(KEY, ignore_index=True)
    assert_frames_close(result, expected, cpu=RTOL)


# --- lstmae score --engine dask ----------------------------------------------------------


def lstmae(*args):
    """`lstmae ARGS` in this process: (exit code, stderr)."""
    from typer.testing import CliRunner

    try:
        from lstmae_cli.cli.app import app
    except ImportError:  # the layout before lstmae_cli/cli/
        from lstmae_cli.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stderr


def test_cli_writes_a_parquet_dataset(cluster, data, model, tmp_path):
    out = tmp_path / "scores"
    address = cluster.scheduler.address
    result = lstmae(
        "score", model, data / "*.parquet", "--engine", "dask", "--scheduler", address, "-o", out
    )
    code, stderr = result
    assert code == 0, stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"part.{n:05d}.parquet" for n in range(MACHINES)]
    scores = pd.read_parquet(out).sort_values(KEY, ignore_index=True)
    assert_frames_close(scores, as_dask_dtypes(expected_rows(model), scores), cpu=RTOL)
    assert "scored 6/6 partitions" in stderr
    assert f"scored 6 partitions on 2 workers: {MACHINES * ROWS:,} rows" in stderr
    assert [p.name for p in tmp_path.iterdir()] == ["scores"]  # no temporary folder left


def test_cli_a_failed_task_leaves_no_output(cluster, model, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    frame = fleet()
    frame["f1"] = frame["f1"].astype(str)
    frame.loc[ROWS + 17, "f1"] = "n/a"  # in m1's file, its 18th row
    for number, (_, part) in enumerate(frame.groupby("machine")):
        part.to_parquet(bad / f"part-{number}.parquet", index=False)
    out = tmp_path / "scores"
    address = cluster.scheduler.address
    result = lstmae(
        "score", model, bad, "--engine", "dask", "--scheduler", address, "-o", out, "-q"
    )
    code, stderr = result
    assert code == 1
    assert stderr.strip().splitlines() == [
        "lstmae: error: partition 1: column 'f1', row 18: 'n/a' is not a number"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]  # neither out nor a temp


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scheduler", "tcp://localhost:1"], "--scheduler and --shuffle are for --engine dask"),
        (["--engine", "dask"], "give DATA and -o FOLDER"),
        (["--engine", "dask", "-o", "x", "--format", "csv"], "--format: not with --engine dask"),
    ],
)
def test_cli_usage_errors(model, data, args, message):
    code, stderr = lstmae("score", model, data, *args)
    assert code == 2 and message in stderr, stderr


def test_docs_cli_recipe_runs_on_a_local_cluster(docs_workdir, model):
    """The first command of docs/scaling-out.md's Dask section, as written: no --scheduler,
    so a LocalCluster sized to this machine (the command runs in this process)."""
    (code,) = docs_blocks("Dask, from the command line", "bash")
    command = code.split("\n# a running cluster")[0].strip().splitlines()[-1]
    assert command.startswith("lstmae score model.safetensors 'fleet/*.parquet' --engine dask")
    code, stderr = lstmae(*shlex.split(command)[1:])
    assert code == 0, stderr
    assert "on 2 workers" in stderr or os.cpu_count() != 2
    scores = pd.read_parquet(docs_workdir / "scores").sort_values(KEY, ignore_index=True)
    assert_frames_close(scores, as_dask_dtypes(expected_rows(model), scores), cpu=RTOL)
