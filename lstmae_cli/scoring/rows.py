"""Batched, streaming reconstruction errors and the window -> row mapping.

A row's error for a feature is the mean of its squared reconstruction error over every
window that covers it; edge rows are covered by fewer windows, never padded. Its score is
the mean of those per-feature errors. The same code scores the held-out part at training
time and any input at score time.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import InputError, LstmaeWarning
from ..nn.threads import single_intra_op_thread
from ..nn.windows import gather_windows, window_starts
from ..params import PRECISIONS, SCORINGS


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 matrix products run natively here (CUDA, or a CPU with AVX512-BF16/AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(
        torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


@functools.cache
def bf16_lstm_runs_on_cpu() -> bool:
    """Whether an LSTM runs under bf16 autocast on this CPU: oneDNN has no bf16 LSTM for
    some CPUs (AVX2 only) and raises instead of falling back."""
    lstm = nn.LSTM(2, 2, batch_first=True)
    try:
        with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
            lstm(torch.zeros(1, 2, 2))
    except RuntimeError:
        return False
    return True


def resolve_precision(precision: str, device: torch.device) -> str:
    """auto -> bf16 where it runs natively, else fp32; bf16 where it cannot run at all ->
    fp32, with a warning."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    if precision == "bf16" and device.type == "cpu" and not bf16_lstm_runs_on_cpu():
        warnings.warn(
            LstmaeWarning("--precision bf16: this CPU has no bf16 LSTM kernels; scoring in fp32"),
            stacklevel=2,
        )
        return "fp32"
    return precision


def reconstruction_errors(
    model: nn.Module, windows: torch.Tensor, precision: str = "fp32"
) -> torch.Tensor:
    """windows: (batch, seq_len, features) -> squared errors in fp32, same shape.

    With precision "bf16" the network runs under bf16 autocast; the error is taken in fp32.
    """
    with torch.autocast(windows.device.type, torch.bfloat16, enabled=precision == "bf16"):
        reconstruction = model(windows)  # (batch, seq_len, features)
    return (reconstruction.float() - windows).square()


