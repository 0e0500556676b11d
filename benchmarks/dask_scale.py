"""Scoring a fleet with Dask on 1 and 2 worker processes (one torch thread each).

    python benchmarks/dask_scale.py                           # 200 machines x 20,000 rows x 8
    python benchmarks/dask_scale.py --machines 20 --rows 5000 # quicker

Generates the fleet as a partitioned Parquet dataset (--per-file machines a file, one
partition each), trains a model of lstmae's default size on one machine (one quick epoch:
the speed of scoring does not depend on how well it learned), then, for 1 and then 2
workers, starts a LocalCluster of that many processes and times what `lstmae score MODEL
DATA --engine dask -o OUT` does: read the dataset, score it, write the scores as Parquet.
Prints rows/s, the scaling ratio and the bundle loads per worker.

Memory: each worker's peak resident set (VmHWM) after the run, and, with --memory-rows,
a one-worker run on one partition of N rows for each N: the worker's peak after loading the
model and after scoring, so the docs can state the memory a partition of N rows needs.

Results go to benchmarks/results/dask.json, with the load average before and after (the
project's machine is shared: say how busy it was).

Measured on the project's 2-core machine (AMD EPYC) at 04:00 UTC, quiet (load average
0.07 before, 1.2 after): 4,000,000 rows in 40 partitions of 100,000 rows; 1 worker 52.9 s
= 75,669 rows/s, 2 workers 30.5 s = 131,079 rows/s, 1.73x; one bundle load per worker.
Worker peak 314 MiB with the model loaded, 404 / 446 / 523 MiB after a partition of
20,000 / 100,000 / 400,000 rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "dask.json"
CHANNELS = 8


def machine_frame(number: int, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(number)
    t = np.arange(rows)
    values = {
        f"c{i}": np.sin(2 * np.pi * t / (50 + 9 * i) + i + number) + rng.normal(0, 0.05, rows)
        for i in range(CHANNELS)
    }
    frame = pd.DataFrame(values).astype("float32")
    frame.insert(0, "time", pd.Timestamp("2026-01-01") + pd.to_timedelta(t, unit="s"))
    frame.insert(0, "machine", f"m{number:04d}")
    return frame


def write_fleet(folder: Path, machines: int, rows: int, per_file: int) -> int:
    folder.mkdir(parents=True)
    files = 0
    for first in range(0, machines, per_file):
        numbers = range(first, min(first + per_file, machines))
        part = pd.concat([machine_frame(n, rows) for n in numbers], ignore_index=True)
        part.to_parquet(folder / f"part-{files:04d}.parquet", index=False)
        files += 1
    return files


def train_model(path: Path, rows: int) -> None:
    import torch

    from lstmae_cli import Detector

    torch.set_num_threads(1)
    detector = Detector(epochs=1, max_windows_per_epoch=2048, calibration_folds=1)
    detector.fit([("m0", machine_frame(0, min(rows, 20_000)))], id_column="machine")
    detector.save(path)


def worker_state() -> dict:
    """Run on a worker: its peak RSS (MiB), torch threads and bundle loads.

    The peak is VmHWM, the high-water mark of this process's own address space: ru_maxrss
    would carry over the peak of the process that spawned the worker (fork, then exec).
    """
    import torch

    from lstmae_cli.dask_scoring import bundle_loads

    status = Path("/proc/self/status").read_text()
    peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    return {
        "peak_rss_mib": round(peak / 1024, 1),
        "torch_threads": torch.get_num_threads(),
        "bundle_loads": sum(bundle_loads().values()),
    }


def warm_model(path: str) -> int:
    """Run on a worker: load the bundle (as the first partition would)."""
    from lstmae_cli.dask_scoring import cached_detector

    cached_detector(path)
    return 0


def run(data: Path, model: Path, out: Path, workers: int) -> dict:
    from lstmae_cli.dask_scoring import dask_client, read_dataset, score_dask, write_dataset

    with dask_client(workers=workers) as client, client.as_current():
        client.wait_for_workers(workers)
        began = time.perf_counter()
        scores = score_dask(read_dataset(data), model, warn=False)
        totals = write_dataset(scores, out, client)
        seconds = time.perf_counter() - began
        state = client.run(worker_state)
    return {
        "workers": workers,
        "seconds": round(seconds, 2),
        "rows": totals["rows"],
        "rows_per_s": round(totals["rows"] / seconds),
        "partitions": totals["partitions"],
        "bundle_loads_per_worker": [s["bundle_loads"] for s in state.values()],
        "torch_threads_per_worker": [s["torch_threads"] for s in state.values()],
        "worker_peak_rss_mib": [s["peak_rss_mib"] for s in state.values()],
    }


def memory_point(folder: Path, model: Path, rows: int) -> dict:
    """One worker, one partition of `rows` rows (5 machines): peak RSS loaded vs scored."""
    from lstmae_cli.dask_scoring import dask_client, read_dataset, score_dask, write_dataset

    data = folder / f"mem-{rows}"
    data.mkdir()
    machines = 5
    part = pd.concat([machine_frame(n, rows // machines) for n in range(machines)])
    part.to_parquet(data / "part.parquet", index=False)
    with dask_client(workers=1) as client, client.as_current():
        client.wait_for_workers(1)
        client.run(warm_model, str(model))
        (loaded,) = client.run(worker_state).values()
        scores = score_dask(read_dataset(data), model, warn=False)
        write_dataset(scores, folder / f"mem-out-{rows}", client)
        (scored,) = client.run(worker_state).values()
    return {
        "rows": rows,
        "loaded_peak_rss_mib": loaded["peak_rss_mib"],
        "scored_peak_rss_mib": scored["peak_rss_mib"],
        "input_mib": round(part.memory_usage(deep=True).sum() / 2**20, 1),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=200)
    parser.add_argument("--rows", type=int, default=20_000, help="rows per machine")
    parser.add_argument("--per-file", type=int, default=5, help="machines per Parquet file")
    parser.add_argument("--repeat", type=int, default=1, help="runs per worker count (median)")
    parser.add_argument(
        "--memory-rows",
        default="20000,100000,400000",
        help="partition sizes for the memory points (comma-separated; empty: none)",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write dask.json")
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="dask-scale-") as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        files = write_fleet(folder / "fleet", args.machines, args.rows, args.per_file)
        model = folder / "model.safetensors"
        train_model(model, args.rows)
        print(
            f"fleet: {args.machines} machines x {args.rows:,} rows x {CHANNELS} channels in "
            f"{files} files; model trained ({time.perf_counter() - began:.0f} s)",
            file=sys.stderr,
        )
        runs: dict[str, list[dict]] = {"1": [], "2": []}
        for attempt in range(args.repeat):
            for workers in (1, 2):
                out = folder / f"out-{workers}-{attempt}"
                result = run(folder / "fleet", model, out, workers)
                runs[str(workers)].append(result)
                print(
                    f"{workers} worker(s): {result['rows']:,} rows in {result['seconds']:.1f} s"
                    f" = {result['rows_per_s']:,} rows/s; bundle loads per worker "
                    f"{result['bundle_loads_per_worker']}, peak RSS per worker (MiB) "
                    f"{result['worker_peak_rss_mib']}",
                    file=sys.stderr,
                )
        memory = []
        for rows in [int(r) for r in args.memory_rows.split(",") if r.strip()]:
            point = memory_point(folder, model, rows)
            memory.append(point)
            print(
                f"one partition of {rows:,} rows: worker peak {point['loaded_peak_rss_mib']} MiB "
                f"with the model loaded, {point['scored_peak_rss_mib']} MiB after scoring",
                file=sys.stderr,
            )
    load_after = os.getloadavg()

    def median(workers: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[workers])

    ratio = median("2", "rows_per_s") / median("1", "rows_per_s")
    summary = {
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count()},
        "args": {
            "machines": args.machines,
            "rows": args.rows,
            "channels": CHANNELS,
            "per_file": args.per_file,
            "repeat": args.repeat,
        },
        "one_worker": runs["1"],
        "two_workers": runs["2"],
        "rows_per_s": {"1": median("1", "rows_per_s"), "2": median("2", "rows_per_s")},
        "ratio": round(ratio, 2),
        "memory": memory,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
    }
    print(
        f"2 workers / 1 worker: {ratio:.2f}x (target 1.6x); load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after",
        file=sys.stderr,
    )
    print(json.dumps(summary, indent=2))
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        temp = RESULTS.with_suffix(".json.tmp")
        temp.write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(temp, RESULTS)


if __name__ == "__main__":
    main()
