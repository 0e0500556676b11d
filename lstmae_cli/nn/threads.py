"""How many intra-op threads torch may use: the CPUs this process is allowed, less busy ones.

torch starts one intra-op thread per core it sees, which goes wrong in two common places:

- a container with a CPU quota (a Kubernetes pod's `limits.cpu`, `docker --cpus`): torch
  sees the host's cores, not the quota, and its threads are throttled;
- a machine whose cores are busy with other work: OpenMP's threads wait for one another
  at the end of every small parallel region, and one of them is always waiting for a core.

So a command uses `min(allowed, free)` threads (at least 1), where `allowed` is the CPU
affinity and the cgroup v2 / v1 quota (rounded up), and `free` is the online CPUs less
the tasks of other processes that are runnable right now. `--threads N` overrides it;
so does an `OMP_NUM_THREADS` (or `MKL_NUM_THREADS`) that the user set, which torch reads
itself. And a short spin (`GOMP_SPINCOUNT`, unless a spin count or OMP_WAIT_POLICY is
set) makes OpenMP's waiting threads sleep soon instead of spinning for milliseconds, which
limits the damage when other work starts after the choice.
torch's inter-op pool is left alone: nothing here runs inter-op work. What each of these
costs or saves, measured: docs/speed.md ("Threads") and docs/troubleshooting.md ("Slow on
a busy or shared machine").

Torch-free except `applied`, which imports torch to set the number; the files read here
are parameters, so the arithmetic is tested from fake ones.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
LOADAVG = Path("/proc/loadavg")
V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")
USER_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # torch's own reading of them stands

_requested: int | None = None  # --threads of the command running now (torchrun ranks keep it)


@dataclass(frozen=True)
class Choice:
    """The intra-op thread count for this command, or None to leave torch's own, and why."""

    threads: int | None
    why: str


SHORT_SPIN = "10000"  # libgomp's GOMP_SPINCOUNT: busy-wait iterations before a thread sleeps


def prepare_environment(environ: MutableMapping[str, str] | None = None) -> None:
    """Before torch is imported: OpenMP threads that wait spin briefly, then sleep (unless
    the user chose a wait policy or a spin count).

    libgomp reads these once, when torch loads it; the entry point calls this. Its own
    default spins 300,000 iterations (milliseconds): beside busy processes a thread spins
    while the one it waits for has no core (a 2-thread epoch: 60 s against 3.1 s asleep).
    Sleeping at once (OMP_WAIT_POLICY=PASSIVE) pays a wake-up at each of the training
    loop's many small parallel regions (`lstmae train` of 20,000 rows on 2 quiet cores:
    35 s on 2 threads against 16-18 s on 1). 10,000 iterations (about a fifth of a
    millisecond) covers the gap between two kernels of a step: 12.5-14 s on 2 threads.
    """
    environ = os.environ if environ is None else environ
    if "OMP_WAIT_POLICY" not in environ and "GOMP_SPINCOUNT" not in environ:
        environ["GOMP_SPINCOUNT"] = SHORT_SPIN


def quota_cpus(quota: str, period: str) -> int | None:
    """ceil(quota / period) CPUs; None for no limit ('max', -1) or what does not parse."""
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None  # 'max' (cgroup v2), or a file we do not understand
    if q <= 0 or p <= 0:
        return None  # -1: no limit (cgroup v1)
    return max(1, math.ceil(q / p))


def _cgroup_paths(proc_cgroup: Path) -> tuple[str | None, str | None]:
    """This process's (cgroup v2 path, cgroup v1 cpu-controller path) from /proc/self/cgroup."""
    v2 = v1 = None
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _up_from(base: Path, path: str | None) -> list[Path]:
    """base/path and each folder above it up to base (a limit anywhere above applies too).

    Inside a container the cgroup folder is often mounted as `base` itself, so that
    base/path does not exist; `base` is then all there is.
    """
    folders = [base]
    if path:
        here = base
        for part in Path(path).parts[1:] if path.startswith("/") else Path(path).parts:
            here = here / part
            folders.append(here)
    return folders


def _smallest(limits: list[int | None]) -> int | None:
    found = [n for n in limits if n is not None]
    return min(found) if found else None


