"""The batch size and learning rate a network trains with when --batch-size / --lr are not
given: the CPU's on the CPU, larger on CUDA with enough data (params.training_pace), and
recorded in the bundle. The CUDA choice is checked here without a GPU: `fit` is told the
device is CUDA while the network still trains on the CPU."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from lstmae_cli import Detector
from lstmae_cli import detector as detector_module
from lstmae_cli.params import (
    CPU_BATCH_SIZE,
    CPU_LR,
    CUDA_MAX_BATCH,
    CUDA_MIN_STEPS,
    training_pace,
)

from ..helpers import make_frame


@pytest.mark.parametrize("windows", [0, 1, 10_000, 10**9])
def test_the_cpu_keeps_its_defaults_whatever_the_data(windows):
    assert training_pace("cpu", windows, None, None) == (CPU_BATCH_SIZE, CPU_LR)


def test_cuda_doubles_the_batch_while_an_epoch_keeps_its_steps():
    assert training_pace("cuda", 1_000, None, None) == (CPU_BATCH_SIZE, CPU_LR)  # small data
    previous = CPU_BATCH_SIZE
    for windows in range(0, 3_000_000, 7_919):
        batch, lr = training_pace("cuda", windows, None, None)
        assert CPU_BATCH_SIZE <= batch <= CUDA_MAX_BATCH
        assert math.log2(batch / CPU_BATCH_SIZE).is_integer()
        # as large as the rule allows: the next doubling would leave too few steps
        assert batch == CPU_BATCH_SIZE or windows // batch >= CUDA_MIN_STEPS
        assert batch == CUDA_MAX_BATCH or windows < 2 * batch * CUDA_MIN_STEPS
        assert lr == pytest.approx(CPU_LR * math.sqrt(batch / CPU_BATCH_SIZE))
        assert batch >= previous  # more data never gives a smaller batch
        previous = batch
    assert training_pace("cuda", 10**9, None, None)[0] == CUDA_MAX_BATCH


def test_given_values_are_kept():
    assert training_pace("cuda", 10**9, 256, None) == (256, CPU_LR)  # a given batch: CPU_LR
    assert training_pace("cuda", 10**9, None, 0.01) == (CUDA_MAX_BATCH, 0.01)
    assert training_pace("cpu", 10**9, 32, 0.5) == (32, 0.5)


def _frame(rows: int) -> pd.DataFrame:
    return make_frame(rows, seed=2, features=2)


@pytest.mark.parametrize(
    ("device_type", "expected"), [("cpu", (128, 0.002)), ("cuda", (256, 0.002 * math.sqrt(2)))]
)
def test_fit_chooses_the_pace_for_the_device_and_the_bundle_records_it(
    tmp_path, monkeypatch, device_type, expected
):
    """40,000 rows, one calibration fold: 31,985 training windows an epoch, enough for
    100 CUDA steps of 256 windows, not of 512."""
    monkeypatch.setattr(detector_module, "device_type", lambda name: device_type)
    options = {"seq_len": 16, "hidden": 4, "epochs": 1, "calibration_folds": 1}
    detector = Detector(**options, device="cpu").fit([("long", _frame(40_000))])
    assert (detector.params.batch_size, detector.params.lr) == pytest.approx(expected)
    path = tmp_path / "model.safetensors"
    detector.save(path)
    monkeypatch.undo()
    loaded = Detector.load(path, device="cpu")
    assert (loaded.params.batch_size, loaded.params.lr) == pytest.approx(expected)


def test_max_windows_per_epoch_counts_as_the_epoch(monkeypatch):
    """A capped epoch is what the steps are counted in: the cap keeps the CPU's batch."""
    monkeypatch.setattr(detector_module, "device_type", lambda name: "cuda")
    options = {"seq_len": 16, "hidden": 4, "epochs": 1, "calibration_folds": 1}
    capped = Detector(**options, max_windows_per_epoch=20_000).fit([("long", _frame(40_000))])
    assert (capped.params.batch_size, capped.params.lr) == (CPU_BATCH_SIZE, CPU_LR)


def test_a_given_batch_trains_with_it(monkeypatch):
    seen = []
    real = detector_module.train_autoencoder

    def spy(config, train, val, settings, *args, **kwargs):
        seen.append((settings.batch_size, settings.lr))
        return real(config, train, val, settings, *args, **kwargs)

    monkeypatch.setattr(detector_module, "train_autoencoder", spy)
    options = {"seq_len": 16, "hidden": 4, "epochs": 1, "calibration_folds": 2}
    Detector(**options, batch_size=48, lr=0.003).fit([("a", make_frame(900))])
    assert seen == [(48, 0.003), (48, 0.003)]  # every calibration network too
