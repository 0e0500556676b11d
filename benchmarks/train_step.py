"""Where a training step at the tutorial's settings spends its time, beside the 2x budget.

    python benchmarks/train_step.py             # about a minute
    python benchmarks/train_step.py --compile   # also torch.compile of a hand-written LSTM

At seq 50, hidden 64, 8 features, the seed architecture (encoder LSTM(8 -> 64), decoder
LSTM(64 -> 8)), on torch's default threads:
1. the tutorial loop's windows/s (speed.py's loop: DataLoader, batch 32), and from it the
   time a whole step may take for lstmae to train twice as fast;
2. one bare step (forward, MSE, backward, fused Adam) at batch 32, and the encoder's
   forward + backward alone, the part no loop around the kernels can remove;
3. the bare step at batches 64, 128, 256 (windows/s), for what larger batches would give;
4. with --compile: torch.compile of the same model written as a Python loop over time
   steps (compile time and step time), the usual way around a library kernel.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from speed import TUTORIAL_HIDDEN, TUTORIAL_SEQ, series, tutorial_rate  # noqa: E402

FEATURES = 8


def per_call_ms(step: Callable[[], None], calls: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        step()
    began = time.perf_counter()
    for _ in range(calls):
        step()
    return (time.perf_counter() - began) / calls * 1e3


def seed_step(batch: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """(whole step, encoder forward + backward) on a random (batch, seq, features) batch."""
    encoder = nn.LSTM(FEATURES, TUTORIAL_HIDDEN, batch_first=True)
    decoder = nn.LSTM(TUTORIAL_HIDDEN, FEATURES, batch_first=True)
    params = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(params, fused=True)
    x = torch.randn(batch, TUTORIAL_SEQ, FEATURES)

    def step() -> None:
        _, (hidden, _) = encoder(x)  # hidden: (1, batch, hidden)
        repeated = hidden.repeat(TUTORIAL_SEQ, 1, 1).permute(1, 0, 2)  # (batch, seq, hidden)
        out, _ = decoder(repeated)  # (batch, seq, features)
        loss = nn.functional.mse_loss(out, x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def encoder_only() -> None:
        _, (hidden, _) = encoder(x)
        hidden.sum().backward()

    return step, encoder_only


class LoopLSTM(nn.Module):
    """One LSTM layer as a Python loop over time steps (input projection in one matmul)."""

    def __init__(self, inputs: int, hidden: int) -> None:
        super().__init__()
        self.input_gates = nn.Linear(inputs, 4 * hidden)
        self.hidden_gates = nn.Linear(hidden, 4 * hidden, bias=False)
        self.hidden = hidden

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        projected = self.input_gates(x)  # (batch, seq, 4 * hidden)
        h = c = x.new_zeros(x.shape[0], self.hidden)  # (batch, hidden)
        outputs = []
        for t in range(x.shape[1]):
            gates = projected[:, t] + self.hidden_gates(h)  # (batch, 4 * hidden)
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h  # (batch, seq, hidden), (batch, hidden)


def compiled_step(batch: int) -> tuple[float, float]:
    """(compile seconds, ms a step) of the seed model as LoopLSTM under torch.compile."""
    encoder, decoder = LoopLSTM(FEATURES, TUTORIAL_HIDDEN), LoopLSTM(TUTORIAL_HIDDEN, FEATURES)

    def forward(x: torch.Tensor) -> torch.Tensor:
        _, hidden = encoder(x)
        out, _ = decoder(hidden[:, None].expand(-1, x.shape[1], -1))
        return out

    model = torch.compile(forward)
    params = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(params, fused=True)
    x = torch.randn(batch, TUTORIAL_SEQ, FEATURES)

    def step() -> None:
        loss = nn.functional.mse_loss(model(x), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    began = time.perf_counter()
    step()
    return time.perf_counter() - began, per_call_ms(step, 50, warmup=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--windows", type=int, default=6400, help="tutorial windows timed")
    args = parser.parse_args()
    torch.manual_seed(0)
    tutorial = tutorial_rate(series(args.windows + TUTORIAL_SEQ), args.windows, "cpu")
    budget = 32 / (2 * tutorial) * 1e3
    step, encoder_only = seed_step(32)
    print(f"threads: {torch.get_num_threads()}")
    print(f"tutorial loop, batch 32:                {tutorial:>8,.0f} windows/s")
    print(f"a step may take, for 2x the tutorial:   {budget:>8.2f} ms")
    print(f"bare seed-architecture step, batch 32:  {per_call_ms(step, 200):>8.2f} ms")
    print(f"  of it, encoder forward + backward:    {per_call_ms(encoder_only, 200):>8.2f} ms")
    for batch in (64, 128, 256):
        ms = per_call_ms(seed_step(batch)[0], 50)
        print(f"bare step, batch {batch:<4}                  {batch / ms * 1e3:>8,.0f} windows/s")
    if args.compile:
        seconds, ms = compiled_step(32)
        print(f"torch.compile of a loop LSTM, batch 32: {ms:>8.2f} ms ({seconds:.0f} s to compile)")


if __name__ == "__main__":
    main()
