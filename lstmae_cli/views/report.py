"""One self-contained HTML page: the plot, the events and their top features, the score
distribution on held-out normal data vs this data, the evaluate table, the model's facts.

Figures are embedded as base64 PNG; the page loads nothing from anywhere else.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..io.outpath import atomic_path
from ..params import alert_defaults
from .plot import View, figure_bytes, plot_view

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..detector import Detector

MAX_EVENTS = 200  # rows of the events table; the rest are counted, not listed
SCALER_STATS = {
    "standard": ("mean", "std"),
    "minmax": ("min", "range"),
    "robust": ("median", "IQR"),
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1250px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } th { background: #f3f3f3; }
img { max-width: 100%; } .note { color: #666; font-size: 0.9em; }
"""


@dataclass
class ReportInput:
    """Everything a report shows, already computed by the library."""

    detector: Detector
    meta: dict  # the bundle's metadata, as stored
    rows: pd.DataFrame  # row-level scores of all series
    events: list[dict]  # the events of those rows, as `score --level event` finds them
    view: View  # the plotted series
    model_name: str
    data_name: str
    id_column: str | None
    time_column: str | None
    label_column: str | None


# ------------------------------------------------------------------------ the facts
def feature_stats(scaler: str, offset: np.ndarray, scale: np.ndarray, features: list[str]):
    """{feature: {"mean": .., "std": ..}} (names follow the scaler) from the scaler arrays."""
    center, spread = SCALER_STATS.get(scaler, ("offset", "scale"))  # x_scaled = (x - o) / s
    pairs = zip(features, offset.tolist(), scale.tolist(), strict=True)
    return {f: {center: o, spread: s} for f, o, s in pairs}


def _alert_defaults(params: dict) -> str:
    """The --merge-gap / --min-rows `score` uses for this model unless told otherwise."""
    seq_len = params.get("seq_len")
    if seq_len is None:  # a bundle without its options
        return "-"
    merge_gap, min_rows = alert_defaults(seq_len, params.get("smooth"))
    return f"gaps of <= {merge_gap} rows joined, alerts of >= {min_rows} rows"


def method_text(method: object, params: dict) -> str:
    """'quantile (q = 0.999)', 'pot (risk = 0.001, level = 0.98; fit: shape = 0.12)'."""

    def pairs(values: dict) -> str:
        return ", ".join(
            f"{k} = {v:.6g}" if isinstance(v, float) else f"{k} = {v}" for k, v in values.items()
        )

    given = pairs({k: v for k, v in params.items() if k != "fit"})
    fit = params.get("fit")
    fitted = f"fit: {pairs(fit)}" if isinstance(fit, dict) and fit else ""
    inside = "; ".join(part for part in (given, fitted) if part)
    return f"{method} ({inside})" if inside else str(method)


def model_facts(meta: dict) -> list[tuple[str, str]]:
    """(name, value) rows describing a bundle, for `inspect` and the report."""
    params, model, data = meta.get("params", {}), meta.get("model", {}), meta.get("data", {})
    threshold, columns = meta.get("threshold", {}), meta.get("columns", {})
    span = f"{data['time_start']} .. {data['time_end']}" if "time_start" in data else "-"
    return [
        ("architecture", f"{model.get('arch')} LSTM autoencoder, {model.get('layers')} layer(s)"),
        ("parameters", f"{meta.get('parameter_count', 0):,}"),
        ("seq_len / hidden", f"{params.get('seq_len')} / {model.get('hidden')}"),
        ("features", f"{model.get('n_features')}: {', '.join(columns.get('features', []))}"),
        ("time / id column", f"{columns.get('time') or '-'} / {columns.get('id') or '-'}"),
        ("max gap (series cut)", params.get("max_gap") or "-"),
        ("scaler / scoring", f"{meta.get('scaler')} / {params.get('scoring')}"),
        (
            "threshold",
            f"{threshold.get('value', float('nan')):.6g}, "
            f"{method_text(threshold.get('method'), threshold.get('params') or {})}",
        ),  # fmt: skip
        ("alerts (score defaults)", _alert_defaults(params)),
        ("training data", f"{data.get('rows')} rows in {data.get('series')} series; {span}"),
        ("data sha256", str(data.get("sha256", "-"))[:16]),
        (
            "training",
            f"{len(meta.get('history', []))} epochs, best {data.get('best_epoch')}, "
            f"{data.get('train_seconds', 0):.1f}s",
        ),  # fmt: skip
        ("calibration", _calibration_fact(params, data)),
        ("versions", ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())),
    ]


