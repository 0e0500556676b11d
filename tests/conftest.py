"""Shared fixtures: small generated series with known anomalies and a tiny trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sample_data.make_sample import inject, machine, with_time

# Small and quick. The mechanics tests built on it (scores, events, views, thresholds) were
# written against the tail calibration and Mahalanobis scoring of the first versions, so
# FAST keeps those; the defaults (3 calibration folds, normalized scoring, drift allowance)
# are exercised by test_calibration, test_drift, the machine-data quality floor and the
# slow suites.
FAST = {
    "seq_len": 16,
    "hidden": 16,
    "epochs": 3,
    "batch_size": 64,
    "patience": 3,
    "calibration_folds": 1,
    "scoring": "mahalanobis",
    "drift_rate": 0.0,
}


def make_frame(rows: int = 600, seed: int = 0, features: int = 3) -> pd.DataFrame:
    """A small smooth multivariate series with a timestamp column."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    values = {
        f"f{i}": np.sin(2 * np.pi * t / (40 + 7 * i) + i) + rng.normal(0, 0.05, rows)
        for i in range(features)
    }
    frame = pd.DataFrame(values)
    times = pd.date_range("2026-01-01", periods=rows, freq="min").strftime("%Y-%m-%d %H:%M:%S")
    frame.insert(0, "timestamp", times)
    return frame


class FileCreatingPayload:
    """Unpickling this creates `marker`: proof, if the file appears, that something unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def write_pickle_bomb(path: Path, marker: Path, maker: str = "pickle") -> Path:
    """A file posing as a model whose loading by pickle / torch.load would create `marker`."""
    import pickle

    import torch

    if maker == "pickle":
        path.write_bytes(pickle.dumps(FileCreatingPayload(marker)))
    else:
        torch.save({"weights": FileCreatingPayload(marker)}, path)
    return path


@pytest.fixture(scope="session")
def small_frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="session")
def machine_files(tmp_path_factory) -> tuple[Path, Path]:
    """The sample machine: (normal train CSV, labelled test CSV)."""
    folder = tmp_path_factory.mktemp("machine")
    rng = np.random.default_rng(11)
    train = with_time(machine(2500, rng), "2026-01-01 00:00:00")
    test = with_time(inject(machine(3000, rng, phase=2500), rng), "2026-01-02 00:00:00")
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    return folder / "train.csv", folder / "test.csv"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, small_frame) -> Path:
    """A quickly trained bundle on `small_frame` (f0, f1, f2)."""
    from lstmae_cli import Detector

    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    Detector(**FAST).fit([("small", small_frame)]).save(path)
    return path


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory, small_frame) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.csv"
    small_frame.to_csv(path, index=False)
    return path


@pytest.fixture
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # much faster on a busy machine; the floors were measured so
    yield
    torch.set_num_threads(before)
