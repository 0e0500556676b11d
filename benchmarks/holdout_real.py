"""Held-out real data (SMD, Server Machine Dataset): the default options on data nobody tuned on.

    python benchmarks/holdout_real.py        # 3 machines, 1 seed: about 5 minutes on 2 cores
    python benchmarks/holdout_real.py --seeds 3 --machines machine-1-6,machine-2-2

KEPT OUT OF TUNING. This data set is here to report how the defaults behave on real data
they were not chosen on. No default, and no option of any other benchmark, may ever be
chosen, compared or adjusted by its numbers: a change to the defaults is decided on other
data first and measured here afterwards, and the numbers are reported as they come. That is
why this script has no `--set`: it trains at the default options only.

Data: SMD (Su et al., KDD 2019; NetManAIOps/OmniAnomaly, MIT licence), 38 channels of a
server machine, one row a minute; the first half of each machine's 5 weeks is the
training part, the second half the test part, labelled by operators. Read from
../shared/data/smd (`--data DIR`), where its README gives the exact source, commits and
format: `<machine>_train.csv` (columns c1..c38) and `<machine>_test.csv` (the same and
`anomaly`, 0/1).

Machines: by default machine-1-6, machine-2-1 and machine-3-3, the first machine of each of
SMD's three groups among the 8 in the copy we have; fixed by that rule before any run.

Protocol, per machine and seed:
- training rows: the LAST `--train-rows` rows of the training part (default 10,080: one
  week at a row a minute; the training part ends where the test part begins). The cap keeps
  one run near 5 minutes on 2 cores; SMD's training parts hold about 23,700 rows (16.5
  days). Its training part is unlabelled and taken as normal, as SMD's authors do: it may
  hold anomalies;
- test rows: the whole test part (about 23,700 rows), no label column given to the model;
- lstmae: `Detector(seed=seed)` at default options, trained on the training rows; the test
  part scored with `score_frame`, flags exactly as `lstmae score` writes them (gaps merged,
  short alerts dropped). Reported beside the metrics: the threshold, the share of its own
  training rows the threshold flags (`data_info_["train_flagged"]`), the training seconds
  and the warnings `fit` and `score_frame` gave;
- pca (a reference computed in the same run): benchmarks/synthetic.py's PCA baseline,
  scikit-learn PCA on flattened standard-scaled windows of 32 rows keeping 95 % of the
  variance, fit on the first 80 % of the training rows, threshold at the 0.999 quantile of
  the row scores of the last 20 %; raw flags (score above threshold, no alert merging);
  its training rows flagged: the share of the training rows, scored as one series, above it.

`--dataset nab`: NAB (Numenta Anomaly Benchmark, github.com/numenta/NAB, MIT), the seven
files of its realKnownCause category (all of them; machine temperature, ambient
temperature, CPU, request latency, taxi counts, key timings), one value column each, read
from a clone of NAB (`--data DIR`, default ../shared/data/nab: `data/` and
`labels/combined_windows.json`). Fixed before any run: training rows are NAB's
probationary period (the first 15 % of a file), cut before its first labelled window
where one starts earlier; the test part is every row after them; a row is anomalous when
it lies in a labelled window (NAB's windows are wide: up to a tenth of a file around each
known anomaly, so point recall is low by construction and event recall is the number to
read). Kept out of tuning as SMD is. Writes benchmarks/results/holdout_nab.json.

    git clone https://github.com/numenta/NAB ../shared/data/nab   # commit ea702d7 measured
    python benchmarks/holdout_real.py --dataset nab                # about 5 minutes

Metrics (lstmae_cli.views.metrics): FAR = share of normal test rows flagged, point F1,
precision and recall, event recall (labelled events with any flagged row), false-alarm
runs (flagged runs touching no event) and PR-AUC of the row scores; per machine and pooled
over the machines (events do not run across machines); means over the seeds. Writes
benchmarks/results/holdout_real.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synthetic import HELD_OUT, SEQ_LEN, PCABaseline, Q  # noqa: E402

from lstmae_cli import Detector  # noqa: E402
from lstmae_cli.views.metrics import event_metrics, point_metrics, ranking_metrics  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "smd"
MACHINES = ("machine-1-6", "machine-2-1", "machine-3-3")
TRAIN_ROWS = 7 * 24 * 60  # one week at a row a minute
DETECTORS = ("lstmae", "pca")
SOURCE = (
    "SMD (Server Machine Dataset), github.com/NetManAIOps/OmniAnomaly (MIT), read from the "
    "preprocessed copy in github.com/zhhlee/InterFusion at commit "
    "8c85d511c1f070669ba8c5cf097b8fa4a202d15b; see the data directory's README"
)


NAB_DATA = ROOT.parent / "shared" / "data" / "nab"
NAB_FILES = (
    "ambient_temperature_system_failure",
    "cpu_utilization_asg_misconfiguration",
    "ec2_request_latency_system_failure",
    "machine_temperature_system_failure",
    "nyc_taxi",
    "rogue_agent_key_hold",
    "rogue_agent_key_updown",
)
NAB_PROBATION = 0.15  # NAB's probationary share of a file: the detector learns, no score
NAB_SOURCE = "NAB, github.com/numenta/NAB (MIT), data/realKnownCause and its label windows"


def read_nab(data: Path, name: str, train_rows: int):
    """(training rows, test rows, test labels) of one NAB realKnownCause file; train_rows
    is not used (the probationary rule fixes them)."""
    path = data / "data" / "realKnownCause" / f"{name}.csv"
    windows_path = data / "labels" / "combined_windows.json"
    if not path.is_file() or not windows_path.is_file():
        raise SystemExit(f"no {path} or {windows_path} (clone NAB there, or use --data DIR)")
    frame = pd.read_csv(path)
    times = pd.to_datetime(frame["timestamp"])
    windows = json.loads(windows_path.read_text())[f"realKnownCause/{name}.csv"]
    labels = np.zeros(len(frame), bool)
    for start, end in windows:
        labels |= ((times >= pd.Timestamp(start)) & (times <= pd.Timestamp(end))).to_numpy()
    first = int(np.argmax(labels)) if labels.any() else len(frame)
    cut = min(int(NAB_PROBATION * len(frame)), first)
    train, test = frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:]
    return train, test.reset_index(drop=True), labels[cut:]


def read_machine(data: Path, machine: str, train_rows: int):
    """(training rows, test features, test labels) of one machine."""
    train_path, test_path = data / f"{machine}_train.csv", data / f"{machine}_test.csv"
    if not train_path.is_file() or not test_path.is_file():
        raise SystemExit(f"no {machine} files under {data} (use --data DIR)")
    train = pd.read_csv(train_path)
    train = train.drop(columns=["anomaly"], errors="ignore").iloc[-train_rows:]
    test = pd.read_csv(test_path)
    labels = test.pop("anomaly").to_numpy() > 0
    return train.reset_index(drop=True), test, labels


def metrics(labels: np.ndarray, flags: np.ndarray, scores: np.ndarray) -> dict:
    point = point_metrics(labels, flags)
    events = event_metrics(labels, flags)
    return {
        "far": point["far"],
        "f1": point["f1"],
        "precision": point["precision"],
        "recall": point["recall"],
        "event_recall": events["event_recall"],
        "events": events["events"],
        "false_alarm_runs": events["false_alarm_runs"],
        "pr_auc": ranking_metrics(labels, scores)["pr_auc"],
        "flagged": float(flags.mean()),
    }


def run_lstmae(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> tuple[dict, np.ndarray]:
    began = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detector = Detector(seed=seed).fit([("train", train)])
    seconds = time.perf_counter() - began
    with warnings.catch_warnings(record=True) as caught_scoring:
        warnings.simplefilter("always")
        scored = detector.score_frame(test)
    info = {
        "threshold": float(detector.threshold_),
        "train_flagged": float(detector.data_info_["train_flagged"]),
        "train_seconds": round(seconds, 1),
        "best_epoch": detector.data_info_.get("best_epoch"),
        "warnings": first_lines(caught),
        "score_warnings": first_lines(caught_scoring),
    }
    flags = scored["is_anomaly"].to_numpy(bool)
    return info, np.stack([flags, scored["score"].to_numpy(float)])


def first_lines(caught: list[warnings.WarningMessage]) -> list[str]:
    """Each distinct warning's first line, cut at 200 characters."""
    return sorted({str(w.message).splitlines()[0][:200] for w in caught})


