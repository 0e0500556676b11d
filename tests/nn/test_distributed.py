"""Data-parallel training: shards, collectives over 2 gloo processes, and a real 2-process
`torchrun ... -m lstmae_cli train` whose bundle loads, scores and finds injected anomalies."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmae_cli.nn import distributed

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------ shards
@pytest.mark.parametrize("windows, world", [(10, 2), (11, 2), (7, 3), (2, 4), (1, 3)])
def test_shards_follow_distributed_sampler(windows, world):
    from torch.utils.data import DistributedSampler

    order = torch.randperm(windows, generator=torch.Generator().manual_seed(windows))
    shards = [distributed.shard(order, r, world) for r in range(world)]
    for r, mine in enumerate(shards):
        sampler = DistributedSampler(range(windows), world, r, shuffle=False)
        assert mine.tolist() == [int(order[i]) for i in sampler]
    assert len({len(s) for s in shards}) == 1  # same batches on every rank (DDP needs it)
    assert set(torch.cat(shards).tolist()) == set(range(windows))


def test_one_process_keeps_everything():
    order = torch.arange(9)
    assert distributed.shard(order).tolist() == list(range(9))
    assert distributed.contiguous_range(9) == range(9)
    assert distributed.mean_over_ranks(6.0, 4.0) == 1.5
    values = [np.ones((3, 2)), np.zeros((5, 2))]
    assert [r.shape for r in distributed.map_series(values, lambda v: v * 2)] == [(3, 2), (5, 2)]
    assert distributed.is_main() and not distributed.active()


@pytest.mark.parametrize("count, world", [(10, 3), (2, 3), (0, 2), (9, 1)])
def test_contiguous_ranges_cover_once(count, world):
    parts = [distributed.contiguous_range(count, r, world) for r in range(world)]
    assert [i for part in parts for i in part] == list(range(count))


def test_threads_split_between_local_ranks(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr(distributed.threads, "allowed_cpus", lambda: 5)  # affinity or quota
    assert distributed.threads_per_rank() == 2
    monkeypatch.setattr(distributed.threads, "allowed_cpus", lambda: 1)
    assert distributed.threads_per_rank() == 1


# ---------------------------------------------------------- collectives, 2 processes
def _collectives_worker(rank: int, port: int, out: str) -> None:
    os.environ |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    try:
        own = np.arange(3 * rank * 2, dtype=float).reshape(-1, 2)  # rank 0: no rows
        gathered = distributed.gather_arrays(own)
        series = [np.full((n, 2), float(n)) for n in (4, 1, 3)]
        mapped = distributed.map_series(series, lambda v: v + 10 * distributed.rank())
        total = distributed.mean_over_ranks(1.0 + rank, 1.0)
        if rank == 1:
            np.savez(out, *mapped, g0=gathered[0], g1=gathered[1], total=total)
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.parametrize(
    ("code", "expected"), [(0, 0), (2, 2), (None, 0), (130, 130), ("a message", 1)]
)
def test_a_rank_that_joined_a_group_exits_without_finalization(monkeypatch, code, expected):
    """exit_process: os._exit with the command's code once a group was joined here."""
    from lstmae_cli.cli.app import exit_process

    left = []
    monkeypatch.setattr(distributed, "_group_started_here", True)
    monkeypatch.setattr(os, "_exit", left.append)
    with pytest.raises(SystemExit):  # the recorded os._exit returns; the real one does not
        exit_process(code)
    assert left == [expected]


def test_a_plain_process_exits_normally(monkeypatch):
    from lstmae_cli.cli.app import exit_process

    monkeypatch.setattr(os, "_exit", lambda code: pytest.fail("os._exit without a group"))
    assert not distributed.started_group_here()
    with pytest.raises(SystemExit) as done:
        exit_process(3)
    assert done.value.code == 3


def test_collectives_over_two_gloo_processes(tmp_path):
    out = tmp_path / "result.npz"
    torch.multiprocessing.spawn(_collectives_worker, (free_port(), str(out)), nprocs=2)
    result = np.load(out)
    assert result["g0"].shape == (0, 2)
    assert result["g1"].tolist() == np.arange(6.0).reshape(3, 2).tolist()
    assert float(result["total"]) == 1.5  # (1 + 2) / (1 + 1)
    # series 0 and 2 scored on rank 0 (+0), series 1 on rank 1 (+10), gathered in order
    assert [result[f"arr_{i}"][0, 0] for i in range(3)] == [4.0, 11.0, 3.0]
    assert [len(result[f"arr_{i}"]) for i in range(3)] == [4, 1, 3]


