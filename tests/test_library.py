"""The library API for engines that partition data themselves, and device handling.

`Detector.load(path).score_frame(df)` gives the CLI's row output for a pandas frame; a
long-format frame scored in partitions (one series each, as Spark's mapInPandas or Dask's
map_partitions would hand them over) gives the same rows as one pass. CUDA tests run only
where a GPU is present.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from lstmae_cli import Detector
from lstmae_cli.cli.app import app
from lstmae_cli.errors import InputError, UsageError

from .helpers import FAST, device_rtol, make_frame

runner = CliRunner()
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def assert_same_frames(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Same columns in the same order, numbers equal to CSV precision (six significant
    digits for the scores), text equal."""
    assert list(left.columns) == list(right.columns)
    assert len(left) == len(right)
    for column in left.columns:
        a, b = left[column], right[column]
        if pd.api.types.is_bool_dtype(a) or pd.api.types.is_bool_dtype(b):
            assert (a.astype(bool).to_numpy() == b.astype(bool).to_numpy()).all(), column
        elif pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            np.testing.assert_allclose(
                a.to_numpy(float), b.to_numpy(float), rtol=device_rtol(1e-5), err_msg=column
            )
        else:
            assert (a.fillna("").astype(str) == b.fillna("").astype(str)).all(), column


def test_score_frame_has_the_cli_row_output(tmp_path, tiny_model, small_frame):
    frame = small_frame.assign(operator=np.where(np.arange(len(small_frame)) < 300, "ann", "bo"))
    frame.loc[200:204, "f2"] += 4.0  # flagged rows and an out_of_range entry
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    cli = runner.invoke(app, ["score", str(tiny_model), str(path), "--keep-columns", "operator"])
    assert cli.exit_code == 0, cli.output
    from_cli = pd.read_csv(io.StringIO(cli.stdout), keep_default_na=False, na_values=[""])
    from_library = Detector.load(tiny_model).score_frame(pd.read_csv(path), keep=["operator"])
    assert_same_frames(from_library, from_cli)
    assert from_library["is_anomaly"].iloc[200:205].any()


def _fleet(machines: int = 3) -> pd.DataFrame:
    parts = [make_frame(300, seed=s).assign(machine=f"m{s}") for s in range(machines)]
    return pd.concat(parts, ignore_index=True)[["machine", "timestamp", "f0", "f1", "f2"]]


SCALING_OUT = Path(__file__).resolve().parents[1] / "docs" / "scaling-out.md"


def docs_score_partitions(model: Path):
    """docs/scaling-out.md's mapInPandas function, run as written, with MODEL at `model`."""
    text = SCALING_OUT.read_text().split("## Scoring data that an engine", 1)[1]
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "scaling-out.md", "exec"), namespace)  # our own docs, not user data
    namespace["MODEL"] = str(model)
    return namespace["score_partitions"]


def test_partitioned_scoring_equals_one_pass(tiny_model):
    fleet = _fleet()
    whole = Detector.load(tiny_model).score_frame(fleet, id_column="machine")
    partitions = [part for _, part in fleet.groupby("machine", sort=False)]  # whole series
    score_partitions = docs_score_partitions(tiny_model)
    parts = pd.concat(score_partitions(iter(partitions)), ignore_index=True)
    key = ["machine", "row"]
    whole = whole.sort_values(key, ignore_index=True)
    assert_same_frames(parts.sort_values(key, ignore_index=True), whole)
    assert len(whole) == len(fleet)


def test_a_loaded_bundle_scores_where_it_is_asked(tiny_model):
    assert Detector.load(tiny_model).params.device == "auto"
    detector = Detector.load(tiny_model, device="cpu")
    assert detector.params.device == "cpu"
    assert all(p.device.type == "cpu" for p in detector.model_.parameters())


def test_load_takes_the_scoring_precision_and_a_threshold(tiny_model, small_frame):
    learned = Detector.load(tiny_model)
    assert learned.params.precision == "fp32"
    chosen = Detector.load(tiny_model, device="cpu", precision="bf16", threshold=1e9)
    assert chosen.params.precision == "bf16" and chosen.threshold_ == 1e9
    assert not chosen.score_frame(small_frame)["is_anomaly"].any()
    assert Detector.load(tiny_model).threshold_ == learned.threshold_  # the bundle unchanged
    weights = learned.score_model_.feature_weights  # what events and plots rank features by
    np.testing.assert_array_equal(weights, 1.0 / learned.score_model_.center)


