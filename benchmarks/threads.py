"""Threads on a quiet and on a busy machine: `lstmae train` and `lstmae score` per setting.

    python benchmarks/threads.py              # make bench-threads (a few minutes on 2 cores)
    python benchmarks/threads.py --busy 4     # four `yes > /dev/null` beside it

Each run is a fresh process, timed from start to exit (wall seconds):

- train: `lstmae train sample_data/machine_train.csv --epochs 1 -o MODEL -q`
- score: `lstmae score MODEL sample_data/machine_test.csv -o SCORES -q`

under five settings:

- `OMP_NUM_THREADS=1`: the baseline;
- `default`: nothing set, so the thread policy (lstmae_cli/nn/threads.py) chooses, and the
  entry point sets a short spin (GOMP_SPINCOUNT, lstmae_cli/nn/threads.py);
- `--threads N, short spin`: torch's old thread count (the CPUs this process may use),
  with the entry point's short spin: what the spin alone does;
- `--threads N, PASSIVE`: the same with OMP_WAIT_POLICY=PASSIVE (the entry point's
  choice before the short spin: waiting threads sleep at once);
- `old default`: the old behaviour, N threads and OpenMP's own wait policy (the command
  started through `cli.app`, past the entry point that sets it).

and two conditions: quiet (no load of ours; other users of the machine are not stopped,
so the load average is recorded beside each run) and busy (`--busy` processes running
`yes > /dev/null`, started before and killed after, also when interrupted). A run that
takes longer than --timeout is stopped and recorded as such.

Writes benchmarks/results/threads.json.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstmae_cli.nn import threads  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "threads.json"
TRAIN = ROOT / "sample_data" / "machine_train.csv"
TEST = ROOT / "sample_data" / "machine_test.csv"
OURS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")  # cleared
OLD_ENTRY = "import sys; from lstmae_cli.cli.app import app; sys.argv[0] = 'lstmae'; app()"


def settings(cpus: int) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (command prefix, extra environment)."""
    lstmae = [sys.executable, "-m", "lstmae_cli"]
    return {
        "OMP_NUM_THREADS=1": (lstmae, {"OMP_NUM_THREADS": "1"}),
        "default": (lstmae, {}),
        f"--threads {cpus}, short spin": ([*lstmae, "--threads", str(cpus)], {}),
        f"--threads {cpus}, PASSIVE": (
            [*lstmae, "--threads", str(cpus)],
            {"OMP_WAIT_POLICY": "PASSIVE"},
        ),
        f"old default ({cpus} threads)": (
            [sys.executable, "-c", OLD_ENTRY, "--threads", str(cpus)],
            {},
        ),
    }


def _die_with_parent() -> None:
    """In the child: be killed when this script dies, however it dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def busy(count: int):
    """`count` processes running `yes > /dev/null` for the block; killed after, always."""
    workers = []
    try:
        for _ in range(count):
            workers.append(
                subprocess.Popen(["yes"], stdout=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            )
        time.sleep(0.5)  # running before the first timed command starts
        yield workers
    finally:
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                worker.kill()
        for worker in workers:
            worker.wait()


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load() -> str:
    return Path("/proc/loadavg").read_text().strip()


def timed(command: list[str], extra: dict[str, str], timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in OURS} | extra
    began = time.perf_counter()
    before = load()
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"seconds": None, "timed_out": timeout, "load_before": before}
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr}")
    return {"seconds": seconds, "load_before": before, "load_after": load()}


def condition(name: str, runs: dict, folder: Path, args, cpus: int) -> dict:
    """Every setting, train then score, args.rounds times in turn."""
    model, out = folder / "model.safetensors", folder / "scores.csv"
    train = ["train", str(TRAIN), "--epochs", "1", "-o", str(folder / "m.safetensors"), "-q"]
    if args.max_windows:
        train += ["--max-windows-per-epoch", str(args.max_windows)]
    score = ["score", str(model), str(TEST), "-o", str(out), "-q"]
    choice = threads.choose()
    print(f"{name}: the policy chooses {choice.threads} thread(s) ({choice.why})", flush=True)
    result: dict = {"policy": {"threads": choice.threads, "why": choice.why}, "runs": {}}
    for _ in range(args.rounds):
        for setting, (prefix, extra) in runs.items():
            for command, rest in (("train", train), ("score", score)):
                chosen = threads.choose(None, extra).threads if setting == "default" else None
                record = timed([*prefix, *rest], extra, args.timeout)
                if chosen is not None:
                    record["policy_threads_just_before"] = chosen
                result["runs"].setdefault(setting, {}).setdefault(command, []).append(record)
                seconds = record["seconds"]
                shown = f"{seconds:7.2f} s" if seconds is not None else f"> {args.timeout:.0f} s"
                print(f"  {setting:28} {command:6} {shown}   load {record['load_before']}")
    return result


def median(records: list[dict]) -> float | None:
    values = sorted(r["seconds"] for r in records if r["seconds"] is not None)
    if len(values) < len(records) or not values:
        return None  # a run timed out: longer than the timeout
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def report(result: dict, args) -> None:
    conditions = list(result["conditions"])
    print(f"\nseconds, process start to exit (median of {args.rounds})")
    header = "".join(f"{c + ' train':>16}{c + ' score':>16}" for c in conditions)
    print(f"{'setting':30}{header}")
    first = result["conditions"][conditions[0]]["runs"]
    for setting in first:
        cells = ""
        for c in conditions:
            for command in ("train", "score"):
                value = median(result["conditions"][c]["runs"][setting][command])
                cells += (
                    f"{value:>16.2f}" if value is not None else f"{'> ' + str(args.timeout):>16}"
                )
        print(f"{setting:30}{cells}")
    for c in conditions:
        runs = result["conditions"][c]["runs"]
        for command in ("train", "score"):
            base, ours = (median(runs[s][command]) for s in ("OMP_NUM_THREADS=1", "default"))
            if base and ours:
                print(f"{c} {command}: default / OMP_NUM_THREADS=1 = {ours / base:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=2, help="`yes` processes when busy")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each setting")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per run")
    parser.add_argument("--max-windows", type=int, default=0, help="train: windows per epoch")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `busy` cleans up
    cpus = threads.affinity_cpus()
    runs = settings(cpus)
    result: dict = {
        "machine": {
            "cpu": cpu_model(),
            "cpus": os.cpu_count(),
            "affinity": cpus,
            "allowed": threads.allowed_cpus(),
            "python": platform.python_version(),
        },
        "args": vars(args),
        "conditions": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prepare = ["train", str(TRAIN), "--epochs", "1", "-o", str(folder / "model.safetensors")]
        timed([sys.executable, "-m", "lstmae_cli", *prepare, "-q"], {"OMP_NUM_THREADS": "1"}, 600)
        result["conditions"]["quiet"] = condition("quiet", runs, folder, args, cpus)
        with busy(args.busy):
            result["conditions"]["busy"] = condition(
                f"busy ({args.busy} x yes)", runs, folder, args, cpus
            )
    import torch

    result["machine"]["torch"] = torch.__version__
    report(result, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
