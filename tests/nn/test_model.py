"""Fidelity to the seed document: shapes, one LSTM step by hand, the seed's own class."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from lstmae_cli.nn.model import LSTMAutoencoder, ModelConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from tutorial import LSTM_Autoencoder as SeedLSTMAutoencoder  # noqa: E402  (the seed's class)


def test_direct_shapes():
    torch.manual_seed(0)
    model = LSTMAutoencoder(ModelConfig(n_features=10, hidden=64, arch="direct"))
    x = torch.randn(32, 50, 10)
    code = model.encode(x)
    assert code.shape == (32, 64)
    repeated = code.unsqueeze(0).expand(50, -1, -1)  # the decoder is time-major
    assert repeated.shape == (50, 32, 64)
    decoded, _ = model.decoder(repeated)
    assert decoded.shape == (50, 32, 10)
    assert model(x).shape == (32, 50, 10)


def test_time_major_decoder_is_bitwise_the_batch_first_one():
    """The decoder runs time-major; outputs and gradients equal a batch-first decoder's."""
    torch.manual_seed(3)
    for arch in ("linear", "direct"):
        ours = LSTMAutoencoder(ModelConfig(n_features=5, hidden=16, layers=2, arch=arch))
        out_size = 16 if arch == "linear" else 5
        batch_first = nn.LSTM(16, out_size, num_layers=2, batch_first=True)
        batch_first.load_state_dict(ours.decoder.state_dict())

        def reference(x, ours=ours, batch_first=batch_first):
            code = ours.encode(x)
            out, _ = batch_first(code.unsqueeze(1).expand(-1, x.size(1), -1))
            return ours.head(out)

        x = torch.randn(64, 20, 5)
        with torch.no_grad():
            assert torch.equal(ours(x), reference(x))
        grads = []
        for forward, decoder in ((ours, ours.decoder), (reference, batch_first)):
            ours.zero_grad()
            decoder.zero_grad()
            forward(x).pow(2).mean().backward()
            params = [*ours.encoder.parameters(), *decoder.parameters(), *ours.head.parameters()]
            grads.append([p.grad.clone() for p in params])
        assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))


def test_linear_variant_shapes_and_unbounded_output():
    model = LSTMAutoencoder(ModelConfig(n_features=10, hidden=64, arch="linear"))
    assert model(torch.randn(4, 50, 10)).shape == (4, 50, 10)
    with torch.no_grad():
        model.head.bias.fill_(5.0)
    assert model(torch.randn(2, 8, 10)).max() > 1.0  # not bounded by tanh
    seed = LSTMAutoencoder(ModelConfig(n_features=10, hidden=64, arch="direct"))
    assert seed(torch.randn(2, 8, 10) * 100).abs().max() <= 1.0


def test_direct_arch_equals_the_seed_class():
    torch.manual_seed(1)
    ours = LSTMAutoencoder(ModelConfig(n_features=10, hidden=64, arch="direct"))
    reference = SeedLSTMAutoencoder(10, 64)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(32, 50, 10)
    torch.testing.assert_close(ours(x), reference(x))


def test_one_lstm_step_by_hand_matches_the_framework():
    torch.manual_seed(2)
    lstm = nn.LSTM(10, 64, batch_first=True)
    # PyTorch stacks the gates as (i, f, g, o); split into the seed's W_i, W_f, W_c, W_o.
    w_ih, w_hh = lstm.weight_ih_l0.detach(), lstm.weight_hh_l0.detach()
    bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach()
    weights = torch.cat([w_hh, w_ih], dim=1)  # (256, 74): acts on [h_{t-1}, x_t]
    w_i, w_f, w_c, w_o = weights.split(64)
    b_i, b_f, b_c, b_o = bias.split(64)
    for w in (w_i, w_f, w_c, w_o):
        assert w.shape == (64, 74)
    for b in (b_i, b_f, b_c, b_o):
        assert b.shape == (64,)
    x = torch.randn(32, 1, 10)
    h0, c0 = torch.randn(1, 32, 64), torch.randn(1, 32, 64)
    out, (h1, c1) = lstm(x, (h0, c0))
    hx = torch.cat([h0[0], x[:, 0]], dim=1)  # (32, 74)
    f = torch.sigmoid(hx @ w_f.T + b_f)
    i = torch.sigmoid(hx @ w_i.T + b_i)
    o = torch.sigmoid(hx @ w_o.T + b_o)
    c_tilde = torch.tanh(hx @ w_c.T + b_c)
    c = f * c0[0] + i * c_tilde
    h = o * torch.tanh(c)
    torch.testing.assert_close(c, c1[0])
    torch.testing.assert_close(h, h1[0])
    torch.testing.assert_close(h, out[:, 0])


def test_multilayer_encoder_uses_the_last_layer_state():
    torch.manual_seed(3)
    model = LSTMAutoencoder(ModelConfig(n_features=5, hidden=16, layers=3))
    x = torch.randn(4, 12, 5)
    outputs, (hidden, _) = model.encoder(x)
    assert hidden.shape == (3, 4, 16)
    torch.testing.assert_close(model.encode(x), hidden[-1])
    torch.testing.assert_close(model.encode(x), outputs[:, -1])
    assert model(x).shape == (4, 12, 5)


def test_the_old_arch_name_seed_is_still_accepted():
    from lstmae_cli.params import DetectorParams

    assert ModelConfig(n_features=3, arch="seed").arch == "direct"
    assert DetectorParams(arch="seed").arch == "direct"


def test_a_checkpoint_of_the_old_arch_name_resumes_as_direct():
    from lstmae_cli.nn.checkpoint import _rename_arch

    meta = {"model": {"arch": "seed", "hidden": 8}, "check": {"options": {"arch": "seed"}}}
    _rename_arch(meta)
    assert meta == {
        "model": {"arch": "direct", "hidden": 8},
        "check": {"options": {"arch": "direct"}},
    }