def test_with_threshold_is_a_copy_that_leaves_the_detector_alone(tiny_model, small_frame):
    learned = Detector.load(tiny_model)
    assert learned.with_threshold(None) is learned
    strict = learned.with_threshold(1e9)
    assert strict.threshold_ == 1e9 and learned.threshold_ != 1e9
    assert strict.model_ is learned.model_  # the network is shared, not copied
    assert not strict.score_frame(small_frame)["is_anomaly"].any()
    everything = learned.with_threshold(-np.inf).score_frame(small_frame)
    assert everything["is_anomaly"].all()
    assert learned.score_frame(small_frame)["threshold"].eq(learned.threshold_).all()


def test_scaling_out_recipes_use_real_options():
    from torch.distributed.run import get_args_parser

    text = SCALING_OUT.read_text().replace("\\\n", " ")
    commands = re.findall(r"(?:lstmae|-m lstmae_cli) (train|score|export) ([^\n`|]*)", text)
    assert {c for c, _ in commands} >= {"train", "export"}
    for command, args in commands:
        help_text = runner.invoke(app, [command, "--help"]).output
        for option in re.findall(r"(?<!\S)(--[a-z-]+)", args):
            assert option in help_text, (command, option)
    known = get_args_parser()._option_string_actions
    for launch in re.findall(r"torchrun ([^\n]*?) -m lstmae_cli", text):
        for option in re.findall(r"(?<!\S)(--[a-z-]+)", launch):
            assert option in known, option


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
@pytest.mark.parametrize("command", ["train", "score"])
def test_device_cuda_without_a_gpu_is_a_usage_error(tmp_path, tiny_model, small_csv, command):
    if command == "train":
        args = ["train", str(small_csv), "-o", str(tmp_path / "m.safetensors"), "--epochs", "1"]
    else:
        args = ["score", str(tiny_model), str(small_csv)]
    result = runner.invoke(app, [*args, "--device", "cuda"])
    assert result.exit_code == 2
    assert "no CUDA device" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.safetensors").exists()


def test_mixed_precision_is_off_on_cpu():
    from lstmae_cli.nn.train import Amp

    amp = Amp(torch.device("cpu"))
    assert not amp.enabled and not amp.scaler.is_enabled()


# ------------------------------------------------------------------- CUDA only
@needs_cuda
def test_mixed_precision_on_cuda():
    from lstmae_cli.nn.train import Amp

    amp = Amp(torch.device("cuda"))
    assert amp.enabled
    assert amp.dtype == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)


@needs_cuda
def test_gpu_trained_bundle_scores_on_cpu_and_back(tmp_path, small_frame):
    path = tmp_path / "gpu.safetensors"
    Detector(**FAST, device="cuda").fit([("small", small_frame)]).save(path)
    on_cpu = Detector.load(path, device="cpu").score_frame(small_frame)
    on_gpu = Detector.load(path, device="cuda").score_frame(small_frame)
    np.testing.assert_allclose(on_gpu["score"], on_cpu["score"], rtol=1e-3, atol=1e-6)


@needs_cuda
def test_cpu_trained_bundle_scores_on_gpu(tiny_model, small_frame):
    on_cpu = Detector.load(tiny_model, device="cpu").score_frame(small_frame)
    on_gpu = Detector.load(tiny_model, device="cuda").score_frame(small_frame)
    np.testing.assert_allclose(on_gpu["score"], on_cpu["score"], rtol=1e-3, atol=1e-6)


@needs_cuda
def test_cli_train_on_cuda_score_on_cpu(tmp_path, small_csv):
    model = tmp_path / "m.safetensors"
    fast = ["--seq-len", "16", "--hidden", "16", "--epochs", "2"]
    trained = runner.invoke(
        app, ["train", str(small_csv), "-o", str(model), *fast, "--device", "cuda"]
    )
    assert trained.exit_code == 0, trained.output
    scored = runner.invoke(app, ["score", str(model), str(small_csv), "--device", "cpu"])
    assert scored.exit_code == 0, scored.output
    assert len(pd.read_csv(io.StringIO(scored.stdout))) == 600


