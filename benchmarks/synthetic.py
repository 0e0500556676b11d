"""Generated suite: seven anomaly kinds, lstmae against two baselines computed in the same run.

    python benchmarks/synthetic.py                  # 3 data seeds, train 5000 rows, test 6000
    python benchmarks/synthetic.py --seeds 1 --per-kind 2 --train-rows 2500 --test-rows 3000

Data: six correlated channels driven by two shared latent oscillations and a slow cycle
(channel-specific mixing, offsets, gains, noise; two channels are amplitude-modulated by
the slow cycle). A normal training series, then a test series with `--per-kind` labelled
instances of each kind in KINDS, in random order, separated by normal gaps. Columns: the
features, `anomaly` (0/1) and `kind` (empty on normal rows). Deterministic from the seed.

Detectors, each fit on the first 80 % of the training series with its threshold at the
0.999 quantile of the row scores of the held-out last 20 % (scored as its own series):
- lstmae: `Detector` at default options (its own split and threshold, identical rule);
- pca: scikit-learn PCA on flattened, standard-scaled windows of 32 rows (lstmae's default
  seq_len), keeping 95 % of the variance; a row's score is the mean reconstruction error
  of the windows that cover it;
- seed-tutorial: the seed document's `LSTM_Autoencoder` (hidden 64) trained the tutorial
  way: standard-scaled, windows of 50 stacked, DataLoader batch 32, Adam 1e-3, MSE,
  5 epochs; row scores as for pca.

Metrics (lstmae_cli.views.metrics): point F1, PR-AUC, event recall (events with any flagged row),
false-alarm runs (flagged runs touching no event; fewer is better), and per kind the
event recall and the point recall. Each detector also scores as many rows again of
purely normal data: the share of them it flags and in how many runs. Means over the data
seeds are printed and written, with every per-seed number, to
benchmarks/results/synthetic.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from options import parse_overrides  # noqa: E402

from lstmae_cli.errors import LstmaeWarning  # noqa: E402
from lstmae_cli.views.metrics import event_metrics, point_metrics, ranking_metrics, runs  # noqa: E402

FEATURES = [f"s{i}" for i in range(6)]
KINDS = (
    "spike",
    "level_shift",
    "drift",
    "stuck_sensor",
    "noise_burst",
    "frequency_change",
    "broken_correlation",
)
LENGTHS = {  # rows per instance: (fewest, most)
    "spike": (2, 5),
    "level_shift": (40, 80),
    "drift": (80, 150),
    "stuck_sensor": (50, 100),
    "noise_burst": (30, 60),
    "frequency_change": (80, 120),
    "broken_correlation": (60, 100),
}
MIN_GAP = 120  # normal rows between two instances (and before the first)
PERIODS = (60.0, 23.0, 700.0)  # rows: latent oscillations z1, z2 and the slow cycle
AGGREGATES = ("f1", "pr_auc", "event_recall", "false_alarm_runs")
HIGHER_IS_BETTER = {"f1": True, "pr_auc": True, "event_recall": True, "false_alarm_runs": False}
SEQ_LEN, HELD_OUT, Q = 32, 0.2, 0.999  # lstmae's defaults, shared by the baselines


# ------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Plant:
    """How the six channels depend on the latents: drawn once per data seed."""

    loadings: np.ndarray  # (channels, 3): weight of z1, z2, slow cycle
    modulation: np.ndarray  # (channels,): amplitude modulation of z1 by the slow cycle
    offsets: np.ndarray  # (channels,)
    gains: np.ndarray  # (channels,)
    noise: np.ndarray  # (channels,) standard deviation before the gain


def make_plant(rng: np.random.Generator, channels: int = len(FEATURES)) -> Plant:
    loadings = rng.uniform(0.4, 1.0, (channels, 3)) * rng.choice([-1.0, 1.0], (channels, 3))
    loadings[:, 2] *= 0.8
    modulation = np.zeros(channels)
    modulation[rng.choice(channels, 2, replace=False)] = 0.5
    return Plant(
        loadings=loadings,
        modulation=modulation,
        offsets=rng.uniform(-50, 100, channels),
        gains=rng.uniform(0.5, 20, channels),
        noise=rng.uniform(0.08, 0.2, channels),
    )


def latents(start: int, rows: int, freq_factor: np.ndarray | None = None) -> np.ndarray:
    """(rows, 3) latent signals z1, z2, slow; z1's frequency may be scaled per row."""
    factor = np.ones(rows) if freq_factor is None else freq_factor
    phase1 = 2 * np.pi * (start + np.cumsum(factor) - factor[0]) / PERIODS[0]
    t = np.arange(start, start + rows)
    z2 = np.sin(2 * np.pi * t / PERIODS[1] + 0.7)
    slow = np.sin(2 * np.pi * t / PERIODS[2])
    return np.column_stack([np.sin(phase1), z2, slow])


