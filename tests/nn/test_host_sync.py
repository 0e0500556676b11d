"""The training loop reads nothing back from the device per step (one read per epoch): on
CUDA each read waits for every queued kernel, which is what kept the GPU idle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmae_cli.nn.model import ModelConfig
from lstmae_cli.nn.train import TrainSettings, train_autoencoder
from lstmae_cli.nn.windows import WindowBank

READS = ("item", "__float__", "__int__", "__bool__", "tolist", "numpy")


def device_reads(monkeypatch, rows: int, batch_size: int, epochs: int = 2) -> int:
    """How many times training reads a tensor's value into Python (a host sync on CUDA)."""
    values = np.random.default_rng(0).normal(size=(rows, 3)).astype(np.float32)
    train = WindowBank.from_series([values[: rows - 64]], 8, 1)
    val = WindowBank.from_series([values[rows - 64 :]], 8, 1)
    count = 0
    for name in READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            nonlocal count
            count += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, patience=epochs, device="cpu")
    train_autoencoder(ModelConfig(3, 8, 1, "linear"), train, val, settings)
    monkeypatch.undo()
    return count


@pytest.mark.parametrize("epochs", [1, 3])
def test_reads_per_epoch_do_not_grow_with_the_batches(monkeypatch, one_thread, epochs):
    few = device_reads(monkeypatch, rows=400, batch_size=256, epochs=epochs)  # 2 batches
    many = device_reads(monkeypatch, rows=400, batch_size=8, epochs=epochs)  # 41 batches
    assert many == few
    assert few <= 4 * epochs  # the epoch's train and val losses, not one per batch
