"""Output paths that are not plain files: symlinks, FIFOs, devices, sockets, directories.

No test here writes to the real /dev/null: devices are made with os.mknod in a temp folder.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lstmae_cli.cli.app import app
from lstmae_cli.errors import LstmaeError
from lstmae_cli.io.outpath import atomic_path, output_kind

runner = CliRunner()
TINY_TRAIN = ["--seq-len", "8", "--hidden", "8", "--epochs", "1", "-q"]


def writer_args(command: str, model: Path, data: Path, out: Path) -> list[str]:
    """The command line of each writing command, aimed at `out`."""
    return {
        "score": ["score", str(model), str(data), "-q", "-o", str(out)],
        "train": ["train", str(data), *TINY_TRAIN, "-o", str(out)],
        "plot": ["plot", str(model), str(data), "-o", str(out)],
        "report": ["report", str(model), str(data), "-o", str(out)],
        "export": ["export", str(model), "-o", str(out)],
    }[command]


WRITERS = ["score", "train", "plot", "report", "export"]
NAMES = {
    "score": "o.csv",
    "train": "m.safetensors",
    "plot": "f.png",
    "report": "r.html",
    "export": "m.onnx",
}


@pytest.fixture
def score_text(tiny_model, small_csv, tmp_path) -> str:
    """What `score -o` writes to a regular file: the reference for the other kinds."""
    plain = tmp_path / "plain.csv"
    assert runner.invoke(app, writer_args("score", tiny_model, small_csv, plain)).exit_code == 0
    return plain.read_text()


class Reader(threading.Thread):
    """Reads a FIFO (or accepts one connection on a socket) until the writer closes it."""

    def __init__(self, path: Path, listener: socket.socket | None = None) -> None:
        super().__init__(daemon=True)
        self.path, self.listener, self.data = path, listener, b""

    def finish(self, timeout: float = 120) -> None:
        """Wait for the reader; a FIFO nobody opened for writing is opened here to end it."""
        if self.listener is None and self.is_alive() and not self.data:
            with contextlib.suppress(OSError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
        self.join(timeout)

    def run(self) -> None:
        if self.listener is None:
            with open(self.path, "rb") as handle:
                self.data = handle.read()
            return
        connection, _ = self.listener.accept()
        with connection:
            while chunk := connection.recv(65536):
                self.data += chunk


def through_fifo(fifo: Path, args: list[str]) -> bytes:
    """Run the CLI with a reader on a new FIFO at `fifo`; what the reader got. The command
    must succeed and leave the FIFO a FIFO."""
    os.mkfifo(fifo)
    reader = Reader(fifo)
    reader.start()
    result = runner.invoke(app, args)
    reader.finish()
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    return reader.data


def test_symlink_is_written_through_and_kept(tiny_model, small_csv, tmp_path, score_text):
    real = tmp_path / "real.txt"
    real.write_text("old content")
    link = tmp_path / "out.csv"
    link.symlink_to(real)
    result = runner.invoke(app, writer_args("score", tiny_model, small_csv, link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == score_text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "plain.csv", "real.txt"]


def test_dangling_symlink_creates_its_target(tiny_model, tmp_path):
    target = tmp_path / "sub" / "model.onnx"
    target.parent.mkdir()
    link = tmp_path / "model.onnx"
    link.symlink_to(target)
    result = runner.invoke(app, writer_args("export", tiny_model, tiny_model, link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and target.is_file() and target.stat().st_size > 0


def test_symlinked_model_is_rewritten_at_its_target_by_threshold(tiny_model, small_csv, tmp_path):
    real = tmp_path / "real.safetensors"
    real.write_bytes(tiny_model.read_bytes())
    link = tmp_path / "model.safetensors"
    link.symlink_to(real)
    args = ["threshold", str(link), str(small_csv), "--method", "quantile", "--q", "0.9"]
    assert runner.invoke(app, args).exit_code == 0
    assert link.is_symlink() and real.read_bytes() != tiny_model.read_bytes()


def test_fifo_is_streamed_to_its_reader_never_replaced(tiny_model, small_csv, tmp_path, score_text):
    fifo = tmp_path / "out.fifo"
    data = through_fifo(fifo, writer_args("score", tiny_model, small_csv, fifo))
    assert data.decode() == score_text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fifo", "plain.csv"]


@pytest.mark.parametrize("command", WRITERS)
def test_every_writer_sends_to_a_fifo(command, tiny_model, small_csv, tmp_path):
    fifo = tmp_path / NAMES[command]
    data = through_fifo(fifo, writer_args(command, tiny_model, small_csv, fifo))
    assert len(data) > 100
    assert [p.name for p in tmp_path.iterdir()] == [fifo.name]


@pytest.mark.skipif(os.geteuid() != 0, reason="os.mknod of a character device needs root")
@pytest.mark.parametrize("command", WRITERS)
def test_character_device_stays_a_device(command, tiny_model, small_csv, tmp_path):
    null = tmp_path / "null"  # a private /dev/null: same major / minor numbers
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    result = runner.invoke(app, writer_args(command, tiny_model, small_csv, null))
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert os.lstat(null).st_rdev == os.makedev(1, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


def test_dev_stdout_goes_to_the_process_stdout(tiny_model, small_csv, score_text):
    assert output_kind(Path("/dev/stdout"))[0] == "direct"
    args = writer_args("score", tiny_model, small_csv, Path("/dev/stdout"))
    done = subprocess.run(
        [sys.executable, "-m", "lstmae_cli", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == score_text
    assert os.path.islink("/dev/stdout") or stat.S_ISCHR(os.stat("/dev/stdout").st_mode)


def test_socket_receives_the_output_and_stays(tiny_model, small_csv, tmp_path, score_text):
    address = tmp_path / "out.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(address))
        listener.listen(1)
        reader = Reader(address, listener)
        reader.start()
        result = runner.invoke(app, writer_args("score", tiny_model, small_csv, address))
        reader.finish()
    assert result.exit_code == 0, result.output
    assert stat.S_ISSOCK(os.lstat(address).st_mode)
    assert reader.data.decode() == score_text


@pytest.mark.parametrize("command", WRITERS)
def test_directory_is_a_one_line_error(command, tiny_model, small_csv, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    result = runner.invoke(app, writer_args(command, tiny_model, small_csv, folder))
    assert result.exit_code == 1
    assert "is a directory" in result.output and len(result.output.strip().splitlines()) == 1
    assert list(folder.iterdir()) == []


def test_symlink_to_a_directory_is_an_error(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "d")
    with pytest.raises(LstmaeError, match="is a directory"), atomic_path(tmp_path / "link"):
        pass


def test_failed_direct_write_removes_nothing(tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    with pytest.raises(RuntimeError), atomic_path(fifo) as path:
        assert path == fifo
        raise RuntimeError("failed while writing")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_parquet_output_to_a_fifo(tiny_model, small_csv, tmp_path):
    import io

    import pandas as pd

    fifo = tmp_path / "o.parquet"
    args = [*writer_args("score", tiny_model, small_csv, fifo), "--format", "parquet"]
    data = through_fifo(fifo, args)
    assert len(pd.read_parquet(io.BytesIO(data))) == len(pd.read_csv(small_csv))


def test_checkpoints_need_a_model_file(small_csv, tmp_path):
    fifo = tmp_path / "m.safetensors"
    os.mkfifo(fifo)
    args = ["train", str(small_csv), *TINY_TRAIN, "-o", str(fifo), "--checkpoint-every", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "give -o a file name" in result.output
    assert [p.name for p in tmp_path.iterdir()] == [fifo.name]


def test_ctrl_c_without_checkpoints_names_the_option():
    from lstmae_cli.nn.checkpoint import interrupted_note

    assert "--checkpoint-every" in interrupted_note(None)
