"""A drift allowance: each feature's slowly moving level, taken off before the network sees it.

Real plants drift within normal operation (a housing warms up over hours): once a slow
channel leaves the range of the training rows, every later row would be flagged. The
tracker follows each feature's level in the scaled units of the training data: rows are
taken in blocks of BLOCK rows from the first row of a series, and after each whole block
the level moves toward the block's median by at most `rate * BLOCK`. A drift slower than
`rate` (scaled units per row) is followed; a faster change, as most faults are, stays
visible for about (its size / rate) rows. Each row is shifted by the level reached before
its block, so the result depends on past rows only and is the same however the series is
cut into chunks. rate 0 turns it off. Measured in benchmarks/skab_frontier.py and
docs/benchmarks.md.
"""

from __future__ import annotations

import numpy as np

BLOCK = 32  # rows per level update


class DriftTracker:
    """Feed one series' (rows, features) scaled values in order; get them less their level."""

    def __init__(self, n_features: int, rate: float) -> None:
        self.rate = rate
        self.level = np.zeros(n_features)  # (features,) the training data's mean at first
        self.partial = np.empty((0, n_features))  # (< BLOCK, features) rows of the open block

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """(rows, features) -> (rows, features) values relative to the tracked level."""
        if self.rate <= 0 or not len(values):
            return values
        dtype, values = values.dtype, np.asarray(values, dtype=np.float64)
        head = min(BLOCK - len(self.partial), len(values))
        out = [values[:head] - self.level]
        self.partial = np.concatenate([self.partial, values[:head]])
        if len(self.partial) < BLOCK:
            return out[0].astype(dtype, copy=False)
        self._step(np.median(self.partial, axis=0))  # BLOCK is even: the same median
        rest = values[head:]
        whole = len(rest) // BLOCK * BLOCK
        if whole:
            blocks = rest[:whole].reshape(-1, BLOCK, rest.shape[1])  # (blocks, BLOCK, F)
            ordered = np.sort(blocks, axis=1)  # numpy's SIMD sort beats a partition here
            medians = ordered[:, BLOCK // 2 - 1 : BLOCK // 2 + 1].mean(axis=1)  # (blocks, F)
            levels = self._levels(medians)  # level before each block
            out.append((blocks - levels[:, None, :]).reshape(whole, -1))
        self.partial = rest[whole:]
        out.append(self.partial - self.level)
        return np.concatenate(out).astype(dtype, copy=False)

    def _levels(self, medians: np.ndarray) -> np.ndarray:
        """(blocks, F) block medians -> (blocks, F) the level before each block; steps
        through them as _step does, one feature at a time in Python floats (the same
        float64 arithmetic, without a numpy call per block: docs/speed.md)."""
        limit = self.rate * BLOCK
        levels = np.empty_like(medians)
        for feature in range(medians.shape[1]):
            level, before = float(self.level[feature]), []
            for median in medians[:, feature].tolist():
                before.append(level)
                step = median - level
                level += limit if step > limit else -limit if step < -limit else step
            levels[:, feature] = before
            self.level[feature] = level
        return levels

    def _step(self, median: np.ndarray) -> None:
        """Move the level toward a block's median by at most rate * BLOCK (in place: hot)."""
        limit = self.rate * BLOCK
        step = median - self.level
        np.minimum(step, limit, out=step)
        np.maximum(step, -limit, out=step)
        self.level += step


def track_series(values: np.ndarray, rate: float) -> np.ndarray:
    """One whole series' (rows, features) values less their tracked level."""
    return DriftTracker(values.shape[1], rate)(values)
