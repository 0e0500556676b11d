"""Speed: lstmae beside the tutorial loop, on the same generated data, in one run.

    python benchmarks/speed.py                 # make bench
    python benchmarks/speed.py --rows 100000   # quicker

The tutorial way is the seed's `LSTM_Autoencoder` class trained and scored as tutorials
do it: every window stacked into one array by a Python list of slices, a DataLoader with
batch 32, fp32. Steps, each printed beside its baseline with the ratio:

1. training throughput at the tutorial's own settings (seq_len 50, hidden 64, batch 32,
   stride 1): windows/s of the tutorial loop vs lstmae's loop (default linear decoder and
   --arch seed), taking turns three times, medians (ratios: median of per-round ratios);
2. time to reach the tutorial's validation loss: the tutorial trains --tutorial-epochs
   epochs; lstmae at default options trains until its validation loss is at or below the
   tutorial's best (both losses are mean squared error per value in standardised units);
3. scoring end to end, process start to exit, on a --rows x 8 CSV: `lstmae score` with
   default options (and with --precision bf16) vs the tutorial script scoring in batches
   of --tutorial-batch (32) and the same script in batches of --tutorial-big-batch (4096),
   taking turns three times; rows/s (medians, ratios the median of per-round ratios
   against each tutorial) and peak RSS;
4. `lstmae --help` wall time;
5. peak RSS of `lstmae train` on --train-rows rows;
6. with a CUDA device: steps 1 and 3 again on it (scoring in process, the network and the
   window bookkeeping only), and issue 19's GPU measurements: the training loop's
   windows/s at lstmae's defaults (no tutorial settings), `lstmae train` end to end on
   --gpu-rows x 8 (2 epochs of 400,000 windows, as the issue measured) on CUDA and on the
   same machine's CPU with the validation loss each reaches, and `lstmae score` end to
   end on --gpu-rows x 8, CSV and Parquet in and out; the validation loss the CPU
   defaults reach in 2 epochs of --gpu-loop-windows windows (in process, all CPU cores)
   and how long CUDA at its own defaults takes to reach it (time_to_cpu_loss); last, the
   loop's windows/s on CUDA at each batch of CUDA_LOOP_BATCHES (with batch_lr.py's losses
   per epoch, the data to revisit CUDA's batch rule). Without a GPU the step says it was
   skipped.

`--score-only` runs step 3 alone and prints it. Every run records step 3 in
benchmarks/results/score_threads.json under its thread regime: "1" when OMP_NUM_THREADS=1
(one torch thread on every side: how docs/speed.md's table is measured), "default" when
OMP_NUM_THREADS is unset (each side at its own default: torch's for the tutorials, the
thread policy's for lstmae); `make docs` shows both regimes side by side.

Writes benchmarks/results/speed.json, and with a CUDA device also the GPU rows alone to
benchmarks/results/gpu.json. `--gpu-only` runs step 6 alone (what scripts/gpu_check.sh
runs) and writes only gpu.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from memory import lstmae, peak_rss, python, write_csv  # noqa: E402
from tutorial import LSTM_Autoencoder as SeedLSTMAutoencoder  # noqa: E402
from tutorial import stacked_windows  # noqa: E402

from lstmae_cli.nn.model import ModelConfig  # noqa: E402
from lstmae_cli.nn.train import TrainSettings, train_autoencoder  # noqa: E402
from lstmae_cli.nn.windows import WindowBank  # noqa: E402
from lstmae_cli.scoring.rows import bf16_lstm_runs_on_cpu  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "speed.json"
GPU_RESULTS = ROOT / "benchmarks" / "results" / "gpu.json"
BF16_SKIPPED = "not run: this CPU has no bf16 LSTM kernels (oneDNN)"
SCORE_RESULTS = ROOT / "benchmarks" / "results" / "score_threads.json"
CUDA_LOOP_BATCHES = (1024, 2048, 4096, 8192)  # the loop's windows/s on CUDA at each
TUTORIAL_SEQ, TUTORIAL_HIDDEN, TUTORIAL_BATCH = 50, 64, 32


def series(rows: int, seed: int = 0) -> np.ndarray:
    """(rows, 8) standardised smooth channels, like memory.write_csv's."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    values = np.sin(2 * np.pi * t / (50 + 9 * np.arange(8)) + np.arange(8))
    values = values + rng.normal(0, 0.05, values.shape)
    return ((values - values.mean(0)) / values.std(0)).astype(np.float32)


