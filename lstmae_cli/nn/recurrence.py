"""The decoder's LSTM on the CPU at inference: its input is the same at every step.

The decoder reads the code repeated seq_len times, so the input's share of the gates,
W_ih @ code + b_ih + b_hh, is the same at every step. nn.LSTM (oneDNN on the CPU)
recomputes it for each step: a third of the decoder's multiply-adds for the default
sizes. Here it is computed once per window and each step multiplies only the hidden
state, in a (gates, batch) layout where every gate is a contiguous block of rows. Both
tanh are taken as tanh(x) = 2 sigmoid(2x) - 1, the candidate gate's rows doubled in the
weights: torch's CPU tanh costs about six sigmoids of the same size, so one sigmoid over
all four gates and one over the cell replace them. The gate equations are the seed
document's; the outputs equal nn.LSTM's to float rounding (tests/nn/test_recurrence.py),
and the step loop is plain torch, so it is used only where nothing records it: no
autograd, no autocast, no tracing or compiling, one layer, on the CPU (CUDA keeps cuDNN's
fused kernel).
"""

from __future__ import annotations

import torch
from torch import nn


def takes_constant_input_path(lstm: nn.LSTM, code: torch.Tensor) -> bool:
    """Whether `lstm` on `code` repeated may run lstm_on_constant_input instead."""
    return (
        code.device.type == "cpu"
        and code.dtype == torch.float32
        and not torch.is_grad_enabled()
        and not torch.is_autocast_enabled("cpu")
        and not torch.jit.is_tracing()
        and not torch.compiler.is_compiling()
        and lstm.num_layers == 1
        and lstm.bias
        and not lstm.bidirectional
        and lstm.proj_size == 0
    )


def _gate_rows(weight: torch.Tensor, hidden: int) -> torch.Tensor:
    """nn.LSTM's gate order (i, f, g, o) -> (i, f, o, 2g): the sigmoid gates adjoin, and a
    sigmoid of the doubled candidate rows gives tanh(g) = 2 sigmoid(2g) - 1."""
    i, f, g, o = weight.split(hidden)
    return torch.cat([i, f, o, 2 * g])


def lstm_on_constant_input(lstm: nn.LSTM, code: torch.Tensor, seq_len: int) -> torch.Tensor:
    """code: (batch, input) -> the outputs of one-layer `lstm` on code repeated seq_len
    times from a zero state, time-major and transposed: (seq_len, hidden, batch)."""
    h = lstm.hidden_size
    weight_ih, weight_hh, bias_ih, bias_hh = lstm.all_weights[0]  # layer 0
    w_ih = _gate_rows(weight_ih, h)  # (4h, input)
    w_hh = _gate_rows(weight_hh, h)  # (4h, h)
    bias = _gate_rows(bias_ih + bias_hh, h)  # (4h,)
    batch = code.size(0)
    from_input = torch.addmm(bias.unsqueeze(1), w_ih, code.t())  # (4h, batch), every step's
    out = code.new_empty(seq_len, h, batch)  # (seq_len, h, batch)
    gates = code.new_empty(4 * h, batch)
    cell = code.new_zeros(h, batch)
    squashed = code.new_empty(h, batch)
    for step in range(seq_len):
        if step == 0:  # the hidden state is zero
            torch.sigmoid(from_input, out=gates)
        else:
            torch.addmm(from_input, w_hh, out[step - 1], out=gates).sigmoid_()
        i, f, o, s = gates.split(h)  # s = sigmoid(2g)
        cell.mul_(f).addcmul_(i, s, value=2).sub_(i)  # c = f * c + i * (2s - 1)
        torch.mul(cell, 2, out=squashed).sigmoid_()  # tanh(c) = 2 squashed - 1
        torch.mul(o, squashed, out=out[step]).mul_(2).sub_(o)  # h = o * tanh(c)
    return out
