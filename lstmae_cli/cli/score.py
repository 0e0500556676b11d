"""`lstmae score`: stream data through a model; rows, windows or events out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ExitStatus, LstmaeError, UsageError
from .console import err
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


def score(
    model: Annotated[Path, typer.Argument(help="Model bundle from `lstmae train`.")],
    data: Annotated[str, typer.Argument(help="CSV or Parquet file, or - for stdin.")] = "-",
    level: Annotated[
        Level,
        typer.Option(
            help="row: every row; window: windows of seq_len rows; event: merged anomalous runs."
        ),
    ] = Level.row,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.csv,
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
    quiet: QuietOpt = False,
) -> None:
    """Score DATA with MODEL; write row, window or event results to stdout or --output."""
    from ..detector import Detector
    from ..io.output import readable, write_frames
    from ..io.reading import read_frames, source_name, stdin_is_terminal
    from ..scoring.levels import Tally, at_level

    if chunk_rows < 1:
        raise UsageError("--chunk-rows must be at least 1")
    check_alert_rules(merge_gap, min_rows)
    header = read_header(no_header, names)
    if data == "-" and stdin_is_terminal():
        raise UsageError(
            "no DATA: give a file (lstmae score MODEL data.csv) or pipe data in "
            "(... | lstmae score MODEL); stdin is a terminal"
        )
    detector = Detector.load(model)
    detector.params.device = device.value
    detector.params.precision = precision.value
    if threshold is not None:
        detector.threshold_ = threshold
    if p_values:
        _ask_for_p_values(detector, level)
    began = time.perf_counter()
    tally = Tally()
    name = source_name(data)
    keep = split_list(keep_columns) or []
    scorer = detector.stream_scorer(name, keep, id_column, time_column, merge_gap, min_rows)
    rows = scorer.run(read_frames(data, chunk_rows, header))
    results = at_level(rows, scorer, level.value, tally, only_anomalies)
    if fmt != Format.parquet:  # text: scores to six significant digits, input columns as read
        results = (readable(frame, scorer.passthrough) for frame in results)
    write_frames(results, fmt.value, output)
    seconds = time.perf_counter() - began
    if not quiet:
        err(
            f"scored {tally.rows} rows: {tally.anomalies} anomalous rows, {tally.events} events, "
            f"{tally.rows / max(seconds, 1e-9):,.0f} rows/s"
        )
    if fail_on_anomaly and tally.anomalies:
        raise typer.Exit(ExitStatus.ANOMALIES_FOUND)


def _ask_for_p_values(detector, level: Level) -> None:
    if level != Level.row:
        raise UsageError("--p-values is for --level row")
    if detector.val_scores_.size == 0:
        raise LstmaeError(
            "this model holds no held-out normal scores for p-values; "
            "run `lstmae threshold MODEL NORMAL_DATA` to store some"
        )
    detector.p_values = True
