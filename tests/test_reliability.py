"""Missing values (--missing), the drift guard, checkpoints / --resume / Ctrl-C, determinism."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from lstmae_cli import Detector
from lstmae_cli.cli.app import app
from lstmae_cli.nn.checkpoint import Checkpointing
from lstmae_cli.nn.model import LSTMAutoencoder, ModelConfig
from lstmae_cli.nn.train import TrainSettings, masked_mse, train_autoencoder
from lstmae_cli.nn.windows import WindowBank
from lstmae_cli.scoring.drift import track_series
from lstmae_cli.scoring.folds import time_blocked_folds
from lstmae_cli.scoring.rows import fit_score_model, score_observed

from .helpers import FAST, device_rtol, make_frame

runner = CliRunner()
TINY = ["--seq-len", "8", "--hidden", "8", "--batch-size", "64", "-q"]


def with_gaps(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Copy of `frame` with runs of NaN / inf in every feature (and a row missing entirely)."""
    rng = np.random.default_rng(seed)
    gapped = frame.copy()
    for column in ("f0", "f1", "f2"):
        for start in rng.integers(0, len(frame) - 20, 4):
            gapped.loc[start : start + rng.integers(1, 15), column] = np.nan
    gapped.loc[100, ["f0", "f1", "f2"]] = np.nan
    gapped.loc[200, "f1"] = np.inf
    return gapped


# ------------------------------------------------------------------- missing values
@pytest.mark.parametrize("policy", ["mask", "ffill", "interpolate"])
def test_nans_never_reach_the_network_and_scores_are_finite(policy, monkeypatch):
    seen: list[bool] = []
    forward = LSTMAutoencoder.forward

    def checked(self, x):
        seen.append(bool(torch.isfinite(x).all()))
        return forward(self, x)

    monkeypatch.setattr(LSTMAutoencoder, "forward", checked)
    frame = with_gaps(make_frame(400))
    detector = Detector(**FAST, missing=policy).fit([("gaps", frame)])
    scores = detector.score_frame(with_gaps(make_frame(300, seed=4), seed=1))
    assert seen and all(seen)
    assert len(scores) == 300 and np.isfinite(scores["score"]).all()
    assert np.isfinite(detector.val_scores_).all() and np.isfinite(detector.threshold_)
    for tensor in detector.model_.state_dict().values():
        assert torch.isfinite(tensor).all()


def test_mask_leaves_missing_entries_out_of_the_row_score():
    detector = Detector(**FAST, smooth=1).fit([("x", make_frame(400))])  # raw row scores
    assert detector.params.missing == "mask"
    clean = make_frame(200, seed=7)
    gapped = clean.copy()
    gapped.loc[50:59, "f1"] = np.nan
    scores = detector.score_frame(gapped)
    assert scores.loc[50:59, "err_f1"].isna().all()
    assert scores["err_f1"].drop(index=range(50, 60)).notna().all()
    # the score of a row with f1 missing is the score of its observed features only
    errors = scores[["err_f0", "err_f1", "err_f2"]].to_numpy()
    observed = ~np.isnan(errors)
    expected = score_observed(detector.score_model_, errors, observed)
    np.testing.assert_allclose(scores["score"], expected, rtol=1e-5)  # err_ columns are float32
    assert np.isfinite(scores["score"]).all()


def test_masked_scores_ignore_the_missing_errors_and_use_the_marginal_gaussian():
    rng = np.random.default_rng(0)
    errors = rng.gamma(2.0, 0.1, (500, 3)) + rng.normal(0, 0.01, (500, 1))
    model = fit_score_model("mahalanobis", errors)
    observed = np.ones((4, 3), bool)
    observed[1, 2] = observed[2, :2] = observed[3, :] = False
    rows = errors[:4].copy()
    a = score_observed(model, rows, observed)
    rows[~observed] = 1e6  # whatever the missing entries hold
    b = score_observed(model, rows, observed)
    np.testing.assert_array_equal(a, b)
    covariance = np.linalg.inv(model.inverse_covariance)
    centered = rows[1, :2] - model.center[:2]
    marginal = centered @ np.linalg.inv(covariance[:2, :2]) @ centered
    assert a[1] == pytest.approx(marginal, rel=1e-6)
    assert a[3] == 0.0
    np.testing.assert_allclose(a[0], model.score(rows[:1])[0])
    for method in ("mean", "normalized"):
        scored = score_observed(fit_score_model(method, errors), rows, observed)
        assert np.isfinite(scored).all()


