"""inspect, plot, report and train --plot-history: decoded PNGs, parsed HTML, real numbers."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from lstmae_cli import Detector
from lstmae_cli.cli.app import app
from lstmae_cli.cli.views import sparkline
from lstmae_cli.errors import InputError, UsageError
from lstmae_cli.views.plot import make_view, one_series, plot_view, score_rows, zoom

from ..helpers import make_frame

runner = CliRunner()
SPIKE = slice(300, 321)  # rows of the injected anomaly in `labelled_csv`


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # decodes every pixel, not just the header
        return image.size


@pytest.fixture(scope="module")
def labelled_csv(tmp_path_factory, small_frame) -> Path:
    """small_frame with a level shift on f1 in SPIKE, marked in an `anomaly` column."""
    frame = small_frame.copy()
    # inside the out-of-range warning limit, and clear enough for the 3-epoch tiny model
    # to raise an alert longer than its smoothing (at +1.5 one row crossed, like noise)
    frame.loc[SPIKE, "f1"] += 2.0
    frame["anomaly"] = 0
    frame.loc[SPIKE, "anomaly"] = 1
    path = tmp_path_factory.mktemp("views") / "labelled.csv"
    frame.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------ inspect
def test_inspect_json_has_training_stats_and_time_span(tiny_model, small_frame):
    result = run("inspect", tiny_model, "--format", "json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    train_rows = small_frame["f0"].to_numpy()[: int(len(small_frame) * 0.8)]  # val 0.2 held out
    stats = info["feature_stats"]
    assert list(stats) == ["f0", "f1", "f2"]
    assert stats["f0"]["mean"] == pytest.approx(train_rows.mean(), rel=1e-5, abs=1e-6)
    assert stats["f0"]["std"] == pytest.approx(train_rows.std(), rel=1e-5)
    assert info["data"]["time_start"] == small_frame["timestamp"].iloc[0]
    assert info["data"]["time_end"] == small_frame["timestamp"].iloc[-1]


def test_inspect_table_shows_features_and_sparkline(tiny_model):
    result = run("inspect", tiny_model)
    assert result.exit_code == 0, result.output
    for text in ("parameters", "f0", "f2", "mean", "std", "train_loss", "val_loss", "quantile"):
        assert text in result.stdout
    # the tiny model: seq_len 16, smooth 16 // 4 = 4
    assert "gaps of <= 16 rows joined, alerts of >= 5 rows" in " ".join(result.stdout.split())
    history = json.loads(run("inspect", tiny_model, "--format", "json").stdout)["history"]
    line = next(x for x in result.stdout.splitlines() if x.startswith("train_loss"))
    assert sparkline([h["train_loss"] for h in history]) in line


def test_inspect_plot_writes_history_png(tmp_path, tiny_model):
    out = tmp_path / "history.png"
    assert run("inspect", tiny_model, "--plot", out).exit_code == 0
    assert png_size(out.read_bytes()) == (700, 360)


def test_sparkline_follows_the_values():
    assert sparkline([8.0, 4.0, 2.0, 1.0]) == "█▆▃▁"
    assert sparkline([3.0, 3.0]) == "▁▁"
    long = sparkline(list(np.geomspace(100, 1, 500)), width=50)
    assert len(long) == 50 and long[0] == "█" and long[-1] == "▁"


# --------------------------------------------------------------------------------- plot
def test_plot_png_size_grows_with_feature_panels(tmp_path, tiny_model, labelled_csv):
    sizes = []
    for most in (1, 3):
        out = tmp_path / f"plot{most}.png"
        args = ("--max-features", most, "--width", 10, "--dpi", 50, "--label-column", "anomaly")
        result = run("plot", tiny_model, labelled_csv, "-o", out, *args)
        assert result.exit_code == 0, result.output
        sizes.append(png_size(out.read_bytes()))
    assert sizes[0][0] == sizes[1][0] == 500  # 10 inches at 50 dpi
    assert sizes[1][1] - sizes[0][1] == 2 * 50  # two more 1-inch feature panels


def test_plot_panels_shading_and_legend(tiny_model, labelled_csv):
    detector = Detector.load(tiny_model)
    frame = pd.read_csv(labelled_csv)
    rows, run = score_rows(detector, frame, "x", "anomaly")
    id_column, time_column = run.id_column, run.time_column
    assert id_column is None and time_column == "timestamp"
    view = make_view(detector, rows, time_column, "anomaly", 2, "title")
    assert len(view.features) == 2 and "f1" in view.features  # the shifted feature is kept
    figure = plot_view(view)
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 2 + 2  # two features, score, heatmap
    assert rows["is_anomaly"].iloc[SPIKE].any()
    assert all(ax.collections for ax in panels[:3])  # flagged / labelled spans shaded
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert "labelled (anomaly)" in legend and any(t.startswith("threshold") for t in legend)


def test_plot_with_twenty_features(tmp_path):
    frame = make_frame(200, features=20)
    model = tmp_path / "wide.safetensors"
    quick = {"seq_len": 8, "hidden": 4, "epochs": 1, "max_windows_per_epoch": 64}
    Detector(**quick).fit([("wide", frame)]).save(model)
    data, out = tmp_path / "wide.csv", tmp_path / "wide.png"
    frame.to_csv(data, index=False)
    result = run("plot", model, data, "-o", out, "--max-features", 20, "--dpi", 40)
    assert result.exit_code == 0, result.output
    width, height = png_size(out.read_bytes())
    assert width == 480 and height > 20 * 0.75 * 40  # 20 feature panels at least


def test_zoom_by_row_number_and_by_time(tiny_model, small_csv, small_frame):
    detector = Detector.load(tiny_model)
    rows, run = score_rows(detector, small_frame, "x")
    time_column = run.time_column
    by_row = zoom(rows, time_column, "100", "199")
    assert by_row["row"].tolist() == list(range(100, 200))
    by_time = zoom(rows, time_column, "2026-01-01 01:40", "2026-01-01 01:49:00")
    assert by_time["row"].tolist() == list(range(100, 110))  # one row a minute
    with pytest.raises(UsageError):
        zoom(rows, time_column, "soon", None)
    with pytest.raises(InputError):
        zoom(rows, time_column, "700", None)
    with pytest.raises(UsageError):
        zoom(rows, None, "2026-01-01", None)


def test_one_series_picks_by_id():
    rows = pd.DataFrame({"unit": ["a", "a", "b"], "row": [0, 1, 0]})
    assert one_series(rows, "unit", None)["unit"].tolist() == ["a", "a"]
    assert one_series(rows, "unit", "b")["row"].tolist() == [0]
    with pytest.raises(InputError):
        one_series(rows, "unit", "c")
    with pytest.raises(UsageError):
        one_series(rows, None, "a")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--label-column", "nope"), 1),
        (("--start", "not-a-time"), 2),
        (("--max-features", "0"), 2),
        (("--start", "5000"), 1),
    ],
)
def test_plot_errors_are_one_line_and_leave_no_file(tmp_path, tiny_model, small_csv, args, code):
    out = tmp_path / "out.png"
    result = run("plot", tiny_model, small_csv, "-o", out, *args)
    assert result.exit_code == code
    assert result.output.count("\n") == 1 and result.output.startswith("lstmae: error")
    assert list(tmp_path.iterdir()) == []


def test_plot_unknown_format_is_a_usage_error(tmp_path, tiny_model, small_csv):
    result = run("plot", tiny_model, small_csv, "-o", tmp_path / "out.jpg")
    assert result.exit_code == 2 and "unknown figure format" in result.output


# ------------------------------------------------------------------------------- report
class PageParser(HTMLParser):
    """Collects tables (id -> rows of cell texts) and <img> sources."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.external: list[str] = []
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id", ""), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in ("script", "link", "iframe") or str(attrs.get("href", "")).startswith("http"):
            self.external.append(tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse_report(path: Path) -> PageParser:
    page = PageParser()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def test_report_is_self_contained_with_tables_and_images(tmp_path, tiny_model, labelled_csv):
    out = tmp_path / "report.html"
    result = run("report", tiny_model, labelled_csv, "-o", out, "--label-column", "anomaly")
    assert result.exit_code == 0, result.output
    page = parse_report(out)
    assert page.external == []
    assert len(page.images) == 2
    for src in page.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        width, height = png_size(base64.b64decode(src[len(prefix) :]))
        assert width > 400 and height > 200
    assert set(page.tables) == {"events", "evaluate", "model"}
    events = page.tables["events"]
    header = events[0]
    starts = [row[header.index("start")] for row in events[1:]]
    times = pd.read_csv(labelled_csv)["timestamp"]
    assert any(times[SPIKE.start - 5] <= s <= times[SPIKE.stop - 1] for s in starts)
    late = times[SPIKE.stop + 16]  # an alert can last up to a window (seq_len 16) past it
    spike_event = next(r for r in events[1:] if times[SPIKE.start - 5] <= r[1] <= late)
    assert spike_event[-1].startswith("f1 ")  # the shifted feature leads the top features
    metrics = {row[0]: row[1:] for row in page.tables["evaluate"][1:]}
    assert page.tables["evaluate"][0] == ["metric", "lstmae", "flag every row", "flag nothing"]
    recall = metrics["point recall"]
    assert float(recall[0]) > 0 and float(recall[1]) == 1.0
    assert any(row[0] == "parameters" for row in page.tables["model"])


def test_report_without_labels_has_no_evaluate_table(tmp_path, tiny_model, labelled_csv):
    out = tmp_path / "report.html"
    assert run("report", tiny_model, labelled_csv, "-o", out).exit_code == 0
    page = parse_report(out)
    assert "evaluate" not in page.tables and {"events", "model"} <= set(page.tables)
    assert "No --label-column" in out.read_text(encoding="utf-8")


def test_report_follows_the_alert_rules(tmp_path, tiny_model, small_csv):
    """On normal data the tiny model's blips are shorter than its default --min-rows."""
    default, every = tmp_path / "default.html", tmp_path / "every.html"
    assert run("report", tiny_model, small_csv, "-o", default).exit_code == 0
    assert run("report", tiny_model, small_csv, "-o", every, "--min-rows", 1).exit_code == 0
    assert "events" not in parse_report(default).tables
    assert "No events: no alert was raised" in default.read_text(encoding="utf-8")
    assert "events" in parse_report(every).tables


@pytest.mark.filterwarnings("ignore:.*far outside anything seen in training")
def test_report_lists_the_events_score_finds_by_series_id(tmp_path, tiny_model, small_frame):
    """Ids 10 and 2: listed by value (2 first), as the report always did, while `score`
    closes machine 10's events first; the same events, start and end, as score's."""
    shifted = small_frame.copy()
    shifted.loc[200:204, "f2"] += 4.0
    fleet = pd.concat([shifted.assign(machine=10), shifted.assign(machine=2)])
    data, out = tmp_path / "fleet.csv", tmp_path / "fleet.html"
    fleet.to_csv(data, index=False)
    result = run("report", tiny_model, data, "-o", out, "--id-column", "machine")
    assert result.exit_code == 0, result.output
    table = parse_report(out).tables["events"]
    listed = [(row[0], row[1], row[2]) for row in table[1:]]
    scored = run("score", tiny_model, data, "--id-column", "machine", "--level", "event")
    events = pd.read_csv(io.StringIO(scored.stdout), dtype=str)
    in_score_order = list(events[["machine", "start", "end"]].itertuples(index=False, name=None))
    assert in_score_order[0][0] == "10" and len(listed) == len(in_score_order) >= 2
    assert listed == sorted(in_score_order, key=lambda event: int(event[0]))


# -------------------------------------------------------------------------------- train
def test_train_plot_history(tmp_path, small_csv):
    model, figure = tmp_path / "m.safetensors", tmp_path / "history.png"
    args = ("--seq-len", 16, "--hidden", 8, "--epochs", 2, "--quiet")
    result = run("train", small_csv, "-o", model, "--plot-history", figure, *args)
    assert result.exit_code == 0, result.output
    assert png_size(figure.read_bytes()) == (700, 360)


def test_train_plot_history_bad_format_fails_before_training(tmp_path, small_csv):
    model = tmp_path / "m.safetensors"
    result = run("train", small_csv, "-o", model, "--plot-history", tmp_path / "h.gif")
    assert result.exit_code == 2 and "unknown figure format" in result.output
    assert not model.exists()


def test_help_lists_the_view_commands():
    result = run("--help")
    assert result.exit_code == 0
    assert "plot" in result.stdout and "report" in result.stdout
    assert "--plot-history" in run("train", "--help").stdout
