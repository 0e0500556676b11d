"""Training speed of 2 data-parallel processes (torchrun, gloo, CPU) against 1 process.

    python benchmarks/ddp_speedup.py                    # 20,000 rows, 3 epochs, each run once
    python benchmarks/ddp_speedup.py --rows 50000 --epochs 5 --repeats 3

Runs on the sample machine generator (6 channels), default network (seq_len 32,
hidden 64), the same options in every run and --patience equal to --epochs, so every run
trains every epoch. Steps, each a fresh process:

    1 process        `python -m lstmae_cli train`, torch's default threads (all cores)
    1 process, 1 thread   the same with OMP_NUM_THREADS=1, for reference
    2 processes      `torchrun --nproc-per-node 2 -m lstmae_cli train` (1 thread per rank
                     on a 2-core machine: lstmae splits the cores between local ranks)

The figure compared is the training loop's time (the bundle's `train_seconds`: epochs,
validation and all-reduces, not start-up or reading), and the wall time of the whole
command beside it. With 2 ranks each epoch takes half the optimizer steps with twice the
effective batch (2 x --batch-size), so the final validation loss is printed too: a
speed-up that costs accuracy per epoch is not a free one. Results go to
benchmarks/results/ddp.json with the load average seen before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lstmae_cli.bundle import load_bundle
from lstmae_cli.io.outpath import atomic_path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ddp.json"
sys.path.insert(0, str(ROOT / "sample_data"))

from make_sample import machine, with_time  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun() -> list[str]:
    script = Path(sys.executable).with_name("torchrun")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "torch.distributed.run"]


def launchers() -> dict[str, tuple[list[str], dict]]:
    """name -> (command prefix before `train ...`, extra environment)."""
    two = [*torchrun(), "--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    return {
        "1 process": ([sys.executable, "-m", "lstmae_cli"], {}),
        "1 process, 1 thread": ([sys.executable, "-m", "lstmae_cli"], {"OMP_NUM_THREADS": "1"}),
        "2 processes (torchrun)": ([*two, "--master-port", "{port}", "-m", "lstmae_cli"], {}),
    }


def run_once(prefix: list[str], extra_env: dict, data: Path, options: list[str]) -> dict:
    """Train once; {"wall_s", "train_s", "epochs", "val_loss"} from the bundle it wrote."""
    model = data.with_name("model.safetensors")
    command = [part.replace("{port}", str(free_port())) for part in prefix]
    command += ["train", str(data), "-o", str(model), "--quiet", *options]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")} | extra_env
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    _, meta = load_bundle(model)
    history = meta["history"]
    return {
        "wall_s": round(wall, 2),
        "train_s": meta["data"]["train_seconds"],
        "epochs": len(history),
        "val_loss": history[-1]["val_loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    options = ["--epochs", str(args.epochs), "--patience", str(args.epochs)]
    options += ["--batch-size", str(args.batch_size), "--device", "cpu"]
    load_before = os.getloadavg()
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "train.csv"
        frame = with_time(machine(args.rows, np.random.default_rng(0)), "2026-01-01 00:00:00")
        frame.round(4).to_csv(data, index=False)
        for _ in range(args.repeats):
            for name, (prefix, env) in launchers().items():
                results.setdefault(name, []).append(run_once(prefix, env, data, options))
                print(f"{name:24} {results[name][-1]}", flush=True)
    summary = summarise(results)
    load_after = os.getloadavg()
    report = {
        "rows": args.rows,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "cores": len(os.sched_getaffinity(0)),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "runs": results,
        "summary": summary,
    }
    print(json.dumps(summary, indent=2))
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def summarise(results: dict[str, list[dict]]) -> dict:
    """Median train and wall seconds per launcher, and 1 process / 2 processes ratios
    (against the default threads and against a single thread)."""
    medians = {
        name: {key: float(np.median([r[key] for r in runs])) for key in ("train_s", "wall_s")}
        | {"val_loss": float(np.median([r["val_loss"] for r in runs]))}
        for name, runs in results.items()
    }
    one, two = medians["1 process"], medians["2 processes (torchrun)"]
    medians["speedup_train_loop"] = round(one["train_s"] / two["train_s"], 2)
    medians["speedup_wall"] = round(one["wall_s"] / two["wall_s"], 2)
    single = medians["1 process, 1 thread"]
    medians["speedup_train_loop_vs_1_thread"] = round(single["train_s"] / two["train_s"], 2)
    return medians


if __name__ == "__main__":
    main()
