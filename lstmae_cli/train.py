"""The training loop: shuffled window batches, Adam + MSE, early stopping on validation loss."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .model import LSTMAutoencoder, ModelConfig
from .windows import WindowBank

EpochCallback = Callable[[dict], None]


@dataclass
class TrainSettings:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    patience: int = 5
    seed: int = 0
    device: str = "cpu"
    max_windows_per_epoch: int | None = None


@dataclass
class TrainResult:
    model: LSTMAutoencoder
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from .errors import UsageError

        raise UsageError("--device cuda asked, but no CUDA device is available")
    return torch.device(name)


def train_autoencoder(
    config: ModelConfig,
    train: WindowBank,
    val: WindowBank,
    settings: TrainSettings,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Fit a fresh autoencoder on `train` windows; keep the weights with the best val loss."""
    torch.manual_seed(settings.seed)
    device = resolve_device(settings.device)
    model = LSTMAutoencoder(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    generator = torch.Generator().manual_seed(settings.seed)
    train_dev, val_dev = train.to(device), val.to(device)
    best_loss, best_state, best_epoch, waited = math.inf, None, 0, 0
    history: list[dict] = []
    began = time.perf_counter()
    for epoch in range(1, settings.epochs + 1):
        train_loss = _train_epoch(model, optimizer, train_dev, settings, generator)
        val_loss = evaluate_loss(model, val_dev) if len(val) else train_loss
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if val_loss < best_loss:
            best_loss, best_epoch, waited = val_loss, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
        if on_epoch:
            on_epoch(history[-1] | {"best_epoch": best_epoch, "epochs": settings.epochs})
        if waited >= settings.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model.cpu(), history, best_epoch, time.perf_counter() - began)


def _train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    bank: WindowBank,
    settings: TrainSettings,
    generator: torch.Generator,
) -> float:
    model.train()
    order = torch.randperm(len(bank), generator=generator)
    if settings.max_windows_per_epoch:
        order = order[: settings.max_windows_per_epoch]
    total, count = 0.0, 0
    for begin in range(0, len(order), settings.batch_size):
        index = order[begin : begin + settings.batch_size].to(bank.rows.device)
        windows = bank.batch(index)  # (batch, seq_len, features)
        loss = nn.functional.mse_loss(model(windows), windows)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(index)
        count += len(index)
    return total / max(count, 1)


def evaluate_loss(model: nn.Module, bank: WindowBank, batch_size: int = 2048) -> float:
    """Mean squared reconstruction error over all windows of `bank`."""
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for begin in range(0, len(bank), batch_size):
            index = torch.arange(begin, min(begin + batch_size, len(bank)), device=bank.rows.device)
            windows = bank.batch(index)
            total += nn.functional.mse_loss(model(windows), windows, reduction="sum").item()
    model.train()
    return total / max(len(bank) * bank.seq_len * bank.rows.shape[1], 1)
