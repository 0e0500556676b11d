"""Every option of a Detector, in one torch- and pandas-free place.

`DetectorParams`' field defaults are the tool's defaults: the CLI's train options and
TrainSettings read them from here, so each is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import UsageError

MISSING_POLICIES = ("mask", "ffill", "interpolate", "error")
DEFAULT_MISSING = "mask"


@dataclass
class DetectorParams:
    """Every option of `lstmae train`; stored in the bundle so a model can be rebuilt."""

    seq_len: int = 32
    stride: int = 1
    score_stride: int | None = None  # None: seq_len // 4 (benchmarks/speed.py, README "Speed")
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
    batch_size: int = 128
    lr: float = 2e-3
    patience: int = 5
    seed: int = 0
    device: str = "cpu"
    missing: str = DEFAULT_MISSING
    scoring: str = "normalized"
    precision: str = "fp32"
    smooth: int | None = None  # None: seq_len // 4 (benchmarks/synthetic.py, README)
    threshold_method: str = "quantile"
    threshold_params: dict = field(default_factory=dict)
    max_windows_per_epoch: int | None = None

    def __post_init__(self) -> None:
        if self.score_stride is None:
            self.score_stride = max(1, self.seq_len // 4)
        if self.smooth is None:
            self.smooth = max(1, self.seq_len // 4)

    def validate(self) -> None:
        from .nn.model import ARCHS  # torch: validate runs where training does
        from .scoring.rows import SCORINGS
        from .scoring.thresholds import resolve_params

        positive = ("seq_len", "stride", "score_stride", "smooth", "hidden", "layers", "epochs")
        for name in (*positive, "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
        if self.seq_len < 2:
            raise UsageError("--seq-len must be at least 2")
        if self.stride > self.seq_len or self.score_stride > self.seq_len:
            raise UsageError("--stride and --score-stride must not exceed --seq-len")
        if not 0.0 <= self.drift_rate < 1.0:
            raise UsageError("--drift-rate must be in [0, 1) (scaled units per row)")
        if self.calibration_folds < 1:
            raise UsageError("--calibration-folds must be at least 1")
        if not 0.0 <= self.val_fraction < 1.0:
            raise UsageError("--val-fraction must be in [0, 1)")
        if self.lr <= 0:
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


def alert_defaults(seq_len: int, smooth: int | None) -> tuple[int, int]:
    """The (merge_gap, min_rows) `score` uses for a model unless told otherwise: flagged rows
    a window apart are one alert, and an alert must outlast the score smoothing."""
    return seq_len, (smooth or 1) + 1
