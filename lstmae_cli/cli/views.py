"""Commands that show a model or results to a person: inspect, plot and report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import err, settle_heap
from .options import (
    IdOpt,
    MergeGapOpt,
    MinRowsOpt,
    NamesOpt,
    NoHeaderOpt,
    QuietOpt,
    check_alert_rules,
    read_header,
)

SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 60

LabelOpt = Annotated[
    str | None, typer.Option("--label-column", help="0/1 column of true anomalies, marked.")
]
SeriesOpt = Annotated[
    str | None,
    typer.Option("--series", help="With an id column: the series to plot (default: first)."),
]
MaxFeaturesOpt = Annotated[
    int,
    typer.Option(help="Feature panels at most; the features with the largest error are kept."),
]
StartOpt = Annotated[
    str | None, typer.Option("--start", help="Zoom: first row number or time to show.")
]
EndOpt = Annotated[str | None, typer.Option("--end", help="Zoom: last row number or time to show.")]


# ------------------------------------------------------------------------------ inspect
def inspect(
    model: Annotated[Path, typer.Argument(help="Model bundle.")],
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also write the training history figure here.")
    ] = None,
) -> None:
    """What is inside a bundle: config, features, scaler, threshold, history, versions."""
    import json

    from ..bundle import load_bundle
    from ..errors import UsageError
    from ..views.report import feature_stats

    settle_heap()
    if fmt not in ("table", "json"):
        raise UsageError("--format must be table or json")
    tensors, meta = load_bundle(model)
    features = meta.get("columns", {}).get("features", [])
    offset, scale = (tensors.get(f"scaler.{k}") for k in ("offset", "scale"))
    if offset is not None and scale is not None:
        meta["feature_stats"] = feature_stats(
            meta.get("scaler", ""), offset.numpy(), scale.numpy(), features
        )
    if plot is not None:
        from ..views.plot import history_figure, save_figure

        save_figure(history_figure(meta.get("history", [])), plot)
    if fmt == "json":
        typer.echo(json.dumps(meta, indent=2))
    else:
        _print_inspect(meta)


def _print_inspect(meta: dict) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..views.report import model_facts

    console = Console()
    facts = Table(title="Model", show_header=False)
    for name, value in model_facts(meta):
        facts.add_row(Text(name, style="bold"), Text(value))
    console.print(facts)
    stats = meta.get("feature_stats", {})
    names = list(next(iter(stats.values()), {}))
    table = Table(title=f"Features (training {' / '.join(names)})")
    for column in ("feature", *names):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for feature, values in stats.items():
        table.add_row(Text(feature), *(f"{v:.6g}" for v in values.values()))
    console.print(table)
    for line in history_lines(meta.get("history", [])):
        console.print(Text(line))


def history_lines(history: list[dict]) -> list[str]:
    """One line per loss: a sparkline of its values per epoch, first and last value."""
    lines = []
    for key in ("train_loss", "val_loss"):
        values = [h[key] for h in history if h.get(key) is not None]
        if values:
            lines.append(f"{key:<10} {sparkline(values)}  {values[0]:.4g} -> {values[-1]:.4g}")
    return lines or ["no training history"]


def sparkline(values: list[float], width: int = SPARK_WIDTH) -> str:
    """Values as block characters on a log scale (binned by mean to at most `width`)."""
    import numpy as np

    logs = np.log(np.maximum(np.asarray(values, float), 1e-300))
    if len(logs) > width:
        logs = np.array([part.mean() for part in np.array_split(logs, width)])
    low, high = logs.min(), logs.max()
    if high - low < 1e-12:
        return SPARK[0] * len(logs)
    levels = np.round((logs - low) / (high - low) * (len(SPARK) - 1)).astype(int)
    return "".join(SPARK[i] for i in levels)


# --------------------------------------------------------------------------- plot, report
def _scored(model, data, label_column, id_column, series, start, end, max_features, alerts, header):
    """Load, score, pick the series and zoom -> (detector, all rows, the run, view).

    alerts: (merge_gap, min_rows) as `score` takes them; header: reading.Header."""
    from ..detector import Detector
    from ..io.data import require_columns
    from ..io.reading import read_frame, source_name
    from ..views.plot import make_view, one_series, score_rows, zoom

    settle_heap()
    check_alert_rules(*alerts)
    detector = Detector.load(model)
    name = source_name(data)
    frame = read_frame(data, header)
    if label_column:
        from ..views.metrics import binary_labels

        require_columns(frame, [label_column], name)
        binary_labels(frame[label_column], label_column)  # a text column: refused before scoring
    columns = (label_column, id_column, alerts)
    rows, run = score_rows(detector, frame, name, *columns)
    shown = zoom(one_series(rows, run.id_column, series), run.time_column, start, end)
    title = _title(name, shown, run.id_column)
    view = make_view(detector, shown, run.time_column, label_column, max_features, title)
    return detector, rows, run, view


def _title(name: str, shown, id_column: str | None) -> str:
    flagged = int(shown["is_anomaly"].sum())
    key = f" [{shown[id_column].iloc[0]}]" if id_column else ""
    first, last = int(shown["row"].iloc[0]), int(shown["row"].iloc[-1])
    return f"{name}{key}: rows {first}-{last}, {flagged} flagged"


def plot(
    model: Annotated[Path, typer.Argument(help="Model bundle.")],
    data: Annotated[str, typer.Argument(help="CSV or Parquet file, or - for stdin.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Figure to write (.png, .svg, .pdf).")
    ],
    label_column: LabelOpt = None,
    id_column: IdOpt = None,
    no_header: NoHeaderOpt = False,
    names: NamesOpt = None,
    series: SeriesOpt = None,
    max_features: MaxFeaturesOpt = 8,
    start: StartOpt = None,
    end: EndOpt = None,
    width: Annotated[float, typer.Option(help="Figure width in inches.")] = 12.0,
    dpi: Annotated[int, typer.Option(help="Pixels per inch (PNG).")] = 100,
    merge_gap: MergeGapOpt = None,
    min_rows: MinRowsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Each feature with flagged spans, the row score with the threshold, a per-feature error
    heatmap; true anomalies marked with --label-column."""
    from ..errors import UsageError
    from ..views.plot import plot_view, save_figure

    if width < 2 or not 20 <= dpi <= 600:
        raise UsageError("--width must be at least 2 and --dpi between 20 and 600")
    shown = (series, start, end, max_features, (merge_gap, min_rows))
    *_, view = _scored(model, data, label_column, id_column, *shown, read_header(no_header, names))
    save_figure(plot_view(view, width), output, dpi)
    if not quiet:
        err(f"wrote {output}")