def test_masked_loss_ignores_missing_entries():
    target = torch.randn(2, 5, 3)
    reconstruction = torch.randn(2, 5, 3, requires_grad=True)
    observed = torch.ones(2, 5, 3)
    observed[0, 1, 2] = 0.0
    loss = masked_mse(reconstruction, target, observed)
    loss.backward()
    assert reconstruction.grad[0, 1, 2] == 0.0
    other = target.clone()
    other[0, 1, 2] = 1e6
    assert masked_mse(reconstruction, other, observed).item() == pytest.approx(loss.item())
    full = masked_mse(reconstruction, target, torch.ones(2, 5, 3))
    assert full.item() == pytest.approx(masked_mse(reconstruction, target).item())


def test_all_nan_column_at_score_time_with_mask_scores_the_rest(tmp_path):
    detector = Detector(**FAST).fit([("x", make_frame(400))])
    scores = detector.score_frame(make_frame(100).assign(f2=np.nan))
    assert scores["err_f2"].isna().all() and np.isfinite(scores["score"]).all()


# ------------------------------------------------------------------------ drift guard
def test_out_of_range_column_and_one_warning(tiny_model, small_frame, tmp_path):
    frame = small_frame.copy()
    frame.loc[100:104, "f1"] += 50.0
    frame.loc[400, "f0"] -= 80.0
    data = tmp_path / "drift.csv"
    frame.to_csv(data, index=False)
    result = runner.invoke(app, ["score", str(tiny_model), str(data), "--chunk-rows", "64"])
    assert result.exit_code == 0, result.stderr
    scores = pd.read_csv(io.StringIO(result.stdout), keep_default_na=False)
    assert scores.columns[-1] == "out_of_range"
    flagged = scores.index[scores["out_of_range"] != ""].tolist()
    assert flagged == [100, 101, 102, 103, 104, 400]
    assert set(scores.loc[100:104, "out_of_range"]) == {"f1"}
    assert scores.loc[400, "out_of_range"] == "f0"
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "first at row 101: f1" in warnings[0], result.stderr
    assert "6 row(s)" in warnings[0]


def test_training_range_is_kept_in_the_bundle(tiny_model, small_frame):
    detector = Detector.load(tiny_model)
    low, high = detector.range_
    p = detector.params  # the range of what the saved network trained on: its fold's rows,
    (train_rows,) = time_blocked_folds([600], p.calibration_folds, p.val_fraction)[0].train[0]
    values = small_frame[["f0", "f1", "f2"]].to_numpy()  # less their drift level
    scaled = track_series(detector.scaler_.transform(values), p.drift_rate)[slice(*train_rows)]
    np.testing.assert_allclose(low, scaled.min(axis=0), rtol=1e-6)
    np.testing.assert_allclose(high, scaled.max(axis=0), rtol=1e-6)
    clean = detector.score_frame(small_frame)
    assert (clean["out_of_range"] == "").all()


# ------------------------------------------------------------- checkpoints and resume
def _banks(rows: int = 200):
    values = make_frame(rows)[["f0", "f1", "f2"]].to_numpy(np.float32)
    return (
        WindowBank.from_series([values[:160]], 8, 1),
        WindowBank.from_series([values[160:]], 8, 1),
    )


