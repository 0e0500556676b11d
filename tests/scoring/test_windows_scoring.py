"""Zero-copy windows, and row scores as the mean over every covering window."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmae_cli.errors import LstmaeWarning
from lstmae_cli.nn.model import LSTMAutoencoder, ModelConfig
from lstmae_cli.nn.windows import WindowBank, sliding_view, window_starts
from lstmae_cli.scoring import rows as rows_module
from lstmae_cli.scoring.rows import (
    RowScorer,
    bf16_lstm_runs_on_cpu,
    reconstruction_errors,
    score_series,
)


def test_sliding_view_shares_memory():
    rows = torch.arange(40, dtype=torch.float32).reshape(20, 2)
    view = sliding_view(rows, 5, 1)
    assert view.shape == (16, 5, 2)
    assert view.untyped_storage().data_ptr() == rows.untyped_storage().data_ptr()
    torch.testing.assert_close(view[3], rows[3:8])


def test_bank_windows_never_cross_series():
    a = np.zeros((10, 2), np.float32)
    b = np.ones((7, 2), np.float32)
    bank = WindowBank.from_series([a, b], seq_len=4, stride=1)
    assert len(bank) == (10 - 4 + 1) + (7 - 4 + 1)
    windows = bank.batch(torch.arange(len(bank)))
    assert windows.shape == (len(bank), 4, 2)
    per_window = windows[:, :, 0]
    assert torch.all((per_window == 0).all(1) | (per_window == 1).all(1))


def test_window_starts_with_stride():
    assert window_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert window_starts(3, 4, 1).size == 0


def brute_force_row_errors(model, values, seq_len):
    """Every stride-1 window, each row's mean squared error over the windows covering it."""
    x = torch.from_numpy(values)
    windows = sliding_view(x, seq_len, 1).contiguous()
    with torch.inference_mode():
        errors = reconstruction_errors(model, windows).numpy()  # (n_windows, L, F)
    sums = np.zeros(values.shape)
    counts = np.zeros(len(values))
    for start in range(len(windows)):
        sums[start : start + seq_len] += errors[start]
        counts[start : start + seq_len] += 1
    return sums / counts[:, None], counts


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LSTMAutoencoder(ModelConfig(n_features=3, hidden=8)).eval()