def run_pca(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> tuple[dict, np.ndarray]:
    began = time.perf_counter()
    features = train.select_dtypes("number").columns  # NAB's files have a time column too
    model = PCABaseline(seed=seed).fit(train[features].to_numpy(np.float64))
    seconds = time.perf_counter() - began
    own = model.score(train[features].to_numpy(np.float64))
    scores = model.score(test[features].to_numpy(np.float64))
    info = {
        "threshold": model.threshold_,
        "train_flagged": float(np.mean(own > model.threshold_)),
        "train_seconds": round(seconds, 1),
        "components": int(model.pca_.n_components_),
    }
    return info, np.stack([scores > model.threshold_, scores])


def run_seed(data: Path, machines: list[str], train_rows: int, seed: int, read=None) -> dict:
    """Every machine (or NAB file, read by `read`) with both detectors; per machine and
    pooled metrics."""
    per_machine: dict[str, dict] = {}
    pooled: dict[str, list[np.ndarray]] = {name: [] for name in DETECTORS}
    labels_all: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    for machine in machines:
        train, test, labels = (read or read_machine)(data, machine, train_rows)
        labels_all.append(labels)
        groups.append(np.full(len(labels), len(groups)))
        per_machine[machine] = {"train_rows": len(train), "test_rows": len(test)}
        for name, run in (("lstmae", run_lstmae), ("pca", run_pca)):
            info, (flags, scores) = run(train, test, seed)
            pooled[name].append(np.stack([flags, scores]))
            per_machine[machine][name] = info | metrics(labels, flags.astype(bool), scores)
            print(f"  seed {seed} {machine} {name}: {summary(per_machine[machine][name])}")
    labels = np.concatenate(labels_all)
    group = np.concatenate(groups)
    result: dict = {"seed": seed, "machines": per_machine, "pooled": {}}
    for name in DETECTORS:
        flags, scores = np.concatenate(pooled[name], axis=1)
        flags = flags.astype(bool)
        entry = metrics(labels, flags, scores)
        events = event_metrics(labels, flags, group)  # no event across two machines
        entry |= {k: events[k] for k in ("event_recall", "events", "false_alarm_runs")}
        entry["train_flagged"] = float(
            np.mean([per_machine[m][name]["train_flagged"] for m in machines])
        )
        entry["train_seconds"] = sum(per_machine[m][name]["train_seconds"] for m in machines)
        result["pooled"][name] = entry
    result["flag_every_row"] = point_metrics(labels, np.ones_like(labels))["f1"]
    return result


def summary(entry: dict) -> str:
    return (
        f"FAR {100 * entry['far']:.2f} %, F1 {entry['f1']:.3f}, event recall "
        f"{entry['event_recall']:.2f}, train flagged {100 * entry['train_flagged']:.2f} %, "
        f"{entry['train_seconds']:.0f} s"
    )


def mean_over_seeds(runs: list[dict]) -> dict:
    """The seeds' mean of every number, per machine and pooled."""

    def mean(entries: list[dict]) -> dict:
        keys = [k for k, v in entries[0].items() if isinstance(v, int | float) and v is not None]
        return {k: float(np.mean([e[k] for e in entries])) for k in keys}

    machines = {
        m: {name: mean([r["machines"][m][name] for r in runs]) for name in DETECTORS}
        for m in runs[0]["machines"]
    }
    pooled = {name: mean([r["pooled"][name] for r in runs]) for name in DETECTORS}
    return {"machines": machines, "pooled": pooled}


def print_table(mean: dict, flag_all: float) -> None:
    width = max(12, *(len(m) for m in mean["machines"]))
    head = (
        f"{'machine':{width}} {'detector':8} {'FAR %':>7} {'F1':>6} {'prec':>6} {'recall':>6} "
        f"{'ev.rec':>6} {'events':>6} {'FA runs':>7} {'PR-AUC':>6} {'train fl. %':>11} "
        f"{'threshold':>10} {'train s':>7}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    rows = [*mean["machines"].items(), ("pooled", mean["pooled"])]
    for machine, entry in rows:
        for name in DETECTORS:
            e = entry[name]
            threshold = f"{e['threshold']:>10.4g}" if "threshold" in e else f"{'-':>10}"
            print(
                f"{machine:{width}} {name:8} {100 * e['far']:>7.2f} {e['f1']:>6.3f} "
                f"{e['precision']:>6.3f} {e['recall']:>6.3f} {e['event_recall']:>6.3f} "
                f"{e['events']:>6.0f} {e['false_alarm_runs']:>7.1f} {e['pr_auc']:>6.3f} "
                f"{100 * e['train_flagged']:>11.2f} {threshold} {e['train_seconds']:>7.0f}"
            )
    print(f"pooled, flag every test row (trivial): F1 {flag_all:.3f}")


def git(*args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return out.stdout.strip()
    except OSError:
        return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("smd", "nab"), default="smd")
    parser.add_argument("--data", type=Path, help="default: ../shared/data/smd or nab")
    parser.add_argument("--machines", help="comma-separated machines or NAB files")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1")
    parser.add_argument("--train-rows", type=int, default=TRAIN_ROWS, help="SMD only")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/holdout_DATASET")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    nab = args.dataset == "nab"
    data = args.data or (NAB_DATA if nab else DEFAULT_DATA)
    out = args.out or ROOT / "benchmarks/results" / (
        "holdout_nab.json" if nab else "holdout_real.json"
    )
    members = args.machines.split(",") if args.machines else (NAB_FILES if nab else MACHINES)
    machines = [m.strip() for m in members if m.strip()]
    began = time.perf_counter()
    # the code this run imports: the commit, and whether lstmae_cli differed from it
    head = git("rev-parse", "HEAD")
    modified = bool(git("status", "--porcelain", "--", "lstmae_cli"))
    if nab:
        print(f"NAB realKnownCause, {len(machines)} files, probationary rows, default options")
    else:
        print(f"SMD, {len(machines)} machines, last {args.train_rows} rows, default options")
    read = read_nab if nab else read_machine
    runs = [run_seed(data, machines, args.train_rows, s, read) for s in range(args.seeds)]
    mean = mean_over_seeds(runs)
    print_table(mean, runs[0]["flag_every_row"])
    result = {
        "data": {
            "name": "NAB" if nab else "SMD",
            "source": NAB_SOURCE if nab else SOURCE,
            "dir": str(data),
            "machines": machines,
            "train_rows": f"first {NAB_PROBATION:.0%}, cut before the first window"
            if nab
            else args.train_rows,
            "baseline": {"seq_len": SEQ_LEN, "held_out": HELD_OUT, "quantile": Q},
        },
        "params": {},
        "seeds": args.seeds,
        "commit": head,
        "package_modified": modified,
        "flag_every_row_f1": runs[0]["flag_every_row"],
        "mean": mean,
        "runs": runs,
        "seconds": round(time.perf_counter() - began, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"{result['seconds']:.0f} s; wrote {out}")


if __name__ == "__main__":
    main()
