"""The tutorial baseline the benchmarks share: the seed's class, windows stacked by slices."""

from __future__ import annotations

import numpy as np
from torch import nn


class LSTM_Autoencoder(nn.Module):  # noqa: N801 - the seed document's name, verbatim
    def __init__(self, input_dim, hidden_dim):
        super().__init__()
        self.encoder = nn.LSTM(input_dim, hidden_dim, batch_first=True)
        self.decoder = nn.LSTM(hidden_dim, input_dim, batch_first=True)
        self.hidden_dim = hidden_dim

    def forward(self, x):
        x, (hidden, cell) = self.encoder(x)  # hidden: (1, batch, hidden)
        x = hidden.repeat(x.size(1), 1, 1).permute(1, 0, 2)  # (batch, seq_len, hidden)
        x, _ = self.decoder(x)  # (batch, seq_len, features), tanh-bounded
        return x


def stacked_windows(values: np.ndarray, seq_len: int) -> np.ndarray:
    """A Python list of slices, stacked: (windows, seq_len, features), seq_len x the data."""
    return np.stack([values[i : i + seq_len] for i in range(len(values) - seq_len + 1)])
