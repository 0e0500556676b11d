"""Commands that fit a threshold or measure a model against labels: threshold, evaluate."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from .console import settle_heap
from .options import (
    AlertsPerOpt,
    AlphaOpt,
    IdOpt,
    KOpt,
    MergeGapOpt,
    MinRowsOpt,
    NamesOpt,
    NoHeaderOpt,
    PotLevelOpt,
    QOpt,
    QuietOpt,
    RiskOpt,
    RowsOpt,
    ThresholdMethod,
    TimeOpt,
    ValueOpt,
    check_alert_rules,
    default,
    method_params,
    read_header,
)


def threshold(
    model: Annotated[Path, typer.Argument(help="Model bundle to update.")],
    data: Annotated[
        list[str], typer.Argument(help="Normal data to fit the threshold on (fbeta: labelled).")
    ],
    method: Annotated[
        ThresholdMethod, typer.Option(help="Threshold method.")
    ] = ThresholdMethod.quantile,
    q: QOpt = None,
    k: KOpt = None,
    value: ValueOpt = None,
    risk: RiskOpt = None,
    pot_level: PotLevelOpt = None,
    alerts_per: AlertsPerOpt = None,
    rows: RowsOpt = None,
    alpha: AlphaOpt = None,
    beta: Annotated[
        float | None,
        typer.Option(
            "--beta",
            help=f"fbeta: weight of recall against precision ({default('fbeta', 'beta')}).",
        ),
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="fbeta: 0/1 column of DATA marking true anomalies.")
    ] = None,
    id_column: IdOpt = None,
    no_header: NoHeaderOpt = False,
    names: NamesOpt = None,
    dry_run: Annotated[
        bool, typer.Option(help="Print the new threshold; do not rewrite the bundle.")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Refit the threshold on DATA without retraining; rewrite MODEL atomically.

    DATA is normal data, except for fbeta, which picks the threshold with the best F-beta
    on labelled DATA (--label-column). Label-free methods (not manual) also make DATA's
    scores the calibration set of `score --p-values`.
    """
    from ..detector import Detector
    from ..io.reading import HEADER, read_frame, source_name
    from ..params import resolve_params
    from ..scoring.thresholds import describe

    settle_heap()
    params = method_params(q, k, value, risk, pot_level, alerts_per, rows, alpha, beta)
    if label_column is not None and method != ThresholdMethod.fbeta:
        raise UsageError("--label-column is only used by --method fbeta")
    resolve_params(method.value, params, labelled=label_column is not None)
    header = read_header(no_header, names)
    detector = Detector.load(model)
    tables = ((source_name(path), read_frame(path, header or HEADER)) for path in data)
    refit = detector.refit_threshold(tables, method.value, label_column, id_column, **params)
    scores, labels = refit.scores, refit.labels
    typer.echo(f"old threshold: {_flag_line(refit.old, scores, labels)}  ({refit.old_method})")
    typer.echo(
        f"new threshold: {_flag_line(refit.value, scores, labels)}  "
        f"({describe(refit.method, refit.params)})"
    )
    if refit.calibration_rows is not None:
        typer.echo(f"calibration for --p-values: the {refit.calibration_rows} rows of DATA")
    if dry_run:
        typer.echo("dry run: bundle not changed")
        return
    detector.save(model)
    typer.echo(f"wrote {model}")


def _flag_line(value: float, scores, labels) -> str:
    """'1.23  flags 12 of 3000 rows (0.40%)' and, with labels, precision / recall / F1.

    Raw flags, score > value: what the threshold alone does, before score's alert rules."""
    flags = scores > value
    line = f"{value:.6g}  flags {int(flags.sum())} of {len(scores)} rows ({flags.mean():.2%})"
    if labels is None:
        return line
    from ..views.metrics import point_metrics

    m = point_metrics(labels, flags)
    return line + f", precision {m['precision']:.3f} recall {m['recall']:.3f} F1 {m['f1']:.3f}"


