"""The LSTM autoencoder of the seed document (arch "direct"), and a variant with a linear
output head (arch "linear")."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..params import ARCH_ALIASES, ARCHS
from .recurrence import lstm_on_constant_input, takes_constant_input_path


@dataclass
class ModelConfig:
    n_features: int
    hidden: int = 64
    layers: int = 1
    arch: str = "linear"

    def __post_init__(self) -> None:
        self.arch = ARCH_ALIASES.get(self.arch, self.arch)  # "seed": old bundles, old scripts

    def to_dict(self) -> dict:
        return asdict(self)


class LSTMAutoencoder(nn.Module):
    """encoder LSTM -> last layer's final hidden state -> repeated seq_len times -> decoder.

    arch "direct": decoder LSTM(hidden -> features), whose output is the reconstruction:
    exactly the seed's class (outputs are bounded by tanh to [-1, 1]); formerly "seed".
    arch "linear": decoder LSTM(hidden -> hidden) followed by Linear(hidden -> features).

    The decoder takes its input time-major, (seq_len, batch, hidden): the LSTM kernels
    run in that layout, so a batch-first input and output would be copied into it and
    back. The outputs and gradients are the same as batch-first, bit for bit.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.arch not in ARCHS:
            raise ValueError(f"unknown arch {config.arch!r}")
        self.config = config
        f, h, layers = config.n_features, config.hidden, config.layers
        self.encoder = nn.LSTM(f, h, num_layers=layers, batch_first=True)
        # the decoder is time-major (the class docstring); the layout is not in the weights
        if config.arch == "direct":
            self.decoder = nn.LSTM(h, f, num_layers=layers)
            self.head: nn.Module = nn.Identity()
        else:
            self.decoder = nn.LSTM(h, h, num_layers=layers)
            self.head = nn.Linear(h, f)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, seq_len, features) -> (batch, hidden), the last layer's final h_T."""
        _, (hidden, _) = self.encoder(x)  # hidden: (layers, batch, hidden)
        return hidden[-1]

    def decode(self, code: torch.Tensor, seq_len: int) -> torch.Tensor:
        """code: (batch, hidden) -> (batch, seq_len, features)."""
        if takes_constant_input_path(self.decoder, code):  # CPU inference (recurrence.py)
            out = lstm_on_constant_input(self.decoder, code, seq_len)  # (seq_len, batch, ...)
        else:
            repeated = code.unsqueeze(0).expand(seq_len, -1, -1)  # (seq_len, batch, hidden)
            out, _ = self.decoder(repeated)  # (seq_len, batch, features or hidden)
        if torch.is_grad_enabled():  # the head's weight gradient sums its rows batch-major,
            return self.head(out.transpose(0, 1))  # in the same order as before: same training
        return self.head(out).transpose(0, 1)  # (batch, seq_len, features), a view

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, seq_len, features) -> reconstruction of the same shape."""
        return self.decode(self.encode(x), x.size(1))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
