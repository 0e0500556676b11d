"""Figures: each feature with its flagged spans, the row score against the threshold, a
heatmap of per-feature error over time, the training history. Built on matplotlib's
`Figure` (Agg canvas), never pyplot: no display needed, no global state touched.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputError, UsageError
from ..io.data import parse_times
from ..io.outpath import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..detector import Detector
    from ..scoring.levels import ScoreRun

FIGURE_FORMATS = ("png", "svg", "pdf")
HEATMAP_COLUMNS = 1500  # most time bins in the heatmap; longer data is binned by max
SPAN_PIXELS = 1000  # about the data width in pixels: no shaded span is drawn narrower
FLAG_COLOR, LABEL_COLOR = "tab:red", "tab:purple"


@dataclass
class View:
    """One series, ready to draw: its score rows and where they sit on the x axis."""

    rows: pd.DataFrame  # row-level scores (+ raw features and label), one series, in order
    x: np.ndarray  # (rows,) float: matplotlib date numbers, or row numbers
    is_time: bool
    features: list[str]  # the feature panels drawn
    all_features: list[str]
    weights: np.ndarray  # (all features,): 1 / normal error level, as events use it
    threshold: float
    label_column: str | None
    title: str


def score_rows(
    detector: Detector,
    frame: pd.DataFrame,
    name: str,
    label_column=None,
    id_column=None,
    alerts: tuple[int | None, int | None] = (None, None),
) -> tuple[pd.DataFrame, ScoreRun]:
    """Row scores of `frame` with the raw features (and label) kept, and the finished run
    (its id and time columns, tally and events).

    alerts: (merge_gap, min_rows) as `score` takes them; None: the model's defaults."""
    from ..scoring.alerts import AlertRules

    keep = [*detector.require_fitted().roles.features, *([label_column] if label_column else [])]
    run = detector.score(
        frame, "row", AlertRules(*alerts), name=name, keep=keep, id_column=id_column,
        keep_events=True,
    )  # fmt: skip
    return run.frame(), run


def one_series(rows: pd.DataFrame, id_column: str | None, series: str | None) -> pd.DataFrame:
    """The rows of series `series` (default: the first one) when there is an id column."""
    if id_column is None:
        if series is not None:
            raise UsageError("--series needs an id column (--id-column)")
        return rows
    keys = rows[id_column].astype(str)
    wanted = series if series is not None else keys.iloc[0]
    if not (keys == wanted).any():
        raise InputError(f"no series {wanted!r} in column {id_column!r}")
    return rows[(keys == wanted).to_numpy()].reset_index(drop=True)


def zoom(rows: pd.DataFrame, time_column: str | None, start: str | None, end: str | None):
    """Rows between `start` and `end` (inclusive): row numbers, or times when not integers."""
    keep = np.ones(len(rows), dtype=bool)
    if start is not None:
        keep &= _after(rows, time_column, start, "--start")
    if end is not None:
        keep &= ~_after(rows, time_column, end, "--end", strictly=True)
    if not keep.any():
        raise InputError(f"no rows between --start {start} and --end {end}")
    return rows[keep].reset_index(drop=True)


def _after(rows, time_column: str | None, bound: str, option: str, strictly=False) -> np.ndarray:
    """(rows,) bool: the row is at (or strictly after) `bound`, a row number or a time."""
    text = bound.strip()
    if text.lstrip("-").isdigit():
        values, limit = rows["row"], int(text)
    elif time_column is None:
        raise UsageError(f"{option} {bound!r}: not a row number, and the data has no time column")
    else:
        values, limit = parse_times(rows[time_column]), pd.to_datetime(text, errors="coerce")
        if values.dtype.kind != "M" or pd.isna(limit):
            raise UsageError(f"{option} {bound!r}: not a row number or a time like the data's")
        limit = _same_zone(limit, getattr(values.dt, "tz", None))
    return ((values > limit) if strictly else (values >= limit)).to_numpy(bool)


def _same_zone(limit: pd.Timestamp, tz) -> pd.Timestamp:
    if tz is not None and limit.tz is None:
        return limit.tz_localize(tz)
    return limit.tz_convert(tz) if limit.tz is not None else limit


