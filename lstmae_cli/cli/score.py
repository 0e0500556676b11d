"""`lstmae score`: stream data through a model; rows, windows or events out."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ExitStatus, LstmaeError, UsageError
from ..nn import threads
from .console import err, settle_heap
from .options import (
    Device,
    DeviceOpt,
    Format,
    IdOpt,
    Level,
    MergeGapOpt,
    MinRowsOpt,
    NamesOpt,
    NoHeaderOpt,
    Precision,
    QuietOpt,
    TimeOpt,
    check_alert_rules,
    read_header,
    split_list,
)


class Engine(str, Enum):
    stream = "stream"
    dask = "dask"


def score(
    model: Annotated[Path, typer.Argument(help="Model bundle from `lstmae train`.")],
    data: Annotated[str, typer.Argument(help="CSV or Parquet file, or - for stdin.")] = "-",
    level: Annotated[
        Level,
        typer.Option(
            help="row: every row; window: windows of seq_len rows; event: merged anomalous runs."
        ),
    ] = Level.row,
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format (default: from -o's extension, .parquet / .pq or .jsonl / "
            ".ndjson; else csv).",
        ),
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    only_anomalies: Annotated[
        bool, typer.Option(help="Write only flagged rows / windows.")
    ] = False,
    keep_columns: Annotated[
        str | None, typer.Option(help="Input columns to pass through (row level).")
    ] = None,
    id_column: IdOpt = None,
    time_column: TimeOpt = None,
    no_header: NoHeaderOpt = False,
    names: NamesOpt = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows read per chunk.")] = 100_000,
    merge_gap: MergeGapOpt = None,
    min_rows: MinRowsOpt = None,
    threshold: Annotated[
        float | None, typer.Option(help="Use this threshold instead of the bundle's.")
    ] = None,
    fail_on_anomaly: Annotated[bool, typer.Option(help="Exit 3 when anything is flagged.")] = False,
    p_values: Annotated[
        bool,
        typer.Option(
            "--p-values",
            help="Row level: add p_value, the row's conformal p-value against the held-out "
            "normal scores (small = unusual).",
        ),
    ] = False,
    device: DeviceOpt = Device.auto,
    precision: Annotated[
        Precision,
        typer.Option(
            help="fp32; bf16 (faster on CPUs with AVX512-BF16 / AMX, and on GPUs); "
            "auto: bf16 where it runs natively, else fp32."
        ),
    ] = Precision.fp32,
    engine: Annotated[
        Engine,
        typer.Option(
            help="stream: this process, chunk by chunk; dask: DATA is a Parquet dataset (a "
            "folder or a glob), scored on a Dask cluster into the folder -o (pip install "
            "'lstmae[dask]')."
        ),
    ] = Engine.stream,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="--engine dask: the scheduler's address (tcp://host:8786); default: a local "
            "cluster of one worker process per CPU."
        ),
    ] = None,
    shuffle: Annotated[
        bool,
        typer.Option(
            "--shuffle",
            help="--engine dask: repartition by the id column when series span several files "
            "(default: refuse such data).",
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Score DATA with MODEL; write row, window or event results to stdout or --output."""
    if engine == Engine.dask or scheduler or shuffle:
        return _score_on_dask(**locals())
    from ..detector import Detector
    from ..io.output import write_frames
    from ..io.reading import read_frames, source_name, stdin_is_terminal
    from ..scoring.alerts import AlertRules

    if chunk_rows < 1:
        raise UsageError("--chunk-rows must be at least 1")
    check_alert_rules(merge_gap, min_rows)
    header = read_header(no_header, names)
    if data == "-" and stdin_is_terminal():
        raise UsageError(
            "no DATA: give a file (lstmae score MODEL data.csv) or pipe data in "
            "(... | lstmae score MODEL); stdin is a terminal"
        )
    detector = Detector.load(
        model, device=device.value, precision=precision.value, threshold=threshold
    )
    settle_heap()  # torch, pandas and the model are loaded
    if p_values and level != Level.row:
        raise UsageError("--p-values is for --level row")
    began = time.perf_counter()
    run = detector.score(
        read_frames(data, chunk_rows, header), level.value, AlertRules(merge_gap, min_rows),
        name=source_name(data), keep=split_list(keep_columns) or [], id_column=id_column,
        time_column=time_column, p_values=p_values, only_anomalies=only_anomalies,
    )  # fmt: skip
    # CSV / JSONL: scores to six significant digits, the input's columns as read
    fmt = fmt or format_for(output)
    write_frames(iter(run), fmt.value, output, run.passthrough, behind=threads.intra_op() > 1)
    seconds = time.perf_counter() - began
    tally = run.tally
    if not quiet:
        err(
            f"scored {tally.rows} rows: {tally.anomalies} anomalous rows, {tally.events} events, "
            f"{tally.rows / max(seconds, 1e-9):,.0f} rows/s"
        )
    if fail_on_anomaly and tally.anomalies:
        raise typer.Exit(ExitStatus.ANOMALIES_FOUND)


