"""Time-blocked folds: which rows of each series a network trains on and which it scores.

The score calibration and the threshold are learned from reconstruction errors on rows the
network did not fit. With one fold that is the last `val_fraction` of each series (the
final model early-stops on it). With K >= 2 folds each series is cut into K contiguous
blocks of (nearly) equal length, and fold k trains on every block but k and scores block k;
so the calibration sees the whole normal period, not only its tail. Fold 0 is always the
one whose held-out block is the last: its network is the model that is saved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

Span = tuple[int, int]  # [start, end) rows of one series


@dataclass(frozen=True)
class Fold:
    """Per series: the row spans the network trains on, and the held-out span it scores."""

    train: list[list[Span]]
    held: list[Span]


def time_blocked_folds(lengths: list[int], folds: int, val_fraction: float) -> list[Fold]:
    """The folds for series of `lengths` rows; fold 0 holds out the last block (or tail)."""
    if folds <= 1:
        return [_tail_fold(lengths, val_fraction)]
    edges = [np.linspace(0, n, folds + 1).round().astype(int) for n in lengths]
    order = [folds - 1, *range(folds - 1)]  # the saved model's fold first
    return [_block_fold(lengths, edges, k) for k in order]


def _tail_fold(lengths: list[int], val_fraction: float) -> Fold:
    """Train on the first rows, hold out the last val_fraction (none: score the train rows)."""
    train, held = [], []
    for n in lengths:
        n_val = int(round(n * val_fraction))
        train.append([(0, n - n_val)])
        held.append((n - n_val, n) if n_val else (0, n))
    return Fold(train, held)


def _block_fold(lengths: list[int], edges: list[np.ndarray], k: int) -> Fold:
    train, held = [], []
    for n, cuts in zip(lengths, edges, strict=True):
        start, end = int(cuts[k]), int(cuts[k + 1])
        train.append([span for span in ((0, start), (end, n)) if span[1] > span[0]])
        held.append((start, end))
    return Fold(train, held)


def short_series(lengths: list[int], folds: int, val_fraction: float, seq_len: int) -> list[int]:
    """The indexes of the series with a fold whose training rows in a row or held-out part
    are shorter than seq_len (check_fold_sizes' errors, series by series)."""
    made = time_blocked_folds(lengths, folds, val_fraction)
    return [
        i
        for i in range(len(lengths))
        if any(_too_short(str(i), fold.train[i], fold.held[i], seq_len) for fold in made)
    ]


def check_fold_sizes(folds: list[Fold], names: list[str], seq_len: int) -> None:
    """InputError when a held-out span or a fold's training rows are shorter than a window."""
    for fold in folds:
        for name, spans, held in zip(names, fold.train, fold.held, strict=True):
            problem = _too_short(name, spans, held, seq_len)
            if problem:
                raise InputError(problem)


def _too_short(
    name: str, spans: list[tuple[int, int]], held: tuple[int, int], seq_len: int
) -> str | None:
    """What is shorter than a window in one series' fold (its training spans, its held-out
    span), as a message; None when both hold one."""
    longest = max((b - a for a, b in spans), default=0)
    if longest < seq_len:
        return (
            f"{name}: {longest} training rows in a row, fewer than --seq-len {seq_len}; "
            "give more rows, or lower --seq-len or --calibration-folds"
        )
    start, end = held
    if end - start < seq_len:
        return (
            f"{name}: held-out part has {end - start} rows, fewer than --seq-len "
            f"{seq_len}; raise --val-fraction, or lower --seq-len or --calibration-folds"
        )
    return None


def held_out_rows(lengths: list[int], folds: int, val_fraction: float) -> int:
    """How many rows the calibration scores (every fold's held-out block together)."""
    spans = [
        span for fold in time_blocked_folds(lengths, folds, val_fraction) for span in fold.held
    ]
    return sum(end - start for start, end in spans)


def take(arrays: list[np.ndarray], spans: list[list[Span]]) -> list[np.ndarray]:
    """The rows of each span of each series, as separate parts (windows never cross them)."""
    return [
        array[start:end]
        for array, series_spans in zip(arrays, spans, strict=True)
        for start, end in series_spans
    ]