class ReportFormat(str, Enum):
    table = "table"
    json = "json"


def evaluate(
    model: Annotated[Path, typer.Argument(help="Model bundle.")],
    data: Annotated[str, typer.Argument(help="Labelled data (CSV, Parquet or -).")],
    label_column: Annotated[str, typer.Option(help="0/1 column marking true anomalies.")],
    id_column: IdOpt = None,
    time_column: TimeOpt = None,
    no_header: NoHeaderOpt = False,
    names: NamesOpt = None,
    threshold: Annotated[
        float | None, typer.Option(help="Evaluate this threshold instead of the bundle's.")
    ] = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="table (for people) or json.")
    ] = ReportFormat.table,
    merge_gap: MergeGapOpt = None,
    min_rows: MinRowsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Detection metrics of MODEL on labelled DATA, beside the flag-all / flag-none baselines.

    Point-adjusted F1 counts a whole event as detected when any of its rows is flagged: it
    is optimistic and not comparable with point F1.
    """
    import json

    from ..detector import Detector
    from ..io.data import require_columns
    from ..io.reading import read_frame, source_name
    from ..views.metrics import binary_labels, evaluate_all

    settle_heap()
    check_alert_rules(merge_gap, min_rows)
    header = read_header(no_header, names)
    detector = Detector.load(model, threshold=threshold)
    name, frame = source_name(data), read_frame(data, header)
    require_columns(frame, [label_column], name)
    columns = (label_column, id_column, time_column, merge_gap, min_rows)
    scored, groups = _scored_in_series_order(detector, frame, name, *columns)
    labels = binary_labels(scored[label_column], label_column)
    scores, flags = scored["score"].to_numpy(), scored["is_anomaly"].to_numpy(dtype=bool)
    threshold = detector.require_fitted().threshold
    report = evaluate_all(labels, scores, threshold, groups, flags)
    report["lstmae"]["threshold"] = threshold
    if fmt == ReportFormat.json:
        clean = {column: {k: _json_number(v) for k, v in m.items()} for column, m in report.items()}
        typer.echo(json.dumps(clean, indent=2))
        return
    _print_report(report)


def _json_number(value):
    """Floats to six significant digits (NaN: null), as `score` writes scores."""
    import math

    if not isinstance(value, float):
        return value
    return None if math.isnan(value) else float(f"{value:.6g}")


def _scored_in_series_order(
    detector, frame, name, label_column, id_column, time_column, merge_gap=None, min_rows=None
):
    """Row scores with the label column, each series contiguous and in time order, and the
    series key of each row (None for a single series)."""
    from ..scoring.alerts import AlertRules

    run = detector.score(
        frame, "row", AlertRules(merge_gap, min_rows), name=name, keep=[label_column],
        id_column=id_column, time_column=time_column,
    )  # fmt: skip
    scored = run.frame()
    if run.id_column is None:
        return scored, None
    scored = scored.sort_values([run.id_column, "row"], kind="stable", ignore_index=True)
    return scored, scored[run.id_column].astype(str).to_numpy()


def _print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..views.metrics import EVALUATE_COLUMNS, METRIC_LABELS

    ours = report["lstmae"]
    table = Table(title=f"Detection metrics (threshold {ours['threshold']:.6g})")
    table.add_column("metric")
    for column in EVALUATE_COLUMNS:
        table.add_column(column, justify="right")
    for key, label in METRIC_LABELS.items():
        cells = [_cell(result.get(key)) for result in report.values()]
        table.add_row(label, *cells)
    console = Console()
    console.print(table)
    console.print(
        "point-adjusted F1 marks a whole true event found when any of its rows is flagged: "
        "optimistic, never compare it with point F1."
    )
    if ours["f1"] <= report["flag_all"]["f1"]:
        console.print("note: point F1 is not above flagging every row on this data.")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.4f}"
    return str(value)
