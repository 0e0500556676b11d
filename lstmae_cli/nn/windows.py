"""Sliding windows as index arithmetic over one row tensor: no stacked copy of all windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def window_starts(length: int, seq_len: int, stride: int) -> np.ndarray:
    """Start rows of the windows of `seq_len` rows, `stride` apart, inside `length` rows."""
    if length < seq_len:
        return np.empty(0, dtype=np.int64)
    return np.arange(0, length - seq_len + 1, stride, dtype=np.int64)


def sliding_view(rows: torch.Tensor, seq_len: int, stride: int = 1) -> torch.Tensor:
    """(rows, features) -> (windows, seq_len, features), a view sharing `rows`' memory."""
    return rows.unfold(0, seq_len, stride).transpose(1, 2)


def gather_windows(rows: torch.Tensor, starts: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Copy just the windows starting at `starts` (batch,) -> (batch, seq_len, features)."""
    offsets = torch.arange(seq_len, device=starts.device)
    return rows[starts[:, None] + offsets]  # (batch, seq_len, features)


@dataclass
class WindowBank:
    """Several series stored end to end; windows never cross from one series to the next."""

    rows: torch.Tensor  # (total_rows, features) float32
    starts: torch.Tensor  # (windows,) int64, global start row of each valid window
    seq_len: int

    @classmethod
    def from_series(cls, series: list[np.ndarray], seq_len: int, stride: int) -> WindowBank:
        """series: list of (rows_i, features) scaled arrays."""
        starts, offset = [], 0
        for values in series:
            starts.append(window_starts(len(values), seq_len, stride) + offset)
            offset += len(values)
        features = series[0].shape[1] if series else 0
        rows = np.concatenate(series) if series else np.empty((0, features), np.float32)
        return cls(
            rows=torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32)),
            starts=torch.from_numpy(np.concatenate(starts) if starts else np.empty(0, np.int64)),
            seq_len=seq_len,
        )

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        """Windows number `index` (batch,) -> (batch, seq_len, features)."""
        return gather_windows(self.rows, self.starts[index], self.seq_len)

    def to(self, device: torch.device) -> WindowBank:
        return WindowBank(self.rows.to(device), self.starts.to(device), self.seq_len)