def test_row_error_is_mean_over_covering_windows(model):
    values = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    expected, counts = brute_force_row_errors(model, values, 8)
    assert counts[0] == 1 and counts[-1] == 1 and counts[20] == 8  # edges: fewer, not padded
    np.testing.assert_allclose(score_series(model, values, 8), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("chunk", [1, 3, 7, 8, 13, 50])
@pytest.mark.parametrize("stride", [1, 3, 8])
def test_chunked_equals_whole(model, chunk, stride):
    values = np.random.default_rng(1).normal(size=(61, 3)).astype(np.float32)
    whole = score_series(model, values, 8, stride)
    scorer = RowScorer(model, 8, stride)
    parts = [scorer.push(values[i : i + chunk]) for i in range(0, len(values), chunk)]
    streamed = np.concatenate([*parts, scorer.finish()])
    assert streamed.shape == (61, 3)
    np.testing.assert_allclose(streamed, whole, rtol=1e-5, atol=1e-7)


def test_memory_stays_bounded_while_streaming(model):
    scorer = RowScorer(model, 8, 1)
    for _ in range(20):
        scorer.push(np.zeros((100, 3), np.float32))
        assert len(scorer.rows) <= 8
    assert scorer.total_rows == 2000


def test_stride_still_covers_every_row(model):
    values = np.random.default_rng(2).normal(size=(30, 3)).astype(np.float32)
    errors = score_series(model, values, 8, stride=8)
    assert errors.shape == (30, 3)
    assert np.isfinite(errors).all() and (errors > 0).all()


def test_too_short_series_is_an_error(model):
    from lstmae_cli.errors import InputError

    with pytest.raises(InputError, match="fewer than seq_len"):
        score_series(model, np.zeros((5, 3), np.float32), 8)


@pytest.mark.skipif(not bf16_lstm_runs_on_cpu(), reason="no bf16 LSTM on this CPU")
def test_bf16_fast_path_stays_close_to_fp32(model):
    """The bf16 path (used with `score --precision bf16`) against a plain fp32 reference."""
    values = np.random.default_rng(3).normal(size=(400, 3)).astype(np.float32)
    reference = RowScorer(model, 8, 1, precision="fp32")
    fast = RowScorer(model, 8, 1, precision="bf16")
    assert fast.precision == "bf16"
    expected = np.concatenate([reference.push(values), reference.finish()])
    got = np.concatenate([fast.push(values), fast.finish()])
    rel = np.abs(got.mean(1) - expected.mean(1)) / expected.mean(1)
    assert np.median(rel) < 0.02 and rel.max() < 0.1


def test_bf16_where_the_cpu_has_no_bf16_lstm_scores_in_fp32_with_a_warning(model, monkeypatch):
    """oneDNN raises for a bf16 LSTM on some CPUs (AVX2 only): the run goes on in fp32."""
    monkeypatch.setattr(rows_module, "bf16_lstm_runs_on_cpu", lambda: False)
    with pytest.warns(LstmaeWarning, match="no bf16 LSTM kernels; scoring in fp32"):
        scorer = RowScorer(model, 8, 1, precision="bf16")
    assert scorer.precision == "fp32"


def test_default_score_stride_follows_seq_len():
    from lstmae_cli.detector import DetectorParams

    assert DetectorParams(seq_len=32).score_stride == 8
    assert DetectorParams(seq_len=4).score_stride == 1
    assert DetectorParams(seq_len=2).score_stride == 1
    assert DetectorParams(seq_len=32, score_stride=1).score_stride == 1


@pytest.mark.parametrize("window", [1, 3, 16])
def test_smoother_is_a_trailing_mean_whatever_the_chunks(window):
    import pandas as pd

    from lstmae_cli.scoring.rows import ScoreSmoother

    scores = np.random.default_rng(4).exponential(size=100)
    expected = pd.Series(scores).rolling(window, min_periods=1).mean().to_numpy()
    smoother = ScoreSmoother(window)
    parts = [smoother(scores[i : i + 7]) for i in range(0, 100, 7)]
    np.testing.assert_allclose(np.concatenate(parts), expected)


def test_smoothing_is_applied_per_series_at_score_and_fit_time(small_frame):
    from lstmae_cli import Detector

    from ..helpers import FAST

    raw = Detector(**FAST, smooth=1).fit([("x", small_frame)])
    smoothed = Detector(**FAST, smooth=8).fit([("x", small_frame)])
    a = raw.score_frame(small_frame)["score"].to_numpy()
    b = smoothed.score_frame(small_frame)["score"].to_numpy()
    import pandas as pd

    np.testing.assert_allclose(b, pd.Series(a).rolling(8, min_periods=1).mean(), rtol=1e-9)
    assert smoothed.threshold_ != raw.threshold_


def test_several_workers_give_the_same_bits_and_restore_the_threads(model):
    """Scoring on worker threads of one intra-op thread each (a CPU process allowed
    several cores) computes the same batches and adds them in the same order: the same
    bits as one worker, and torch's thread count is as it was afterwards."""
    values = np.random.default_rng(3).normal(size=(3000, 3)).astype(np.float32)
    before = torch.get_num_threads()
    results = {}
    for workers in (1, 2, 3):
        scorer = RowScorer(model, 8, 2, batch_size=64, workers=workers)
        parts = [scorer.push(values[i : i + 700]) for i in range(0, len(values), 700)]
        results[workers] = np.concatenate([*parts, scorer.finish()])
        assert torch.get_num_threads() == before
    np.testing.assert_array_equal(results[2], results[1])
    np.testing.assert_array_equal(results[3], results[1])


def test_workers_default_to_torch_threads(model):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert RowScorer(model, 8).workers == 2
    finally:
        torch.set_num_threads(before)