class RowScorer:
    """Scores one series pushed in chunks; emits rows once no future window can cover them.

    Between pushes it keeps the rows not yet final and enough rows before them for a last
    window ending at the final row (seq_len rows in all), so memory does not grow
    with the length of the series and a chunked run gives the same rows as one push.
    """

    def __init__(
        self,
        model: nn.Module,
        seq_len: int,
        stride: int = 1,
        batch_size: int = 2048,
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        workers: int | None = None,
    ) -> None:
        if not 1 <= stride <= seq_len:
            raise InputError(f"score stride must be between 1 and seq_len ({seq_len})")
        self.model, self.seq_len, self.stride = model, seq_len, stride
        self.batch_size, self.device = batch_size, torch.device(device)
        self.precision = resolve_precision(precision, self.device)
        # None: as many as torch's intra-op threads (the thread policy's choice)
        self.workers = torch.get_num_threads() if workers is None else workers
        n_features = _n_features(model)
        self.rows = torch.empty((0, n_features), dtype=torch.float32)  # (kept, features)
        self.sums = torch.zeros((0, n_features), dtype=torch.float64)  # (kept, features)
        self.counts = torch.zeros(0, dtype=torch.int64)  # (kept,)
        self.pending_from = 0  # first kept row not yet emitted
        self.next_start = 0  # start of the next window, as an index into the kept rows
        self.total_rows = 0

    def push(self, values: np.ndarray) -> np.ndarray:
        """values: (rows, features) scaled -> per-feature errors of the rows now final."""
        new = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        self.rows = torch.cat([self.rows, new])
        self.sums = torch.cat([self.sums, torch.zeros(new.shape, dtype=torch.float64)])
        self.counts = torch.cat([self.counts, torch.zeros(len(new), dtype=torch.int64)])
        self.total_rows += len(new)
        starts = window_starts(len(self.rows) - self.next_start, self.seq_len, self.stride)
        if len(starts):
            self._accumulate(starts + self.next_start)
            self.next_start += int(starts[-1]) + self.stride
        errors = self._emit(min(self.next_start, len(self.rows)))
        self._drop_context()
        return errors

    def finish(self) -> np.ndarray:
        """Errors of the remaining rows; a last window ending at the last row covers the tail."""
        if self.total_rows < self.seq_len:
            raise InputError(
                f"series has {self.total_rows} rows, fewer than seq_len {self.seq_len}"
            )
        if bool((self.counts[self.pending_from :] == 0).any()):
            self._accumulate(np.array([len(self.rows) - self.seq_len]))
        return self._emit(len(self.rows))

    def _accumulate(self, starts: np.ndarray) -> None:
        """Add the squared errors of the windows at `starts` (kept-row indices) to their rows."""
        offsets = torch.arange(self.seq_len)
        rows = self.rows.to(self.device)
        batches = [
            torch.from_numpy(starts[begin : begin + self.batch_size])
            for begin in range(0, len(starts), self.batch_size)
        ]

        def errors_of(batch: torch.Tensor) -> torch.Tensor:
            """(b,) window starts -> (b, L, F) squared errors on the CPU."""
            windows = gather_windows(rows, batch.to(self.device), self.seq_len)
            with torch.inference_mode():
                return reconstruction_errors(self.model, windows, self.precision).cpu()

        for batch, errors in zip(batches, self._map(errors_of, batches), strict=True):
            index = (batch[:, None] + offsets).reshape(-1)  # (b * L,)
            self.sums.index_add_(0, index, errors.reshape(-1, errors.shape[-1]).double())
            self.counts.index_add_(0, index, torch.ones_like(index))

    def _map(self, work: Callable[[torch.Tensor], torch.Tensor], batches: list[torch.Tensor]):
        """work over batches, in order: on `workers` threads of one intra-op thread each
        (the CPU, several batches), else here."""
        if self.workers <= 1 or self.device.type != "cpu" or len(batches) < 2:
            return map(work, batches)
        return _on_single_threaded_workers(work, batches, self.workers)

    def _emit(self, end: int) -> np.ndarray:
        """Errors of kept rows [pending_from, end) -> (rows, features); they become context."""
        sums, counts = self.sums[self.pending_from : end], self.counts[self.pending_from : end]
        self.pending_from = max(self.pending_from, end)
        return (sums / counts.clamp(min=1)[:, None]).numpy()

    def _drop_context(self) -> None:
        """Forget emitted rows beyond the seq_len a final window may still need."""
        drop = min(self.pending_from, len(self.rows) - self.seq_len)
        if drop > 0:
            self.rows, self.sums, self.counts = (
                self.rows[drop:],
                self.sums[drop:],
                self.counts[drop:],
            )
            self.pending_from -= drop
            self.next_start -= drop


def _on_single_threaded_workers(
    work: Callable[[torch.Tensor], torch.Tensor], batches: list[torch.Tensor], workers: int
) -> list[torch.Tensor]:
    """[work(b) for b in batches], computed by `workers` threads that each run torch's
    kernels on one intra-op thread: small LSTM batches scale better so than on one
    thread with several intra-op threads (docs/speed.md, "Scoring on several cores")."""
    with (
        single_intra_op_thread(),
        ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool,
    ):
        return list(pool.map(work, batches))


def _n_features(model: nn.Module) -> int:
    # an LSTMAutoencoder, possibly wrapped; nn.Module.__getattr__ is typed Tensor | Module
    return int(model.config.n_features)  # type: ignore[union-attr,arg-type]


def score_series(
    model: nn.Module, values: np.ndarray, seq_len: int, stride: int = 1, batch_size: int = 2048
) -> np.ndarray:
    """values: (rows, features) scaled -> (rows, features) per-feature row errors."""
    scorer = RowScorer(model, seq_len, stride, batch_size, _device_of(model))
    return np.concatenate([scorer.push(values), scorer.finish()])


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


class ScoreSmoother:
    """Trailing mean of the last `window` row scores of one series, carried across chunks.

    Causal, so a stream gives the same values whatever its chunk boundaries. It turns the
    single-row spikes of noisy reconstruction into nothing and sustained deviations into
    alerts (measured: docs/how-it-works.md, `--smooth`).
    """

    def __init__(self, window: int = 1) -> None:
        self.window = window
        self.tail = np.empty(0)  # the last window - 1 raw scores

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """(rows,) raw scores -> (rows,) smoothed scores."""
        if self.window <= 1 or not len(scores):
            return scores
        joined = np.concatenate([self.tail, scores])  # (tail + rows,)
        sums = np.cumsum(np.concatenate([[0.0], joined]))
        ends = np.arange(len(self.tail), len(joined)) + 1  # one past each new row
        starts = np.maximum(ends - self.window, 0)
        self.tail = joined[-(self.window - 1) :]
        return (sums[ends] - sums[starts]) / (ends - starts)