def report(
    model: Annotated[Path, typer.Argument(help="Model bundle.")],
    data: Annotated[str, typer.Argument(help="CSV or Parquet file, or - for stdin.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")],
    label_column: LabelOpt = None,
    id_column: IdOpt = None,
    no_header: NoHeaderOpt = False,
    names: NamesOpt = None,
    series: SeriesOpt = None,
    max_features: MaxFeaturesOpt = 8,
    merge_gap: MergeGapOpt = None,
    min_rows: MinRowsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """One self-contained HTML page: plot, events with their top features, score distribution
    (held-out normal vs this data) and, with --label-column, the evaluate table."""
    from ..bundle import load_bundle
    from ..io.reading import source_name
    from ..views.report import ReportInput, build_report, write_report

    settle_heap()
    shown = (series, None, None, max_features, (merge_gap, min_rows))
    scored = _scored(model, data, label_column, id_column, *shown, read_header(no_header, names))
    detector, rows, run, view = scored
    _, meta = load_bundle(model)
    page = build_report(
        ReportInput(
            detector,
            meta,
            rows,
            run.events or [],
            view,
            str(model),
            source_name(data),
            run.id_column,
            run.time_column,
            label_column,
        )  # fmt: skip
    )
    write_report(output, page)
    if not quiet:
        err(f"wrote {output}")
