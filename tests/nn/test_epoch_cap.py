"""A capped epoch: fresh random training windows each epoch, a fixed validation sample."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmae_cli.nn.model import LSTMAutoencoder, ModelConfig
from lstmae_cli.nn.train import evaluate_loss, validation_sample
from lstmae_cli.nn.windows import WindowBank


def _bank(rows: int = 400, features: int = 3, seq_len: int = 8) -> WindowBank:
    values = np.random.default_rng(0).normal(size=(rows, features)).astype(np.float32)
    return WindowBank.from_series([values], seq_len, 1)


def test_no_sample_when_the_windows_fit_under_the_cap():
    assert validation_sample(100, None, 0) is None
    assert validation_sample(100, 100, 0) is None
    assert validation_sample(100, 500, 0) is None


def test_the_sample_is_distinct_sorted_windows_the_same_for_a_seed():
    first = validation_sample(10_000, 300, seed=4)
    assert first is not None and len(first) == 300
    assert len(torch.unique(first)) == 300
    assert torch.equal(first, first.sort().values)
    assert int(first.min()) >= 0 and int(first.max()) < 10_000
    assert torch.equal(first, validation_sample(10_000, 300, seed=4))
    assert not torch.equal(first, validation_sample(10_000, 300, seed=5))


def test_loss_over_an_index_is_the_loss_of_those_windows_alone():
    bank = _bank()
    model = LSTMAutoencoder(ModelConfig(3, 4, 1, "linear"))
    index = validation_sample(len(bank), 50, seed=0)
    assert index is not None
    chosen = WindowBank(bank.rows, bank.starts[index], bank.seq_len)
    on_index = evaluate_loss(model, bank, batch_size=16, index=index)
    assert on_index == pytest.approx(evaluate_loss(model, chosen, batch_size=16), rel=1e-6)
    assert on_index != pytest.approx(evaluate_loss(model, bank), rel=1e-6)


def test_a_capped_run_validates_on_the_same_sample_every_epoch(monkeypatch):
    from lstmae_cli.nn import train as train_module

    seen: list[torch.Tensor | None] = []
    real = train_module.evaluate_loss

    def spy(model, bank, *args, index=None, **kwargs):
        seen.append(index)
        return real(model, bank, *args, index=index, **kwargs)

    monkeypatch.setattr(train_module, "evaluate_loss", spy)
    settings = train_module.TrainSettings(epochs=3, patience=9, max_windows_per_epoch=60)
    config = ModelConfig(3, 4, 1, "linear")
    train_module.train_autoencoder(config, _bank(300), _bank(200), settings)
    assert len(seen) == 3
    assert all(i is not None and len(i) == 60 and torch.equal(i, seen[0]) for i in seen)
    seen.clear()
    uncapped = train_module.TrainSettings(epochs=1, patience=9)
    train_module.train_autoencoder(config, _bank(300), _bank(200), uncapped)
    assert seen == [None]
