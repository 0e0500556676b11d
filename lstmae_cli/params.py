"""Every choice and default of the tool, in one torch-, pandas- and numpy-free place.

The choices below are the CLI's Enums (cli/options.py builds them from these tuples) and
what the library checks its arguments against. `DetectorParams`' field defaults are the
tool's defaults: the CLI's train options and TrainSettings read them from here, and the
threshold methods' parameters and defaults are THRESHOLD_METHODS, so each is written once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from .errors import UsageError

ARCHS = ("direct", "linear")  # the network's decoder output (nn/model.py)
ARCH_ALIASES = {"seed": "direct"}  # its first name: still accepted, and in old bundles
SCALERS = ("standard", "minmax", "robust")  # sklearn scalers (nn/scaling.py)
SCORINGS = ("mahalanobis", "normalized", "mean")  # errors -> row score (scoring/rows.py)
MISSING_POLICIES = ("mask", "ffill", "interpolate", "error")  # io/data.py
DEFAULT_MISSING = "mask"
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")  # the network's float type when scoring
LEVELS = ("row", "window", "event")  # what `score` writes
FORMATS = ("csv", "jsonl", "parquet")  # io/output.py

# --batch-size and --lr when not given, by the device that trains (training_pace): the
# CPU's; on CUDA the batch doubles from the CPU's while an epoch keeps at least
# CUDA_MIN_STEPS steps, up to CUDA_MAX_BATCH, and the rate grows with its square root
# (benchmarks/batch_lr.py, docs/speed.md "Batch size and learning rate on a GPU")
CPU_BATCH_SIZE, CPU_LR = 128, 2e-3
CUDA_MAX_BATCH, CUDA_MIN_STEPS = 1024, 100

# Threshold method -> its parameters and their defaults (None: required); the fitting
# functions are scoring/thresholds.py's FITS, in this order.
THRESHOLD_METHODS: dict[str, dict[str, float | None]] = {
    "quantile": {"q": 0.999},
    "sigma": {"k": 4.0},
    "mad": {"k": 6.0},
    "manual": {"value": None},
    "pot": {"risk": 1e-3, "level": 0.98},
    "fbeta": {"beta": 1.0},
    "budget": {"alerts_per": 1.0, "rows": 1000.0},
    "fpr": {"alpha": 0.01},
}
LABELLED_METHODS = ("fbeta",)  # fitted on labelled scores: `lstmae threshold --label-column`
LABEL_FREE = [name for name in THRESHOLD_METHODS if name not in LABELLED_METHODS]

_OPEN_UNIT = (lambda v: 0.0 < v < 1.0, "between 0 and 1 (exclusive)")
THRESHOLD_RULES: dict[str, tuple[Callable[[float], bool], str]] = {
    "q": _OPEN_UNIT,
    "risk": _OPEN_UNIT,
    "level": _OPEN_UNIT,
    "alpha": _OPEN_UNIT,
    "k": (lambda v: v >= 0.0, "at least 0"),
    "beta": (lambda v: v > 0.0, "positive"),
    "alerts_per": (lambda v: v >= 0.0, "at least 0"),
    "rows": (lambda v: v >= 1.0, "at least 1"),
    "value": (math.isfinite, "a finite number"),
}
OPTION_NAMES = {"level": "--pot-level", "alerts_per": "--alerts-per"}  # the others: --NAME


GAP_UNITS = {"": 1.0, "s": 1.0, "min": 60.0, "h": 3_600.0, "d": 86_400.0}


def gap_size(text: str) -> float:
    """--max-gap as a number: a duration (90s, 10min, 1h, 2d) in seconds; a bare number in
    the time column's own units (seconds for dates and times)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|min|h|d)?\s*", str(text))
    if not match or float(match.group(1)) <= 0:
        raise UsageError(
            f"--max-gap {text!r}: give a duration (90s, 10min, 1h, 2d) or a positive number "
            "in the time column's units"
        )
    return float(match.group(1)) * GAP_UNITS[match.group(2) or ""]


