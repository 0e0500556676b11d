"""`Detector`: the library the CLI is a thin shell over (fit / score / threshold / save / load)."""

from __future__ import annotations

import copy
import hashlib
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Generic, TypeVar, overload

import numpy as np
import pandas as pd

from .bundle import load_bundle, save_bundle
from .errors import BundleError, InputError, LstmaeError, LstmaeWarning, UsageError, listed
from .io.data import (
    ColumnRoles,
    MissingFiller,
    feature_matrix,
    jump_rows,
    parse_times,
    resolve_roles,
    split_series,
    time_steps,
    warn_jump,
)
from .nn import distributed
from .nn.checkpoint import CHECKPOINT_KIND, Checkpointing
from .nn.model import LSTMAutoencoder, ModelConfig
from .nn.scaling import AffineScaler, fit_scaler
from .nn.train import (
    TrainResult,
    TrainSettings,
    device_type,
    mask_bank,
    resolve_device,
    train_autoencoder,
)
from .nn.windows import WindowBank, window_starts
from .params import LEVELS, DetectorParams, TrainConfig, gap_size, training_pace
from .scoring.alerts import AlertRules
from .scoring.drift import track_series
from .scoring.folds import Fold, check_fold_sizes, short_series, take, time_blocked_folds
from .scoring.levels import ScoreRun
from .scoring.rows import (
    RowScorer,
    ScoreModel,
    fill_missing_errors,
    fit_score_model,
    score_observed,
    smooth_series,
)
from .scoring.streaming import ScoringModel, StreamScorer
from .scoring.thresholds import ThresholdRefit, fit_threshold
from .scoring.trends import warn_trending
from .state import FittedParts, FittedState, bundle_metadata

# windows per forward pass when scoring: small batches stay in a CPU core's cache, a GPU
# wants large ones (measured: docs/speed.md, "Scoring")
SCORE_BATCH_CPU, SCORE_BATCH_CUDA = 512, 8192
SELF_CHECK_SHARE = 0.01  # train warns when its threshold flags more of its own rows
SELF_CHECK_CHUNK = 65_536  # rows scored at a time by the self-check (bounded memory)


def warn_flagged_training_rows(share: float) -> None:
    import warnings

    from .errors import LstmaeWarning

    warnings.warn(
        f"the learned threshold flags {100 * share:.1f} % of the training rows (over 1 %): "
        "the training data may hold anomalies, or its normal operation varies more than the "
        "rows the threshold was learned on; check with `lstmae threshold MODEL DATA --dry-run`, "
        "then train on a cleaner or longer normal span, or raise the threshold (e.g. --q 0.9999)",
        LstmaeWarning,
        stacklevel=3,
    )


@dataclass
class SeriesData:
    """One training series: where it came from and its raw (rows, features) values."""

    name: str
    values: np.ndarray  # (rows, features) float64, missing values filled
    observed: np.ndarray | None = None  # (rows, features) bool with --missing mask, else None


T = TypeVar("T")


