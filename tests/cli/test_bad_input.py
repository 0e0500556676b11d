"""The bad-input catalogue, driven through the CLI.

Every error case: the exact exit code (1, or 2 for usage), exactly one line on stderr that
says what is wrong and where, no traceback, and no file left behind in the output folder
(neither the output nor a temp file). Accepted oddities (BOM, delimiters, unsorted times,
inf, constant columns, reordered columns) give the same scores as the clean file.
Cases already covered elsewhere (tests/cli/test_cli.py: missing feature named, reordered and
extra columns, CSV as model, --level bogus; tests/test_bundle.py: pickle / truncated /
newer bundles in the library) are not repeated here.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from lstmae_cli.cli.app import app

from ..helpers import make_frame, write_pickle_bomb

runner = CliRunner()
TRAIN = ["--seq-len", "16", "--hidden", "8", "--epochs", "1", "--batch-size", "64", "-q"]


def invoke(*args, input: str | bytes | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def fails(args: list, code: int, *needles: str, folder: Path | None = None, input=None) -> str:
    """Run the CLI; assert the error contract; return the one stderr line."""
    before = sorted(folder.iterdir()) if folder else None
    result = invoke(*args, input=input)
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lstmae: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.output
    if folder is not None:
        assert sorted(folder.iterdir()) == before, "something was left behind"
    return lines[0]


def scores_of(result) -> pd.DataFrame:
    assert result.exit_code == 0, result.stderr
    return pd.read_csv(io.StringIO(result.stdout))


@pytest.fixture
def out(tmp_path) -> Path:
    """An empty output folder; the model path inside it must not appear on failure."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


# ------------------------------------------------------------------ training data
def test_empty_file(tmp_path, out):
    data = write(tmp_path, "empty.csv", "")
    fails(["train", data, "-o", out / "m.safetensors", *TRAIN], 1, "empty.csv", "empty", folder=out)


def test_whitespace_only_file(tmp_path, out):
    data = write(tmp_path, "blank.csv", "\n\n   \n")
    fails(["train", data, "-o", out / "m.safetensors", *TRAIN], 1, "empty", folder=out)


def test_header_only(tmp_path, out):
    data = write(tmp_path, "header.csv", "timestamp,f0,f1,f2\n")
    fails(["train", data, "-o", out / "m.safetensors", *TRAIN], 1, "header.csv", "no data rows")


def test_fewer_rows_than_seq_len(tmp_path, out, small_frame):
    data = tmp_path / "short.csv"
    small_frame.head(10).to_csv(data, index=False)
    line = fails(["train", data, "-o", out / "m.safetensors", *TRAIN], 1, "fewer than --seq-len")
    assert "short.csv" in line


def test_text_in_a_numeric_column_names_column_and_row(tmp_path, out, small_frame):
    frame = small_frame.astype({"f1": object})
    frame.loc[5, "f1"] = "n/a?"
    data = tmp_path / "text.csv"
    frame.to_csv(data, index=False)
    fails(
        ["train", data, "-o", out / "m.safetensors", *TRAIN],
        1,
        "text.csv",
        "column 'f1', row 6: 'n/a?' is not a number",
        folder=out,
    )


def test_text_in_a_numeric_column_at_score_time(tiny_model, tmp_path, small_frame):
    frame = small_frame.astype({"f2": object})
    frame.loc[450, "f2"] = "12,5"
    data = tmp_path / "text.csv"
    frame.to_csv(data, index=False)
    fails(["score", tiny_model, data, "--chunk-rows", "100"], 1, "column 'f2', row 451")


def test_all_nan_column(tmp_path, out, small_frame):
    """Left out of the default features with a warning; named with --columns, an error."""
    data = tmp_path / "nan.csv"
    small_frame.assign(f1=np.nan).to_csv(data, index=False)
    chosen = ["--columns", "f0,f1"]
    fails(["train", data, "-o", out / "m.safetensors", *chosen, *TRAIN], 1, "column 'f1' has no")
    trained = invoke("train", data, "-o", out / "m.safetensors", *TRAIN[:-1])
    assert trained.exit_code == 0, trained.output
    assert "f1 has no values and is not used as a feature" in trained.stderr
    assert "2 features" in trained.stderr