@dataclass
class TrainConfig:
    """The options a model is trained with: stored in the bundle, they rebuild it."""

    seq_len: int = 32
    stride: int = 1
    score_stride: int | None = None  # None: seq_len // 4 (docs/how-it-works.md, "Defaults")
    hidden: int = 64
    layers: int = 1
    arch: str = "linear"
    scaler: str = "standard"
    val_fraction: float = 0.2  # with calibration_folds 1: the tail held out
    # the three below were chosen on SKAB, the generated suite, the sample machine and
    # purely normal data together (docs/benchmarks.md, "False alarms")
    calibration_folds: int = 3  # time-blocked cross-fitting (folds.py); 1: the tail only
    drift_rate: float = 0.001  # scaled units per row a level may drift unflagged (drift.py)
    epochs: int = 30
    batch_size: int | None = None  # None: chosen for the device by `fit` (training_pace)
    lr: float | None = None  # None: likewise; the bundle records the values used
    patience: int = 5
    seed: int = 0
    missing: str = DEFAULT_MISSING
    scoring: str = "normalized"
    smooth: int | None = None  # None: seq_len // 4 (docs/how-it-works.md, "Defaults")
    threshold_method: str = "quantile"
    threshold_params: dict = field(default_factory=dict)
    max_windows_per_epoch: int | None = None
    max_gap: str | None = None  # a jump in time that splits a series in parts; None: never

    def __post_init__(self) -> None:
        self.arch = ARCH_ALIASES.get(self.arch, self.arch)
        self.score_stride = self.resolved_score_stride
        self.smooth = self.resolved_smooth

    @property
    def resolved_score_stride(self) -> int:
        """score_stride, None read as its default seq_len // 4 (__post_init__ stores this)."""
        return max(1, self.seq_len // 4) if self.score_stride is None else self.score_stride

    @property
    def resolved_smooth(self) -> int:
        """smooth, None read as its default seq_len // 4 (__post_init__ stores this)."""
        return max(1, self.seq_len // 4) if self.smooth is None else self.smooth

    def validate(self) -> None:  # noqa: C901, PLR0912 (one flat check per parameter)
        positive = ("seq_len", "stride", "score_stride", "smooth", "hidden", "layers", "epochs")
        for name in (*positive, "batch_size", "patience"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
        if self.seq_len < 2:
            raise UsageError("--seq-len must be at least 2")
        if self.stride > self.seq_len or self.resolved_score_stride > self.seq_len:
            raise UsageError("--stride and --score-stride must not exceed --seq-len")
        if not 0.0 <= self.drift_rate < 1.0:
            raise UsageError("--drift-rate must be in [0, 1) (scaled units per row)")
        if self.calibration_folds < 1:
            raise UsageError("--calibration-folds must be at least 1")
        if not 0.0 <= self.val_fraction < 1.0:
            raise UsageError("--val-fraction must be in [0, 1)")
        if self.lr is not None and self.lr <= 0:
            raise UsageError("--lr must be positive")
        if self.max_windows_per_epoch is not None and self.max_windows_per_epoch < 1:
            raise UsageError("--max-windows-per-epoch must be at least 1")
        if self.missing not in MISSING_POLICIES:
            raise UsageError(f"--missing must be one of {', '.join(MISSING_POLICIES)}")
        if self.scoring not in SCORINGS:
            raise UsageError(f"--scoring must be one of {', '.join(SCORINGS)}")
        if self.arch not in ARCHS:
            raise UsageError(f"--arch must be one of {', '.join(ARCHS)}")
        resolve_params(self.threshold_method, self.threshold_params)  # label-free, in range
        if self.max_gap is not None:
            gap_size(self.max_gap)


@dataclass
class DetectorParams(TrainConfig):
    """A Detector's options: its TrainConfig and the run-time settings a bundle does not
    store (they are chosen where it runs): the device it trains or scores on, and the
    network's float type when scoring."""

    device: str = "cpu"
    precision: str = "fp32"

    def train_config(self) -> TrainConfig:
        """The options the bundle stores."""
        return TrainConfig(**{f.name: getattr(self, f.name) for f in fields(TrainConfig)})


def training_pace(
    device_type: str, windows_per_epoch: int, batch_size: int | None, lr: float | None
) -> tuple[int, float]:
    """The (batch size, learning rate) a network trains with on `device_type` (cpu, cuda),
    `windows_per_epoch` windows an epoch in this process, given values kept.

    The CPU trains at CPU_BATCH_SIZE, CPU_LR. A GPU's step takes about as long for 1,024
    windows as for 128, so on CUDA the batch doubles while an epoch keeps CUDA_MIN_STEPS
    steps (small data trains as on the CPU), and a batch chosen so gets the rate
    CPU_LR * sqrt(batch / CPU_BATCH_SIZE); a batch given keeps CPU_LR unless `lr` is given.
    """
    chosen = batch_size is None
    if batch_size is None:
        batch_size = CPU_BATCH_SIZE
        while (
            device_type == "cuda"
            and batch_size * 2 <= CUDA_MAX_BATCH
            and windows_per_epoch >= batch_size * 2 * CUDA_MIN_STEPS
        ):
            batch_size *= 2
    if lr is None:
        lr = scaled_rate(batch_size) if chosen else CPU_LR
    return batch_size, lr


def scaled_rate(batch_size: int) -> float:
    """The learning rate CUDA's rule gives a batch: CPU_LR * sqrt(batch / CPU_BATCH_SIZE)."""
    return CPU_LR * math.sqrt(batch_size / CPU_BATCH_SIZE)


def alert_defaults(seq_len: int, smooth: int | None) -> tuple[int, int]:
    """The (merge_gap, min_rows) `score` uses for a model unless told otherwise: flagged rows
    a window apart are one alert, and an alert must outlast the score smoothing."""
    return seq_len, (smooth or 1) + 1


def resolve_params(method: str, params: dict, labelled: bool = False) -> dict:
    """The parameters `method` will use (defaults + given), checked; UsageError if not."""
    if method not in THRESHOLD_METHODS:
        choices = ", ".join(THRESHOLD_METHODS)
        raise UsageError(f"unknown threshold method {method!r} (choose from {choices})")
    if method in LABELLED_METHODS and not labelled:
        raise UsageError(
            f"the {method} method needs labelled data: train with a label-free method "
            f"({', '.join(LABEL_FREE)}), then run `lstmae threshold MODEL DATA --method "
            f"{method} --label-column COL`"
        )
    defaults = THRESHOLD_METHODS[method]
    used = dict(defaults)
    used.update({k: v for k, v in params.items() if v is not None and k in defaults})
    for name, value in used.items():
        option = OPTION_NAMES.get(name, f"--{name}")
        if value is None:
            raise UsageError(f"{option} is required with the {method} threshold method")
        ok, rule = THRESHOLD_RULES[name]
        if not ok(float(value)):
            raise UsageError(f"{option} must be {rule}, got {value}")
    return used
