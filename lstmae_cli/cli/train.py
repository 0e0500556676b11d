"""`lstmae train`: fit the scaler, the network and the threshold on normal data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import params
from ..params import DetectorParams as Defaults
from .console import err, settle_heap
from .options import (
    AlertsPerOpt,
    AlphaOpt,
    Arch,
    ColumnsOpt,
    Device,
    DeviceOpt,
    ExcludeOpt,
    IdOpt,
    KOpt,
    Missing,
    NamesOpt,
    NoHeaderOpt,
    PotLevelOpt,
    QOpt,
    QuietOpt,
    RiskOpt,
    RowsOpt,
    Scaler,
    Scoring,
    ThresholdMethod,
    TimeOpt,
    ValueOpt,
    method_params,
    read_header,
    split_list,
)

# the enum form of DetectorParams' defaults, for the option declarations below
DEFAULT_ARCH, DEFAULT_SCALER = Arch(Defaults.arch), Scaler(Defaults.scaler)
DEFAULT_MISSING, DEFAULT_SCORING = Missing(Defaults.missing), Scoring(Defaults.scoring)
DEFAULT_THRESHOLD = ThresholdMethod(Defaults.threshold_method)


def train(
    data: Annotated[
        list[str],
        typer.Argument(
            help="Files of normal data (CSV, Parquet, or - for stdin); each is its own series."
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Model bundle to write (.safetensors).")
    ],
    columns: ColumnsOpt = None,
    exclude_columns: ExcludeOpt = None,
    time_column: TimeOpt = None,
    id_column: IdOpt = None,
    no_header: NoHeaderOpt = False,
    names: NamesOpt = None,
    seq_len: Annotated[int, typer.Option(help="Rows per window.")] = Defaults.seq_len,
    stride: Annotated[int, typer.Option(help="Rows between training windows.")] = Defaults.stride,
    score_stride: Annotated[
        int | None,
        typer.Option(
            help="Rows between scoring windows; every row stays covered. Default seq_len // 4."
        ),
    ] = None,
    smooth: Annotated[
        int | None,
        typer.Option(
            help="Row score = trailing mean of this many raw row scores (1: off). "
            "Default seq_len // 4."
        ),
    ] = None,
    hidden: Annotated[int, typer.Option(help="LSTM units.")] = Defaults.hidden,
    layers: Annotated[
        int, typer.Option(help="Stacked LSTM layers in encoder and decoder.")
    ] = Defaults.layers,
    arch: Annotated[
        Arch,
        typer.Option(
            metavar=f"<{'|'.join(params.ARCHS)}>",
            help="direct: decoder LSTM(hidden->features) as in the seed (formerly `seed`); "
            "linear: LSTM(hidden->hidden) + Linear(hidden->features).",
        ),
    ] = DEFAULT_ARCH,
    scaler: Annotated[
        Scaler, typer.Option(help="sklearn scaler fitted on training rows.")
    ] = DEFAULT_SCALER,
    val_fraction: Annotated[
        float,
        typer.Option(
            help="Last fraction of each series held out for early stopping and the threshold."
        ),
    ] = Defaults.val_fraction,
    calibration_folds: Annotated[
        int,
        typer.Option(
            help="K >= 2: learn the score calibration and threshold from K time blocks, each "
            "scored by a network trained on the others (K - 1 extra networks; --val-fraction "
            "is then 1/K); 1: from the last --val-fraction of each series."
        ),
    ] = Defaults.calibration_folds,
    drift_rate: Annotated[
        float,
        typer.Option(
            help="Drift allowance: each feature's level may move this many training standard "
            "deviations per row without being flagged (followed in 32-row steps from a "
            "series' first row); faster changes stay flagged. 0: off."
        ),
    ] = Defaults.drift_rate,
    max_gap: Annotated[
        str | None,
        typer.Option(
            help="A jump in time (90s, 10min, 1h, 2d; a bare number in the time column's "
            "units) that cuts a series in parts, trained and scored apart: no window joins "
            "rows across an outage. Default: never cut.",
        ),
    ] = Defaults.max_gap,
    epochs: Annotated[int, typer.Option(help="Most epochs to train.")] = Defaults.epochs,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Windows per training batch. Default: 128 on the CPU; on a CUDA GPU doubled "
            "while an epoch keeps 100 steps, up to 1024 (the model file records it).",
            show_default=False,
        ),
    ] = Defaults.batch_size,
    lr: Annotated[
        float | None,
        typer.Option(
            help="Adam learning rate. Default: 0.002; with a batch the GPU rule chose, "
            "0.002 * sqrt(batch / 128).",
            show_default=False,
        ),
    ] = Defaults.lr,
    patience: Annotated[
        int, typer.Option(help="Epochs without validation improvement before stopping.")
    ] = Defaults.patience,
    seed: Annotated[
        int, typer.Option(help="Random seed (same data + seed -> same model).")
    ] = Defaults.seed,
    missing: Annotated[
        Missing,
        typer.Option(
            help="Missing or non-finite values: mask (fill forward for the network, leave them "
            "out of the loss and the row score), ffill, interpolate, or error."
        ),
    ] = DEFAULT_MISSING,
    scoring: Annotated[
        Scoring,
        typer.Option(
            help="How per-feature errors become a row score: mahalanobis (Gaussian fitted on "
            "held-out errors), normalized (each feature over its normal level) or mean."
        ),
    ] = DEFAULT_SCORING,
    threshold_method: Annotated[
        ThresholdMethod,
        typer.Option(
            help="How the threshold is learned from held-out scores (label-free methods only; "
            "fbeta needs labels: use `lstmae threshold` after training)."
        ),
    ] = DEFAULT_THRESHOLD,
    q: QOpt = None,
    k: KOpt = None,
    value: ValueOpt = None,
    risk: RiskOpt = None,
    pot_level: PotLevelOpt = None,
    alerts_per: AlertsPerOpt = None,
    rows: RowsOpt = None,
    alpha: AlphaOpt = None,
    max_windows_per_epoch: Annotated[
        int | None, typer.Option(help="Sample at most this many windows per epoch.")
    ] = None,
    plot_history: Annotated[
        Path | None, typer.Option(help="Also write the training-loss figure here (.png/.svg/.pdf).")
    ] = None,
    checkpoint_every: Annotated[
        int,
        typer.Option(
            help="Every N epochs save the training state (with the best model so far) to "
            "MODEL.ckpt.safetensors, atomically; 0: never. Removed once MODEL is written."
        ),
    ] = 0,
    resume: Annotated[
        bool,
        typer.Option(help="Continue an interrupted run from its checkpoint (same data, options)."),
    ] = False,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
) -> None:
    """Fit scaler, autoencoder and threshold on normal data; write one model bundle.

    Under `torchrun --nproc-per-node N -m lstmae_cli train ...` the N processes train one
    model data-parallel; only rank 0 prints and writes files.
    """
    from ..detector import Detector
    from ..io.outpath import check_output_path
    from ..io.reading import read_frame, source_name
    from ..nn import distributed
    from ..nn.checkpoint import checkpointing_for, interrupted_note
    from ..nn.train import resolve_device
    from ..params import resolve_params
    from ..views.progress import EpochProgress

    settle_heap()
    header = read_header(no_header, names)
    threshold_params = method_params(q, k, value, risk, pot_level, alerts_per, rows, alpha)
    resolve_params(threshold_method.value, threshold_params)  # usage errors before training
    detector = Detector(
        seq_len=seq_len,
        stride=stride,
        score_stride=score_stride,
        smooth=smooth,
        hidden=hidden,
        layers=layers,
        arch=arch.value,
        scaler=scaler.value,
        val_fraction=val_fraction,
        calibration_folds=calibration_folds,
        drift_rate=drift_rate,
        max_gap=max_gap,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience,
        seed=seed,
        device=device.value,
        missing=missing.value,
        scoring=scoring.value,
        threshold_method=threshold_method.value,
        threshold_params={n: v for n, v in threshold_params.items() if v is not None},
        max_windows_per_epoch=max_windows_per_epoch,
    )
    detector.params.validate()
    check_output_path(output)  # before training, not after
    checkpoint = checkpointing_for(output, checkpoint_every, resume)
    if plot_history is not None:
        from ..views.plot import check_figure_path

        check_figure_path(plot_history)  # before training, not after
    tables = [(source_name(path), read_frame(path, header)) for path in data]
    _refuse_empty_ids(tables, id_column)
    _check_held_out_size(tables, detector.params, threshold_method.value, threshold_params)
    quiet = _quiet_other_ranks(quiet)
    try:
        with (
            distributed.session(resolve_device(device.value)),
            EpochProgress(epochs, quiet) as progress,
        ):
            detector.fit(
                tables,
                split_list(columns),
                time_column,
                id_column,
                split_list(exclude_columns),
                on_epoch=progress.update,
                checkpoint=checkpoint,
            )
    except KeyboardInterrupt as exc:
        raise KeyboardInterrupt(interrupted_note(checkpoint)) from exc
    _warn_missing(tables, detector)
    if not distributed.is_main():
        return  # rank 0 writes the model (and the figure) and reports
    detector.save(output)
    if checkpoint is not None:
        checkpoint.path.unlink(missing_ok=True)  # MODEL now holds the result
    if plot_history is not None:
        from ..views.plot import history_figure, save_figure

        save_figure(history_figure(detector.history_), plot_history)
    if not quiet:
        info, parts = detector.data_info_, detector.require_fitted()
        err(
            f"trained on {info['rows']} rows in {info['series']} series, "
            f"{len(parts.roles.features)} features ({len(detector.history_)} epochs, "
            f"best {info['best_epoch']}, {info['train_seconds']:.1f}s); "
            f"threshold {parts.threshold:.6g} ({detector.threshold_method_}), flags "
            f"{100 * info['train_flagged']:.2f} % of the training rows; wrote {output}"
        )


def _quiet_other_ranks(quiet: bool) -> bool:
    """Under torchrun only rank 0 shows progress, warnings and the summary."""
    import warnings

    from ..errors import LstmaeWarning
    from ..nn import distributed

    if distributed.is_main():
        return quiet
    warnings.filterwarnings("ignore", category=LstmaeWarning)
    return True


def _refuse_empty_ids(tables, id_column: str | None) -> None:
    """Before training: a row without a series id is an error naming its file."""
    from ..io.data import refuse_empty_ids, require_columns

    if id_column is not None:
        for name, frame in tables:
            require_columns(frame, [id_column], name)
            refuse_empty_ids(frame, id_column, name)


def _warn_missing(tables, detector) -> None:
    """Once per run: how many feature values of the training data were treated as missing."""
    from ..io.data import MissingTally

    tally = MissingTally(detector.roles_.features)
    for _, frame in tables:
        tally.add(frame)
    name = tables[0][0] if len(tables) == 1 else f"training data ({len(tables)} files)"
    tally.warn(name, detector.params.missing)


def _check_held_out_size(tables, detector_params, method: str, params: dict) -> None:
    """Refuse before training a threshold method the held-out part is too small for."""
    from ..scoring.folds import held_out_rows
    from ..scoring.thresholds import check_enough_scores

    rows = [len(frame) for _, frame in tables]
    p = detector_params
    check_enough_scores(method, params, held_out_rows(rows, p.calibration_folds, p.val_fraction))