def cgroup_v2_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int | None:
    """CPUs that cgroup v2's cpu.max ("quota period") allows, the smallest on the way up."""
    v2, _ = _cgroup_paths(proc_cgroup)
    limits = []
    for folder in _up_from(Path(root), v2):
        try:
            fields = (folder / "cpu.max").read_text().split()
        except OSError:
            continue
        if len(fields) == 2:
            limits.append(quota_cpus(*fields))
    return _smallest(limits)


def cgroup_v1_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int | None:
    """CPUs that cgroup v1's cpu.cfs_quota_us / cpu.cfs_period_us allow, if limited."""
    _, v1 = _cgroup_paths(proc_cgroup)
    limits = []
    for mount in V1_CPU_MOUNTS:
        for folder in _up_from(Path(root) / mount, v1):
            try:
                quota = (folder / "cpu.cfs_quota_us").read_text().strip()
                period = (folder / "cpu.cfs_period_us").read_text().strip()
            except OSError:
                continue
            limits.append(quota_cpus(quota, period))
    return _smallest(limits)


def affinity_cpus() -> int:
    """CPUs this process may run on (taskset, cpuset), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def allowed_cpus(
    root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP, affinity: int | None = None
) -> int:
    """min(affinity, cgroup v2 quota, cgroup v1 quota): the CPUs this process may use."""
    limits: list[int | None] = [affinity_cpus() if affinity is None else affinity]
    limits += [cgroup_v2_cpus(root, proc_cgroup), cgroup_v1_cpus(root, proc_cgroup)]
    return max(1, _smallest(limits) or 1)


def others_running(loadavg: Path = LOADAVG, samples: int = 5, pause: float = 0.002) -> int:
    """Runnable tasks of other processes now: /proc/loadavg's 4th field, less this reader.

    The smallest of a few readings a few ms apart, so a task that runs for an instant does
    not count, while a busy process (runnable in every reading) does. The load averages
    themselves trail by a minute, and count this tool's own earlier runs. 0 if unreadable.
    """
    counts = []
    for i in range(samples):
        if i:
            time.sleep(pause)
        try:
            running = loadavg.read_text().split()[3].split("/")[0]
            counts.append(int(running) - 1)  # the task reading the file is running
        except (OSError, IndexError, ValueError):
            return 0
    return max(0, min(counts))


def choose(
    requested: int | None = None,
    environ: Mapping[str, str] | None = None,
    allowed: int | None = None,
    others: int | None = None,
    online: int | None = None,
) -> Choice:
    """The thread count for a command: --threads, else the user's variable, else the policy.

    `allowed`, `others` (busy tasks elsewhere) and `online` (the machine's CPUs) are
    measured when not given.
    """
    environ = os.environ if environ is None else environ
    if requested is not None:
        return Choice(requested, "--threads")
    for name in USER_VARIABLES:
        if environ.get(name, "").strip():
            return Choice(None, f"{name}={environ[name]}")
    allowed = allowed_cpus() if allowed is None else allowed
    others = others_running() if others is None else others
    online = (os.cpu_count() or allowed) if online is None else online
    free = online - others
    threads = max(1, min(allowed, free))
    why = f"{allowed} CPU(s) allowed, {others} busy task(s) elsewhere on {online} CPU(s)"
    return Choice(threads, why)


def requested() -> int | None:
    """--threads of the command running now (None: not given)."""
    return _requested


@contextmanager
def applied(threads: int | None = None) -> Iterator[Choice]:
    """Within the block torch uses `choose(threads)` intra-op threads; restored after.

    A command runs in this block (cli.handle_errors), so each command chooses afresh; the
    restoring only matters where commands run in one process (tests, notebooks).
    """
    global _requested
    choice = choose(threads)
    import torch

    before, before_requested = torch.get_num_threads(), _requested
    _requested = threads
    if choice.threads is not None:
        torch.set_num_threads(choice.threads)
    try:
        yield choice
    finally:
        _requested = before_requested
        if choice.threads is not None:
            torch.set_num_threads(before)


@contextmanager
def single_intra_op_thread() -> Iterator[None]:
    """Within the block torch runs this thread's kernels on one intra-op thread, and so do
    threads that start within it (for threads of one's own, each on a core); the count
    before is restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def intra_op() -> int:
    """The intra-op threads torch uses now (the choice `applied`, or the user's variable)."""
    import torch

    return torch.get_num_threads()