def tutorial_epoch(model, optimizer, loader, limit: int | None = None, device="cpu") -> int:
    seen = 0
    for (batch,) in loader:
        batch = batch.to(device)  # as tutorials do: each batch copied to the model's device
        loss = nn.functional.mse_loss(model(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(batch)
        if limit and seen >= limit:
            break
    return seen


def tutorial_val_loss(model, windows: torch.Tensor) -> float:
    with torch.no_grad():
        return float(
            sum(
                nn.functional.mse_loss(model(b), b, reduction="sum")
                for b in windows.split(TUTORIAL_BATCH)
            )
            / windows.numel()
        )


def loader(windows: np.ndarray, seed: int = 0):
    from torch.utils.data import DataLoader, TensorDataset

    generator = torch.Generator().manual_seed(seed)
    data = TensorDataset(torch.from_numpy(windows))
    return DataLoader(data, batch_size=TUTORIAL_BATCH, shuffle=True, generator=generator)


def train_throughput(
    values: np.ndarray, windows: int, device: str = "cpu", rounds: int = 3
) -> dict:
    """Step 1: windows/s at the tutorial's settings, both loops, the same data.

    The three loops take turns `rounds` times; each rate is the median of its rounds and
    each ratio the median of the per-round ratios (ours / the tutorial's in the same round),
    so a burst of load on the machine does not land on one side only.
    """
    rates: dict[str, list[float]] = {"tutorial": [], "linear": [], "seed": []}
    for _ in range(rounds):
        rates["tutorial"].append(tutorial_rate(values, windows, device))
        for arch in ("linear", "seed"):
            rates[arch].append(lstmae_rate(values, windows, device, arch))
    tutorial, ours, ours_seed = (float(np.median(r)) for r in rates.values())
    baseline = np.array(rates["tutorial"])
    return {
        "tutorial_windows_per_s": tutorial,
        "lstmae_linear_windows_per_s": ours,
        "lstmae_seed_arch_windows_per_s": ours_seed,
        "ratio_linear": float(np.median(np.array(rates["linear"]) / baseline)),
        "ratio_seed_arch": float(np.median(np.array(rates["seed"]) / baseline)),
        "rounds": rates,
    }


def tutorial_rate(values: np.ndarray, windows: int, device: str) -> float:
    """Windows/s of the tutorial loop: stacked windows, DataLoader, batch 32."""
    torch.manual_seed(0)
    model = SeedLSTMAutoencoder(8, TUTORIAL_HIDDEN).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    began = time.perf_counter()
    stacked = stacked_windows(values, TUTORIAL_SEQ)
    seen = tutorial_epoch(model, optimizer, loader(stacked), windows, device)
    synchronize(device)
    return seen / (time.perf_counter() - began)


def lstmae_rate(values: np.ndarray, windows: int, device: str, arch: str) -> float:
    """Windows/s of lstmae's loop at the tutorial's settings (seq 50, hidden 64, batch 32)."""
    bank = WindowBank.from_series([values], TUTORIAL_SEQ, 1)
    empty = WindowBank.from_series([], TUTORIAL_SEQ, 1)
    settings = TrainSettings(1, TUTORIAL_BATCH, 1e-3, 1, 0, device, windows)
    began = time.perf_counter()
    train_autoencoder(ModelConfig(8, TUTORIAL_HIDDEN, 1, arch), bank, empty, settings)
    return windows / (time.perf_counter() - began)


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def gpu_steps(values: np.ndarray, windows: int, rows: int, args=None, save=None) -> dict:
    """Step 6 on a CUDA device; skipped with a message without one.

    `save(result)` is called after each part, so a run stopped at a time limit keeps what
    it measured.
    """
    save = save or (lambda _: None)
    if not torch.cuda.is_available():
        print("GPU: skipped (no CUDA device on this machine)")
        return {"skipped": "no CUDA device"}
    result = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu_threads": torch.get_num_threads(),
    }
    result["train"] = train_throughput(values, windows, "cuda")
    save(result)
    result["score"] = gpu_score(series(rows, seed=4))
    save(result)
    if args is not None:
        result["train_loop_defaults"] = {}
        for device, n in (("cuda", args.gpu_loop_windows), ("cpu", args.cpu_loop_windows)):
            result["train_loop_defaults"][device] = default_loop_rate(device, n)
            save(result)
        result["time_to_cpu_loss"] = time_to_cpu_loss(args.gpu_rows, args.gpu_loop_windows)
        save(result)
        with tempfile.TemporaryDirectory() as folder:
            result["end_to_end"] = gpu_end_to_end(Path(folder), args.gpu_rows, args.gpu_cpu_train)
            save(result)  # the other batch sizes come last: a run cut short loses only them
        result["train_loop_batches"] = {
            str(batch): default_loop_rate("cuda", args.gpu_loop_windows, batch)
            for batch in CUDA_LOOP_BATCHES
        }
        save(result)
    return result


def default_loop_rate(device: str, windows: int, batch: int | None = None) -> dict:
    """Windows/s of lstmae's training loop at its defaults (seq_len, hidden, and the batch
    and learning rate `lstmae train` picks on `device` for an epoch of `windows` windows;
    or the batch given, at the rate the CUDA rule gives it).

    One epoch of `windows` windows after a short warm-up (CUDA context, cuDNN plans);
    forward, backward and step, no validation.
    """
    from lstmae_cli.detector import DetectorParams
    from lstmae_cli.params import scaled_rate, training_pace

    p = DetectorParams()
    batch = training_pace(device, windows, batch, None)[0]
    lr = scaled_rate(batch)  # the CPU's 0.002 at its batch 128
    values = series(windows + p.seq_len, seed=6)
    bank = WindowBank.from_series([values], p.seq_len, 1)
    empty = WindowBank.from_series([], p.seq_len, 1)
    config = ModelConfig(8, p.hidden, p.layers, p.arch)
    pace = {"batch_size": batch, "lr": lr, "device": device}
    warm = TrainSettings(epochs=1, max_windows_per_epoch=min(windows, 4 * batch), **pace)
    train_autoencoder(config, bank, empty, warm)
    settings = TrainSettings(epochs=1, max_windows_per_epoch=windows, **pace)
    synchronize(device)
    began = time.perf_counter()
    train_autoencoder(config, bank, empty, settings)
    synchronize(device)
    seconds = time.perf_counter() - began
    return {
        "device": device,
        "windows": windows,
        "batch_size": batch,
        "lr": lr,
        "seconds": seconds,
        "windows_per_s": windows / seconds,
    }


def gpu_end_to_end(folder: Path, rows: int, with_cpu: bool, device: str = "cuda") -> dict:
    """`lstmae train` and `lstmae score` as processes on a rows x 8 file (issue 19's runs).

    Trains on `device` (and on the CPU too, `with_cpu`), scores on `device`.
    """
    import pandas as pd

    data, parquet = folder / "big.csv", folder / "big.parquet"
    write_csv(data, rows, seed=5)
    pd.read_csv(data).to_parquet(parquet)
    result: dict = {"rows": rows}
    for on in (device, "cpu") if with_cpu else (device,):
        result[f"train_{on}"] = train_end_to_end(data, folder / f"{on}.safetensors", on)
    if with_cpu:
        result[f"train_cpu_over_{device}"] = (
            result["train_cpu"]["seconds"] / result[f"train_{device}"]["seconds"]
        )
    model = folder / f"{device}.safetensors"
    for name, source, out, extra in (
        ("score_csv", data, folder / "scores.csv", []),
        ("score_parquet", parquet, folder / "scores.parquet", ["-f", "parquet"]),
    ):
        command = lstmae("score", str(model), str(source), "-o", str(out), "-q", *extra)
        rss, seconds = peak_rss([*command, "--device", device])
        result[name] = {"seconds": seconds, "rows_per_s": rows / seconds, "peak_rss_mib": rss}
    return result


def time_to_cpu_loss(
    rows: int, windows: int, cpu_epochs: int = 2, most: int = 16, device: str = "cuda"
) -> dict:
    """Issue 19's training target in process: the validation loss the CPU defaults reach
    in `cpu_epochs` epochs of `windows` windows (on all the CPU's cores), and how long the
    CPU and CUDA, each at the batch and rate `lstmae train` picks there, take to reach it
    (CUDA: at most `most` epochs). The same data and split on both: the first 80 % of
    series(rows) trains, the last 20 % validates; every epoch's validation counts."""
    from lstmae_cli.detector import DetectorParams

    p = DetectorParams()
    values = series(rows, seed=5)
    n_train = int(rows * 0.8)
    train = WindowBank.from_series([values[:n_train]], p.seq_len, 1)
    val = WindowBank.from_series([values[n_train:]], p.seq_len, 1)
    config = ModelConfig(8, p.hidden, p.layers, p.arch)
    cpu = timed_training(config, train, val, "cpu", cpu_epochs, windows)
    target = min(cpu["val_loss"])
    cuda = timed_training(config, train, val, device, most, windows, target)
    return {
        "rows": rows,
        "windows_per_epoch": windows,
        "target_val_loss": target,
        "cpu": cpu,
        "cuda": cuda,
        "cpu_over_cuda": cpu["seconds"] / cuda["seconds"] if cuda["reached"] else None,
    }


def timed_training(
    config: ModelConfig,
    train: WindowBank,
    val: WindowBank,
    device: str,
    epochs: int,
    windows: int,
    target: float | None = None,
) -> dict:
    """Train at `device`'s default batch and rate until `epochs` are done or the
    validation loss is at or below `target`: seconds, epochs and each epoch's loss."""
    from lstmae_cli.params import training_pace

    batch, lr = training_pace(device, min(windows, len(train)), None, None)
    settings = TrainSettings(epochs, batch, lr, epochs, 0, device, windows)
    history: list[float] = []
    began = time.perf_counter()
    reached: dict = {}

    def check(record: dict) -> None:
        history.append(record["val_loss"])
        if target is not None and record["val_loss"] <= target:
            reached["seconds"] = time.perf_counter() - began
            raise ReachedTarget

    synchronize(device)
    with contextlib.suppress(ReachedTarget):
        train_autoencoder(config, train, val, settings, check)
    synchronize(device)
    seconds = reached.get("seconds", time.perf_counter() - began)
    return {
        "batch_size": batch,
        "lr": lr,
        "threads": torch.get_num_threads(),
        "seconds": seconds,
        "epochs": len(history),
        "val_loss": history,
        "reached": target is None or bool(reached),
    }


def train_end_to_end(data: Path, model: Path, device: str, *options: str) -> dict:
    """`lstmae train` as a process, 2 epochs of at most 400,000 windows (issue 19's runs):
    its seconds, peak RSS and the validation loss of each epoch."""
    from lstmae_cli import Detector

    command = lstmae("train", str(data), "--epochs", "2", "--max-windows-per-epoch", "400000")
    rss, seconds = peak_rss([*command, "-q", "-o", str(model), "--device", device, *options])
    history = Detector.load(model, device="cpu").history_
    return {"seconds": seconds, "peak_rss_mib": rss, "val_loss": [h["val_loss"] for h in history]}


def gpu_score(values: np.ndarray, device: str = "cuda") -> dict:
    """Rows/s in process on the GPU: tutorial (stacked windows, batch 32) vs RowScorer."""
    from lstmae_cli.detector import SCORE_BATCH_CUDA, DetectorParams
    from lstmae_cli.nn.model import LSTMAutoencoder
    from lstmae_cli.scoring.rows import RowScorer

    torch.manual_seed(0)
    model = SeedLSTMAutoencoder(8, TUTORIAL_HIDDEN).to(device).eval()
    began = time.perf_counter()
    windows = torch.from_numpy(stacked_windows(values, TUTORIAL_SEQ))  # (windows, seq, features)
    with torch.no_grad():
        for batch in windows.split(TUTORIAL_BATCH):
            batch = batch.to(device)
            ((model(batch) - batch) ** 2).mean(dim=(1, 2)).cpu()
    tutorial = len(values) / (time.perf_counter() - began)
    p = DetectorParams()
    ours = LSTMAutoencoder(ModelConfig(8, p.hidden, p.layers, p.arch)).to(device).eval()
    began = time.perf_counter()
    scorer = RowScorer(ours, p.seq_len, p.score_stride, SCORE_BATCH_CUDA, device)
    scorer.push(values)
    scorer.finish()
    lstmae_rows = len(values) / (time.perf_counter() - began)
    return {"tutorial_rows_per_s": tutorial, "lstmae_rows_per_s": lstmae_rows}


class ReachedTarget(Exception):
    pass


def time_to_loss(values: np.ndarray, epochs: int, rounds: int = 3) -> dict:
    """Step 2: the tutorial's best validation loss after `epochs`, and how long each side
    takes to reach it; `rounds` alternating turns (each well under 5 s, so one turn is at
    the mercy of a neighbour's job): seconds are the medians, every turn kept."""
    turns, ours = [], []
    for _ in range(rounds):
        turns.append(tutorial_time_to_best(values, epochs))  # the same loss every turn (seed 0)
        target = turns[0]["tutorial_best_val_loss"]
        ours.append(ours_time_to(values, int(len(values) * 0.8), target))
    tutorial_seconds = [turn["tutorial_seconds"] for turn in turns]
    lstmae_seconds = [turn["lstmae_seconds"] for turn in ours]
    return {
        "tutorial_best_val_loss": target,
        "tutorial_seconds": float(np.median(tutorial_seconds)),
        "lstmae_seconds": float(np.median(lstmae_seconds)),
        "lstmae_epochs": ours[0]["lstmae_epochs"],
        "rounds_seconds": {"tutorial": tutorial_seconds, "lstmae": lstmae_seconds},
    }


def tutorial_time_to_best(values: np.ndarray, epochs: int) -> dict:
    """The tutorial loop for `epochs` (seed 0): its best validation loss and when it got there."""
    n_train = int(len(values) * 0.8)
    torch.manual_seed(0)
    model = SeedLSTMAutoencoder(8, TUTORIAL_HIDDEN)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    began = time.perf_counter()
    train_windows = stacked_windows(values[:n_train], TUTORIAL_SEQ)
    val_windows = torch.from_numpy(stacked_windows(values[n_train:], TUTORIAL_SEQ))
    best, best_at = np.inf, 0.0
    for _ in range(epochs):
        tutorial_epoch(model, optimizer, loader(train_windows))
        loss = tutorial_val_loss(model, val_windows)
        if loss < best:
            best, best_at = loss, time.perf_counter() - began
    return {"tutorial_best_val_loss": best, "tutorial_seconds": best_at}


def ours_time_to(values: np.ndarray, n_train: int, target: float) -> dict:
    """lstmae at default options, stopped as soon as its val loss reaches `target`."""
    from lstmae_cli.detector import DetectorParams

    p = DetectorParams()
    began = time.perf_counter()
    reached: dict = {}

    def check(record: dict) -> None:
        if record["val_loss"] <= target:
            reached.update(seconds=time.perf_counter() - began, epoch=record["epoch"])
            raise ReachedTarget

    train = WindowBank.from_series([values[:n_train]], p.seq_len, p.stride)
    val = WindowBank.from_series([values[n_train:]], p.seq_len, p.stride)
    settings = TrainSettings(100, patience=100, seed=0, device="cpu")
    with contextlib.suppress(ReachedTarget):
        train_autoencoder(ModelConfig(8, p.hidden, p.layers, p.arch), train, val, settings, check)
    seconds = reached.get("seconds", float("nan"))
    return {"lstmae_seconds": seconds, "lstmae_epochs": reached.get("epoch")}


TUTORIAL_SCORE = """
import sys, numpy as np, pandas as pd, torch
from torch import nn
sys.path.insert(0, {bench!r})
from tutorial import LSTM_Autoencoder as SeedLSTMAutoencoder, stacked_windows
frame = pd.read_csv(sys.argv[1])
values = frame.iloc[:, 1:].to_numpy(np.float64)
values = ((values - values.mean(0)) / values.std(0)).astype(np.float32)
windows = torch.from_numpy(stacked_windows(values, {seq}))  # (windows, seq_len, features)
torch.manual_seed(0)
model = SeedLSTMAutoencoder(values.shape[1], {hidden}).eval()
scores = []
with torch.no_grad():
    for batch in windows.split({batch}):
        scores.append(((model(batch) - batch) ** 2).mean(dim=(1, 2)))
pd.DataFrame({{"score": torch.cat(scores).numpy()}}).to_csv(sys.argv[2], index=False)
"""


def score_end_to_end(
    folder: Path, rows: int, batch: int, big_batch: int = 4096, rounds: int = 3
) -> dict:
    """Step 3: process start to exit on a rows x 8 CSV.

    The four commands (the tutorial script in batches of `batch` and of `big_batch`,
    lstmae fp32 and bf16) take turns `rounds` times: seconds are medians, each ratio the
    median of the per-round ratios, peak RSS the largest seen.
    """
    data, out = folder / "score.csv", folder / "scores.csv"
    write_csv(data, rows)
    model = folder / "model.safetensors"
    write_csv(folder / "train.csv", 20_000, seed=1)
    peak_rss(lstmae("train", str(folder / "train.csv"), "-o", str(model), "--epochs", "2", "-q"))
    scripts = {
        size: TUTORIAL_SCORE.format(
            bench=str(ROOT / "benchmarks"), seq=TUTORIAL_SEQ, hidden=TUTORIAL_HIDDEN, batch=size
        )
        for size in (batch, big_batch)
    }
    results: dict = {"batch_sizes": {"tutorial": batch, "tutorial_big_batch": big_batch}}
    runs = {
        "tutorial": python("-c", scripts[batch], str(data), str(out)),
        "tutorial_big_batch": python("-c", scripts[big_batch], str(data), str(out)),
        "lstmae": lstmae("score", str(model), str(data), "-o", str(out), "-q"),
    }
    if bf16_lstm_runs_on_cpu():
        bf16 = ("--precision", "bf16")
        runs["lstmae_bf16"] = lstmae("score", str(model), str(data), "-o", str(out), "-q", *bf16)
    else:
        results["bf16_skipped"] = BF16_SKIPPED
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, command in runs.items():
            measured[name].append(peak_rss(command))  # (peak RSS MiB, seconds)
    for name, pairs in measured.items():
        seconds = [s for _, s in pairs]
        results[name] = {
            "rows_per_s": rows / float(np.median(seconds)),
            "seconds": float(np.median(seconds)),
            "peak_rss_mib": max(rss for rss, _ in pairs),
            "rounds_seconds": seconds,
        }
    for baseline, suffix in (("tutorial", ""), ("tutorial_big_batch", "_big_batch")):
        tutorial = np.array(results[baseline]["rounds_seconds"])
        for name, key in (("lstmae", "ratio"), ("lstmae_bf16", "ratio_bf16")):
            if name not in results:
                continue
            ours = np.array(results[name]["rounds_seconds"])
            results[key + suffix] = float(np.median(tutorial / ours))
    return results


def help_time() -> dict:
    times = [peak_rss(lstmae("--help"))[1] for _ in range(5)]
    return {"median_seconds": float(np.median(times)), "min_seconds": min(times)}


def train_memory(folder: Path, rows: int) -> dict:
    data = folder / "big.csv"
    write_csv(data, rows, seed=2)
    model = folder / "big.safetensors"
    command = lstmae(
        "train",
        str(data),
        "-o",
        str(model),
        "--epochs",
        "1",
        "--max-windows-per-epoch",
        "20000",
        "-q",
    )
    rss, seconds = peak_rss(command)
    return {"rows": rows, "peak_rss_mib": rss, "seconds": seconds}


def report(r: dict) -> None:
    t = r["train_throughput"]
    print(f"\n{'step':46} {'tutorial':>12} {'lstmae':>12} {'ratio':>8}")
    print(
        f"{'train windows/s (seq 50, batch 32), linear':46} "
        f"{t['tutorial_windows_per_s']:>12,.0f} {t['lstmae_linear_windows_per_s']:>12,.0f}"
        f" {t['ratio_linear']:>7.2f}x"
    )
    print(
        f"{'train windows/s (seq 50, batch 32), --arch seed':46} "
        f"{t['tutorial_windows_per_s']:>12,.0f} {t['lstmae_seed_arch_windows_per_s']:>12,.0f}"
        f" {t['ratio_seed_arch']:>7.2f}x"
    )
    c = r["time_to_loss"]
    ratio = c["tutorial_seconds"] / c["lstmae_seconds"]
    label = f"seconds to val loss {c['tutorial_best_val_loss']:.4f}"
    print(f"{label:46} {c['tutorial_seconds']:>12.1f} {c['lstmae_seconds']:>12.1f} {ratio:>7.2f}x")
    for name, seconds in c.get("rounds_seconds", {}).items():
        print(f"{'  seconds per turn, ' + name:46} {', '.join(f'{s:.2f}' for s in seconds)}")
    report_score(r["score"])
    print(
        f"{'lstmae --help seconds (median of 5)':46} {'':>12} {r['help']['median_seconds']:>12.2f}"
    )
    report_gpu(r["gpu"])
    m = r["train_memory"]
    print(
        f"{'train peak RSS MiB, ' + format(m['rows'], ',') + ' rows':46} {'':>12}"
        f" {m['peak_rss_mib']:>12,.0f}"
    )


def report_score(s: dict) -> None:
    """Step 3 beside both tutorials; ratios are medians of the per-turn ratios."""
    sizes = s.get("batch_sizes", {"tutorial": 32, "tutorial_big_batch": 4096})
    for baseline, suffix in (("tutorial", ""), ("tutorial_big_batch", "_big_batch")):
        ours = (
            ("score rows/s end to end", "lstmae", "ratio"),
            ("  same, bf16", "lstmae_bf16", "ratio_bf16"),
        )
        for name, key, ratio_key in ours:
            if key not in s:
                print(f"{name:46} {s.get('bf16_skipped', 'not measured')}")
                continue
            label = f"{name}, tutorial batch {sizes[baseline]}"
            ratio = s[ratio_key + suffix]
            print(
                f"{label:46} {s[baseline]['rows_per_s']:>12,.0f} {s[key]['rows_per_s']:>12,.0f}"
                f" {ratio:>7.2f}x"
            )
    for name in ("tutorial", "tutorial_big_batch", "lstmae", "lstmae_bf16"):
        if name not in s:
            continue
        turns = ", ".join(f"{t:.2f}" for t in s[name]["rounds_seconds"])
        print(f"{'  seconds per turn, ' + name:46} {turns}")
    print(
        f"{'score peak RSS MiB (tutorial batch 32 / 4096)':46}"
        f" {s['tutorial']['peak_rss_mib']:>6,.0f} /{s['tutorial_big_batch']['peak_rss_mib']:>5,.0f}"
        f" {s['lstmae']['peak_rss_mib']:>12,.0f}"
    )


def report_gpu(g: dict) -> None:
    if "skipped" not in g:
        t, s = g["train"], g["score"]
        print(f"GPU ({g['device']}):")
        print(
            f"{'  train windows/s (seq 50, batch 32), linear':46} "
            f"{t['tutorial_windows_per_s']:>12,.0f} {t['lstmae_linear_windows_per_s']:>12,.0f}"
            f" {t['ratio_linear']:>7.2f}x"
        )
        ratio = s["lstmae_rows_per_s"] / s["tutorial_rows_per_s"]
        print(
            f"{'  score rows/s in process (network only)':46} {s['tutorial_rows_per_s']:>12,.0f}"
            f" {s['lstmae_rows_per_s']:>12,.0f} {ratio:>7.2f}x"
        )
    if "train_loop_defaults" in g:
        loops = list(g["train_loop_defaults"].values()) + list(
            g.get("train_loop_batches", {}).values()
        )
        for loop in loops:
            label = f"  train loop windows/s, {loop.get('device', '')} batch {loop['batch_size']}"
            print(f"{label:46} {'':>12} {loop['windows_per_s']:>12,.0f}")
    t = g.get("time_to_cpu_loss")
    if t:
        for device in ("cpu", "cuda"):
            run = t[device]
            label = (
                f"  s to val loss {t['target_val_loss']:.4g}, {device} batch {run['batch_size']}"
            )
            note = f"   {run['epochs']} epochs" + ("" if run["reached"] else ", not reached")
            print(f"{label:46} {'':>12} {run['seconds']:>12.1f}{note}")
    e = g.get("end_to_end")
    if e:
        rows = format(e["rows"], ",")
        for device in ("cuda", "cpu"):
            if f"train_{device}" in e:
                run = e[f"train_{device}"]
                label = f"  train {rows} rows, 2 x 400k windows, {device} s"
                best = min(run["val_loss"])
                print(f"{label:46} {'':>12} {run['seconds']:>12.1f}   best val loss {best:.4f}")
        for name in ("score_csv", "score_parquet"):
            label = f"  {name.replace('_', ' ')} {rows} rows end to end, s"
            print(f"{label:46} {'':>12} {e[name]['seconds']:>12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000, help="rows scored")
    parser.add_argument("--train-windows", type=int, default=12_800)
    parser.add_argument("--loss-rows", type=int, default=6_000, help="rows for step 2")
    parser.add_argument("--tutorial-epochs", type=int, default=5)
    parser.add_argument("--tutorial-batch", type=int, default=32, help="tutorial scoring batch")
    parser.add_argument(
        "--tutorial-big-batch", type=int, default=4096, help="the second tutorial's batch"
    )
    parser.add_argument("--score-only", action="store_true", help="step 3 alone, printed")
    parser.add_argument("--train-rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--gpu-only", action="store_true", help="step 6 alone; writes gpu.json")
    parser.add_argument("--gpu-rows", type=int, default=1_000_000, help="GPU end-to-end rows")
    parser.add_argument("--gpu-loop-windows", type=int, default=400_000)
    parser.add_argument("--cpu-loop-windows", type=int, default=20_000)
    parser.add_argument(
        "--no-gpu-cpu-train",
        dest="gpu_cpu_train",
        action="store_false",
        help="GPU step: skip the CPU `lstmae train` run it is compared with",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpu_model": cpu_model(),
            "threads": torch.get_num_threads(),
        },
        "args": vars(args),
    }
    values = series(args.train_windows + TUTORIAL_SEQ)
    if args.gpu_only:

        def save(gpu: dict) -> None:
            write_gpu(result | {"gpu": gpu}, quiet=True)

        result["gpu"] = gpu_steps(values, args.train_windows, args.rows, args, save)
        report_gpu(result["gpu"])
        write_gpu(result)
        return
    if args.score_only:
        load = os.getloadavg()[0]  # other work on the machine as the run starts
        with tempfile.TemporaryDirectory() as folder:
            batches = (args.tutorial_batch, args.tutorial_big_batch)
            score = score_end_to_end(Path(folder), args.rows, *batches)
        report_score(score)
        write_score_regime(result | {"score": score, "load_average_before": load})
        return
    load = os.getloadavg()[0]
    result["train_throughput"] = train_throughput(values, args.train_windows)
    result["time_to_loss"] = time_to_loss(series(args.loss_rows, seed=3), args.tutorial_epochs)
    with tempfile.TemporaryDirectory() as folder:
        batches = (args.tutorial_batch, args.tutorial_big_batch)
        result["score"] = score_end_to_end(Path(folder), args.rows, *batches)
        result["help"] = help_time()
        result["train_memory"] = train_memory(Path(folder), args.train_rows)
    result["gpu"] = gpu_steps(values, args.train_windows, args.rows, args)
    report(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    write_gpu(result)
    step3 = {k: result[k] for k in ("machine", "args", "score")}
    write_score_regime(step3 | {"load_average_before": load})


def cpu_model() -> str:
    """The CPU's name and widest vector units (/proc/cpuinfo): runs on other CPUs differ."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    name = next(
        (
            line.split(":", 1)[1].strip()
            for line in text.splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    flags = set(
        next(
            (
                line.split(":", 1)[1].split()
                for line in text.splitlines()
                if line.startswith("flags")
            ),
            [],
        )
    )
    units = [u for u in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if u in flags]
    return f"{name} ({units[0] if units else 'no AVX2'})"


def write_score_regime(result: dict) -> None:
    """Step 3 (of a full or a --score-only run) into score_threads.json, under this run's
    thread regime, beside the other regimes' runs."""
    regime = os.environ.get("OMP_NUM_THREADS", "default")
    runs = json.loads(SCORE_RESULTS.read_text()) if SCORE_RESULTS.exists() else {}
    runs[regime] = result | {"date": time.strftime("%Y-%m-%d")}
    SCORE_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    SCORE_RESULTS.write_text(json.dumps(runs, indent=2, default=str))
    print(f"wrote {SCORE_RESULTS.relative_to(ROOT)} ({regime!r} threads)")


def write_gpu(result: dict, quiet: bool = False) -> None:
    """The GPU rows, alone, to gpu.json: only when there was a GPU to measure."""
    if "skipped" in result["gpu"]:
        return
    GPU_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    gpu = {"machine": result["machine"], "args": result["args"], "gpu": result["gpu"]}
    GPU_RESULTS.write_text(json.dumps(gpu, indent=2, default=str))
    if not quiet:
        print(f"wrote {GPU_RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
