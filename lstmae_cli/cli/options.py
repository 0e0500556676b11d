"""The commands' option types: choices as Enums, options shared by several commands, and
the small helpers that turn option values into library arguments. No app here: the
commands import this, and the app (app.py) imports the commands.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import typer

from .. import params
from ..errors import UsageError
from .console import STATE


def choices(name: str, values: tuple[str, ...]) -> Any:
    """A str Enum of `values` (member names = values), which typer shows as the choices."""
    return Enum(name, [(value, value) for value in values], type=str, module=__name__)


# The choices are params.py's; a new one there is a new choice here.
if TYPE_CHECKING:  # Enums built at run time: a type checker cannot see their members
    Level: TypeAlias = Any
    Format: TypeAlias = Any
    Arch: TypeAlias = Any
    Scaler: TypeAlias = Any
    ThresholdMethod: TypeAlias = Any
    Missing: TypeAlias = Any
    Scoring: TypeAlias = Any
    Precision: TypeAlias = Any
    Device: TypeAlias = Any
else:
    Level = choices("Level", params.LEVELS)
    Format = choices("Format", params.FORMATS)
    Arch = choices("Arch", params.ARCHS + tuple(params.ARCH_ALIASES))  # help shows ARCHS only
    Scaler = choices("Scaler", params.SCALERS)
    ThresholdMethod = choices("ThresholdMethod", tuple(params.THRESHOLD_METHODS))
    Missing = choices("Missing", params.MISSING_POLICIES)
    Scoring = choices("Scoring", params.SCORINGS)
    Precision = choices("Precision", params.PRECISIONS)
    Device = choices("Device", params.DEVICES)


def split_list(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


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
    from ..io.reading import Header

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


def default(method: str, name: str) -> str:
    """A threshold method's default for a parameter, as help texts show it: 0.999, 4, 1000."""
    return f"{params.THRESHOLD_METHODS[method][name]:g}"


QOpt = Annotated[
    float | None,
    typer.Option("--q", help=f"quantile: the quantile ({default('quantile', 'q')})."),
]
KOpt = Annotated[
    float | None,
    typer.Option(
        "--k",
        help=f"sigma / mad: the multiplier ({default('sigma', 'k')} / {default('mad', 'k')}).",
    ),
]
ValueOpt = Annotated[
    float | None, typer.Option("--value", help="manual: the threshold itself (required).")
]
RiskOpt = Annotated[
    float | None,
    typer.Option(
        "--risk",
        help=f"pot: probability that a normal score exceeds it ({default('pot', 'risk')}).",
    ),
]
PotLevelOpt = Annotated[
    float | None,
    typer.Option(
        "--pot-level",
        help=f"pot: quantile above which the tail is fitted ({default('pot', 'level')}).",
    ),
]
AlertsPerOpt = Annotated[
    float | None,
    typer.Option(
        "--alerts-per",
        help=f"budget: flag at most this many rows ({default('budget', 'alerts_per')})...",
    ),
]
RowsOpt = Annotated[
    float | None,
    typer.Option("--rows", help=f"budget: ...per this many rows ({default('budget', 'rows')})."),
]
AlphaOpt = Annotated[
    float | None,
    typer.Option(
        "--alpha",
        help=f"fpr: false-positive rate on normal data at most this ({default('fpr', 'alpha')}).",
    ),
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