def make_view(detector: Detector, rows, time_column, label_column, max_features, title) -> View:
    parts = detector.require_fitted()
    features, threshold = parts.roles.features, parts.threshold
    weights = parts.score_model.feature_weights  # (features,)
    x, is_time = _x_values(rows, time_column)
    shown = pick_features(rows, features, weights, max_features)
    return View(rows, x, is_time, shown, features, weights, threshold, label_column, title)


def _x_values(rows: pd.DataFrame, time_column: str | None) -> tuple[np.ndarray, bool]:
    from matplotlib import dates

    if time_column is not None:
        times = parse_times(rows[time_column])
        if times.dtype.kind == "M" and times.notna().all():
            return dates.date2num(times.to_numpy()), True
    return rows["row"].to_numpy(dtype=float), False


def pick_features(rows: pd.DataFrame, features: list[str], weights, most: int) -> list[str]:
    """The `most` features with the largest mean relative error over the flagged rows (all
    rows when none is flagged), in the model's order."""
    if most < 1:
        raise UsageError("--max-features must be at least 1")
    flagged = rows["is_anomaly"].to_numpy(bool)
    chosen = rows[flagged] if flagged.any() else rows
    errors = chosen[[f"err_{f}" for f in features]].to_numpy() * weights  # (rows, features)
    top = set(np.argsort(-errors.mean(axis=0), kind="stable")[:most].tolist())
    return [f for i, f in enumerate(features) if i in top]


# ----------------------------------------------------------------------------- drawing
def plot_view(view: View, width: float = 12.0) -> Figure:
    """Feature panels, score panel and error heatmap, sharing one x axis."""
    from matplotlib.figure import Figure

    heat_height = min(max(1.4, 0.22 * len(view.all_features)), 5.0)
    panel = 1.0 if len(view.features) <= 8 else 0.75  # inches per feature panel
    heights = [panel] * len(view.features) + [1.9, heat_height]
    fig = Figure(figsize=(width, sum(heights) + 1.2), layout="constrained")
    axes = fig.subplots(len(heights), 1, sharex=True, height_ratios=heights)
    for ax, feature in zip(axes, view.features, strict=False):
        ax.plot(view.x, view.rows[feature].to_numpy(), lw=0.8, color="tab:blue")
        ax.set_ylabel(feature, rotation=0, ha="right", va="center")
        _mark_spans(ax, view)
    _score_panel(axes[-2], view)
    _heatmap_panel(fig, axes[-1], view)
    _time_axis(axes[-1], view.is_time)
    handles = _legend_handles(view)
    fig.legend(handles=handles, loc="outside upper center", ncols=3, fontsize=8, title=view.title)
    return fig


def _mark_spans(ax: Axes, view: View) -> None:
    """Shade flagged rows; a strip along the bottom for labelled anomalies."""
    _shade(ax, view.x, view.rows["is_anomaly"].to_numpy(bool), FLAG_COLOR, 0.0, 1.0, 0.22)
    if view.label_column:
        from .metrics import binary_labels

        labels = binary_labels(view.rows[view.label_column], view.label_column)
        _shade(ax, view.x, labels, LABEL_COLOR, 0.0, 0.12, 0.8)