def channels(plant: Plant, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(rows, 3) latents -> (rows, channels) clean signal plus noise, in raw units."""
    clean = z @ plant.loadings.T  # (rows, channels)
    clean += plant.modulation * z[:, [2]] * z[:, [0]]
    noisy = clean + rng.normal(0, 1, clean.shape) * plant.noise
    return plant.offsets + plant.gains * noisy


def normal_series(plant: Plant, rows: int, rng: np.random.Generator, start: int = 0):
    return pd.DataFrame(channels(plant, latents(start, rows), rng), columns=FEATURES)


@dataclass(frozen=True)
class Instance:
    kind: str
    start: int
    length: int
    channel: int
    size: float  # 0 (subtle) .. 1 (obvious); what it scales depends on the kind (inject)


def layout(rows: int, per_kind: int, rng: np.random.Generator, plant: Plant) -> list[Instance]:
    """per_kind instances of every kind in random order, spread over `rows` with gaps."""
    kinds = [k for k in KINDS for _ in range(per_kind)]
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    lengths = [int(rng.integers(LENGTHS[k][0], LENGTHS[k][1] + 1)) for k in kinds]
    spare = rows - sum(lengths) - MIN_GAP * (len(kinds) + 1)
    if spare < 0:
        raise ValueError(f"{rows} test rows cannot hold {len(kinds)} instances; give more rows")
    extra = rng.multinomial(spare, np.full(len(kinds) + 1, 1 / (len(kinds) + 1)))
    strongest = int(np.argmax(np.abs(plant.loadings[:, 0])))
    out, cursor = [], 0
    for kind, length, gap in zip(kinds, lengths, extra[:-1], strict=True):
        cursor += MIN_GAP + int(gap)
        channel = strongest if kind == "broken_correlation" else int(rng.integers(len(FEATURES)))
        out.append(Instance(kind, cursor, length, channel, float(rng.uniform())))
        cursor += length
    return out


def anomalous_series(
    plant: Plant, rows: int, per_kind: int, rng: np.random.Generator, start: int, sd: np.ndarray
) -> pd.DataFrame:
    """A test series with labelled instances; sd: (channels,) normal standard deviations."""
    instances = layout(rows, per_kind, rng, plant)
    factor = np.ones(rows)
    for inst in instances:
        if inst.kind == "frequency_change":
            factor[inst.start : inst.start + inst.length] = 1.3 + 0.9 * inst.size
    z = latents(start, rows, factor)
    values = channels(plant, z, rng)
    anomaly, kind = np.zeros(rows, dtype=np.int64), np.full(rows, "", dtype=object)
    for inst in instances:
        rows_ = slice(inst.start, inst.start + inst.length)
        inject(values, z, inst, plant, sd, rng)
        anomaly[rows_], kind[rows_] = 1, inst.kind
    frame = pd.DataFrame(values, columns=FEATURES)
    return frame.assign(anomaly=anomaly, kind=kind)


def inject(values, z, inst: Instance, plant: Plant, sd, rng: np.random.Generator) -> None:
    """Change values (rows, channels) in place over the instance's rows."""
    rows, c = slice(inst.start, inst.start + inst.length), inst.channel
    n, scale = inst.length, sd[c]
    sign, u = rng.choice([-1.0, 1.0]), inst.size
    if inst.kind == "spike":
        values[rows, c] += sign * (1.5 + 3.0 * u) * scale
    elif inst.kind == "level_shift":
        values[rows, c] += sign * (0.3 + 0.9 * u) * scale
    elif inst.kind == "drift":
        values[rows, c] += sign * np.linspace(0, 0.5 + 1.5 * u, n) * scale
    elif inst.kind == "stuck_sensor":
        values[rows, c] = values[inst.start, c]
    elif inst.kind == "noise_burst":
        values[rows, c] += rng.normal(0, 0.1 + 0.4 * u, n) * scale
    elif inst.kind == "broken_correlation":  # z1 loading w -> -u * w: decoupled .. reversed
        values[rows, c] -= (1 + u) * plant.gains[c] * plant.loadings[c, 0] * z[rows, 0]
    # frequency_change is already in z (all channels follow the faster z1)


def make_dataset(
    seed: int, train_rows: int = 5000, test_rows: int = 6000, per_kind: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(normal training frame, labelled test frame), both a function of the seed only."""
    rng = np.random.default_rng(seed)
    plant = make_plant(rng)
    train = normal_series(plant, train_rows, rng)
    sd = train[FEATURES].to_numpy().std(axis=0)
    test = anomalous_series(plant, test_rows, per_kind, rng, train_rows, sd)
    return train, test


def make_normal(seed: int, start: int, rows: int) -> pd.DataFrame:
    """Purely normal rows of the seed's plant, after the test series (own noise draws)."""
    plant = make_plant(np.random.default_rng(seed))  # the plant is make_dataset's first draw
    return normal_series(plant, rows, np.random.default_rng([seed, 1]), start)


# ------------------------------------------------------------------ detectors
def covering_mean(window_scores: np.ndarray, seq_len: int) -> np.ndarray:
    """(windows,) scores of stride-1 windows -> (rows,) mean over the windows covering each row."""
    kernel = np.ones(seq_len)
    sums = np.convolve(window_scores, kernel)  # (windows + seq_len - 1,) = (rows,)
    counts = np.convolve(np.ones_like(window_scores), kernel)
    return sums / counts


def split_held_out(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n_val = int(round(len(values) * HELD_OUT))
    return values[: len(values) - n_val], values[len(values) - n_val :]


class PCABaseline:
    """PCA reconstruction error on flattened standard-scaled windows of SEQ_LEN rows."""

    name = "pca"

    def __init__(self, variance: float = 0.95, seed: int = 0) -> None:
        self.variance, self.seed = variance, seed

    def fit(self, train: np.ndarray) -> PCABaseline:
        from sklearn.decomposition import PCA
        from sklearn.preprocessing import StandardScaler

        fit_part, held_out = split_held_out(train)
        self.scaler_ = StandardScaler().fit(fit_part)
        self.pca_ = PCA(self.variance, random_state=self.seed).fit(self._windows(fit_part))
        self.threshold_ = float(np.quantile(self.score(held_out), Q))
        return self

    def _windows(self, values: np.ndarray) -> np.ndarray:
        scaled = self.scaler_.transform(values)  # (rows, F)
        view = np.lib.stride_tricks.sliding_window_view(scaled, SEQ_LEN, axis=0)
        return view.reshape(len(view), -1)  # (windows, F * SEQ_LEN)

    def score(self, values: np.ndarray) -> np.ndarray:
        flat = self._windows(values)
        rebuilt = self.pca_.inverse_transform(self.pca_.transform(flat))
        return covering_mean(np.mean((flat - rebuilt) ** 2, axis=1), SEQ_LEN)


def seed_class():
    """The seed document's LSTM_Autoencoder, verbatim (benchmarks/tutorial.py)."""
    from tutorial import LSTM_Autoencoder

    return LSTM_Autoencoder


class SeedTutorial:
    """The seed's class trained the tutorial way (5 epochs, batch 32, windows of 50)."""

    name = "seed-tutorial"
    seq_len, hidden, epochs, batch_size, lr = 50, 64, 5, 32, 1e-3

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, train: np.ndarray) -> SeedTutorial:
        import torch
        from sklearn.preprocessing import StandardScaler
        from torch.utils.data import DataLoader, TensorDataset

        torch.manual_seed(self.seed)
        fit_part, held_out = split_held_out(train)
        self.scaler_ = StandardScaler().fit(fit_part)
        windows = self._windows(fit_part)  # (windows, 50, F)
        loader = DataLoader(TensorDataset(windows), batch_size=self.batch_size, shuffle=True)
        self.model_ = seed_class()(train.shape[1], self.hidden)
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
        loss_fn = torch.nn.MSELoss()
        for _ in range(self.epochs):
            for (batch,) in loader:
                optimizer.zero_grad()
                loss = loss_fn(self.model_(batch), batch)
                loss.backward()
                optimizer.step()
        self.threshold_ = float(np.quantile(self.score(held_out), Q))
        return self

    def _windows(self, values: np.ndarray):
        import torch

        scaled = self.scaler_.transform(values).astype(np.float32)
        from tutorial import stacked_windows

        stacked = stacked_windows(scaled, self.seq_len)
        return torch.from_numpy(stacked)  # (windows, 50, F)

    def score(self, values: np.ndarray) -> np.ndarray:
        import torch

        windows = self._windows(values)
        self.model_.eval()
        with torch.no_grad():
            errors = [
                torch.mean((self.model_(b) - b) ** 2, dim=(1, 2)) for b in windows.split(1024)
            ]  # each (batch,)
        return covering_mean(torch.cat(errors).numpy().astype(np.float64), self.seq_len)


def fit_lstmae(train: pd.DataFrame, seed: int, params: dict | None = None):
    """lstmae's Detector at default options (the training seed, and any --set), fitted."""
    from lstmae_cli import Detector

    return Detector(seed=seed, **(params or {})).fit([("train", train)], columns=FEATURES)


Scored = list[tuple[np.ndarray, np.ndarray]]  # per frame: (rows,) scores, (rows,) flags


def run_lstmae(
    train: pd.DataFrame,
    frames: list[pd.DataFrame],
    seed: int,
    params: dict | None = None,
    alerts: dict | None = None,
) -> Scored:
    """Fit lstmae at default options (and any --set) on train; (scores, flags) of each frame,
    the flags as `lstmae score` writes them (alerts: merge_gap / min_rows, else defaults)."""
    detector = fit_lstmae(train, seed, params)
    scored = [detector.score_frame(frame[FEATURES], **(alerts or {})) for frame in frames]
    return [(s["score"].to_numpy(), s["is_anomaly"].to_numpy(dtype=bool)) for s in scored]


def run_baseline(model, train: pd.DataFrame, frames: list[pd.DataFrame]) -> Scored:
    """Fit a baseline on train; (scores, flags) of each frame."""
    model.fit(train[FEATURES].to_numpy(np.float64))
    scores = [model.score(frame[FEATURES].to_numpy(np.float64)) for frame in frames]
    return [(s, s > model.threshold_) for s in scores]


# -------------------------------------------------------------------- metrics
def evaluate(test: pd.DataFrame, scores: np.ndarray, flags: np.ndarray) -> dict:
    """Aggregates and per-kind event / point recall of one detector on one test series."""
    labels = test["anomaly"].to_numpy() > 0
    kinds = test["kind"].to_numpy()
    events = event_metrics(labels, flags)
    result = {
        "f1": point_metrics(labels, flags)["f1"],
        "precision": point_metrics(labels, flags)["precision"],
        "pr_auc": ranking_metrics(labels, scores)["pr_auc"],
        "roc_auc": ranking_metrics(labels, scores)["roc_auc"],
        "event_recall": events["event_recall"],
        "false_alarm_runs": events["false_alarm_runs"],
        "flagged": int(flags.sum()),
    }
    for kind in KINDS:
        mask = kinds == kind  # instances are separated by normal gaps: one run each
        result[f"event_recall.{kind}"] = event_metrics(mask, flags)["event_recall"]
        result[f"point_recall.{kind}"] = point_metrics(mask, flags)["recall"]
    return result


def run_seed(
    seed: int,
    train_rows: int,
    test_rows: int,
    per_kind: int,
    params: dict | None = None,
    alerts: dict | None = None,
) -> list[dict]:
    """Every detector on one data seed: test metrics, and flags on purely normal data."""
    train, test = make_dataset(seed, train_rows, test_rows, per_kind)
    normal = make_normal(seed, train_rows + test_rows, test_rows)
    runners = {
        "lstmae": lambda: run_lstmae(train, [test, normal], seed, params, alerts),
        "pca": lambda: run_baseline(PCABaseline(seed=seed), train, [test, normal]),
        "seed-tutorial": lambda: run_baseline(SeedTutorial(seed=seed), train, [test, normal]),
    }
    out = []
    for name, runner in runners.items():
        began = time.perf_counter()
        (scores, flags), (_, normal_flags) = runner()
        seconds = time.perf_counter() - began
        out.append({"detector": name, "seed": seed, "seconds": seconds})
        out[-1] |= evaluate(test, scores, flags)
        out[-1] |= {
            "normal_flagged_share": float(normal_flags.mean()),
            "normal_runs": len(runs(normal_flags)),
        }
        print(f"seed {seed}: {name} done in {seconds:.0f}s", file=sys.stderr)
    return out


def summarise(results: list[dict]) -> dict[str, dict[str, float]]:
    """Mean over seeds of every numeric entry, per detector, and the std of the aggregates."""
    table: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(r["detector"] for r in results):
        rows = [r for r in results if r["detector"] == name]
        keys = [k for k, v in rows[0].items() if isinstance(v, int | float) and k != "seed"]
        table[name] = {k: float(np.mean([r[k] for r in rows])) for k in keys}
        table[name] |= {f"{k}_std": float(np.std([r[k] for r in rows])) for k in AGGREGATES}
    return table


def verdict(table: dict[str, dict[str, float]], ours: str = "lstmae") -> dict[str, bool]:
    """Per aggregate: does `ours` strictly beat every other detector?"""
    others = [name for name in table if name != ours]
    beats = {}
    for key in AGGREGATES:
        sign = 1 if HIGHER_IS_BETTER[key] else -1
        beats[key] = all(sign * (table[ours][key] - table[o][key]) > 0 for o in others)
    return beats


def print_table(table: dict[str, dict[str, float]], seeds: int) -> None:
    short = {"f1": "F1", "pr_auc": "PR-AUC", "event_recall": "ev.rec", "false_alarm_runs": "FA"}
    kind_cols = [k[:10] for k in KINDS]
    print(f"mean over {seeds} data seed(s); per kind: event recall / point recall;")
    print("normal: % of purely normal rows flagged / flagged runs there")
    head = f"{'detector':14}" + "".join(f"{short[k]:>8}" for k in AGGREGATES)
    print(head + "".join(f"{c:>12}" for c in kind_cols) + f"{'normal':>12}{'seconds':>9}")
    for name, row in table.items():
        cells = "".join(f"{row[k]:>8.3f}" for k in AGGREGATES[:3])
        cells += f"{row['false_alarm_runs']:>8.1f}"
        for kind in KINDS:
            pair = f"{row[f'event_recall.{kind}']:.2f}/{row[f'point_recall.{kind}']:.2f}"
            cells += f"{pair:>12}"
        normal = f"{100 * row['normal_flagged_share']:.2f}/{row['normal_runs']:.1f}"
        print(f"{name:14}{cells}{normal:>12}{row['seconds']:>9.0f}")
    lost = [k for k, ok in verdict(table).items() if not ok]
    print(
        f"lstmae does NOT beat both baselines on: {', '.join(lost)}"
        if lost
        else "lstmae beats both baselines on every aggregate"
    )


def write_json(path: Path, payload: dict) -> None:
    from lstmae_cli.io.outpath import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="data seeds 0..N-1")
    parser.add_argument("--train-rows", type=int, default=5000)
    parser.add_argument("--test-rows", type=int, default=6000)
    parser.add_argument("--per-kind", type=int, default=3, help="instances of each kind")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (0: torch's default); 1 is far faster on a busy machine",
    )
    parser.add_argument("--set", action="append", default=[], help="Detector option, key=value")
    parser.add_argument(
        "--merge-gap", type=int, default=None, help="as `score --merge-gap` (default: seq_len)"
    )
    parser.add_argument(
        "--min-rows", type=int, default=None, help="as `score --min-rows` (default: smooth + 1)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/synthetic.json")
    args = parser.parse_args()
    params = parse_overrides(args.set)
    alerts = {"merge_gap": args.merge_gap, "min_rows": args.min_rows}
    alerts = {name: value for name, value in alerts.items() if value is not None}
    import torch

    warnings.simplefilter("ignore", LstmaeWarning)  # spikes outside the training range
    if args.threads:
        torch.set_num_threads(args.threads)
    began = time.perf_counter()
    results = [
        r
        for seed in range(args.seeds)
        for r in run_seed(seed, args.train_rows, args.test_rows, args.per_kind, params, alerts)
    ]
    table = summarise(results)
    print_table(table, args.seeds)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    payload = {
        "settings": settings | {"torch_threads": torch.get_num_threads()},
        "seconds": round(time.perf_counter() - began, 1),
        "mean": table,
        "lstmae_beats_both": verdict(table),
        "runs": results,
    }
    write_json(args.out, payload)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
