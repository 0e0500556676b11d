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
from typer.core import TyperGroup

from .errors import ExitStatus, LstmaeError, UsageError


class OneLineErrors(TyperGroup):
    """Option and argument errors as one `lstmae: error: ...` line on stderr, exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from typer._click.exceptions import ClickException, NoArgsIsHelpError

        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except ClickException as exc:
            err(f"error: {exc.format_message()} (see --help)")
            sys.exit(exc.exit_code)
        except typer.Abort:
            err("aborted")
            sys.exit(ExitStatus.ERROR)
        sys.exit(code if isinstance(code, int) else ExitStatus.OK)


app = typer.Typer(
    cls=OneLineErrors,
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
    manual = "manual"
    pot = "pot"
    fbeta = "fbeta"
    budget = "budget"
    fpr = "fpr"


class Missing(str, Enum):
    mask = "mask"
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
            return _fail(exc, str(exc) or "interrupted", ExitStatus.INTERRUPTED)
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(ExitStatus.OK) from None
        except MemoryError as exc:
            return _fail(exc, "error: out of memory (try a smaller --batch-size)", 1)
        except OSError as exc:
            return _fail(exc, f"error: {exc.filename or ''}: {exc.strerror or exc}", 1)
        except Exception as exc:  # a bug, not the user's fault: still one line, no traceback
            message = f"error: unexpected {type(exc).__name__}: {exc} (--debug shows where)"
            return _fail(exc, message.splitlines()[0], ExitStatus.ERROR)

    return wrapper


def _fail(exc: BaseException, message: str, code: int):
    if STATE["debug"]:
        raise exc
    err(" ".join(message.split()))  # always one line
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
    _show_tool_warnings()


def _show_tool_warnings() -> None:
    """The tool's warnings (LstmaeWarning) as one `lstmae: warning: ...` line on stderr."""
    import warnings

    from .errors import LstmaeWarning

    shown = warnings.showwarning

    def show(message, category, *args, **kwargs):
        if issubclass(category, LstmaeWarning):
            err(f"warning: {message}")
        else:
            shown(message, category, *args, **kwargs)

    if getattr(shown, "__name__", "") != "show":
        warnings.showwarning = show
    warnings.simplefilter("always", LstmaeWarning)


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

# Threshold-method parameters (train and threshold); None means the method's default.
QOpt = Annotated[float | None, typer.Option("--q", help="quantile: the quantile (0.999).")]
KOpt = Annotated[float | None, typer.Option("--k", help="sigma / mad: the multiplier (4 / 6).")]
ValueOpt = Annotated[
    float | None, typer.Option("--value", help="manual: the threshold itself (required).")
]
RiskOpt = Annotated[
    float | None,
    typer.Option("--risk", help="pot: probability that a normal score exceeds it (0.001)."),
]
PotLevelOpt = Annotated[
    float | None,
    typer.Option("--pot-level", help="pot: quantile above which the tail is fitted (0.98)."),
]
AlertsPerOpt = Annotated[
    float | None, typer.Option("--alerts-per", help="budget: flag at most this many rows (1)...")
]
RowsOpt = Annotated[
    float | None, typer.Option("--rows", help="budget: ...per this many rows (1000).")
]
AlphaOpt = Annotated[
    float | None,
    typer.Option("--alpha", help="fpr: false-positive rate on normal data at most this (0.01)."),
]