def smooth_series(scores: list[np.ndarray], window: int) -> np.ndarray:
    """Smooth each series' scores on its own, then concatenate."""
    return np.concatenate([ScoreSmoother(window)(s) for s in scores]) if scores else np.empty(0)


@dataclass
class ScoreModel:
    """Turns a row's per-feature errors into one score, calibrated on held-out normal errors.

    mean:        the mean of the per-feature errors.
    normalized:  the mean of each feature's error divided by its held-out mean error, so a
                 channel that is always hard to reconstruct does not drown the others.
    mahalanobis: the squared Mahalanobis distance of the error vector from a Gaussian
                 fitted on held-out errors (Malhotra et al., 2016).
    """

    method: str
    center: np.ndarray  # (features,) mean held-out error of each feature
    inverse_covariance: np.ndarray  # (features, features) of the held-out errors

    def score(self, errors: np.ndarray) -> np.ndarray:
        """(rows, features) -> (rows,)."""
        if self.method == "mean":
            return errors.mean(axis=1)
        if self.method == "normalized":
            return (errors / self.center).mean(axis=1)
        centered = errors - self.center  # (rows, features)
        return np.einsum("ij,jk,ik->i", centered, self.inverse_covariance, centered)

    @property
    def feature_weights(self) -> np.ndarray:
        """(features,) 1 / each feature's normal error: errors times these are comparable
        across features (how events name their top features and plots pick theirs)."""
        return 1.0 / self.center


def fit_score_model(method: str, errors: np.ndarray) -> ScoreModel:
    """Fit `method` on (rows, features) held-out per-feature errors."""
    if method not in SCORINGS:
        raise InputError(f"unknown scoring {method!r} (choose from {', '.join(SCORINGS)})")
    errors = np.asarray(errors, dtype=np.float64)
    center = np.maximum(errors.mean(axis=0), 1e-12)
    covariance = np.atleast_2d(np.cov(errors, rowvar=False))
    ridge = 1e-6 * max(float(np.trace(covariance)) / len(center), 1e-12)
    inverse_covariance = np.linalg.pinv(covariance + ridge * np.eye(len(center)))
    return ScoreModel(method, center, inverse_covariance)


# --------------------------------------------------------------- --missing mask
# Entries that were missing in the input are left out of a row's score: their per-feature
# error is NaN and the score uses the observed features only.


def score_observed(
    model: ScoreModel, errors: np.ndarray, observed: np.ndarray | None
) -> np.ndarray:
    """(rows, features) errors and observed mask -> (rows,) scores over observed features.

    mean / normalized average the observed features; mahalanobis uses the marginal
    Gaussian of the observed features. A row with nothing observed scores 0. Never NaN.
    """
    if observed is None or observed.all():
        return model.score(np.nan_to_num(errors))
    errors = np.where(observed, errors, 0.0)
    if model.method != "mahalanobis":
        weights = observed / (model.center if model.method == "normalized" else 1.0)
        return (errors * weights).sum(axis=1) / np.maximum(observed.sum(axis=1), 1)
    covariance = np.linalg.inv(model.inverse_covariance)  # (features, features)
    scores = np.zeros(len(errors))
    patterns, which = np.unique(observed, axis=0, return_inverse=True)
    for number, pattern in enumerate(patterns):
        rows = np.flatnonzero(which.reshape(-1) == number)
        if not pattern.any():
            continue
        centered = errors[np.ix_(rows, pattern)] - model.center[pattern]  # (rows, observed)
        sub = covariance[np.ix_(pattern, pattern)]
        inverse = model.inverse_covariance if pattern.all() else np.linalg.pinv(sub)
        scores[rows] = np.einsum("ij,jk,ik->i", centered, inverse, centered)
    return scores


def fill_missing_errors(errors: np.ndarray, observed: np.ndarray | None) -> np.ndarray:
    """Errors of missing entries replaced by their feature's mean observed error (for fitting)."""
    if observed is None or observed.all():
        return errors
    means = np.nanmean(np.where(observed, errors, np.nan), axis=0)  # (features,)
    return np.where(observed, errors, np.nan_to_num(means)[None, :])