def test_only_text_columns(tmp_path, out):
    data = write(tmp_path, "words.csv", "a,b\n" + "x,y\n" * 40)
    fails(["train", data, "-o", out / "m.safetensors", *TRAIN], 1, "no numeric feature columns")


def test_unknown_column_asked_for(tmp_path, out, small_csv):
    args = ["train", small_csv, "-o", out / "m.safetensors", "--columns", "f0,zz", *TRAIN]
    fails(args, 1, "missing column(s) zz", "file has: timestamp, f0", folder=out)


def test_duplicate_column_names(tmp_path, out, small_frame):
    text = small_frame.to_csv(index=False).replace("f2", "f0", 1)
    data = write(tmp_path, "dup.csv", text)
    fails(["train", data, "-o", out / "m.safetensors", *TRAIN], 1, "duplicate column name(s) 'f0'")


def test_column_named_like_a_pandas_duplicate_is_fine(tmp_path):
    from lstmae_cli.io.reading import read_frame

    data = write(tmp_path, "x.csv", "x,x.1\n1,2\n")
    assert list(read_frame(data).columns) == ["x", "x.1"]


def test_binary_garbage(tmp_path, out):
    data = write(tmp_path, "garbage.csv", bytes(range(256)) * 20)
    fails(["train", data, "-o", out / "m.safetensors", *TRAIN], 1, "binary data", folder=out)


def test_non_utf8_bytes_name_the_line(tmp_path, out, small_frame):
    text = small_frame.head(50).to_csv(index=False).encode()
    lines = text.split(b"\n")
    lines[3] = lines[3].replace(b",", b",caf\x81", 1)  # no UTF-8, nor Windows-1252
    data = write(tmp_path, "broken.csv", b"\n".join(lines))
    fails(["train", data, "-o", out / "m.safetensors", *TRAIN], 1, "line 4", "0x81", "UTF-8")


def test_a_windows_1252_export_is_read_with_a_warning(tmp_path, out, small_frame):
    frame = small_frame.rename(columns={"f0": "Temp °C", "f1": "Druck (mbar)"})
    data = tmp_path / "export.csv"
    data.write_bytes(frame.to_csv(index=False, sep=";", decimal=",").encode("cp1252"))
    trained = invoke("train", data, "-o", out / "m.safetensors", *TRAIN[:-1])
    assert trained.exit_code == 0, trained.output
    assert "not UTF-8 text; read as Windows-1252" in trained.stderr
    scored = invoke("score", out / "m.safetensors", data, "-q")
    assert scored.exit_code == 0, scored.output
    assert scored.stdout.splitlines()[0].split(",")[5:7] == ["err_Temp °C", "err_Druck (mbar)"]


def test_data_file_missing(tmp_path, out):
    fails(
        ["train", tmp_path / "nope.csv", "-o", out / "m.safetensors"], 1, "nope.csv: no such file"
    )


def test_data_is_a_directory(tmp_path, out):
    fails(["train", tmp_path, "-o", out / "m.safetensors"], 1, "is a directory", folder=out)


def test_empty_stdin(tiny_model):
    fails(["score", tiny_model, "-"], 1, "<stdin>: file is empty", input="")


def test_constant_column_trains_and_scores(tmp_path, out):
    frame = make_frame(200).assign(f1=3.0)
    data = tmp_path / "const.csv"
    frame.to_csv(data, index=False)
    model = out / "m.safetensors"
    assert invoke("train", data, "-o", model, *TRAIN).exit_code == 0
    scores = scores_of(invoke("score", model, data, "-q"))
    assert len(scores) == 200 and np.isfinite(scores["score"]).all()


# ------------------------------------------------------ accepted: same scores as clean
@pytest.fixture(scope="module")
def clean_scores(tiny_model, small_csv) -> pd.DataFrame:
    return scores_of(invoke("score", tiny_model, small_csv, "-q"))


