"""Shared fixtures: small generated series with known anomalies and a tiny trained model.

Shared constants and functions (FAST, make_frame, ...) are in helpers.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sample_data.make_sample import inject, machine, with_time

from .helpers import FAST, make_frame


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