# ------------------------------------------------------------ torchrun, 2 processes
def torchrun_command() -> list[str]:
    script = Path(sys.executable).with_name("torchrun")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "torch.distributed.run"]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """`torchrun --nproc-per-node 2 -m lstmae_cli train` on a small machine file."""
    from sample_data.make_sample import inject, machine, with_time

    folder = tmp_path_factory.mktemp("ddp")
    rng = np.random.default_rng(3)
    for name, phase in (("a", 0), ("b", 900)):  # two series: each rank scores one held-out part
        part = with_time(machine(900, rng, phase=phase), "2026-01-01 00:00:00")
        part.to_csv(folder / f"train_{name}.csv", index=False)
    test = with_time(inject(machine(3000, rng, phase=1800), rng), "2026-01-02 00:00:00")
    test.to_csv(folder / "test.csv", index=False)
    env = {k: v for k, v in os.environ.items() if k not in (*TORCHRUN_VARS, "MASTER_PORT")}
    launch = ["--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    launch += ["--master-port", str(free_port())]
    options = ["--seq-len", "16", "--hidden", "16", "--epochs", "3", "--batch-size", "64"]
    options += ["--device", "cpu"]  # gloo, 2 processes: also on a machine with 1 GPU
    # the tail calibration: its held-out rows can be rescored from the saved model alone
    options += ["--calibration-folds", "1", "--scoring", "mahalanobis", "--drift-rate", "0"]
    options += ["--checkpoint-every", "1"]  # written by rank 0, removed once the model is
    data = ["train_a.csv", "train_b.csv"]
    train = ["-m", "lstmae_cli", "train", *data, "-o", "model.safetensors", *options]
    done = subprocess.run(
        [*torchrun_command(), *launch, *train],
        cwd=folder,
        env=env | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return folder, done


def test_torchrun_two_processes_write_one_bundle(ddp_run):
    folder, done = ddp_run
    assert done.returncode == 0, done.stderr[-2000:]
    summary = "lstmae: trained on 1800 rows in 2 series, 6 features"
    assert done.stderr.count(summary) == 1  # rank 0 alone
    assert "Traceback" not in done.stderr
    written = sorted(p.name for p in folder.iterdir())
    assert written == ["model.safetensors", "test.csv", "train_a.csv", "train_b.csv"]


def _held_out(detector, folder: Path) -> list[np.ndarray]:
    """The held-out rows (last val_fraction) of each training file, scaled as in training."""
    import pandas as pd

    from lstmae_cli.io.data import feature_matrix

    parts = []
    for name in ("train_a.csv", "train_b.csv"):
        values = feature_matrix(pd.read_csv(folder / name), detector.roles_.features, name)
        n_val = int(round(len(values) * detector.params.val_fraction))
        parts.append(detector.scaler_.transform(values[len(values) - n_val :]))
    return parts


def _held_out_frames(detector, folder: Path) -> list[tuple[str, object]]:
    """(name, frame) of the held-out rows (last val_fraction) of each training file."""
    import pandas as pd

    frames = []
    for name in ("train_a.csv", "train_b.csv"):
        frame = pd.read_csv(folder / name)
        n_val = int(round(len(frame) * detector.params.val_fraction))
        frames.append((name, frame.iloc[len(frame) - n_val :]))
    return frames


def test_threshold_equals_single_process_computation(ddp_run):
    from lstmae_cli import Detector
    from lstmae_cli.scoring.thresholds import fit_threshold

    folder, _ = ddp_run
    detector = Detector.load(folder / "model.safetensors", device="cpu")
    # the held-out rows of each file, scored in one process exactly as `lstmae score` does
    scores = detector.normal_scores(_held_out_frames(detector, folder))
    params = {k: v for k, v in detector.threshold_params_.items() if k != "fit"}
    expected, _ = fit_threshold(detector.threshold_method_, scores, **params)
    assert len(detector.val_scores_) == 360  # both series' held-out rows, not one rank's
    np.testing.assert_allclose(detector.val_scores_, np.sort(scores), rtol=1e-5)
    assert detector.threshold_ == pytest.approx(expected, rel=1e-5)


def test_validation_loss_covers_all_ranks(ddp_run):
    from lstmae_cli import Detector
    from lstmae_cli.nn.train import evaluate_loss
    from lstmae_cli.nn.windows import WindowBank

    folder, _ = ddp_run
    detector = Detector.load(folder / "model.safetensors", device="cpu")
    bank = WindowBank.from_series(_held_out(detector, folder), 16, 1)
    best = detector.history_[detector.data_info_["best_epoch"] - 1]
    assert best["val_loss"] == pytest.approx(evaluate_loss(detector.model_, bank), rel=1e-4)


def test_torchrun_bundle_detects_injected_anomalies(ddp_run):
    import pandas as pd

    from lstmae_cli import Detector
    from lstmae_cli.views.metrics import evaluate_all

    folder, _ = ddp_run
    detector = Detector.load(folder / "model.safetensors", device="cpu")
    test = pd.read_csv(folder / "test.csv")
    scored = detector.score_frame(test, keep=["anomaly"])
    report = evaluate_all(
        scored["anomaly"].to_numpy(), scored["score"].to_numpy(), detector.threshold_
    )
    assert report["lstmae"]["event_recall"] >= 0.75  # at least 3 of the 4 injected kinds
    assert report["lstmae"]["f1"] > report["flag_all"]["f1"] + 0.3
    assert report["lstmae"]["pr_auc"] > 0.6


def test_torchrun_with_calibration_folds_holds_out_every_row(tmp_path):
    """The default calibration (3 folds, each a DDP run) under torchrun: every row of both
    series is held out once and scored, whichever rank scored it, and the self-check ran."""
    from lstmae_cli import Detector
    from sample_data.make_sample import machine, with_time

    rng = np.random.default_rng(4)
    for name, phase in (("a", 0), ("b", 700)):
        part = with_time(machine(600, rng, phase=phase), "2026-01-01 00:00:00")
        part.to_csv(tmp_path / f"train_{name}.csv", index=False)
    options = ["--seq-len", "16", "--hidden", "8", "--epochs", "2", "--batch-size", "64"]
    options += ["--device", "cpu", "--calibration-folds", "3"]
    train = ["-m", "lstmae_cli", "train", "train_a.csv", "train_b.csv", *options]
    env = {k: v for k, v in os.environ.items() if k not in (*TORCHRUN_VARS, "MASTER_PORT")}
    launch = ["--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    launch += ["--master-port", str(free_port())]
    done = subprocess.run(
        [*torchrun_command(), *launch, *train, "-o", "ddp.safetensors"],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    ddp = Detector.load(tmp_path / "ddp.safetensors", device="cpu")
    assert ddp.data_info_["calibration_rows"] == 1200  # both series, every row
    assert len(ddp.val_scores_) == 1200
    assert 0.0 <= ddp.data_info_["train_flagged"] <= 1.0