def _calibration_fact(params: dict, data: dict) -> str:
    """Where the threshold was learned, and the share of training rows it flags."""
    folds = params.get("calibration_folds", 1)
    where = f"{folds} time blocks" if folds > 1 else f"last {params.get('val_fraction')} of rows"
    rows = f", {data['calibration_rows']} rows" if "calibration_rows" in data else ""
    flagged = data.get("train_flagged")
    share = f"; flags {100 * flagged:.2f} % of the training rows" if flagged is not None else ""
    return f"held out: {where}{rows}{share}"


def find_events(report: ReportInput) -> pd.DataFrame:
    """The events of every series, as listed: series by series in the order of their ids
    (sorted as values), each series' events in row order."""
    events = pd.DataFrame(report.events)
    if report.id_column is None or events.empty:
        return events
    ids = report.rows.groupby(report.id_column).size().index  # sorted, as the id column's type
    rank = {str(key): number for number, key in enumerate(ids)}
    order = events[report.id_column].map(rank).to_numpy()  # the events' ids are text
    return events.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)


# ------------------------------------------------------------------------- figures
def distribution_figure(val_scores: np.ndarray, scores: np.ndarray, threshold: float) -> Figure:
    """Histograms of held-out normal scores and this data's scores, threshold marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax = fig.subplots()
    both = np.concatenate([val_scores, scores])
    log = both.size and both.min() > 0 and both.max() / both.min() > 100
    bins = (
        np.geomspace(both.min(), both.max(), 80) if log else np.linspace(both.min(), both.max(), 80)
    )
    # matplotlib's stubs type bins as int | Sequence[float] | str; an array works as well
    if val_scores.size:
        label = "held-out normal (validation)"
        ax.hist(val_scores, bins, density=True, alpha=0.5, label=label)  # type: ignore[arg-type]
    ax.hist(scores, bins, density=True, alpha=0.5, label="this data")  # type: ignore[arg-type]
    ax.axvline(threshold, color="tab:red", ls="--", label=f"threshold {threshold:.4g}")
    ax.set(xlabel="row score", ylabel="density", yscale="log", xscale="log" if log else "linear")
    ax.legend(fontsize=8)
    return fig


def _img(fig: Figure, alt: str) -> str:
    data = base64.b64encode(figure_bytes(fig)).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


# -------------------------------------------------------------------------- tables
def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return f"<td>{value}</td>"
    if isinstance(value, (float, np.floating)):
        text = "" if np.isnan(value) else f"{value:.4g}"
        return f'<td class="num">{text}</td>'
    if isinstance(value, (int, np.integer)):
        return f'<td class="num">{value}</td>'
    return f"<td>{escape(str(value))}</td>"


def html_table(header: list[str], rows: list[list], table_id: str) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>\n" for row in rows)
    return f'<table id="{table_id}">\n<tr>{head}</tr>\n{body}</table>'


def _shares(text: str) -> str:
    """ "flow:0.62;speed:0.10" -> "flow 62%, speed 10%"."""
    parts = (item.rsplit(":", 1) for item in str(text).split(";") if ":" in item)
    return ", ".join(f"{name} {float(share):.0%}" for name, share in parts)


def mark_labelled(report: ReportInput, events: pd.DataFrame) -> pd.DataFrame:
    """events + 'labelled anomaly': yes where any row of the event is labelled anomalous."""
    from .metrics import binary_labels

    rows, id_column, label_column = report.rows, report.id_column, report.label_column
    if label_column is None:  # no labels: nothing to mark
        return events
    labels = binary_labels(rows[label_column], label_column)  # (rows,)
    keys = rows[id_column].astype(str).to_numpy() if id_column else np.full(len(rows), "")
    numbers = rows["row"].to_numpy()
    labelled = {  # series key -> its labelled row numbers, sorted
        key: np.sort(numbers[labels & (keys == key)]) for key in np.unique(keys[labels])
    }
    marks = []
    for _, event in events.iterrows():
        key = str(event[id_column]) if id_column else ""
        found = labelled.get(key, np.empty(0, dtype=numbers.dtype))
        first = np.searchsorted(found, event["start_row"])
        marks.append("yes" if first < len(found) and found[first] <= event["end_row"] else "no")
    return events.assign(**{"labelled anomaly": marks})


def events_section(events: pd.DataFrame, id_column: str | None) -> str:
    if events.empty:
        return (
            "<p>No events: no alert was raised (rows over the threshold, joined across gaps "
            "of up to --merge-gap rows, spanning at least --min-rows rows).</p>"
        )
    shown = events.head(MAX_EVENTS)
    columns = [*([id_column] if id_column else []), "start", "end", "rows", "peak_score"]
    columns += ["mean_score", *(["labelled anomaly"] if "labelled anomaly" in events else [])]
    rows = [[*r[columns], _shares(r["top_features"])] for _, r in shown.iterrows()]
    table = html_table([*columns, "top features (share of error)"], rows, "events")
    more = len(events) - len(shown)
    note = f'<p class="note">{more} more events not listed.</p>' if more > 0 else ""
    return table + note


def evaluate_section(report: ReportInput) -> str:
    from .metrics import EVALUATE_COLUMNS, METRIC_LABELS, binary_labels, evaluate_all

    if report.label_column is None:
        return '<p class="note">No --label-column given: no evaluation.</p>'
    rows, groups = report.rows, None
    if report.id_column is not None:  # each series contiguous, in time order, as evaluate
        rows = rows.sort_values([report.id_column, "row"], kind="stable", ignore_index=True)
        groups = rows[report.id_column].astype(str).to_numpy()
    labels = binary_labels(rows[report.label_column], report.label_column)
    scores = rows["score"].to_numpy(float)
    flags = rows["is_anomaly"].to_numpy(bool)  # the alerts `score` gives
    threshold = report.detector.require_fitted().threshold
    result = evaluate_all(labels, scores, threshold, groups, flags)
    table = [[label, *(r[key] for r in result.values())] for key, label in METRIC_LABELS.items()]
    return html_table(["metric", *EVALUATE_COLUMNS], table, "evaluate")


# ---------------------------------------------------------------------------- page
def build_report(report: ReportInput) -> str:
    """The whole page as one string."""
    rows, detector = report.rows, report.detector
    threshold = detector.require_fitted().threshold
    events = find_events(report)
    if report.label_column is not None and not events.empty:
        events = mark_labelled(report, events)
    flagged = int(rows["is_anomaly"].sum())
    summary = (
        f"{len(rows):,} rows scored, {flagged:,} flagged ({flagged / max(len(rows), 1):.2%}), "
        f"{len(events)} events; threshold {threshold:.4g}."
    )
    dist = distribution_figure(detector.val_scores_, rows["score"].to_numpy(float), threshold)
    facts = html_table(["", "value"], [list(f) for f in model_facts(report.meta)], "model")
    sections = [
        f"<h1>lstmae report: {escape(report.data_name)}</h1>",
        f"<p>Model <code>{escape(report.model_name)}</code>. {escape(summary)}</p>",
        f'<p class="note">Written {dt.datetime.now().isoformat(timespec="seconds")}.</p>',
        "<h2>Series, score and error</h2>",
        _img(plot_view(report.view), "features, row score and per-feature error over time"),
        "<h2>Events</h2>",
        events_section(events, report.id_column),
        "<h2>Score distribution</h2>",
        _img(dist, "row score distribution: held-out normal data vs this data"),
        "<h2>Evaluation</h2>",
        evaluate_section(report),
        "<h2>Model</h2>",
        facts,
    ]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>lstmae report: {escape(report.data_name)}</title>\n<style>{STYLE}</style>\n"
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def write_report(path: str | Path, page: str) -> None:
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(page, encoding="utf-8")