SUFFIX_FORMATS = {
    ".parquet": Format.parquet,
    ".pq": Format.parquet,
    ".jsonl": Format.jsonl,
    ".ndjson": Format.jsonl,
}


def format_for(output: str | None) -> Format:
    """--format's default: Parquet or JSONL where -o's extension says so, else CSV."""
    suffix = Path(output).suffix.lower() if output else ""
    return SUFFIX_FORMATS.get(suffix, Format.csv)


def _score_on_dask(model, data, output, quiet, fail_on_anomaly, **options) -> None:  # noqa: C901 (flat usage checks)
    """--engine dask: a Parquet dataset in, a folder of Parquet files out (dask_scoring.py)."""
    from typer._click.core import ParameterSource
    from typer._click.globals import get_current_context

    def given(name: str) -> bool:
        return get_current_context().get_parameter_source(name) != ParameterSource.DEFAULT

    if options["engine"] != Engine.dask:
        raise UsageError("--scheduler and --shuffle are for --engine dask")
    unused = [f"--{n.replace('_', '-')}" for n in ("no_header", "names", "chunk_rows") if given(n)]
    if given("fmt") and options["fmt"] != Format.parquet:
        unused.append("--format")
    if unused:
        raise UsageError(f"{', '.join(unused)}: not with --engine dask (Parquet in and out)")
    if output is None or data == "-":
        raise UsageError("--engine dask reads a Parquet dataset (a folder or a glob) and "
                         "writes one: give DATA and -o FOLDER")  # fmt: skip
    if options["level"] == Level.window:
        raise UsageError("--engine dask: --level row or event")
    check_alert_rules(options["merge_gap"], options["min_rows"])
    try:
        from ..dask_scoring import score_dataset
    except ImportError as exc:
        raise LstmaeError(f"--engine dask needs pip install 'lstmae[dask]' ({exc})") from exc
    settle_heap()
    began, shown = time.perf_counter(), [0.0]

    def progress(done: int, total: int, rows: int) -> None:
        now = time.perf_counter()
        if not quiet and (now - shown[0] >= 2.0 or done == total):
            shown[0] = now
            err(f"scored {done}/{total} partitions ({rows:,} rows out)")

    keep = tuple(split_list(options["keep_columns"]) or ())
    names = ("id_column", "time_column", "merge_gap", "min_rows", "threshold", "p_values")
    totals = score_dataset(
        data, model, output, scheduler=options["scheduler"], shuffle=options["shuffle"],
        on_progress=progress, level=options["level"].value, keep=keep,
        only_anomalies=options["only_anomalies"], device=options["device"].value,
        precision=options["precision"].value, warn=not quiet,
        **{name: options[name] for name in names},
    )  # fmt: skip
    seconds = time.perf_counter() - began
    if not quiet:
        what = (
            f"{totals['rows']:,} events"
            if options["level"] == Level.event
            else f"{totals['rows']:,} rows: {totals['anomalies']:,} anomalous rows, "
            f"{totals['rows'] / max(seconds, 1e-9):,.0f} rows/s"
        )
        err(f"scored {totals['partitions']} partitions on {totals['workers']} workers: {what}; "
            f"wrote {output}")  # fmt: skip
    found = totals["anomalies"] if options["level"] == Level.row else totals["rows"]
    if fail_on_anomaly and found:
        raise typer.Exit(ExitStatus.ANOMALIES_FOUND)