def test_utf8_bom_gives_the_same_scores(tiny_model, small_frame, tmp_path, clean_scores):
    data = write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + small_frame.to_csv(index=False).encode())
    scores = scores_of(invoke("score", tiny_model, data, "-q"))
    assert list(scores.columns[:2]) == ["timestamp", "row"]
    np.testing.assert_array_equal(scores["score"], clean_scores["score"])


@pytest.mark.parametrize("sep", [";", "\t"])
def test_other_delimiters_give_the_same_scores(
    tiny_model, small_frame, tmp_path, sep, clean_scores
):
    data = tmp_path / "sep.csv"
    small_frame.to_csv(data, index=False, sep=sep)
    scores = scores_of(invoke("score", tiny_model, data, "-q"))
    np.testing.assert_array_equal(scores["score"], clean_scores["score"])


def test_unsorted_times_are_sorted_with_a_warning(tiny_model, small_frame, tmp_path, clean_scores):
    data = tmp_path / "shuffled.csv"
    small_frame.sample(frac=1.0, random_state=3).to_csv(data, index=False)
    result = invoke("score", tiny_model, data)  # not -q: that silences warnings too
    scores = scores_of(result)
    assert scores["timestamp"].tolist() == small_frame["timestamp"].tolist()
    np.testing.assert_allclose(scores["score"], clean_scores["score"], rtol=1e-6)
    assert result.stderr.strip().splitlines()[:-1] == [
        "lstmae: warning: rows are not in time order: sorted by 'timestamp'"
    ]
    assert invoke("score", tiny_model, data, "-q").stderr == ""


def test_duplicate_times_keep_file_order_with_a_warning(tiny_model, small_frame, tmp_path):
    frame = small_frame.copy()
    frame.loc[10, "timestamp"] = frame.loc[9, "timestamp"]
    data = tmp_path / "dup_times.csv"
    frame.to_csv(data, index=False)
    result = invoke("score", tiny_model, data)  # not -q: that silences warnings too
    scores = scores_of(result)
    assert scores["timestamp"].tolist() == frame["timestamp"].tolist()
    assert "1 duplicate time(s) in 'timestamp' (first at row 11)" in result.stderr


def test_inf_values_are_missing_values(tiny_model, small_frame, tmp_path):
    frame = small_frame.copy()
    frame.loc[5, "f1"], frame.loc[7, "f0"] = np.inf, -np.inf
    data = tmp_path / "inf.csv"
    frame.to_csv(data, index=False)
    scores = scores_of(invoke("score", tiny_model, data, "-q"))
    assert np.isfinite(scores["score"]).all()
    assert np.isnan(scores.loc[5, "err_f1"]) and np.isnan(scores.loc[7, "err_f0"])
    assert np.isfinite(scores.loc[5, "err_f0"])


def test_inf_values_with_missing_error(tmp_path, out, small_frame):
    frame = small_frame.copy()
    frame.loc[5, "f1"] = np.inf
    data = tmp_path / "inf.csv"
    frame.to_csv(data, index=False)
    args = ["train", data, "-o", out / "m.safetensors", "--missing", "error", *TRAIN]
    fails(args, 1, "column 'f1', row 6: missing or non-finite value", folder=out)


# ---------------------------------------------------------------------- model files
def test_empty_model_file(tmp_path, small_csv):
    model = write(tmp_path, "m.safetensors", b"")
    fails(["score", model, small_csv], 1, "m.safetensors: not an lstmae model file")


def test_random_bytes_model(tmp_path, small_csv):
    model = write(tmp_path, "m.safetensors", os.urandom(4096))
    fails(["score", model, small_csv], 1, "not an lstmae model file")


def test_safetensors_without_metadata(tmp_path, small_csv):
    from safetensors.torch import save_file

    model = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(3)}, model)
    fails(["score", model, small_csv], 1, "not an lstmae model (no metadata)")


def test_truncated_model_through_the_cli(tmp_path, tiny_model, small_csv):
    model = write(tmp_path, "cut.safetensors", tiny_model.read_bytes()[:-100])
    fails(["score", model, small_csv], 1, "cut.safetensors: not an lstmae model file")


