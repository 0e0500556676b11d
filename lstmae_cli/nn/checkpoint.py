"""Training checkpoints: the whole training state (current and best weights, Adam's
moments, the shuffling generator, epoch, history, early-stopping counters), written
atomically as safetensors tensors + JSON (never pickle), and read back on --resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .train import TrainState

CHECKPOINT_KIND = "lstmae-checkpoint"


@dataclass
class Checkpointing:
    """Where and how often to save the training state; `check` must match on resume."""

    path: Path
    every: int = 0  # epochs between checkpoints; 0: never write one
    resume: bool = False
    check: dict = field(default_factory=dict)


def save_checkpoint(checkpoint: Checkpointing, state: TrainState) -> None:
    """Write the training state to `checkpoint.path` atomically (tensors + JSON, no pickle)."""
    from ..bundle import save_bundle

    tensors = {f"model.{k}": v for k, v in state.model.state_dict().items()}
    if state.best_state is not None:
        tensors |= {f"best.{k}": v for k, v in state.best_state.items()}
    optimizer = state.optimizer.state_dict()
    for index, moments in optimizer["state"].items():
        tensors |= {f"optim.{index}.{k}": torch.as_tensor(v) for k, v in moments.items()}
    tensors["rng.generator"] = state.generator.get_state()
    meta = {
        "kind": CHECKPOINT_KIND,
        "model": state.model.config.to_dict(),
        "check": checkpoint.check,
        "epoch": state.epoch,
        "history": state.history,
        "best_loss": state.best_loss if math.isfinite(state.best_loss) else None,
        "best_epoch": state.best_epoch,
        "waited": state.waited,
        "param_groups": optimizer["param_groups"],
    }
    save_bundle(checkpoint.path, tensors, meta)


def load_checkpoint(checkpoint: Checkpointing, state: TrainState, device: torch.device) -> None:
    """Restore `state` from `checkpoint.path`; InputError when it is missing or does not fit."""
    from ..bundle import load_bundle
    from ..errors import BundleError, InputError

    path = Path(checkpoint.path)
    if not path.is_file():
        raise InputError(f"{path}: no checkpoint to resume from (train with --checkpoint-every N)")
    tensors, meta = load_bundle(path)
    if meta.get("kind") != CHECKPOINT_KIND:
        raise BundleError(f"{path}: not an lstmae training checkpoint")
    _rename_arch(meta)
    _require_same(path, meta.get("check", {}), checkpoint.check)
    if meta.get("model") != state.model.config.to_dict():
        raise InputError(f"{path}: checkpoint is of another network; drop --resume")
    try:
        _restore(state, tensors, meta, device)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise BundleError(f"{path}: checkpoint does not match its tensors ({exc})") from exc


def _rename_arch(meta: dict) -> None:
    """An older checkpoint's arch under its current name (params.ARCH_ALIASES)."""
    from ..params import ARCH_ALIASES

    for holder in (meta.get("model"), meta.get("check", {}).get("options")):
        if isinstance(holder, dict) and holder.get("arch") in ARCH_ALIASES:
            holder["arch"] = ARCH_ALIASES[holder["arch"]]


def _require_same(path: Path, saved: dict, wanted: dict) -> None:
    from ..errors import InputError

    for key, value in wanted.items():
        if saved.get(key) != value:
            raise InputError(
                f"{path}: checkpoint was made with another {key} "
                f"({saved.get(key)!r}, now {value!r}); use the same data and options, "
                "or delete the checkpoint"
            )


def _restore(state: TrainState, tensors: dict, meta: dict, device: torch.device) -> None:
    def prefixed(prefix: str) -> dict:
        return {k[len(prefix) :]: v.to(device) for k, v in tensors.items() if k.startswith(prefix)}

    state.model.load_state_dict(prefixed("model."), strict=True)
    best = prefixed("best.")
    state.best_state = best or None
    moments: dict[int, dict] = {}
    for name, value in prefixed("optim.").items():
        index, key = name.split(".", 1)
        moments.setdefault(int(index), {})[key] = value if key != "step" else value.cpu()
    state.optimizer.load_state_dict({"state": moments, "param_groups": meta["param_groups"]})
    state.generator.set_state(tensors["rng.generator"])
    state.epoch, state.history = int(meta["epoch"]), list(meta["history"])
    best_loss = meta.get("best_loss")
    state.best_loss = math.inf if best_loss is None else float(best_loss)
    state.best_epoch, state.waited = int(meta["best_epoch"]), int(meta["waited"])


def checkpoint_path(model: Path) -> Path:
    """model.safetensors -> model.ckpt.safetensors, beside the model."""
    model = Path(model)
    return model.with_name(f"{model.stem}.ckpt{model.suffix or '.safetensors'}")


def checkpointing_for(model: Path, every: int, resume: bool) -> Checkpointing | None:
    """The CLI's --checkpoint-every / --resume as a Checkpointing (None when neither is asked)."""
    from ..errors import UsageError

    if every < 0:
        raise UsageError("--checkpoint-every must be at least 0 (0: no checkpoints)")
    if not every and not resume:
        return None
    from ..io.outpath import output_kind

    if output_kind(model)[0] != "file":
        raise UsageError(f"{model}: checkpoints go beside a model file; give -o a file name")
    return Checkpointing(checkpoint_path(model), every, resume)


def interrupted_note(checkpoint: Checkpointing | None) -> str:
    """What the user sees on Ctrl-C during training."""
    if checkpoint is None:
        return "interrupted; nothing was written (--checkpoint-every 1 saves each epoch to resume)"
    if not checkpoint.path.is_file():
        return "interrupted; nothing was written"
    return f"interrupted; continue with --resume (checkpoint {checkpoint.path})"