class _Fitted(Generic[T]):
    """The Detector attribute NAME_: its FittedState's NAME (fit sets it, save writes it)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.field = name.removesuffix("_")

    @overload
    def __get__(self, detector: None, owner: type) -> _Fitted[T]: ...
    @overload
    def __get__(self, detector: Detector, owner: type | None = None) -> T: ...
    def __get__(self, detector, owner=None):
        return self if detector is None else getattr(detector.fitted_, self.field)

    def __set__(self, detector: Detector, value: T) -> None:
        setattr(detector.fitted_, self.field, value)


_D = DetectorParams  # its class attributes are the defaults: one source, params.py
_OPTIONS = {f.name for f in fields(DetectorParams)}


class Detector:
    """LSTM-autoencoder anomaly detector. Fitted state lives in attributes ending in `_`,
    kept together in `fitted_` (state.FittedState, which also reads and writes bundles)."""

    roles_: _Fitted[ColumnRoles | None] = _Fitted()
    scaler_: _Fitted[AffineScaler | None] = _Fitted()
    model_: _Fitted[LSTMAutoencoder | None] = _Fitted()
    score_model_: _Fitted[ScoreModel | None] = _Fitted()
    threshold_: _Fitted[float | None] = _Fitted()
    threshold_method_: _Fitted[str] = _Fitted()
    threshold_params_: _Fitted[dict] = _Fitted()
    val_scores_: _Fitted[np.ndarray] = _Fitted()
    range_: _Fitted[tuple[np.ndarray, np.ndarray] | None] = _Fitted()
    history_: _Fitted[list[dict]] = _Fitted()
    data_info_: _Fitted[dict] = _Fitted()

    def __init__(  # noqa: PLR0913 (one keyword per option of `lstmae train`, as the CLI)
        self,
        *,
        seq_len: int = _D.seq_len,
        stride: int = _D.stride,
        score_stride: int | None = _D.score_stride,
        hidden: int = _D.hidden,
        layers: int = _D.layers,
        arch: str = _D.arch,
        scaler: str = _D.scaler,
        val_fraction: float = _D.val_fraction,
        calibration_folds: int = _D.calibration_folds,
        drift_rate: float = _D.drift_rate,
        epochs: int = _D.epochs,
        batch_size: int | None = _D.batch_size,
        lr: float | None = _D.lr,
        patience: int = _D.patience,
        seed: int = _D.seed,
        missing: str = _D.missing,
        scoring: str = _D.scoring,
        smooth: int | None = _D.smooth,
        threshold_method: str = _D.threshold_method,
        threshold_params: dict | None = None,
        max_windows_per_epoch: int | None = _D.max_windows_per_epoch,
        max_gap: str | None = _D.max_gap,
        device: str = _D.device,
        precision: str = _D.precision,
    ) -> None:
        """The options of `lstmae train` (params.TrainConfig, saved with the model), then
        the run-time settings, not saved: `device` (cpu, cuda, auto) and `precision`, the
        network's float type when scoring (fp32, bf16, auto). Checked by `fit`."""
        options = {name: value for name, value in locals().items() if name in _OPTIONS}
        options["threshold_params"] = dict(threshold_params or {})
        self.params = DetectorParams(**options)
        self.fitted_ = FittedState(threshold_method=self.params.threshold_method)

    def __copy__(self) -> Detector:
        """A Detector sharing this one's options, network and arrays, with a FittedState of
        its own: setting threshold_ on the copy leaves this one alone."""
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.fitted_ = copy.copy(self.fitted_)
        return other

    def with_threshold(self, threshold: float | None) -> Detector:
        """This Detector scoring with another threshold: a copy sharing its options, network
        and arrays (None: this Detector itself). Neither this one nor its bundle changes."""
        if threshold is None:
            return self
        other = copy.copy(self)
        other.threshold_ = float(threshold)
        return other

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        tables: Iterable[tuple[str, pd.DataFrame]],
        columns: list[str] | None = None,
        time_column: str | None = None,
        id_column: str | None = None,
        exclude: list[str] | None = None,
        on_epoch=None,
        checkpoint: Checkpointing | None = None,
    ) -> Detector:
        """Fit scaler, network and threshold on (name, frame) tables of normal data.

        checkpoint: write the training state every `checkpoint.every` epochs and, with
        `checkpoint.resume`, continue from it (same data and options required).
        """
        p = self.params
        p.validate()
        series, roles = self._collect_series(tables, columns, time_column, id_column, exclude)
        series = self._without_short_series(series)
        folds = time_blocked_folds(
            [len(s.values) for s in series], p.calibration_folds, p.val_fraction
        )
        check_fold_sizes(folds, [s.name for s in series], p.seq_len)
        final = folds[0]  # its network is the saved model
        train_parts = take([s.values for s in series], final.train)
        warn_trending(train_parts, roles.features, p.drift_rate)
        self.scaler_ = fit_scaler(p.scaler, np.concatenate(train_parts))
        pace = self._choose_pace(train_parts)
        observed = _observed_masks(series)
        # what the network sees: scaled values less their drift level (drift.py), float32
        scaled = [track_series(self.scaler_.transform(s.values), p.drift_rate) for s in series]
        del series, train_parts  # the float64 rows: training holds the scaled ones only
        stacked = np.concatenate(take(scaled, final.train))  # (rows, features)
        self.range_ = (stacked.min(axis=0), stacked.max(axis=0))
        del stacked
        if checkpoint is not None:
            checkpoint.check = {"data": self.data_info_["sha256"], "options": _resume_key(p)}
        held_errors, held_observed = [], []
        for number, fold in enumerate(folds):
            result = self._train_fold(
                fold,
                pace,
                scaled,
                observed,
                _fold_progress(on_epoch, number, len(folds)),
                checkpoint if number == 0 else None,
            )
            if number == 0:
                self.model_, self.history_ = result.model, result.history
                self.data_info_ |= {"best_epoch": result.best_epoch}
            held = take(scaled, [[span] for span in fold.held])
            # under torchrun each rank scores its share of the series; all get every error
            held_errors += distributed.map_series(held, self._errors_with(result.model))
            if observed is not None:
                held_observed += take(observed, [[span] for span in fold.held])
            seconds = self.data_info_.get("train_seconds", 0.0) + result.seconds
            self.data_info_["train_seconds"] = round(seconds, 3)
        self._calibrate(held_errors, held_observed or None)
        self.data_info_["calibration_rows"] = int(sum(len(e) for e in held_errors))
        self._self_check(scaled, observed)
        return self

    def _self_check(self, scaled: list[np.ndarray], observed: list[np.ndarray] | None) -> None:
        """Record (and warn over 1 %) the share of the training rows the threshold flags."""
        parts = self.require_fitted()
        if observed is None:  # the usual case: scores chunk by chunk, never all errors at once
            chunked = self._chunked_scores(parts.model, parts.score_model)
            raw = distributed.map_series(scaled, chunked)
            scores = smooth_series([r[:, 0] for r in raw], self.params.resolved_smooth)
        else:
            errors = distributed.map_series(scaled, self._errors_with(parts.model))
            scores = self._smoothed_scores(parts.score_model, errors, observed)
        share = float(np.mean(scores > parts.threshold))
        self.data_info_["train_flagged"] = share
        if share > SELF_CHECK_SHARE:
            warn_flagged_training_rows(share)

    def _smoothed_scores(
        self,
        score_model: ScoreModel,
        errors: list[np.ndarray],
        observed: list[np.ndarray] | None,
    ) -> np.ndarray:
        """Per-series (rows, F) errors -> (rows,) row scores, each series smoothed alone."""
        masks = observed if observed is not None else [None] * len(errors)
        raw = [score_observed(score_model, e, m) for e, m in zip(errors, masks, strict=True)]
        return smooth_series(raw, self.params.resolved_smooth)

    def _choose_pace(self, train_parts: list[np.ndarray]) -> tuple[int, float]:
        """The (batch size, learning rate) the networks train with: the given ones, else
        chosen for the device and the windows of an epoch (params.training_pace). Written
        into `params`, so that the bundle records them."""
        p = self.params
        windows = sum(len(window_starts(len(part), p.seq_len, p.stride)) for part in train_parts)
        if p.max_windows_per_epoch is not None:
            windows = min(windows, p.max_windows_per_epoch)
        per_process = -(-windows // distributed.world_size())  # under torchrun: one rank's
        on = device_type(p.device)
        p.batch_size, p.lr = training_pace(on, per_process, p.batch_size, p.lr)
        return p.batch_size, p.lr

    def _train_fold(
        self, fold: Fold, pace: tuple[int, float], scaled, observed, on_epoch, checkpoint
    ) -> TrainResult:
        """Train a network on the fold's training spans, early-stopping on its held-out span;
        pace: (batch size, learning rate)."""
        p = self.params
        held_spans = [[span] for span in fold.held]
        masks: tuple[WindowBank | None, WindowBank | None] = (None, None)
        if observed is not None:
            masks = (
                mask_bank(take(observed, fold.train), p.seq_len, p.stride),
                mask_bank(take(observed, held_spans), p.seq_len, p.stride),
            )
        n_features = scaled[0].shape[1]  # each series (rows, features)
        return train_autoencoder(
            ModelConfig(n_features, p.hidden, p.layers, p.arch),
            WindowBank.from_series(take(scaled, fold.train), p.seq_len, p.stride),
            WindowBank.from_series(take(scaled, held_spans), p.seq_len, p.stride),
            TrainSettings(
                p.epochs,
                *pace,
                p.patience,
                p.seed,
                p.device,
                p.max_windows_per_epoch,
            ),
            on_epoch,
            masks,
            checkpoint,
        )

    def _calibrate(self, held_errors: list[np.ndarray], observed: list[np.ndarray] | None):
        """Fit the score model and the threshold on held-out (rows, F) errors of each part."""
        p = self.params
        errors = np.concatenate(held_errors)  # (rows, F), as one process computes them
        mask = np.concatenate(observed) if observed is not None else None  # (rows, F)
        score_model = fit_score_model(p.scoring, fill_missing_errors(errors, mask))
        self.score_model_ = score_model
        del errors, mask  # scored part by part below: peak memory of a long series
        self.val_scores_ = self._smoothed_scores(score_model, held_errors, observed)
        self.set_threshold_from_scores(self.val_scores_, p.threshold_method, **p.threshold_params)

    def _collect_series(
        self, tables, columns, time_column, id_column, exclude
    ) -> tuple[list[SeriesData], ColumnRoles]:
        """The training series of every table, and the column roles (the first table's,
        unless this Detector has some already)."""
        series: list[SeriesData] = []
        digest = hashlib.sha256()
        rows, time_ends = 0, []
        roles = self.roles_
        look_for_jumps = self.params.max_gap is None  # warn once where times jump, if so
        for name, frame in tables:
            if roles is None:
                roles = resolve_roles(frame, name, columns, time_column, id_column, exclude=exclude)
                self.roles_ = roles
            for part, times, steps, series_name in self._series_parts(frame, roles, name):
                values = feature_matrix(part, roles.features, series_name)
                missing = np.isnan(values)
                fill = MissingFiller(self.params.missing, roles.features, series_name)
                values = fill(values)
                observed = ~missing if self.params.missing == "mask" and missing.any() else None
                digest.update(values.tobytes())
                if times is not None and steps is not None:
                    time_ends += _time_ends(times)
                    if look_for_jumps:
                        look_for_jumps = not warn_jump(times, steps, series_name)
                rows += len(values)
                series.append(SeriesData(series_name, values, observed))
        if not series or roles is None:
            raise InputError("no training data given")
        self.data_info_ = {"rows": rows, "series": len(series), "sha256": digest.hexdigest()}
        self.data_info_ |= _time_span(time_ends)
        return series, roles

    def _series_parts(self, frame: pd.DataFrame, roles: ColumnRoles, name: str):
        """(rows, parsed times, their steps, name) of each series of `frame` (times and
        steps None without a time column), in parts where its time jumps by more than
        --max-gap (each its own series: no window joins rows across a jump)."""
        gap = None if self.params.max_gap is None else gap_size(self.params.max_gap)
        for key, series in split_series(frame, roles):
            series_name = f"{name}[{key}]" if key else name
            if roles.time is None:
                yield series, None, None, series_name
                continue
            times = parse_times(series[roles.time])
            steps = time_steps(times, None)  # (rows,)
            starts = [0, *jump_rows(steps, gap)]
            ends = [*starts[1:], len(series)]
            for number, (a, b) in enumerate(zip(starts, ends, strict=True), start=1):
                part_name = series_name if len(starts) == 1 else f"{series_name} part {number}"
                yield series.iloc[a:b], times.iloc[a:b], steps[a:b], part_name

    def _without_short_series(self, series: list[SeriesData]) -> list[SeriesData]:
        """`series` less those too short for a window in every fold, with a warning, when
        others are long enough (else check_fold_sizes says what is too short)."""
        p = self.params
        lengths = [len(s.values) for s in series]
        short = short_series(lengths, p.calibration_folds, p.val_fraction, p.seq_len)
        if not short or len(short) == len(series):
            return series
        names = listed(series[i].name for i in short)
        warnings.warn(
            LstmaeWarning(
                f"{len(short)} series too short to train on with --seq-len {p.seq_len} and "
                f"--calibration-folds {p.calibration_folds} left out "
                f"({sum(lengths[i] for i in short)} rows): {names}"
            ),
            stacklevel=3,
        )
        kept = [s for i, s in enumerate(series) if i not in short]
        self.data_info_ |= {"rows": sum(len(s.values) for s in kept), "series": len(kept)}
        return kept

    # ------------------------------------------------------------ threshold
    def set_threshold_from_scores(self, scores: np.ndarray, method: str, **params) -> float:
        value, used = fit_threshold(method, scores, **params)
        self.threshold_, self.threshold_method_, self.threshold_params_ = value, method, used
        return value

    def refit_threshold(
        self,
        tables: Iterable[tuple[str, pd.DataFrame]],
        method: str = "quantile",
        label_column: str | None = None,
        id_column: str | None = None,
        **params,
    ) -> ThresholdRefit:
        """A new threshold (as `lstmae threshold`) from the row scores of (name, frame)
        tables of normal data; fbeta: of labelled data, `label_column` 0/1. Label-free
        methods (not manual) also make those scores the calibration set of p-values. The
        result holds the old and new threshold and the scores (and labels) behind them;
        `save` writes the model."""
        old, old_method = self.require_fitted().threshold, self.threshold_method_
        scores, labels = self._scores_and_labels(tables, label_column, id_column)
        new = self.set_threshold_from_scores(scores, method, labels=labels, **params)
        calibration = None
        if method not in ("manual", "fbeta"):
            self.val_scores_ = scores[scores == scores]  # NaN-free
            calibration = self.val_scores_.size
        used = self.threshold_params_
        return ThresholdRefit(old, old_method, new, method, used, scores, labels, calibration)

    def _scores_and_labels(self, tables, label_column, id_column):
        """Row scores of every table (and their 0/1 labels when a label column is given)."""
        from .io.data import require_columns
        from .views.metrics import binary_labels

        keep = [label_column] if label_column else []
        scores, labels = [], []
        for name, frame in tables:
            require_columns(frame, keep, name)
            scored = self.score_frame(frame, name, keep=keep, id_column=id_column)
            scores.append(scored["score"].to_numpy())
            if label_column:
                labels.append(binary_labels(scored[label_column], label_column))
        if not scores:
            raise InputError("no data given")
        return np.concatenate(scores), np.concatenate(labels) if label_column else None

    def normal_scores(self, tables: Iterable[tuple[str, pd.DataFrame]]) -> np.ndarray:
        """Row scores of every row of the given tables, as `score` computes them."""
        frames = [self.score_frame(frame, name) for name, frame in tables]
        if not frames:
            raise InputError("no data given")
        return np.concatenate([f["score"].to_numpy() for f in frames])

    # ---------------------------------------------------------------- score
    def feature_errors(self, scaled: np.ndarray) -> np.ndarray:
        """(rows, features) scaled values of one series -> (rows, features) row errors."""
        return self._errors_with(self.require_fitted().model)(scaled)

    def _errors_with(self, model: LSTMAutoencoder):
        """(rows, features) scaled values of one series -> (rows, features) errors of `model`."""

        def errors(scaled: np.ndarray) -> np.ndarray:
            scorer = self._row_scorer(model)
            return np.concatenate([scorer.push(scaled), scorer.finish()])

        return errors

    def _chunked_scores(self, model: LSTMAutoencoder, score_model: ScoreModel):
        """(rows, F) scaled values of one series, nothing missing -> (rows, 1) raw row scores
        of `model` and `score_model`, pushed SELF_CHECK_CHUNK rows at a time (the same as
        one push)."""

        def scores(scaled: np.ndarray) -> np.ndarray:
            scorer = self._row_scorer(model)
            step = SELF_CHECK_CHUNK
            parts = [
                score_observed(score_model, scorer.push(scaled[start : start + step]), None)
                for start in range(0, len(scaled), step)
            ]
            parts.append(score_observed(score_model, scorer.finish(), None))
            return np.concatenate(parts)[:, None]

        return scores

    def _row_scorer(self, model: LSTMAutoencoder | None = None) -> RowScorer:
        """A fresh RowScorer of `model` (None: the fitted network)."""
        return self._row_scorers(model if model is not None else self.require_fitted().model)()

    def _row_scorers(self, model: LSTMAutoencoder) -> Callable[[], RowScorer]:
        """A maker of fresh RowScorers of `model` on the scoring device (resolved, and the
        network moved there, as each is made)."""
        device_name, precision = self.params.device, self.params.precision
        seq_len, stride = self.params.seq_len, self.params.resolved_score_stride

        def new() -> RowScorer:
            device = resolve_device(device_name)
            batch = SCORE_BATCH_CUDA if device.type == "cuda" else SCORE_BATCH_CPU
            return RowScorer(model.to(device), seq_len, stride, batch, device, precision)

        return new

    def scoring_model(self) -> ScoringModel:
        """What scoring needs of this fitted Detector, as of now (a StreamScorer's model)."""
        parts, p = self.require_fitted(), self.params
        return ScoringModel(
            parts.roles, parts.scaler, self._row_scorers(parts.model), parts.score_model,
            parts.threshold, p.seq_len, p.resolved_smooth, p.drift_rate, p.missing, self.range_,
            self.val_scores_, None if p.max_gap is None else gap_size(p.max_gap),
        )  # fmt: skip

    def score(  # noqa: PLR0913 (keyword options mirroring `lstmae score`, as documented)
        self,
        chunks: pd.DataFrame | Iterable[pd.DataFrame],
        level: str = "row",
        alerts: AlertRules | None = None,
        *,
        name: str = "<frame>",
        keep: Iterable[str] = (),
        id_column: str | None = None,
        time_column: str | None = None,
        p_values: bool = False,
        only_anomalies: bool = False,
        keep_events: bool = False,
    ) -> ScoreRun:
        """Score a frame, or chunks of one long input in order, as `lstmae score` does.

        Iterate the returned ScoreRun (once) for the frames at `level` (row, window or
        event), rows as soon as they are final; its `tally` counts rows, flagged rows and
        events, complete at the end. alerts: AlertRules (None: the model's defaults).
        keep: input columns passed through (row level). p_values: a p_value column (row
        level; the model must hold held-out normal scores). only_anomalies: flagged rows
        or windows only. keep_events: the run's `events` lists the events at any level.
        """
        if level not in LEVELS:
            raise UsageError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
        if p_values:
            self._check_p_values(level)
        rules = alerts if alerts is not None else AlertRules()
        columns = (id_column, time_column, rules.merge_gap, rules.min_rows)
        scorer = self.stream_scorer(name, keep, *columns, p_values=p_values)
        chunks = [chunks] if isinstance(chunks, pd.DataFrame) else chunks
        return ScoreRun(scorer, chunks, level, only_anomalies, keep_events)

    def _check_p_values(self, level: str) -> None:
        if level != "row":
            raise UsageError("p_values is for level 'row'")
        if self.val_scores_.size == 0:
            raise LstmaeError(
                "this model holds no held-out normal scores for p-values; "
                "run `lstmae threshold MODEL NORMAL_DATA` to store some"
            )

    def score_frame(
        self, frame: pd.DataFrame, name: str = "<frame>", keep: Iterable[str] = (), **columns
    ) -> pd.DataFrame:
        """Row-level scores of a whole frame (the same columns the CLI writes)."""
        parts = list(self.stream_scores([frame], name, keep, **columns))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def score_events(
        self,
        frames: pd.DataFrame | Iterable[pd.DataFrame],
        merge_gap: int | None = None,
        min_rows: int | None = None,
        name: str = "<frame>",
        **columns,
    ) -> pd.DataFrame:
        """Events (as `score --level event`) of a frame or of chunks of one long input;
        merge_gap / min_rows None: seq_len / smooth + 1, as the CLI."""
        from .scoring.levels import at_level

        chunks = [frames] if isinstance(frames, pd.DataFrame) else frames
        scorer = self.stream_scorer(name, (), merge_gap=merge_gap, min_rows=min_rows, **columns)
        parts = list(at_level(scorer.run(chunks), scorer, "event"))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def stream_scores(
        self,
        chunks: Iterable[pd.DataFrame],
        name: str = "<frame>",
        keep: Iterable[str] = (),
        id_column: str | None = None,
        time_column: str | None = None,
        merge_gap: int | None = None,
        min_rows: int | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Row-level score frames, emitted as soon as rows are final, chunk after chunk.

        is_anomaly marks alerts: flagged rows at most merge_gap rows apart are one alert (the
        rows between flagged too), and alerts spanning fewer than min_rows rows are dropped.
        None: seq_len and smooth + 1, as the CLI; merge_gap 0 and min_rows 1: score > threshold.
        """
        scorer = self.stream_scorer(name, keep, id_column, time_column, merge_gap, min_rows)
        yield from scorer.run(chunks)

    def stream_scorer(
        self,
        name: str = "<frame>",
        keep: Iterable[str] = (),
        id_column: str | None = None,
        time_column: str | None = None,
        merge_gap: int | None = None,
        min_rows: int | None = None,
        p_values: bool = False,
    ):
        """A StreamScorer whose `run(chunks)` yields row-level frames."""
        columns = (id_column, time_column)
        alerts = AlertRules(merge_gap, min_rows)
        return StreamScorer(self.scoring_model(), name, list(keep), *columns, alerts, p_values)

    def require_fitted(self) -> FittedParts:
        """The fitted pieces (roles, scaler, model, score model, threshold), none of them
        None; a UsageError when this Detector is neither fitted nor loaded."""
        return self.fitted_.require()

    # ------------------------------------------------------------- bundle
    def save(self, path: str | Path) -> None:
        """Write the bundle atomically (CPU tensors, whatever device trained it); under
        torchrun only rank 0 writes, the other ranks return at once."""
        self.require_fitted()
        if distributed.is_main():
            save_bundle(path, self.fitted_.tensors(), self.metadata())

    def metadata(self) -> dict:
        return bundle_metadata(self.params.train_config(), self.fitted_)

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str = "auto",
        precision: str = "fp32",
        threshold: float | None = None,
    ) -> Detector:
        """Read a bundle; it scores on `device` (auto: CUDA when present), wherever it was
        trained: the weights are stored as CPU tensors. `precision` (fp32, bf16, auto) is
        the network's float type when scoring (a bundle stores neither), and `threshold`
        replaces the learned one for this Detector only; None keeps the bundle's."""
        tensors, meta = load_bundle(path)
        if meta.get("kind") == CHECKPOINT_KIND:
            raise BundleError(f"{path}: a training checkpoint, not a model; finish with --resume")
        try:  # where it was trained does not matter: it runs on `device`
            saved = known_params(meta["params"])
            detector = cls(**saved, device=device, precision=precision)
            detector.fitted_ = FittedState.from_bundle(tensors, meta, detector.params.scoring)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            detail = " ".join(str(exc).split())[:160]  # one line, however long torch's is
            message = f"{path}: model metadata does not match its tensors ({detail})"
            raise BundleError(message) from exc
        if threshold is not None:
            detector.threshold_ = float(threshold)
        return detector


def known_params(saved: dict) -> dict:
    """The saved options (TrainConfig) this version knows; bundles from before an option get
    its old behaviour (no smoothing, tail calibration, no drift allowance). The device and
    precision older bundles stored are run-time settings, not taken from the file."""
    known = {f.name for f in fields(TrainConfig)}
    return {
        k: v
        for k, v in ({"smooth": 1, "calibration_folds": 1, "drift_rate": 0.0} | saved).items()
        if k in known
    }


def _observed_masks(series: list[SeriesData]) -> list[np.ndarray] | None:
    """Each series' (rows, features) observed mask, or None when nothing is missing."""
    if all(s.observed is None for s in series):
        return None
    return [s.observed if s.observed is not None else np.ones_like(s.values, bool) for s in series]


def _fold_progress(on_epoch, number: int, folds: int):
    """The epoch callback, told which network trains: the model, or a calibration fold."""
    if on_epoch is None:
        return None
    stage = "model" if number == 0 else f"calibration {number}/{folds - 1}"
    return lambda record: on_epoch(record | {"stage": stage})


def _resume_key(params: DetectorParams) -> dict:
    """The options a resumed run must share with the checkpoint (epochs may grow)."""
    ignored = {"epochs", "patience", "device", "threshold_method", "threshold_params"}
    return {k: v for k, v in asdict(params).items() if k not in ignored}


def _time_ends(times: pd.Series) -> list:
    """First and last valid time of one series (parsed, in time order)."""
    times = times.dropna()
    return [times.iloc[0], times.iloc[-1]] if len(times) else []


def _time_span(ends: list) -> dict:
    """{"time_start", "time_end"} over all series, as text; {} when there is no time."""
    try:
        return {"time_start": str(min(ends)), "time_end": str(max(ends))} if ends else {}
    except TypeError:  # times of different kinds in different files
        return {}
