"""The training loop: shuffled window batches, Adam + MSE, early stopping on validation loss.

With a checkpoint (checkpoint.py) the whole training state is written every `every`
epochs, and a resumed run continues from it exactly where the interrupted one stopped.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..params import CPU_BATCH_SIZE, CPU_LR
from ..params import DetectorParams as Defaults
from . import distributed
from .checkpoint import Checkpointing, load_checkpoint, save_checkpoint
from .model import LSTMAutoencoder, ModelConfig
from .windows import WindowBank

EpochCallback = Callable[[dict], None]


@dataclass
class TrainSettings:
    epochs: int = Defaults.epochs
    batch_size: int = CPU_BATCH_SIZE
    lr: float = CPU_LR
    patience: int = Defaults.patience
    seed: int = Defaults.seed
    device: str = "cpu"
    max_windows_per_epoch: int | None = None
    mixed_precision: bool = True  # autocast on CUDA (bf16, or fp16 with loss scaling); not CPU


@dataclass
class TrainResult:
    model: LSTMAutoencoder
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


@dataclass
class TrainState:
    """Everything a resumed run needs besides the data."""

    model: LSTMAutoencoder
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    best_loss: float = math.inf
    best_state: dict | None = None
    best_epoch: int = 0
    waited: int = 0
    net: nn.Module | None = None  # what the batches go through: DDP(model) under torchrun
    amp: Amp | None = None  # mixed precision on CUDA


def mask_bank(observed: list[np.ndarray] | None, seq_len: int, stride: int) -> WindowBank | None:
    """Windows over (rows, features) observed masks as 1.0 / 0.0; None when nothing is missing."""
    if observed is None:
        return None
    return WindowBank.from_series([m.astype(np.float32) for m in observed], seq_len, stride)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from ..errors import UsageError

        raise UsageError("--device cuda asked, but no CUDA device is available")
    return torch.device(name)


def device_type(name: str) -> str:
    """ "cpu" or "cuda": the kind of device `name` (cpu, cuda, auto) trains on here."""
    return resolve_device(name).type


def train_autoencoder(
    config: ModelConfig,
    train: WindowBank,
    val: WindowBank,
    settings: TrainSettings,
    on_epoch: EpochCallback | None = None,
    masks: tuple[WindowBank | None, WindowBank | None] = (None, None),
    checkpoint: Checkpointing | None = None,
) -> TrainResult:
    """Fit an autoencoder on `train` windows; keep the weights with the best val loss.

    masks: optional banks of the same windows holding 1.0 where a value was observed and
    0.0 where it was missing; missing entries are left out of the loss.
    """
    torch.manual_seed(settings.seed)  # the same seed on every rank: same init, same shuffles
    device = distributed.device_for_rank(resolve_device(settings.device))
    model = LSTMAutoencoder(config).to(device)
    state = TrainState(
        model,
        torch.optim.Adam(model.parameters(), lr=settings.lr, fused=True),  # one kernel per step
        torch.Generator().manual_seed(settings.seed),
    )
    if checkpoint is not None and checkpoint.resume:
        load_checkpoint(checkpoint, state, device)
    state.net = distributed.wrap_model(model, device)
    state.amp = Amp(device, settings.mixed_precision)
    train_dev, val_dev = train.to(device), val.to(device)
    train_mask, val_mask = (m.to(device) if m is not None else None for m in masks)
    val_index = validation_sample(len(val), settings.max_windows_per_epoch, settings.seed)
    began = time.perf_counter()
    while state.epoch < settings.epochs and state.waited < settings.patience:
        state.epoch += 1
        train_loss = _train_epoch(state, train_dev, train_mask, settings)
        val_loss = (
            evaluate_loss(model, val_dev, mask=val_mask, amp=state.amp, index=val_index)
            if len(val)
            else train_loss
        )
        _record(state, train_loss, val_loss)  # losses are over all ranks: same decision on each
        every = checkpoint.every if checkpoint is not None else 0
        if checkpoint is not None and every and state.epoch % every == 0 and distributed.is_main():
            save_checkpoint(checkpoint, state)
        if on_epoch:
            progress = {"best_epoch": state.best_epoch, "epochs": settings.epochs}
            on_epoch(state.history[-1] | progress)
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    model.eval()
    return TrainResult(model.cpu(), state.history, state.best_epoch, time.perf_counter() - began)


def validation_sample(windows: int, most: int | None, seed: int) -> torch.Tensor | None:
    """The validation windows early stopping compares: all (None) when there are at most
    `most`, else `most` of them drawn once from the seed, in order, the same every epoch."""
    if not most or windows <= most:
        return None
    generator = torch.Generator().manual_seed(seed + 1)  # not the shuffles' stream
    return torch.randperm(windows, generator=generator)[:most].sort().values  # (most,)


def _record(state: TrainState, train_loss: float, val_loss: float) -> None:
    """Append the epoch to the history; remember the weights when val loss improved."""
    state.history.append({"epoch": state.epoch, "train_loss": train_loss, "val_loss": val_loss})
    if val_loss < state.best_loss:
        state.best_loss, state.best_epoch, state.waited = val_loss, state.epoch, 0
        state.best_state = copy.deepcopy(state.model.state_dict())
    else:
        state.waited += 1


def _train_epoch(
    state: TrainState, bank: WindowBank, mask: WindowBank | None, settings: TrainSettings
) -> float:
    model, optimizer = state.net or state.model, state.optimizer
    amp = state.amp or Amp(bank.rows.device, False)
    model.train()
    order = torch.randperm(len(bank), generator=state.generator)
    if settings.max_windows_per_epoch:
        order = order[: settings.max_windows_per_epoch]
    order = distributed.shard(order)  # this rank's share; all of it in a single process
    order = order.to(bank.rows.device)  # once: no copy (and on CUDA no sync) per batch
    # the loss is summed on the device and read once per epoch: no host sync per step
    total, count = torch.zeros((), dtype=torch.float64, device=bank.rows.device), 0
    for begin in range(0, len(order), settings.batch_size):
        index = order[begin : begin + settings.batch_size]
        windows = bank.batch(index)  # (batch, seq_len, features)
        observed = mask.batch(index) if mask is not None else None  # same shape, 1.0 / 0.0
        with amp.autocast():
            reconstruction = model(windows)  # (batch, seq_len, features)
        loss = masked_mse(reconstruction.float(), windows, observed)
        optimizer.zero_grad(set_to_none=True)
        amp.backward_and_step(loss, optimizer)
        total += loss.detach().double() * len(index)
        count += len(index)
    return distributed.mean_over_ranks(float(total), count)


def masked_mse(
    reconstruction: torch.Tensor,
    target: torch.Tensor,
    observed: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Squared error over the observed entries only (all entries when `observed` is None).

    reconstruction, target, observed: (batch, seq_len, features).
    """
    if observed is None:
        return nn.functional.mse_loss(reconstruction, target, reduction=reduction)
    total = ((reconstruction - target).square() * observed).sum()
    return total if reduction == "sum" else total / observed.sum().clamp(min=1.0)


