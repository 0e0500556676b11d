"""Typer commands: parse options, call the library, format output, map errors to exit codes.

torch and pandas are imported inside the commands, so `lstmae --help` stays fast.
"""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from typer.core import TyperGroup

from .errors import ArgumentError, ExitStatus, LstmaeError, UsageError


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
STATE = {"debug": False, "quiet": False}


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


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


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
        from .threads import applied

        try:
            with applied(STATE.get("threads")):  # torch's intra-op threads for this command
                return command(*args, **kwargs)
        except typer.Exit:
            raise
        except ArgumentError as exc:
            return _fail(exc, f"error: {exc}; {_usage_line()}", ExitStatus.USAGE)
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


def _usage_line() -> str:
    """'usage: lstmae score [OPTIONS] MODEL [DATA]' of the command running now."""
    from typer._click.globals import get_current_context

    context = get_current_context(silent=True)
    if context is None:
        return "see --help"
    usage = " ".join(context.get_usage().split())
    return usage[:1].lower() + usage[1:]


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
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="CPU threads for torch. Default: the CPUs allowed (affinity, cgroup quota) "
            "less those busy with other work, at least 1; or OMP_NUM_THREADS if set.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    STATE["debug"] = debug
    STATE["threads"] = threads
    STATE["quiet"] = False  # until a command's --quiet says otherwise (set_quiet)
    _show_tool_warnings()


def _show_tool_warnings() -> None:
    """The tool's warnings (LstmaeWarning) as one `lstmae: warning: ...` line on stderr."""
    import warnings

    from .errors import LstmaeWarning

    shown = warnings.showwarning

    def show(message, category, *args, **kwargs):
        if STATE["quiet"]:  # -q: nothing but errors, on every command
            return
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

NoHeaderOpt = Annotated[
    bool,
    typer.Option(
        "--no-header",
        help="CSV without a header line: the first line is data, columns c0, c1, ... "
        "(train and score alike, so the names match).",
    ),
]
NamesOpt = Annotated[
    str | None,
    typer.Option(
        "--names",
        help="Names for the columns of a CSV without a header line (a,b,c; implies --no-header).",
    ),
]


def read_header(no_header: bool, names: str | None):
    """--no-header / --names -> how the input's first line is read (reading.Header)."""
    from .reading import Header

    return Header.from_options(no_header, names)


def set_quiet(value: bool) -> bool:
    """--quiet's callback: from here on warnings are dropped where they are shown."""
    STATE["quiet"] = bool(value)
    return value


QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", callback=set_quiet, help="Nothing on stderr but errors (no warnings)."
    ),
]
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

# Alert rules (score, evaluate, plot, report); None means the model's default.
MergeGapOpt = Annotated[
    int | None,
    typer.Option(
        "--merge-gap",
        help="Flagged rows at most this many rows apart are one alert: the rows between them "
        "are flagged too (is_anomaly) and belong to one event. Default: the model's seq_len, "
        "the rows over which one window spreads an anomaly's error.",
    ),
]
MinRowsOpt = Annotated[
    int | None,
    typer.Option(
        "--min-rows",
        help="Alerts (and events) spanning fewer rows are not flagged. Default: the model's "
        "smooth + 1, so one odd row spread by the score smoothing is no alert. "
        "--merge-gap 0 --min-rows 1: is_anomaly is exactly score > threshold.",
    ),
]


def check_alert_rules(merge_gap: int | None, min_rows: int | None) -> None:
    if (merge_gap is not None and merge_gap < 0) or (min_rows is not None and min_rows < 1):
        raise UsageError("--merge-gap must be at least 0 and --min-rows at least 1")


def method_params(q, k, value, risk, pot_level, alerts_per, rows, alpha, beta=None) -> dict:
    """The threshold-method options of a command, by the names the methods take."""
    params = {"q": q, "k": k, "value": value, "risk": risk, "level": pot_level}
    params |= {"alerts_per": alerts_per, "rows": rows, "alpha": alpha}
    return params if beta is None else params | {"beta": beta}


# The commands register themselves on `app` when imported, in this (help) order.
# isort: off
from . import cli_train  # noqa: E402,F401  (train)
from . import cli_score  # noqa: E402,F401  (score)
from . import cli_evaluate  # noqa: E402,F401  (threshold, evaluate)
# isort: on


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
    from .threads import prepare_environment

    prepare_environment()  # before torch is imported: OMP_WAIT_POLICY
    try:
        app()
    except KeyboardInterrupt:
        err("interrupted")
        exit_process(ExitStatus.INTERRUPTED)
    except SystemExit as done:
        exit_process(done.code)
    exit_process(ExitStatus.OK)


def exit_process(code: int | str | None) -> NoReturn:
    """sys.exit(code); but a torchrun rank that joined a process group leaves at once.

    After a gloo process group, interpreter finalization aborts now and then ("terminate
    called without an active exception", exit -6, after every `atexit` handler ran: seen
    in 3 of 100 two-rank runs of a probe script, on either rank), and torchrun then fails
    the whole command although the model was written. By the time the command returns
    the group is destroyed and every file is closed, so such a rank flushes its output
    and skips finalization.
    """
    distributed = sys.modules.get("lstmae_cli.distributed")  # not imported: no group
    if distributed is not None and distributed.started_group_here():
        if code is None:
            code = ExitStatus.OK
        elif not isinstance(code, int):  # sys.exit's rule: the message on stderr, status 1
            print(code, file=sys.stderr)
            code = ExitStatus.ERROR
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