def test_resume_continues_exactly_where_training_stopped(tmp_path):
    train, val = _banks()
    config, settings = ModelConfig(3, 8), TrainSettings(epochs=3, batch_size=64, patience=9)
    whole = train_autoencoder(config, train, val, settings)
    checkpoint = Checkpointing(tmp_path / "m.ckpt.safetensors", every=1, check={"data": "x"})

    def interrupt(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_autoencoder(config, train, val, settings, interrupt, checkpoint=checkpoint)
    saved = load_file(checkpoint.path)
    assert any(k.startswith("optim.") for k in saved) and "rng.generator" in saved
    assert [p.name for p in tmp_path.iterdir()] == ["m.ckpt.safetensors"]  # no temp files
    checkpoint.resume = True
    resumed = train_autoencoder(config, train, val, settings, checkpoint=checkpoint)
    assert resumed.history == whole.history and resumed.best_epoch == whole.best_epoch
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_resume_refuses_other_data(tmp_path, small_csv):
    model = tmp_path / "m.safetensors"
    args = ["train", str(small_csv), "-o", str(model), *TINY, "--epochs", "1"]
    assert runner.invoke(app, [*args, "--checkpoint-every", "1"]).exit_code == 0
    assert not (tmp_path / "m.ckpt.safetensors").exists()  # removed once the model is written
    other = tmp_path / "other.csv"
    make_frame(300, seed=9).to_csv(other, index=False)
    checkpoint = Checkpointing(tmp_path / "m.ckpt.safetensors", every=1)
    same_options = Detector(seq_len=8, hidden=8, batch_size=64, epochs=1)
    same_options.fit([("a", pd.read_csv(small_csv))], checkpoint=checkpoint)
    assert checkpoint.path.exists()
    result = runner.invoke(app, ["train", str(other), "-o", str(model), *TINY, "--resume"])
    assert result.exit_code == 1
    assert "checkpoint was made with another data" in result.stderr


def test_ctrl_c_during_training_exits_130_and_resume_finishes(tmp_path):
    data = tmp_path / "train.csv"
    make_frame(120).to_csv(data, index=False)
    model, checkpoint = tmp_path / "m.safetensors", tmp_path / "m.ckpt.safetensors"
    command = [sys.executable, "-m", "lstmae_cli", "train", str(data), "-o", str(model)]
    options = [*TINY, "--epochs", "100000", "--patience", "100000", "--checkpoint-every", "1"]
    process = subprocess.Popen([*command, *options], stderr=subprocess.PIPE, text=True)
    began = time.monotonic()
    while not checkpoint.exists() and time.monotonic() - began < 120:
        time.sleep(0.05)
    assert checkpoint.exists(), "no checkpoint written"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("lstmae: interrupted; continue with --resume")
    assert "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ckpt.safetensors", "train.csv"]
    done = load_file(checkpoint)
    assert "rng.generator" in done
    resume = ["train", str(data), "-o", str(model), *TINY, "--epochs", "3", "--resume"]
    result = runner.invoke(app, resume)
    assert result.exit_code == 0, result.stderr
    detector = Detector.load(model)
    epochs = [record["epoch"] for record in detector.history_]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "train.csv"]


# ----------------------------------------------------------------------- determinism
def test_same_seed_same_model_and_scores_through_the_cli(tmp_path, small_csv):
    outputs = []
    for name in ("a", "b"):
        model = tmp_path / f"{name}.safetensors"
        args = ["train", str(small_csv), "-o", str(model), *TINY, "--epochs", "2", "--seed", "3"]
        assert runner.invoke(app, args).exit_code == 0
        scored = runner.invoke(app, ["score", str(model), str(small_csv), "-q"])
        outputs.append((load_file(model), scored.stdout))
    (weights_a, scores_a), (weights_b, scores_b) = outputs
    assert weights_a.keys() == weights_b.keys()
    for name in weights_a:
        assert torch.equal(weights_a[name], weights_b[name]), name
    assert scores_a == scores_b and len(scores_a.splitlines()) == 601
    other = tmp_path / "c.safetensors"
    args = ["train", str(small_csv), "-o", str(other), *TINY, "--epochs", "2", "--seed", "4"]
    assert runner.invoke(app, args).exit_code == 0
    assert not torch.equal(load_file(other)["model.head.weight"], weights_a["model.head.weight"])


def test_event_shares_stay_finite_with_masked_entries(tiny_model, small_frame, tmp_path):
    frame = small_frame.copy()
    frame.loc[100:110, "f1"] = np.nan
    data = tmp_path / "gaps.csv"
    frame.to_csv(data, index=False)
    args = ["score", str(tiny_model), str(data), "--level", "event", "--threshold", "0", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    events = pd.read_csv(io.StringIO(result.stdout))
    assert len(events) == 1 and "nan" not in events["top_features"].iloc[0]
    shares = [float(part.split(":")[1]) for part in events["top_features"].iloc[0].split(";")]
    assert sum(shares) == pytest.approx(1.0, abs=0.02)


def test_masked_scores_do_not_depend_on_where_chunks_split(tiny_model):
    detector = Detector.load(tiny_model)
    frame = with_gaps(make_frame(300, seed=5), seed=2)
    frame.loc[0:3, "f2"] = np.nan  # missing from the very first row
    whole = detector.score_frame(frame)
    chunks = [frame.iloc[i : i + 37] for i in range(0, len(frame), 37)]
    chunked = pd.concat(list(detector.stream_scores(chunks)), ignore_index=True)
    # fp32 network: a window batched with other windows can differ in its last bits
    np.testing.assert_allclose(whole["score"], chunked["score"], rtol=device_rtol(1e-6))
    np.testing.assert_array_equal(whole["err_f2"].isna(), chunked["err_f2"].isna())