def test_newer_format_version_through_the_cli(tmp_path, tiny_model, small_csv):
    from safetensors.torch import load_file, save_file

    model = tmp_path / "future.safetensors"
    meta = {"format": "lstmae-bundle", "format_version": 99}
    save_file(load_file(tiny_model), model, metadata={"lstmae": json.dumps(meta)})
    fails(["score", model, small_csv], 1, "format version 99 is newer", "upgrade lstmae")


def _rewrite_meta(source: Path, target: Path, change) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(source), framework="pt") as handle:
        meta = json.loads(handle.metadata()["lstmae"])
    change(meta)
    save_file(load_file(source), target, metadata={"lstmae": json.dumps(meta)})
    return target


def test_metadata_that_does_not_match_the_tensors(tmp_path, tiny_model, small_csv):
    def bigger(meta):
        meta["model"]["hidden"] = 32

    model = _rewrite_meta(tiny_model, tmp_path / "odd.safetensors", bigger)
    fails(["score", model, small_csv], 1, "odd.safetensors: model metadata does not match")


def test_metadata_with_fewer_features_than_tensors(tmp_path, tiny_model, small_csv):
    def fewer(meta):
        meta["columns"]["features"] = ["f0", "f1"]
        meta["model"]["n_features"] = 2

    model = _rewrite_meta(tiny_model, tmp_path / "odd.safetensors", fewer)
    fails(["score", model, small_csv], 1, "does not match its tensors")


def test_model_file_missing(tmp_path, small_csv):
    fails(["score", tmp_path / "gone.safetensors", small_csv], 1, "gone.safetensors: no such model")


@pytest.mark.parametrize("maker", ["pickle", "torch.save"])
def test_pickle_posing_as_model_is_never_unpickled(tmp_path, small_csv, maker):
    marker = tmp_path / "pwned"
    model = write_pickle_bomb(tmp_path / "evil.safetensors", marker, maker)
    for command in (["score", model, small_csv], ["inspect", model]):
        fails(command, 1, "evil.safetensors: not an lstmae model file")
    assert not marker.exists()


def test_checkpoint_is_not_a_model(tmp_path, small_csv):
    from lstmae_cli.nn.checkpoint import Checkpointing, save_checkpoint
    from lstmae_cli.nn.model import LSTMAutoencoder, ModelConfig
    from lstmae_cli.nn.train import TrainState

    model = LSTMAutoencoder(ModelConfig(3, 8))
    state = TrainState(model, torch.optim.Adam(model.parameters()), torch.Generator())
    path = tmp_path / "m.ckpt.safetensors"
    save_checkpoint(Checkpointing(path, 1), state)
    fails(["score", path, small_csv], 1, "a training checkpoint, not a model")


# --------------------------------------------------------------------------- output
def test_output_into_a_missing_folder(tiny_model, small_csv, tmp_path):
    target = tmp_path / "no" / "such" / "scores.csv"
    fails(["score", tiny_model, small_csv, "-o", target], 1, "folder", "does not exist")
    assert not (tmp_path / "no").exists()


def test_output_onto_a_directory(tiny_model, small_csv, out):
    fails(["score", tiny_model, small_csv, "-o", out], 1, "is a directory", folder=out)


def test_train_output_onto_a_directory_fails_before_training(small_csv, out):
    fails(["train", small_csv, "-o", out, *TRAIN], 1, "is a directory", folder=out)


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
def test_output_where_nothing_can_be_written(tiny_model, small_csv):
    fails(["score", tiny_model, small_csv, "-o", "/proc/scores.csv"], 1, "cannot write here")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_output_into_a_read_only_folder(tiny_model, small_csv, out):
    out.chmod(0o500)
    try:
        fails(["score", tiny_model, small_csv, "-o", out / "s.csv"], 1, "cannot write", folder=out)
    finally:
        out.chmod(0o700)


def test_error_mid_stream_leaves_no_output(tiny_model, small_frame, tmp_path, out):
    frame = small_frame.astype({"f0": object})
    frame.loc[550, "f0"] = "broken"
    data = tmp_path / "late.csv"
    frame.to_csv(data, index=False)
    args = ["score", tiny_model, data, "-o", out / "s.csv", "--chunk-rows", "100"]
    fails(args, 1, "row 551", folder=out)


