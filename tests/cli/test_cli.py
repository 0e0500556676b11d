"""Every command through Typer's runner, plus real subprocess pipelines and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lstmae_cli.cli.app import app

runner = CliRunner()
FAST_ARGS = ["--seq-len", "16", "--hidden", "16", "--epochs", "3", "--batch-size", "64"]


def run(*args: str, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def test_help_lists_commands():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("train", "score", "threshold", "evaluate", "inspect"):
        assert command in result.output


def test_train_writes_a_bundle(tmp_path, small_csv):
    model = tmp_path / "m.safetensors"
    result = run("train", small_csv, "-o", model, *FAST_ARGS, "--quiet")
    assert result.exit_code == 0, result.output
    assert model.is_file()
    info = json.loads(run("inspect", model, "--format", "json").stdout)
    assert info["params"]["seq_len"] == 16
    assert info["columns"]["time"] == "timestamp"
    assert len(info["history"]) >= 1


def test_arch_seed_is_still_accepted_as_direct(tmp_path, small_csv):
    model = tmp_path / "m.safetensors"
    tiny = ["--seq-len", "8", "--hidden", "8", "--epochs", "1", "--quiet"]
    result = run("train", small_csv, "-o", model, "--arch", "seed", *tiny)
    assert result.exit_code == 0, result.output
    info = json.loads(run("inspect", model, "--format", "json").stdout)
    assert info["params"]["arch"] == info["model"]["arch"] == "direct"
    assert "<direct|linear>" in run("train", "--help").stdout  # the old name is not offered


def test_train_summary_names_rows_series_and_features(tmp_path, small_csv, small_frame):
    result = run("train", small_csv, "-o", tmp_path / "m.safetensors", *FAST_ARGS)
    assert result.exit_code == 0, result.output
    summary = result.stderr.strip().splitlines()[-1]
    expected = f"lstmae: trained on {len(small_frame)} rows in 1 series, 3 features ("
    assert summary.startswith(expected)
    assert summary.endswith("m.safetensors")


def test_score_rows_has_one_row_per_input_row(tiny_model, small_csv, small_frame):
    result = run("score", tiny_model, small_csv, "--quiet")
    assert result.exit_code == 0, result.output
    out = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert len(out) == len(small_frame)
    assert list(out.columns[:2]) == ["timestamp", "row"]
    assert {"score", "threshold", "is_anomaly", "err_f0", "err_f1", "err_f2"} <= set(out.columns)
    assert out["timestamp"].tolist() == small_frame["timestamp"].tolist()


def test_score_from_stdin(tiny_model, small_frame):
    result = run("score", tiny_model, "-", "--quiet", input=small_frame.to_csv(index=False))
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(pd.io.common.StringIO(result.stdout))) == len(small_frame)


def test_window_and_event_levels(tiny_model, small_csv):
    windows = run("score", tiny_model, small_csv, "--level", "window", "--quiet")
    assert windows.exit_code == 0, windows.output
    frame = pd.read_csv(pd.io.common.StringIO(windows.stdout))
    assert list(frame.columns[:2]) == ["start", "end"] and len(frame) == 600 // 16 + 1
    events = run("score", tiny_model, small_csv, "--level", "event", "--threshold", "0")
    assert events.exit_code == 0, events.output
    frame = pd.read_csv(pd.io.common.StringIO(events.stdout))
    assert len(frame) == 1 and frame["rows"].iloc[0] == 600  # everything flagged: one event
    assert frame["top_feature"].iloc[0] in {"f0", "f1", "f2"}


def test_fail_on_anomaly_exit_code(tiny_model, small_csv):
    flagged = run("score", tiny_model, small_csv, "--threshold", "0", "--fail-on-anomaly", "-q")
    assert flagged.exit_code == 3
    clean = run("score", tiny_model, small_csv, "--threshold", "1e9", "--fail-on-anomaly", "-q")
    assert clean.exit_code == 0


def test_threshold_refit_prints_old_and_new(tmp_path, tiny_model, small_csv):
    model = tmp_path / "copy.safetensors"
    model.write_bytes(tiny_model.read_bytes())
    result = run("threshold", model, small_csv, "--method", "quantile", "--q", "0.5")
    assert result.exit_code == 0, result.output
    assert "old threshold" in result.output and "new threshold" in result.output
    info = json.loads(run("inspect", model, "--format", "json").stdout)
    assert info["threshold"]["params"] == {"q": 0.5}
    before = json.loads(run("inspect", tiny_model, "--format", "json").stdout)
    assert info["threshold"]["value"] < before["threshold"]["value"]


def test_threshold_keeps_the_weights(tmp_path, tiny_model, small_csv):
    from safetensors.torch import load_file

    model = tmp_path / "copy.safetensors"
    model.write_bytes(tiny_model.read_bytes())
    assert run("threshold", model, small_csv, "--method", "mad", "--k", "3").exit_code == 0
    old, new = load_file(tiny_model), load_file(model)
    for name in old:
        if name.startswith("model."):
            assert (old[name] == new[name]).all()


def test_evaluate_reports_baselines(tiny_model, small_frame, tmp_path):
    labelled = small_frame.assign(label=0)
    labelled.loc[100:120, "label"] = 1
    labelled.loc[100:120, "f1"] += 3
    path = tmp_path / "labelled.csv"
    labelled.to_csv(path, index=False)
    result = run("evaluate", tiny_model, path, "--label-column", "label", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"lstmae", "flag_all", "flag_none"}
    assert report["flag_all"]["recall"] == 1.0
    assert report["lstmae"]["event_recall"] == 1.0


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["score", "MODEL", "missing.csv"], 1, "no such file"),
        (["score", "nope.safetensors", "DATA"], 1, "no such model file"),
        (["score", "DATA", "DATA"], 2, "looks like a CSV data file, not a model"),
        (["train", "DATA", "-o", "x.safetensors", "--seq-len", "0"], 2, "--seq-len"),
        (["train", "DATA", "-o", "no/such/dir/m.safetensors"], 1, "does not exist"),
        (["score", "MODEL", "DATA", "--level", "bogus"], 2, "bogus"),
    ],
)
def test_errors_are_one_line_with_exit_code(tiny_model, small_csv, args, code, message):
    args = [str(tiny_model) if a == "MODEL" else str(small_csv) if a == "DATA" else a for a in args]
    result = run(*args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_feature_at_score_time_is_named(tiny_model, small_frame, tmp_path):
    path = tmp_path / "partial.csv"
    small_frame.drop(columns=["f1"]).to_csv(path, index=False)
    result = run("score", tiny_model, path)
    assert result.exit_code == 1
    assert "missing column(s) f1" in result.output


def test_columns_matched_by_name_not_position(tiny_model, small_frame, tmp_path):
    path = tmp_path / "reordered.csv"
    small_frame[["f2", "timestamp", "f0", "f1"]].assign(extra=1.0).to_csv(path, index=False)
    reordered = run("score", tiny_model, path, "-q")
    original = run("score", tiny_model, "-", "-q", input=small_frame.to_csv(index=False))
    a = pd.read_csv(pd.io.common.StringIO(reordered.stdout))
    b = pd.read_csv(pd.io.common.StringIO(original.stdout))
    pd.testing.assert_series_equal(a["score"], b["score"])


def lstmae(*args: str) -> list[str]:
    return [sys.executable, "-m", "lstmae_cli", *map(str, args)]


def test_real_subprocess_pipeline(tiny_model, small_csv):
    """cat file | lstmae score model - | lstmae-free consumer, through real pipes."""
    cat = subprocess.Popen(["cat", str(small_csv)], stdout=subprocess.PIPE)
    score = subprocess.run(
        lstmae("score", tiny_model, "-", "--only-anomalies", "--threshold", "0", "-q"),
        stdin=cat.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    cat.wait()
    assert score.returncode == 0, score.stderr
    lines = score.stdout.strip().splitlines()
    assert lines[0].startswith("timestamp,row,score")
    assert len(lines) == 601


def test_head_closing_the_pipe_is_quiet(tiny_model, small_csv):
    result = subprocess.run(
        f"{' '.join(lstmae('score', tiny_model, small_csv, '-q'))} | head -n 2",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
    )
    assert len(result.stdout.splitlines()) == 2
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_score_as_a_program_writes_whole_files_and_its_exit_code(tmp_path, tiny_model, small_csv):
    """`python -m lstmae_cli score`, which leaves by os._exit after a command succeeded:
    the output file is complete (as the in-process run writes it), stdout too, and the
    exit codes are 0, 3 with --fail-on-anomaly, 1 with a one-line error."""
    expected = run("score", tiny_model, small_csv, "-q").stdout
    out = tmp_path / "scores.csv"
    done = subprocess.run(lstmae("score", tiny_model, small_csv, "-o", out, "-q"), check=False)
    assert done.returncode == 0
    assert out.read_text() == expected
    piped = subprocess.run(lstmae("score", tiny_model, small_csv, "-q"), capture_output=True)
    assert piped.returncode == 0 and piped.stdout.decode() == expected
    flagged = tmp_path / "flagged.jsonl"
    args = ("--threshold", "0", "--fail-on-anomaly", "-f", "jsonl", "-o", flagged)
    done = subprocess.run(lstmae("score", tiny_model, small_csv, *args), capture_output=True)
    assert done.returncode == 3, done.stderr
    assert len(flagged.read_text().splitlines()) == len(expected.splitlines()) - 1
    assert b"anomalous rows" in done.stderr  # the summary line reached stderr
    parquet = tmp_path / "scores.parquet"
    args = ("-f", "parquet", "-o", parquet, "-q")
    assert subprocess.run(lstmae("score", tiny_model, small_csv, *args)).returncode == 0
    assert len(pd.read_parquet(parquet)) == len(expected.splitlines()) - 1
    failed = subprocess.run(
        lstmae("score", tiny_model, tmp_path / "missing.csv", "-q"), capture_output=True, text=True
    )
    assert failed.returncode == 1
    assert failed.stderr.startswith("lstmae: error:") and len(failed.stderr.splitlines()) == 1


FINISH_PROBE = """
import atexit, sys
from lstmae_cli.cli import main
class Finalized:
    def __del__(self):
        print("finalized", flush=True)