def evaluate_loss(
    model: nn.Module,
    bank: WindowBank,
    batch_size: int = 2048,
    mask: WindowBank | None = None,
    amp: Amp | None = None,
    index: torch.Tensor | None = None,
) -> float:
    """Mean squared reconstruction error over all (observed) entries of all windows of `bank`,
    or of the windows numbered `index` (chosen,) when it is given.

    Under torchrun each rank evaluates a contiguous block of the windows and the sums are
    added over ranks, so every rank gets the loss one process computes on all of them.
    """
    model.eval()
    amp = amp or Amp(bank.rows.device, False)
    # sums stay on the device and are read once, below: no host sync per batch
    total = torch.zeros((), dtype=torch.float64, device=bank.rows.device)
    entries = torch.zeros((), dtype=torch.float64, device=bank.rows.device)
    chosen = index.to(bank.rows.device) if index is not None else None
    share = distributed.contiguous_range(len(bank) if chosen is None else len(chosen))
    with torch.inference_mode():
        for begin in range(share.start, share.stop, batch_size):
            end = min(begin + batch_size, share.stop)
            batch = torch.arange(begin, end, device=bank.rows.device)
            batch = batch if chosen is None else chosen[batch]  # (batch,) window numbers
            windows = bank.batch(batch)  # (batch, seq_len, features)
            observed = mask.batch(batch) if mask is not None else None
            with amp.autocast():
                reconstruction = model(windows).float()  # (batch, seq_len, features)
            total += masked_mse(reconstruction, windows, observed, reduction="sum")
            entries += windows.numel() if observed is None else observed.sum()
    model.train()
    return distributed.mean_over_ranks(float(total), float(entries))


# ------------------------------------------------------------ mixed precision on CUDA
class Amp:
    """Autocast and loss scaling on CUDA: bf16 where the GPU has it, else fp16 with a
    GradScaler. Disabled on CPU (and when `enabled` is False): plain fp32 steps."""

    def __init__(self, device: torch.device, enabled: bool = True) -> None:
        on = enabled and device.type == "cuda"
        bf16 = on and torch.cuda.is_bf16_supported()
        self.device_type = device.type
        self.dtype = torch.bfloat16 if bf16 else torch.float16
        self.enabled = on
        self.scaler = torch.amp.GradScaler("cuda", enabled=on and not bf16)

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.enabled)

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.scale(loss).backward()  # the identity unless fp16
        self.scaler.step(optimizer)
        self.scaler.update()
