"""Property tests: whatever the input, the reader and the windowing raise nothing but the
tool's own errors, and row scores always have one finite value per input row."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmae_cli import Detector
from lstmae_cli.errors import LstmaeError
from lstmae_cli.io.data import MissingFiller, feature_matrix, resolve_roles
from lstmae_cli.io.reading import read_frame
from lstmae_cli.nn.windows import WindowBank, window_starts

CELLS = st.sampled_from(
    ["1", "-2.5", "3e4", "", "nan", "inf", "-inf", "x", "NaN", " 7 ", "1,5", '"8"', "0x1f", "é"]
)
SEPARATORS = st.sampled_from([",", ";", "\t"])
FAST_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def csv_texts(draw) -> bytes:
    """Mostly CSV-shaped text with odd cells and ragged rows; sometimes raw bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    sep = draw(SEPARATORS)
    width = draw(st.integers(1, 4))
    names = st.sampled_from(["a", "b", "time", "c d", "", "a.1"])
    header = draw(st.lists(names, min_size=width, max_size=width, unique=True))
    if draw(st.integers(0, 5)) == 0:
        header.append(header[0])  # a duplicated name now and then
    rows = draw(
        st.lists(st.lists(CELLS, min_size=max(width - 1, 1), max_size=width + 1), max_size=30)
    )
    lines = [sep.join(header), *(sep.join(row) for row in rows)]
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))
    prefix = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    return prefix + text.encode()


def read_everything(path: Path, policy: str) -> np.ndarray:
    frame = read_frame(path)
    roles = resolve_roles(frame, path.name)
    values = feature_matrix(frame, roles.features, path.name)
    return MissingFiller(policy, roles.features, path.name)(values)


@FAST_SETTINGS
@given(content=csv_texts(), policy=st.sampled_from(["mask", "ffill", "interpolate", "error"]))
def test_reading_any_text_raises_only_the_tools_errors(content, policy):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.csv"
        path.write_bytes(content)
        try:
            values = read_everything(path, policy)
        except LstmaeError:
            return
        assert values.ndim == 2 and np.isfinite(values).all()


FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([np.nan, np.inf, 0.0]),
)


@FAST_SETTINGS
@given(
    columns=st.lists(st.lists(FLOATS, min_size=1, max_size=40), min_size=1, max_size=4),
    policy=st.sampled_from(["mask", "ffill", "interpolate", "error"]),
)
def test_any_numbers_are_filled_or_refused(columns, policy):
    length = min(len(c) for c in columns)
    frame = pd.DataFrame({f"c{i}": c[:length] for i, c in enumerate(columns)})
    features = list(frame.columns)
    values = feature_matrix(frame, features, "frame")
    try:
        filled = MissingFiller(policy, features, "frame")(values)
    except LstmaeError:
        assert not np.isfinite(values).all()
        return
    assert filled.shape == values.shape and np.isfinite(filled).all()
    finite = np.isfinite(values)
    np.testing.assert_array_equal(filled[finite], values[finite])


@FAST_SETTINGS
@given(
    lengths=st.lists(st.integers(0, 40), min_size=1, max_size=5),
    seq_len=st.integers(2, 12),
    stride=st.integers(1, 12),
)
def test_windows_stay_inside_their_series(lengths, seq_len, stride):
    stride = min(stride, seq_len)
    series = [np.full((n, 2), i, np.float32) for i, n in enumerate(lengths)]
    bank = WindowBank.from_series(series, seq_len, stride)
    expected = sum(len(window_starts(n, seq_len, stride)) for n in lengths)
    assert len(bank) == expected
    if len(bank):
        import torch

        windows = bank.batch(torch.arange(len(bank)))  # (windows, seq_len, 2)
        # every window holds rows of one series only (each series is filled with its number)
        assert bool((windows == windows[:, :1]).all())


@pytest.fixture(scope="module")
def detector(tiny_model) -> Detector:
    return Detector.load(tiny_model)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    rows=st.integers(1, 90),
    chunk=st.integers(1, 50),
    gaps=st.lists(st.tuples(st.integers(0, 89), st.integers(0, 2)), max_size=12),
)
def test_row_scores_have_one_finite_value_per_row(detector, rows, chunk, gaps):
    rng = np.random.default_rng(rows)
    frame = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["f0", "f1", "f2"])
    for row, column in gaps:
        if row < rows:
            frame.iloc[row, column] = np.nan
    chunks = [frame.iloc[i : i + chunk] for i in range(0, rows, chunk)]
    try:
        scored = pd.concat(list(detector.stream_scores(chunks)), ignore_index=True)
    except LstmaeError as exc:
        assert rows < detector.params.seq_len or frame.isna().all().any(), exc
        return
    assert len(scored) == rows
    assert scored["row"].tolist() == list(range(rows))
    assert np.isfinite(scored["score"]).all()