def _shade(ax: Axes, x, mask: np.ndarray, color: str, low: float, high: float, alpha: float):
    """Fill [x_i, x_{i+1}) for every True row i, across [low, high] of the axis height."""
    if not mask.any():
        return
    if len(mask) > 2 * SPAN_PIXELS:  # long data: widen short spans to about one pixel
        mask = np.convolve(mask, np.ones(len(mask) // SPAN_PIXELS), mode="same") > 0
    covered = mask | np.concatenate([[False], mask[:-1]])  # a single row still gets a width
    ax.fill_between(
        x, low, high, where=covered, step="post", color=color, alpha=alpha, lw=0,
        transform=ax.get_xaxis_transform(),
    )  # fmt: skip


def _score_panel(ax: Axes, view: View) -> None:
    scores = view.rows["score"].to_numpy(float)
    ax.plot(view.x, scores, lw=0.8, color="black")
    ax.axhline(view.threshold, color=FLAG_COLOR, ls="--", lw=1.2)
    positive = scores[scores > 0]
    if positive.size and scores.min() > 0 and positive.max() / positive.min() > 100:
        ax.set_yscale("log")
    ax.set_ylabel("row score", rotation=0, ha="right", va="center")
    _mark_spans(ax, view)


def _heatmap_panel(fig: Figure, ax: Axes, view: View) -> None:
    """log10(error / normal error) per feature over time; rows binned by max when long."""
    errors = view.rows[[f"err_{f}" for f in view.all_features]].to_numpy() * view.weights
    relative = np.log10(np.maximum(errors, 1e-3))  # (rows, features)
    binned, edges = _bin_max(relative, view.x)
    mesh = ax.pcolormesh(
        edges, np.arange(len(view.all_features) + 1), binned.T, cmap="magma", vmin=0, vmax=3
    )
    ax.set_yticks(np.arange(len(view.all_features)) + 0.5, view.all_features, fontsize=8)
    ax.invert_yaxis()
    ax.set_title("per-feature error vs its normal level", fontsize=9, loc="left")
    bar = fig.colorbar(mesh, ax=ax, pad=0.005, fraction=0.02, aspect=8)
    bar.set_ticks([0, 1, 2, 3], labels=["1x", "10x", "100x", "1000x"], fontsize=7)


def _bin_max(values: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, F) -> (bins, F) max per bin and the bins' (bins + 1,) x edges."""
    step = np.diff(x).min(initial=1.0) if len(x) > 1 else 1.0
    x_edges = np.append(x, x[-1] + step)  # (rows + 1,)
    bins = int(np.ceil(len(x) / HEATMAP_COLUMNS))
    if bins <= 1:
        return values, x_edges
    starts = np.arange(0, len(x), bins)
    return np.maximum.reduceat(values, starts, axis=0), np.append(x_edges[starts], x_edges[-1])


def _time_axis(ax: Axes, is_time: bool) -> None:
    from matplotlib import dates

    if is_time:
        locator = dates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
    else:
        ax.set_xlabel("row")


def _legend_handles(view: View) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(color=FLAG_COLOR, alpha=0.3, label="alerts (is_anomaly, as score writes it)"),
        Line2D([], [], color=FLAG_COLOR, ls="--", label=f"threshold {view.threshold:.4g}"),
    ]
    if view.label_column:
        handles.append(Patch(color=LABEL_COLOR, alpha=0.8, label=f"labelled ({view.label_column})"))
    return handles


def history_figure(history: list[dict]) -> Figure:
    """Train and validation loss per epoch (log scale), the best epoch marked."""
    from matplotlib.figure import Figure

    if not history:
        raise InputError("the model has no training history")
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    epochs = [h["epoch"] for h in history]  # every record has its epoch (nn/train.py)
    for key in ("train_loss", "val_loss"):
        ax.plot(epochs, np.array([h.get(key) for h in history], float), marker=".", label=key)
    val = np.array([h.get("val_loss") for h in history], float)  # None -> nan
    if np.isfinite(val).any():
        best = epochs[int(np.nanargmin(val))]
        ax.axvline(best, color="grey", ls=":", label=f"best epoch {best}")
    ax.set(xlabel="epoch", ylabel="loss (MSE, scaled units)", yscale="log", title="Training")
    ax.legend()
    return fig


# ----------------------------------------------------------------------------- output
def check_figure_path(path: str | Path) -> str:
    """The figure format named by the suffix (.png, .svg, .pdf; none means png)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    if fmt not in FIGURE_FORMATS:
        raise UsageError(f"{path}: unknown figure format (use .{', .'.join(FIGURE_FORMATS)})")
    if str(path.parent) and not path.parent.is_dir():
        raise InputError(f"{path}: folder {path.parent} does not exist")
    return fmt


def save_figure(fig: Figure, path: str | Path, dpi: int = 100) -> None:
    """Write `fig` atomically in the format its suffix names."""
    fmt = check_figure_path(path)
    data = figure_bytes(fig, fmt, dpi)  # in memory first: a FIFO or device cannot seek
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi)
    return buffer.getvalue()