def test_failed_threshold_refit_leaves_the_model_as_it_was(tiny_model, tmp_path):
    model = write(tmp_path, "m.safetensors", tiny_model.read_bytes())
    data = write(tmp_path, "bad.csv", "timestamp,f0,f1\n2026-01-01,1,2\n")
    fails(["threshold", model, data], 1, "missing column(s) f2")
    assert model.read_bytes() == tiny_model.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "m.safetensors"]


# -------------------------------------------------------------- zero / negative options
@pytest.mark.parametrize(
    "option, message",
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--seq-len", "1"], "--seq-len must be at least 2"),
        (["--batch-size=-5"], "--batch-size must be at least 1"),
        (["--hidden", "0"], "--hidden must be at least 1"),
        (["--lr=-0.1"], "--lr must be positive"),
        (["--val-fraction", "1"], "--val-fraction must be in [0, 1)"),
        (["--patience", "0"], "--patience must be at least 1"),
        (["--max-windows-per-epoch", "0"], "--max-windows-per-epoch must be at least 1"),
        (["--checkpoint-every=-1"], "--checkpoint-every must be at least 0"),
        (["--q", "1.5"], "--q must be between 0 and 1"),
        (["--epochs", "many"], "Invalid value for '--epochs'"),
    ],
)
def test_bad_train_options_are_usage_errors(small_csv, out, option, message):
    args = ["train", small_csv, "-o", out / "m.safetensors", "-q", *option]
    fails(args, 2, message, folder=out)


@pytest.mark.parametrize(
    "option, message",
    [
        (["--chunk-rows", "0"], "--chunk-rows"),
        (["--min-rows", "0"], "--min-rows"),
        (["--merge-gap=-1"], "--merge-gap"),
    ],
)
def test_bad_score_options_are_usage_errors(tiny_model, small_csv, out, option, message):
    fails(["score", tiny_model, small_csv, "-o", out / "s.csv", *option], 2, message, folder=out)


@pytest.mark.parametrize("command", ["plot", "report"])
@pytest.mark.parametrize("option", [["--min-rows", "0"], ["--merge-gap=-1"]])
def test_bad_alert_rules_are_usage_errors_in_views(tiny_model, small_csv, out, command, option):
    suffix = ".png" if command == "plot" else ".html"
    args = [command, tiny_model, small_csv, "-o", out / f"v{suffix}", *option]
    fails(args, 2, option[0].split("=")[0], folder=out)


def test_resume_without_a_checkpoint(small_csv, out):
    args = ["train", small_csv, "-o", out / "m.safetensors", "--resume", *TRAIN]
    fails(args, 1, "no checkpoint to resume from", folder=out)


# ---------------------------------------------------- real processes: stderr as a user sees it
def lstmae(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "lstmae_cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def test_real_process_errors_are_one_line_without_traceback(tmp_path, tiny_model, small_csv):
    marker = tmp_path / "pwned"
    evil = write_pickle_bomb(tmp_path / "evil.safetensors", marker)
    garbage = write(tmp_path, "garbage.csv", bytes(range(256)) * 4)
    cases = [
        (["score", evil, small_csv], 1, "not an lstmae model file"),
        (["score", tiny_model, garbage], 1, "binary data"),
        (["score", tiny_model, small_csv, "-o", tmp_path / "no/dir/s.csv"], 1, "does not exist"),
        (["train", small_csv, "-o", tmp_path / "m.safetensors", "--epochs", "0"], 2, "--epochs"),
        (["score", tiny_model, small_csv, "--level", "bogus"], 2, "'bogus'"),
    ]
    for args, code, message in cases:
        result = lstmae(*args)
        assert result.returncode == code, (args, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.safetensors", "garbage.csv"]


def test_debug_shows_the_traceback(tmp_path, tiny_model):
    result = lstmae("--debug", "score", tiny_model, tmp_path / "nope.csv")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "InputError" in result.stderr
