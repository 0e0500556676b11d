"""Data-parallel training under torchrun: process group, ranks, shards and collectives.

`torchrun --nproc-per-node N -m lstmae_cli train ...` starts N copies of the program with
RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT set. `session`
joins them into one process group (gloo on CPU, nccl on CUDA); everything else here is
a no-op, or the identity, in a plain single process, so the training code has one path.

Collectives move plain tensors only (never pickled objects).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from . import threads

TIMEOUT = timedelta(minutes=30)  # a rank waiting this long for the others gives up
_group_started_here = False  # set by setup: this process has joined a process group


def launched() -> bool:
    """Whether this process was started by torchrun (or an equivalent) with several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """Whether a process group with more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0 (or a plain single process): the one that prints and writes files.

    Outside the process group (before `setup`, after `teardown`) torchrun's RANK decides.
    """
    return (rank() if active() else int(os.environ.get("RANK", "0"))) == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def setup(device: torch.device) -> bool:
    """Join torchrun's process group; returns whether this call started it.

    On CUDA each rank takes the GPU numbered LOCAL_RANK; on CPU the cores are split
    between the ranks of this node (LOCAL_WORLD_SIZE), so N ranks do not oversubscribe them.
    """
    if not launched() or (dist.is_available() and dist.is_initialized()):
        return False
    if device.type == "cuda":
        if local_rank() >= torch.cuda.device_count():
            from ..errors import UsageError

            raise UsageError(
                f"--nproc-per-node is more than the {torch.cuda.device_count()} GPU(s) here; "
                "use one process per GPU, or --device cpu"
            )
        torch.cuda.set_device(local_rank())
    else:
        torch.set_num_threads(threads.requested() or threads_per_rank())
    dist.init_process_group(backend_for(device), timeout=TIMEOUT)
    global _group_started_here
    _group_started_here = True
    return True


def started_group_here() -> bool:
    """Whether this process joined a process group (then `cli.main` skips finalization)."""
    return _group_started_here


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def session(device: torch.device) -> Iterator[None]:
    """`with session(device):` one process group for the block when launched by torchrun."""
    started, finished = setup(device), False
    try:
        yield
        finished = True
    finally:
        if started:
            if finished:
                barrier()  # no rank leaves the group while another still talks to it
            teardown()


def threads_per_rank() -> int:
    """The CPUs this process may use (affinity, cgroup quota) divided by this node's ranks.

    At least 1. Busy cores elsewhere are not counted here: the other ranks are the busy
    ones while they start. `--threads N` takes precedence (in `setup`).
    """
    ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, threads.allowed_cpus() // max(ranks, 1))


def device_for_rank(device: torch.device) -> torch.device:
    """`cuda` -> `cuda:LOCAL_RANK` under torchrun (the GPU `setup` picked); others unchanged."""
    if device.type == "cuda" and device.index is None and active():
        return torch.device("cuda", torch.cuda.current_device())
    return device


# ---------------------------------------------------------------------------- shards
def shard(order: torch.Tensor, rank_: int | None = None, world: int | None = None) -> torch.Tensor:
    """This rank's share of `order` (a permutation of window numbers), as DistributedSampler.

    The order is padded by repeating its head to a multiple of the world size, then rank r
    takes positions r, r + world, ...: every rank gets the same number of windows (so the
    same number of batches, which DistributedDataParallel needs) and together they cover
    every window. All ranks must pass the same `order` (same seed).
    """
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    if world == 1 or len(order) == 0:
        return order
    per_rank = -(-len(order) // world)  # ceil
    padding = per_rank * world - len(order)
    repeats = -(-padding // len(order)) if padding else 0
    padded = torch.cat([order, order.repeat(repeats)[:padding]]) if padding else order
    return padded[rank_::world]


def contiguous_range(count: int, rank_: int | None = None, world: int | None = None) -> range:
    """This rank's contiguous block of `count` items (the last ranks may get one fewer)."""
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    base, extra = divmod(count, world)
    begin = rank_ * base + min(rank_, extra)
    return range(begin, begin + base + (rank_ < extra))


# ----------------------------------------------------------------------- collectives
def _comm_device() -> torch.device:
    """Where tensors must live for the running backend (nccl: the rank's GPU)."""
    if active() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(*values: float) -> tuple[float, ...]:
    """The sum over ranks of each value (float64); the values themselves in one process."""
    if not active():
        return tuple(float(v) for v in values)
    tensor = torch.tensor(values, dtype=torch.float64, device=_comm_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tuple(tensor.cpu().tolist())


def mean_over_ranks(total: float, count: float) -> float:
    """sum(total) / sum(count) over ranks: the mean a single process would compute."""
    total, count = all_reduce_sum(total, count)
    return total / max(count, 1.0)


def gather_arrays(array: np.ndarray) -> list[np.ndarray]:
    """Every rank's float64 array (any length along axis 0, same trailing shape), in rank
    order, on every rank. One process: [array]."""
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not active():
        return [array]
    device, world = _comm_device(), world_size()
    length = torch.tensor([array.shape[0]], dtype=torch.int64, device=device)
    lengths = [torch.zeros_like(length) for _ in range(world)]
    dist.all_gather(lengths, length)
    sizes = [int(n.item()) for n in lengths]
    padded = np.zeros((max(sizes), *array.shape[1:]), dtype=np.float64)
    padded[: len(array)] = array
    mine = torch.from_numpy(padded).to(device)
    parts = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(parts, mine)
    return [part.cpu().numpy()[:size] for part, size in zip(parts, sizes, strict=True)]


def barrier() -> None:
    if active():
        dist.barrier()


def map_series(series: list[np.ndarray], compute) -> list[np.ndarray]:
    """[compute(values) for values in series], computed in shares and gathered everywhere.

    compute: (rows, F) -> float array of the same shape (e.g. a series' row errors). Rank
    r computes series r, r + world, ... and every rank gets all results, in series order,
    bit for bit what one process computes (same code, same weights on every rank).
    """
    if not active():
        return [compute(values) for values in series]
    this, world = rank(), world_size()
    mine = [compute(values) for values in series[this::world]]
    width = series[0].shape[1:] if series else ()
    blocks = gather_arrays(np.concatenate(mine) if mine else np.empty((0, *width)))
    results: list[np.ndarray] = [np.empty(0)] * len(series)
    for owner, block in enumerate(blocks):
        offset = 0
        for index in range(owner, len(series), world):
            results[index] = block[offset : offset + len(series[index])]
            offset += len(series[index])
    return results


def wrap_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around `model` when several ranks run; `model` itself otherwise."""
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)
