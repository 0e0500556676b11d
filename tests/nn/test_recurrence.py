"""The decoder's CPU inference path (nn/recurrence.py) against nn.LSTM."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstmae_cli.nn.model import LSTMAutoencoder, ModelConfig
from lstmae_cli.nn.recurrence import lstm_on_constant_input, takes_constant_input_path


@pytest.mark.parametrize(
    ("inputs", "hidden", "batch", "seq_len"), [(64, 64, 37, 32), (16, 5, 3, 7), (8, 1, 1, 1)]
)
def test_constant_input_lstm_matches_nn_lstm(inputs, hidden, batch, seq_len):
    torch.manual_seed(inputs + hidden)
    lstm = nn.LSTM(inputs, hidden)
    code = torch.randn(batch, inputs)
    with torch.no_grad():
        expected, _ = lstm(code.unsqueeze(0).expand(seq_len, -1, -1))  # (seq, batch, hidden)
        ours = lstm_on_constant_input(lstm, code, seq_len)  # (seq, batch, hidden)
    assert ours.shape == (seq_len, batch, hidden)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", ["linear", "direct"])
def test_model_inference_matches_the_autograd_path(arch):
    """Without autograd the decoder takes the new path; with it, nn.LSTM: same outputs."""
    torch.manual_seed(1)
    model = LSTMAutoencoder(ModelConfig(n_features=6, hidden=24, arch=arch))
    x = torch.randn(50, 20, 6)
    with torch.no_grad():
        assert takes_constant_input_path(model.decoder, model.encode(x))
        fast = model(x)
    reference = model(x).detach()  # grad enabled: nn.LSTM
    assert fast.shape == reference.shape == (50, 20, 6)
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-6)
    assert not torch.equal(fast, torch.zeros_like(fast))


def test_path_is_kept_for_plain_cpu_inference_only():
    lstm = nn.LSTM(8, 8)
    code = torch.randn(4, 8)
    assert takes_constant_input_path(lstm, code) is False  # grad enabled here
    with torch.no_grad():
        assert takes_constant_input_path(lstm, code)
        assert not takes_constant_input_path(nn.LSTM(8, 8, num_layers=2), code)
        assert not takes_constant_input_path(nn.LSTM(8, 8, bias=False), code)
        assert not takes_constant_input_path(lstm, code.double())
        with torch.autocast("cpu", torch.bfloat16):
            assert not takes_constant_input_path(lstm, code)


def test_two_layer_model_keeps_nn_lstm_and_its_bits():
    torch.manual_seed(2)
    model = LSTMAutoencoder(ModelConfig(n_features=3, hidden=8, layers=2))
    x = torch.randn(5, 9, 3)
    with torch.no_grad():
        code = model.encode(x)
        assert not takes_constant_input_path(model.decoder, code)
        out, _ = model.decoder(code.unsqueeze(0).expand(9, -1, -1))
        assert torch.equal(model(x), model.head(out).transpose(0, 1))


def test_without_onednn_linear_the_decoder_keeps_nn_lstm(monkeypatch):
    """A torch without oneDNN's packed linear decodes with nn.LSTM, to the same outputs."""
    from lstmae_cli.nn import recurrence

    torch.manual_seed(3)
    model = LSTMAutoencoder(ModelConfig(n_features=4, hidden=8))
    x = torch.randn(6, 10, 4)
    with torch.no_grad():
        fast = model(x)
        monkeypatch.setattr(recurrence, "has_onednn_linear", lambda: False)
        assert not takes_constant_input_path(model.decoder, model.encode(x))
        out, _ = model.decoder(model.encode(x).unsqueeze(0).expand(10, -1, -1))
        assert torch.equal(model(x), model.head(out).transpose(0, 1))
    torch.testing.assert_close(fast, model(x).detach(), rtol=1e-5, atol=1e-6)