# ---------------------------------------------------------------- Detector.score / refit
def _labelled_fleet() -> pd.DataFrame:
    """Two machines (ids 10 and 2, so that text and number order differ) with level shifts,
    marked in an `anomaly` column."""
    one, two = make_frame(seed=0), make_frame(seed=3)
    one.loc[200:204, "f2"] += 4.0
    one.loc[400:420, "f1"] += 1.5
    two.loc[300:309, "f0"] += 3.0
    fleet = pd.concat([one.assign(machine=10), two.assign(machine=2)], ignore_index=True)
    marked = np.zeros(len(fleet), dtype=int)
    marked[[*range(200, 205), *range(400, 421), *range(900, 910)]] = 1
    return fleet.assign(anomaly=marked)


@pytest.fixture(scope="module")
def fleet_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fleet") / "fleet.csv"
    _labelled_fleet().to_csv(path, index=False)
    return path


def _summary(stderr: str) -> tuple[int, int, int]:
    found = re.search(r"scored (\d+) rows: (\d+) anomalous rows, (\d+) events", stderr)
    assert found, stderr
    return tuple(int(n) for n in found.groups())


@pytest.mark.parametrize("level", ["row", "window", "event"])
def test_score_run_is_the_cli_output_and_its_summary(tiny_model, fleet_csv, level):
    from lstmae_cli.scoring.alerts import AlertRules

    options = ["--level", level, "--id-column", "machine", "--merge-gap", "3", "--min-rows", "2"]
    cli = runner.invoke(app, ["score", str(tiny_model), str(fleet_csv), *options])
    assert cli.exit_code == 0, cli.output
    from_cli = pd.read_csv(io.StringIO(cli.stdout), keep_default_na=False, na_values=[""])
    run = Detector.load(tiny_model).score(
        pd.read_csv(fleet_csv), level, AlertRules(3, 2), id_column="machine"
    )
    assert_same_frames(run.frame(), from_cli)
    tally = run.tally
    assert (tally.rows, tally.anomalies, tally.events) == _summary(cli.stderr)
    assert tally.anomalies and tally.events >= 2
    assert run.id_column == "machine" and run.time_column == "timestamp"


@pytest.mark.filterwarnings("ignore:.*far outside anything seen in training")
def test_score_run_keeps_the_events_it_counts(tiny_model):
    fleet = _labelled_fleet()
    detector = Detector.load(tiny_model)
    events = detector.score(fleet, "event", id_column="machine").frame()
    rows = detector.score(fleet, id_column="machine", keep_events=True)
    assert len(rows.frame()) == len(fleet)
    assert_same_frames(pd.DataFrame(rows.events), events)
    assert rows.tally.events == len(events) >= 2
    assert detector.score(fleet, id_column="machine").events is None  # not kept unasked