def method_params(q, k, value, risk, pot_level, alerts_per, rows, alpha, beta=None) -> dict:
    """The threshold-method options of a command, by the names the methods take."""
    params = {"q": q, "k": k, "value": value, "risk": risk, "level": pot_level}
    params |= {"alerts_per": alerts_per, "rows": rows, "alpha": alpha}
    return params if beta is None else params | {"beta": beta}


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
        int | None,
        typer.Option(
            help="Rows between scoring windows; every row stays covered. Default seq_len // 4."
        ),
    ] = None,
    smooth: Annotated[
        int | None,
        typer.Option(
            help="Row score = trailing mean of this many raw row scores (1: off). "
            "Default seq_len // 4."
        ),
    ] = None,
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
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 2e-3,
    patience: Annotated[
        int, typer.Option(help="Epochs without validation improvement before stopping.")
    ] = 5,
    seed: Annotated[int, typer.Option(help="Random seed (same data + seed -> same model).")] = 0,
    missing: Annotated[
        Missing,
        typer.Option(
            help="Missing or non-finite values: mask (fill forward for the network, leave them "
            "out of the loss and the row score), ffill, interpolate, or error."
        ),
    ] = Missing.mask,
    scoring: Annotated[
        Scoring,
        typer.Option(
            help="How per-feature errors become a row score: mahalanobis (Gaussian fitted on "
            "held-out errors), normalized (each feature over its normal level) or mean."
        ),
    ] = Scoring.mahalanobis,
    threshold_method: Annotated[
        ThresholdMethod,
        typer.Option(
            help="How the threshold is learned from held-out scores (label-free methods only; "
            "fbeta needs labels: use `lstmae threshold` after training)."
        ),
    ] = ThresholdMethod.quantile,
    q: QOpt = None,
    k: KOpt = None,
    value: ValueOpt = None,
    risk: RiskOpt = None,
    pot_level: PotLevelOpt = None,
    alerts_per: AlertsPerOpt = None,
    rows: RowsOpt = None,
    alpha: AlphaOpt = None,
    max_windows_per_epoch: Annotated[
        int | None, typer.Option(help="Sample at most this many windows per epoch.")
    ] = None,
    plot_history: Annotated[
        Path | None, typer.Option(help="Also write the training-loss figure here (.png/.svg/.pdf).")
    ] = None,
    checkpoint_every: Annotated[
        int,
        typer.Option(
            help="Every N epochs save the training state (with the best model so far) to "
            "MODEL.ckpt.safetensors, atomically; 0: never. Removed once MODEL is written."
        ),
    ] = 0,
    resume: Annotated[
        bool,
        typer.Option(help="Continue an interrupted run from its checkpoint (same data, options)."),
    ] = False,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
) -> None:
    """Fit scaler, autoencoder and threshold on normal data; write one model bundle.

    Under `torchrun --nproc-per-node N -m lstmae_cli train ...` the N processes train one
    model data-parallel; only rank 0 prints and writes files.
    """
    from . import distributed
    from .bundle import check_output_path
    from .checkpoint import checkpointing_for, interrupted_note
    from .data import read_frame, source_name
    from .detector import Detector
    from .progress import EpochProgress
    from .thresholds import resolve_params
    from .train import resolve_device

    threshold_params = method_params(q, k, value, risk, pot_level, alerts_per, rows, alpha)
    resolve_params(threshold_method.value, threshold_params)  # usage errors before training
    detector = Detector(
        seq_len=seq_len,
        stride=stride,
        score_stride=score_stride,
        smooth=smooth,
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
        threshold_params={n: v for n, v in threshold_params.items() if v is not None},
        max_windows_per_epoch=max_windows_per_epoch,
    )
    detector.params.validate()
    check_output_path(output)  # before training, not after
    checkpoint = checkpointing_for(output, checkpoint_every, resume)
    if plot_history is not None:
        from .plot import check_figure_path

        check_figure_path(plot_history)  # before training, not after
    tables = [(source_name(path), read_frame(path)) for path in data]
    _check_held_out_size(tables, val_fraction, threshold_method.value, threshold_params)
    quiet = _quiet_other_ranks(quiet)
    try:
        with (
            distributed.session(resolve_device(device.value)),
            EpochProgress(epochs, quiet) as progress,
        ):
            detector.fit(
                tables,
                split_list(columns),
                time_column,
                id_column,
                split_list(exclude_columns),
                on_epoch=progress.update,
                checkpoint=checkpoint,
            )
    except KeyboardInterrupt as exc:
        raise KeyboardInterrupt(interrupted_note(checkpoint)) from exc
    if not distributed.is_main():
        return  # rank 0 writes the model (and the figure) and reports
    detector.save(output)
    if checkpoint is not None:
        checkpoint.path.unlink(missing_ok=True)  # MODEL now holds the result
    if plot_history is not None:
        from .plot import history_figure, save_figure

        save_figure(history_figure(detector.history_), plot_history)
    if not quiet:
        info = detector.data_info_
        err(
            f"trained on {info['rows']} rows in {info['series']} series "
            f"({len(detector.history_)} epochs, best {info['best_epoch']}, "
            f"{info['train_seconds']:.1f}s); threshold {detector.threshold_:.6g} "
            f"({detector.threshold_method_}); wrote {output}"
        )


