"""Typer commands: parse options, call the library, format output, map errors to exit codes.

torch and pandas are imported inside the commands, so `lstmae --help` stays fast.
"""

from __future__ import annotations

import functools
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .errors import ExitStatus, LstmaeError, UsageError

app = typer.Typer(
    name="lstmae",
    help="Anomaly detection for multivariate time series with an LSTM autoencoder.\n\n"
    "Train on mostly-normal data, then score any file or stream: rows, windows or events "
    "whose reconstruction error is above the learned threshold are flagged.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
STATE = {"debug": False}


class Level(str, Enum):
    row = "row"
    window = "window"
    event = "event"


class Format(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"


class Arch(str, Enum):
    seed = "seed"
    linear = "linear"


class Scaler(str, Enum):
    standard = "standard"
    minmax = "minmax"
    robust = "robust"


class ThresholdMethod(str, Enum):
    quantile = "quantile"
    sigma = "sigma"
    mad = "mad"


class Missing(str, Enum):
    ffill = "ffill"
    interpolate = "interpolate"
    error = "error"


class Scoring(str, Enum):
    mahalanobis = "mahalanobis"
    normalized = "normalized"
    mean = "mean"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def err(message: str) -> None:
    """One line on stderr."""
    typer.echo(f"lstmae: {message}", err=True)


def handle_errors(command):
    """Turn the tool's errors into one stderr line and an exit code (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except UsageError as exc:
            return _fail(exc, f"error: {exc}", ExitStatus.USAGE)
        except LstmaeError as exc:
            return _fail(exc, f"error: {exc}", ExitStatus.ERROR)
        except KeyboardInterrupt as exc:
            return _fail(exc, "interrupted", ExitStatus.INTERRUPTED)
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(ExitStatus.OK) from None
        except MemoryError as exc:
            return _fail(exc, "error: out of memory (try a smaller --batch-size)", 1)
        except OSError as exc:
            return _fail(exc, f"error: {exc.filename or ''}: {exc.strerror or exc}", 1)

    return wrapper


def _fail(exc: BaseException, message: str, code: int):
    if STATE["debug"]:
        raise exc
    err(message)
    raise typer.Exit(int(code))


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def split_list(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def version_callback(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"lstmae {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    STATE["debug"] = debug


# Options shared by several commands -------------------------------------------------
ColumnsOpt = Annotated[
    str | None,
    typer.Option("--columns", help="Feature columns, comma-separated (default: all numeric)."),
]
ExcludeOpt = Annotated[
    str | None, typer.Option("--exclude-columns", help="Numeric columns that are not features.")
]
TimeOpt = Annotated[
    str | None, typer.Option("--time-column", help="Time column (default: detected).")
]
IdOpt = Annotated[
    str | None, typer.Option("--id-column", help="Column that splits a long file into series.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]
DeviceOpt = Annotated[Device, typer.Option("--device", help="auto uses CUDA when present.")]


@app.command()
@handle_errors
def train(
    data: Annotated[
        list[str],
        typer.Argument(
            help="Files of normal data (CSV, Parquet, or - for stdin); each is its own series."
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Model bundle to write (.safetensors).")
    ],
    columns: ColumnsOpt = None,
    exclude_columns: ExcludeOpt = None,
    time_column: TimeOpt = None,
    id_column: IdOpt = None,
    seq_len: Annotated[int, typer.Option(help="Rows per window.")] = 32,
    stride: Annotated[int, typer.Option(help="Rows between training windows.")] = 1,
    score_stride: Annotated[
        int, typer.Option(help="Rows between scoring windows (every row stays covered).")
    ] = 1,
    hidden: Annotated[int, typer.Option(help="LSTM units.")] = 64,
    layers: Annotated[int, typer.Option(help="Stacked LSTM layers in encoder and decoder.")] = 1,
    arch: Annotated[
        Arch,
        typer.Option(
            help="seed: decoder LSTM(hidden->features) as in the seed; "
            "linear: LSTM(hidden->hidden) + Linear(hidden->features)."
        ),
    ] = Arch.linear,
    scaler: Annotated[
        Scaler, typer.Option(help="sklearn scaler fitted on training rows.")
    ] = Scaler.standard,
    val_fraction: Annotated[
        float,
        typer.Option(
            help="Last fraction of each series held out for early stopping and the threshold."
        ),
    ] = 0.2,
    epochs: Annotated[int, typer.Option(help="Most epochs to train.")] = 30,
    batch_size: Annotated[int, typer.Option(help="Windows per training batch.")] = 128,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    patience: Annotated[
        int, typer.Option(help="Epochs without validation improvement before stopping.")
    ] = 5,
    seed: Annotated[int, typer.Option(help="Random seed (same data + seed -> same model).")] = 0,
    missing: Annotated[
        Missing, typer.Option(help="What to do with missing values.")
    ] = Missing.ffill,
    scoring: Annotated[
        Scoring,
        typer.Option(
            help="How per-feature errors become a row score: mahalanobis (Gaussian fitted on "
            "held-out errors), normalized (each feature over its normal level) or mean."
        ),
    ] = Scoring.mahalanobis,
    threshold_method: Annotated[
        ThresholdMethod, typer.Option(help="How the threshold is learned from held-out scores.")
    ] = ThresholdMethod.quantile,
    q: Annotated[
        float | None, typer.Option(help="Quantile for --threshold-method quantile (default 0.995).")
    ] = None,
    k: Annotated[
        float | None, typer.Option(help="Multiplier for sigma (default 4) or mad (default 6).")
    ] = None,
    max_windows_per_epoch: Annotated[
        int | None, typer.Option(help="Sample at most this many windows per epoch.")
    ] = None,
    device: DeviceOpt = Device.cpu,
    quiet: QuietOpt = False,
) -> None:
    """Fit scaler, autoencoder and threshold on normal data; write one model bundle."""
    from .data import read_frame, source_name
    from .detector import Detector
    from .progress import EpochProgress

    detector = Detector(
        seq_len=seq_len,
        stride=stride,
        score_stride=score_stride,
        hidden=hidden,
        layers=layers,
        arch=arch.value,
        scaler=scaler.value,
        val_fraction=val_fraction,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience,
        seed=seed,
        device=device.value,
        missing=missing.value,
        scoring=scoring.value,
        threshold_method=threshold_method.value,
        threshold_params={"q": q, "k": k},
        max_windows_per_epoch=max_windows_per_epoch,
    )
    detector.params.validate()
    _check_output_folder(output)
    tables = [(source_name(path), read_frame(path)) for path in data]
    with EpochProgress(epochs, quiet) as progress:
        detector.fit(
            tables,
            split_list(columns),
            time_column,
            id_column,
            split_list(exclude_columns),
            on_epoch=progress.update,
        )
    detector.save(output)
    if not quiet:
        info = detector.data_info_
        err(
            f"trained on {info['rows']} rows in {info['series']} series "
            f"({len(detector.history_)} epochs, best {info['best_epoch']}, "
            f"{info['train_seconds']:.1f}s); threshold {detector.threshold_:.6g} "
            f"({detector.threshold_method_}); wrote {output}"
        )


def _check_output_folder(output: Path) -> None:
    if not output.parent.exists() and str(output.parent):
        raise LstmaeError(f"{output}: folder {output.parent} does not exist")


@app.command()
@handle_errors
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
    chunk_rows: Annotated[int, typer.Option(help="Rows read per chunk.")] = 100_000,
    merge_gap: Annotated[
        int, typer.Option(help="Event level: merge flagged runs this many rows apart.")
    ] = 0,
    min_rows: Annotated[int, typer.Option(help="Event level: drop events shorter than this.")] = 1,
    threshold: Annotated[
        float | None, typer.Option(help="Use this threshold instead of the bundle's.")
    ] = None,
    fail_on_anomaly: Annotated[bool, typer.Option(help="Exit 3 when anything is flagged.")] = False,
    device: DeviceOpt = Device.cpu,
    quiet: QuietOpt = False,
) -> None:
    """Score DATA with MODEL; write row, window or event results to stdout or --output."""
    from .data import read_frames, source_name
    from .detector import Detector
    from .output import write_frames

    if chunk_rows < 1 or merge_gap < 0 or min_rows < 1:
        raise UsageError("--chunk-rows and --min-rows must be at least 1, --merge-gap at least 0")
    detector = Detector.load(model)
    detector.params.device = device.value
    if threshold is not None:
        detector.threshold_ = threshold
    began = time.perf_counter()
    tally = {"rows": 0, "anomalies": 0, "events": 0}
    name = source_name(data)
    keep = split_list(keep_columns) or []
    scorer = detector.stream_scorer(name, keep, id_column, time_column)
    rows = _count_rows(scorer.run(read_frames(data, chunk_rows)), tally)
    results = _at_level(rows, scorer, level, merge_gap, min_rows, tally)
    if only_anomalies:
        results = (f[f["is_anomaly"].to_numpy()] for f in results)
    write_frames(results, fmt.value, output)
    seconds = time.perf_counter() - began
    if not quiet:
        err(
            f"scored {tally['rows']} rows: {tally['anomalies']} anomalous rows, "
            f"{tally['events']} events, {tally['rows'] / max(seconds, 1e-9):,.0f} rows/s"
        )
    if fail_on_anomaly and tally["anomalies"]:
        raise typer.Exit(ExitStatus.ANOMALIES_FOUND)


def _count_rows(frames, tally):
    for frame in frames:
        tally["rows"] += len(frame)
        tally["anomalies"] += int(frame["is_anomaly"].sum())
        yield frame


def _at_level(rows, scorer, level: Level, merge_gap: int, min_rows: int, tally):
    """Row frames -> frames at the asked level (windows and events come from row scores)."""
    import itertools

    import pandas as pd

    from .levels import EventBuilder, events_from_rows, windows_from_rows

    rows = iter(rows)
    first = next(rows, None)  # after the first chunk the scorer knows its id / time columns
    if first is None:
        return
    rows = itertools.chain([first], rows)
    detector, id_column, time_column = scorer.detector, scorer.id_column, scorer.time_column
    if level == Level.row:
        yield from rows
    elif level == Level.window:
        size = detector.params.seq_len
        yield from windows_from_rows(rows, size, detector.threshold_, id_column, time_column)
    else:
        features = detector.roles_.features
        weights = 1.0 / detector.score_model_.center
        builder = EventBuilder(features, weights, merge_gap, min_rows, id_column, time_column)
        for event in events_from_rows(rows, builder):
            tally["events"] += 1
            yield pd.DataFrame([event])


@app.command()
@handle_errors
def threshold(
    model: Annotated[Path, typer.Argument(help="Model bundle to update.")],
    data: Annotated[list[str], typer.Argument(help="Normal data to fit the threshold on.")],
    method: Annotated[
        ThresholdMethod, typer.Option(help="Threshold method.")
    ] = ThresholdMethod.quantile,
    q: Annotated[float | None, typer.Option(help="Quantile (quantile method).")] = None,
    k: Annotated[float | None, typer.Option(help="Multiplier (sigma, mad).")] = None,
    id_column: IdOpt = None,
    dry_run: Annotated[
        bool, typer.Option(help="Print the new threshold; do not rewrite the bundle.")
    ] = False,
) -> None:
    """Refit the threshold on DATA without retraining; rewrite MODEL atomically."""
    import numpy as np

    from .data import read_frame, source_name
    from .detector import Detector

    detector = Detector.load(model)
    old = detector.threshold_
    tables = [(source_name(p), read_frame(p)) for p in data]
    scores = np.concatenate(
        [detector.score_frame(f, n, id_column=id_column)["score"].to_numpy() for n, f in tables]
    )
    new = detector.set_threshold_from_scores(scores, method.value, q=q, k=k)
    typer.echo(f"old threshold: {old:.6g}  flags {int(np.sum(scores > old))} of {len(scores)} rows")
    typer.echo(
        f"new threshold: {new:.6g}  flags {int(np.sum(scores > new))} of {len(scores)} rows "
        f"({method.value} {detector.threshold_params_})"
    )
    if dry_run:
        typer.echo("dry run: bundle not changed")
        return
    detector.save(model)
    typer.echo(f"wrote {model}")


@app.command()
@handle_errors
def evaluate(
    model: Annotated[Path, typer.Argument(help="Model bundle.")],
    data: Annotated[str, typer.Argument(help="Labelled data (CSV, Parquet or -).")],
    label_column: Annotated[str, typer.Option(help="0/1 column marking true anomalies.")],
    id_column: IdOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Detection metrics of MODEL on labelled DATA, beside the flag-all / flag-none baselines."""
    import json

    import numpy as np

    from .data import read_frame, require_columns, source_name
    from .detector import Detector
    from .metrics import evaluate_all

    detector = Detector.load(model)
    name = source_name(data)
    frame = read_frame(data)
    require_columns(frame, [label_column], name)
    scored = detector.score_frame(frame, name, keep=[label_column], id_column=id_column)
    labels = scored[label_column].fillna(0).to_numpy().astype(float) > 0
    report = evaluate_all(labels, scored["score"].to_numpy(), detector.threshold_)
    if fmt == "json":
        typer.echo(json.dumps(report, indent=2, default=float))
        return
    if fmt != "table":
        raise UsageError("--format must be table or json")
    _print_report(report, np)


def _print_report(report: dict, np) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Detection metrics")
    table.add_column("metric")
    for name in report:
        table.add_column(name, justify="right")
    keys = list(report["lstmae"])
    for key in keys:
        cells = []
        for result in report.values():
            value = result.get(key)
            cells.append(
                ""
                if value is None
                else (f"{value:.4f}" if isinstance(value, float) else str(value))
            )
        table.add_row(key, *cells)
    Console().print(table)


from . import cli_views  # noqa: E402,F401  (registers inspect, and later plot / report)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err("interrupted")
        sys.exit(ExitStatus.INTERRUPTED)