KEEP = Finalized()  # its __del__ runs only if the interpreter is torn down
atexit.register(print, "atexit", flush=True)
sys.argv = ["lstmae", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize(
    ("args", "code", "finalized"),
    [
        (["--version"], 0, False),  # succeeded: atexit handlers, then os._exit
        (["score", "missing.safetensors", "x.csv"], 1, True),  # an error: the normal exit
        (["score", "--no-such-option"], 2, True),
    ],
)
def test_the_program_skips_finalization_only_after_success(tmp_path, args, code, finalized):
    done = subprocess.run(
        [sys.executable, "-c", FINISH_PROBE, *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == code, done.stderr
    lines = done.stdout.splitlines()
    assert "atexit" in lines
    assert ("finalized" in lines) == finalized


def test_finish_process_keeps_the_normal_exit_when_finalization_matters(monkeypatch):
    import threading

    from lstmae_cli.cli import app as app_module

    left: list[int] = []
    monkeypatch.setattr(app_module.os, "_exit", left.append)
    monkeypatch.setattr("atexit._run_exitfuncs", lambda: None)
    monkeypatch.setattr(sys, "gettrace", lambda: None)  # as in a run without coverage
    for name in ("dask", "distributed"):  # imported by other tests in this process
        monkeypatch.delitem(sys.modules, name, raising=False)
    with monkeypatch.context() as alone:  # other tests' threads left aside
        alone.setattr(threading, "enumerate", lambda: [threading.main_thread()])
        app_module.finish_process(None)
        app_module.finish_process(3)
    assert left == [0, 3]  # the recorded os._exit returns; the real one does not
    for code in (1, 2, 130, "a message"):
        app_module.finish_process(code)
    monkeypatch.setitem(sys.modules, "distributed", sys)  # a Dask run: clusters to shut down
    app_module.finish_process(0)
    monkeypatch.delitem(sys.modules, "distributed")
    release = threading.Event()
    worker = threading.Thread(target=release.wait)  # a non-daemon thread still running
    worker.start()
    try:
        app_module.finish_process(0)
    finally:
        release.set()
        worker.join()
    assert left == [0, 3]


def test_main_called_from_code_raises_system_exit(monkeypatch):
    """Only the program's own entry point leaves by os._exit; a caller gets SystemExit."""
    from lstmae_cli.cli import app as app_module

    monkeypatch.setattr(app_module.os, "_exit", lambda code: pytest.fail("os._exit"))
    monkeypatch.setattr(sys, "argv", ["lstmae", "--version"])
    with pytest.raises(SystemExit) as done:
        app_module.main()
    assert done.value.code in (0, None)


def test_help_is_fast_and_does_not_import_torch():
    code = (
        "import sys; from lstmae_cli.cli.app import app; "
        "print('torch' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
    began = time.perf_counter()
    subprocess.run(lstmae("--help"), capture_output=True, check=True)
    assert time.perf_counter() - began < 2.0  # generous for CI; `make bench` reports the real time


def test_python_dash_m_works(tmp_path):
    out = subprocess.run(lstmae("--version"), capture_output=True, text=True, check=True)
    assert out.stdout.startswith("lstmae ")
    assert Path(sys.executable).exists()


def test_only_the_program_freezes_the_heap(monkeypatch, tiny_model, small_csv):
    """settle_heap (gc.freeze after score's imports) runs in the program's own run only."""
    import gc

    from lstmae_cli.cli import console

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    assert run("score", tiny_model, small_csv, "-q").exit_code == 0
    assert frozen == []  # in process (CliRunner): never
    monkeypatch.setitem(console.STATE, "program", True)
    console.settle_heap()
    assert frozen == [True]


def _commands(model: Path, data: Path, folder: Path) -> dict[str, list]:
    """A run of every command that gets past its imports."""
    return {
        "train": ["train", data, "-o", folder / "m.safetensors", "--epochs", "1", "--seq-len", "8",
                  "--hidden", "4", "--calibration-folds", "1"],
        "score": ["score", model, data, "-o", folder / "s.csv"],
        "threshold": ["threshold", folder / "copy.safetensors", data],
        "evaluate": ["evaluate", model, folder / "labelled.csv", "--label-column", "label"],
        "export": ["export", model, "-o", folder / "m.onnx"],
        "inspect": ["inspect", model],
        "plot": ["plot", model, data, "-o", folder / "p.png"],
        "report": ["report", model, data, "-o", folder / "r.html"],
    }  # fmt: skip


@pytest.mark.parametrize("command", list(_commands(Path(), Path(), Path())))
def test_every_command_turns_the_collector_back_on(monkeypatch, tmp_path, tiny_model, small_csv,
                                                    command):  # fmt: skip
    """The program runs with the garbage collector off until the command's imports are done
    (main(), settle_heap): every command must turn it back on, or a long train or score
    would keep every reference cycle it makes."""
    import gc

    from lstmae_cli.cli import console

    monkeypatch.setattr(gc, "freeze", lambda: None)  # leave the test process's heap alone
    monkeypatch.setitem(console.STATE, "program", True)
    (tmp_path / "copy.safetensors").write_bytes(tiny_model.read_bytes())
    labelled = pd.read_csv(small_csv)
    labelled.assign(label=(labelled.index % 50 == 0).astype(int)).to_csv(
        tmp_path / "labelled.csv", index=False
    )
    args = _commands(tiny_model, small_csv, tmp_path)[command]
    gc.disable()
    try:
        result = run(*args)
        turned_on = gc.isenabled()
    finally:
        gc.enable()
    assert result.exit_code == 0, result.output[-500:]
    assert turned_on, f"lstmae {command} left the garbage collector off"


def test_a_decimal_comma_file_scores_as_its_point_twin(tiny_model, small_frame, tmp_path):
    """A `;`-separated export with decimal commas (3,14), as a file and through a pipe,
    gives the scores of the same data written with points."""
    point = small_frame.to_csv(index=False, sep=";")
    comma = small_frame.to_csv(index=False, sep=";", decimal=",")
    assert "," in comma and "." not in comma.split("\n", 2)[1].split(";", 1)[1]
    (tmp_path / "comma.csv").write_text(comma)
    expected = subprocess.run(
        lstmae("score", tiny_model, "-", "-q"), input=point.encode(), capture_output=True
    )
    from_file = subprocess.run(
        lstmae("score", tiny_model, tmp_path / "comma.csv", "-q"), capture_output=True
    )
    from_pipe = subprocess.run(
        lstmae("score", tiny_model, "-", "-q"), input=comma.encode(), capture_output=True
    )
    assert expected.returncode == from_file.returncode == from_pipe.returncode == 0
    assert from_file.stdout == expected.stdout and from_pipe.stdout == expected.stdout


def test_excels_separator_line_through_a_pipe(tiny_model, small_frame):
    point = small_frame.to_csv(index=False, sep=";")
    expected = subprocess.run(
        lstmae("score", tiny_model, "-", "-q"), input=point.encode(), capture_output=True
    )
    excel = subprocess.run(
        lstmae("score", tiny_model, "-", "-q"),
        input=b"sep=;\n" + point.encode(),
        capture_output=True,
    )
    assert expected.returncode == excel.returncode == 0, excel.stderr
    assert excel.stdout == expected.stdout


def test_a_gzipped_log_scores_through_a_pipe(tiny_model, small_frame):
    import gzip

    text = small_frame.to_csv(index=False).encode()
    plain = subprocess.run(lstmae("score", tiny_model, "-", "-q"), input=text, capture_output=True)
    packed = subprocess.run(
        lstmae("score", tiny_model, "-", "-q"), input=gzip.compress(text), capture_output=True
    )
    assert plain.returncode == packed.returncode == 0, packed.stderr
    assert packed.stdout == plain.stdout