def _quiet_other_ranks(quiet: bool) -> bool:
    """Under torchrun only rank 0 shows progress, warnings and the summary."""
    import warnings

    from . import distributed
    from .errors import LstmaeWarning

    if distributed.is_main():
        return quiet
    warnings.filterwarnings("ignore", category=LstmaeWarning)
    return True


def _check_held_out_size(tables, val_fraction: float, method: str, params: dict) -> None:
    """Refuse before training a threshold method the held-out part is too small for."""
    from .thresholds import check_enough_scores

    rows = [len(frame) for _, frame in tables]
    held_out = sum(round(n * val_fraction) for n in rows) if val_fraction > 0 else sum(rows)
    check_enough_scores(method, params, held_out)


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
        int | None,
        typer.Option(
            help="Flagged rows at most this many rows apart are one alert: the rows between "
            "them are flagged too (is_anomaly) and belong to one event. 0: a row is flagged "
            "only when its score is over the threshold. Default: the model's seq_len, the rows "
            "over which one window spreads an anomaly's error."
        ),
    ] = None,
    min_rows: Annotated[int, typer.Option(help="Event level: drop events shorter than this.")] = 1,
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
        str, typer.Option(help="fp32, or bf16 (faster on CPUs with AVX512-BF16 / AMX).")
    ] = "fp32",
    quiet: QuietOpt = False,
) -> None:
    """Score DATA with MODEL; write row, window or event results to stdout or --output."""
    from .data import read_frames, source_name
    from .detector import Detector
    from .levels import Tally, at_level
    from .output import write_frames

    if chunk_rows < 1 or (merge_gap is not None and merge_gap < 0) or min_rows < 1:
        raise UsageError("--chunk-rows and --min-rows must be at least 1, --merge-gap at least 0")
    detector = Detector.load(model)
    merge_gap = detector.params.seq_len if merge_gap is None else merge_gap
    detector.params.device = device.value
    detector.params.precision = precision
    if threshold is not None:
        detector.threshold_ = threshold
    if p_values:
        _ask_for_p_values(detector, level)
    began = time.perf_counter()
    tally = Tally()
    name = source_name(data)
    keep = split_list(keep_columns) or []
    scorer = detector.stream_scorer(name, keep, id_column, time_column, merge_gap)
    rows = scorer.run(read_frames(data, chunk_rows))
    results = at_level(rows, scorer, level.value, merge_gap, min_rows, tally, only_anomalies)
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


from . import cli_evaluate  # noqa: E402,F401  (registers threshold and evaluate here, in help order)


@app.command()
@handle_errors
def export(
    model: Annotated[Path, typer.Argument(help="Model bundle from `lstmae train`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="ONNX file to write.")],
    opset: Annotated[int, typer.Option(help="ONNX opset (LSTM needs at least 9).")] = 17,
    quiet: QuietOpt = False,
) -> None:
    """Write MODEL's network as ONNX for onnxruntime and other engines.

    Input `windows` (batch, seq_len, features), already scaled; output `reconstruction`,
    same shape; batch and seq_len are dynamic. Features, scaler, score calibration and
    threshold are JSON in the file's metadata_props under `lstmae`.
    """
    from .detector import Detector
    from .export import export_onnx

    detector = Detector.load(model, device="cpu")
    export_onnx(detector, output, opset)
    if not quiet:
        err(f"wrote {output} (opset {opset}; scaler and threshold in metadata_props 'lstmae')")


from . import cli_views  # noqa: E402,F401  (registers inspect, and later plot / report)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err("interrupted")
        sys.exit(ExitStatus.INTERRUPTED)
