"""The decoder's LSTM on the CPU at inference: its input is the same at every step.

The decoder reads the code repeated seq_len times, so the input's share of the gates,
code @ W_ih^T + b_ih + b_hh, is the same at every step. nn.LSTM (oneDNN on the CPU)
recomputes it for each step. Here it is computed once per window, and each step
multiplies only the hidden state, with oneDNN's linear on a weight packed once per call
(`torch.ops.mkldnn`; MKL's sgemm, which `torch.mm` calls, took twice as long for these
shapes on this project's AMD CPU) and the window's input share added in the same kernel.
Both tanh are taken as tanh(x) = 2 sigmoid(2x) - 1, the candidate gate's rows doubled in
the weights: torch's CPU tanh costs about six sigmoids of the same size, so one sigmoid
over all four gates and one over the cell replace them. Measured by
`benchmarks/inference_step.py`. The gate equations are the seed document's; the outputs
equal nn.LSTM's to float rounding (tests/nn/test_recurrence.py), and the step loop is
plain torch, so it is used only where nothing records it: no autograd, no autocast, no
tracing or compiling, one layer, float32 on the CPU, and a torch built with oneDNN's
linear (CUDA keeps cuDNN's fused kernel).
"""

from __future__ import annotations

import functools

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
        and has_onednn_linear()
    )


@functools.cache
def has_onednn_linear() -> bool:
    """Whether this torch has oneDNN's packed linear (`torch.ops.mkldnn`), and it runs."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        packed = torch.ops.mkldnn._reorder_linear_weight(torch.ones(4, 2), 3)
        ones = torch.ones(3, 2)
        out = torch.ops.mkldnn._linear_pointwise.binary(
            ones, ones.new_ones(3, 4), packed, None, "add"
        )
    except (AttributeError, RuntimeError):
        return False
    return bool(torch.equal(out, torch.full((3, 4), 3.0)))


def _gate_rows(weight: torch.Tensor, hidden: int) -> torch.Tensor:
    """nn.LSTM's gate order (i, f, g, o) -> (i, f, o, 2g): the sigmoid gates adjoin, and a
    sigmoid of the doubled candidate rows gives tanh(g) = 2 sigmoid(2g) - 1."""
    i, f, g, o = weight.split(hidden)
    return torch.cat([i, f, o, 2 * g])


def lstm_on_constant_input(lstm: nn.LSTM, code: torch.Tensor, seq_len: int) -> torch.Tensor:
    """code: (batch, input) -> the outputs of one-layer `lstm` on code repeated seq_len
    times from a zero state, as nn.LSTM returns them: (seq_len, batch, hidden)."""
    h = lstm.hidden_size
    weight_ih, weight_hh, bias_ih, bias_hh = lstm.all_weights[0]  # layer 0
    w_ih = _gate_rows(weight_ih, h)  # (4h, input)
    bias = _gate_rows(bias_ih + bias_hh, h)  # (4h,)
    batch = code.size(0)
    w_hh = torch.ops.mkldnn._reorder_linear_weight(_gate_rows(weight_hh, h), batch)
    from_input = torch.addmm(bias, code, w_ih.t())  # (batch, 4h), every step's
    out = code.new_empty(seq_len, batch, h)  # (seq_len, batch, h)
    cell = code.new_zeros(batch, h)
    squashed = code.new_empty(batch, h)
    for step in range(seq_len):
        if step == 0:  # the hidden state is zero
            gates = torch.sigmoid(from_input)  # (batch, 4h)
        else:  # out[step - 1] @ W_hh^T + from_input, then the sigmoid
            gates = _linear_add(out[step - 1], from_input, w_hh).sigmoid_()
        i, f, o, s = gates.split(h, dim=1)  # s = sigmoid(2g)
        cell.mul_(f).addcmul_(i, s, value=2).sub_(i)  # c = f * c + i * (2s - 1)
        torch.mul(cell, 2, out=squashed).sigmoid_()  # tanh(c) = 2 squashed - 1
        torch.mul(o, squashed, out=out[step]).mul_(2).sub_(o)  # h = o * tanh(c)
    return out


def _linear_add(x: torch.Tensor, other: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
    """x: (batch, h) -> x @ W^T + other: (batch, 4h), W packed by _reorder_linear_weight."""
    return torch.ops.mkldnn._linear_pointwise.binary(x, other, packed, None, "add")