def test_score_run_in_chunks_with_only_anomalies_and_p_values(tiny_model, fleet_csv):
    cli = runner.invoke(
        app,
        ["score", str(tiny_model), str(fleet_csv), "--id-column", "machine", "--p-values",
         "--only-anomalies", "--keep-columns", "anomaly"],
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output
    from_cli = pd.read_csv(io.StringIO(cli.stdout), keep_default_na=False, na_values=[""])
    chunks = pd.read_csv(fleet_csv, chunksize=97)
    run = Detector.load(tiny_model).score(
        chunks, id_column="machine", keep=["anomaly"], p_values=True, only_anomalies=True
    )
    frame = run.frame()
    assert_same_frames(frame, from_cli)
    assert len(frame) and frame["is_anomaly"].all() and frame["p_value"].between(0, 1).all()
    assert run.tally.rows == len(_labelled_fleet())  # counted before the flagged are picked


def test_score_refuses_p_values_it_cannot_give(tiny_model, small_frame):
    from lstmae_cli.errors import LstmaeError

    detector = Detector.load(tiny_model)
    with pytest.raises(UsageError, match="level must be one of row, window, event"):
        detector.score(small_frame, "rows")
    with pytest.raises(UsageError, match="p_values is for level 'row'"):
        detector.score(small_frame, "event", p_values=True)
    detector.val_scores_ = np.empty(0)  # a model without held-out normal scores
    with pytest.raises(LstmaeError, match="no held-out normal scores"):
        detector.score(small_frame, p_values=True)


def test_an_unfitted_detector_says_so(tmp_path, small_frame):
    detector = Detector(**FAST)
    uses = [
        lambda: detector.score_frame(small_frame),
        lambda: detector.refit_threshold([("normal", small_frame)]),
        lambda: detector.save(tmp_path / "model.safetensors"),
    ]
    for use in uses:
        with pytest.raises(UsageError, match="not fitted: call fit"):
            use()
    assert not (tmp_path / "model.safetensors").exists()


def test_alert_rules_resolve_to_the_model_defaults_and_check():
    from lstmae_cli.scoring.alerts import AlertRules

    assert AlertRules().resolve(32, 3) == (32, 4)
    assert AlertRules(0, 1).resolve(32, 3) == (0, 1)
    assert AlertRules(None, 5).resolve(16, None) == (16, 5)
    for bad in (AlertRules(-1, None), AlertRules(None, 0)):
        with pytest.raises(UsageError, match="merge_gap must be at least 0"):
            bad.check()


@pytest.mark.parametrize(
    "method", [["--method", "quantile"], ["--method", "fpr", "--alpha", "0.01"],
               ["--method", "manual", "--value", "3"]],
)  # fmt: skip
def test_refit_threshold_is_what_the_threshold_command_writes(tmp_path, tiny_model, method):
    import shutil

    normal = tmp_path / "normal.csv"
    make_frame(seed=5).to_csv(normal, index=False)
    by_cli, by_library = tmp_path / "cli.safetensors", tmp_path / "library.safetensors"
    shutil.copy(tiny_model, by_cli)
    cli = runner.invoke(app, ["threshold", str(by_cli), str(normal), *method])
    assert cli.exit_code == 0, cli.output
    detector = Detector.load(tiny_model)
    params = {"alpha": 0.01} if "fpr" in method else {"value": 3.0} if "manual" in method else {}
    refit = detector.refit_threshold([("normal.csv", pd.read_csv(normal))], method[1], **params)
    detector.save(by_library)
    new_line = next(line for line in cli.stdout.splitlines() if line.startswith("new"))
    assert f"new threshold: {refit.value:.6g}  flags" in new_line
    assert refit.old == Detector.load(tiny_model).threshold_ and refit.old_method == "quantile"
    assert refit.scores.shape == (600,) and refit.labels is None
    a, b = Detector.load(by_cli), Detector.load(by_library)
    assert a.threshold_ == b.threshold_ == refit.value
    assert a.threshold_method_ == b.threshold_method_ == method[1]
    np.testing.assert_array_equal(a.val_scores_, b.val_scores_)
    if method[1] == "manual":  # no calibration set from a hand-set threshold
        assert refit.calibration_rows is None and "calibration" not in cli.stdout
    else:
        assert refit.calibration_rows == b.val_scores_.size == 600


def test_refit_threshold_with_labels(tiny_model, fleet_csv):
    detector = Detector.load(tiny_model)
    fleet = pd.read_csv(fleet_csv)
    cli = runner.invoke(
        app,
        ["threshold", str(tiny_model), str(fleet_csv), "--method", "fbeta", "--label-column",
         "anomaly", "--id-column", "machine", "--dry-run"],
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output
    before = detector.val_scores_.copy()
    refit = detector.refit_threshold([("fleet.csv", fleet)], "fbeta", "anomaly", "machine")
    assert f"new threshold: {refit.value:.6g}  flags" in cli.stdout
    assert refit.labels is not None and refit.labels.sum() == fleet["anomaly"].sum()
    assert refit.calibration_rows is None
    np.testing.assert_array_equal(detector.val_scores_, before)  # labelled data: not normal
    with pytest.raises(InputError, match="anomaly"):
        detector.refit_threshold([("x", fleet.drop(columns="anomaly"))], "fbeta", "anomaly")


def test_a_channel_far_from_zero_keeps_its_variation(small_frame):
    """Values stay float64 until scaled: a channel of 12,345,678.9 +- 1 trains and scores
    as the same channel near zero (as float32 it would be rounded to whole numbers)."""
    far = small_frame.assign(f0=small_frame["f0"] + 12_345_678.9)
    near_scores, far_scores = (
        Detector(**FAST).fit([("x", frame)]).score_frame(frame)["score"]
        for frame in (small_frame, far)
    )
    np.testing.assert_allclose(far_scores, near_scores, rtol=1e-3)
