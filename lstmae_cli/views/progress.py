"""A rich progress bar on stderr for training: epoch, losses, ETA; one line per network
(the model, then each calibration fold's network)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class EpochProgress:
    """`with EpochProgress(epochs, quiet) as p: ... on_epoch=p.update`."""

    def __init__(self, epochs: int, quiet: bool = False) -> None:
        self.epochs, self.quiet = epochs, quiet
        self.progress: Progress | None = None
        self.stage = "model"

    def __enter__(self) -> EpochProgress:
        if not self.quiet:
            self.progress = Progress(
                TextColumn("{task.description:<17} epoch {task.completed:>3.0f}/{task.total:.0f}"),
                BarColumn(),
                TextColumn("train {task.fields[train]}  val {task.fields[val]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.progress.start()
            self.task = self._add_task("model")
        return self

    def _add_task(self, stage: str):
        assert self.progress is not None
        return self.progress.add_task(stage, total=self.epochs, train="-", val="-")

    def update(self, record: dict) -> None:
        if self.progress is None:
            return
        stage = record.get("stage", "model")
        if stage != self.stage:  # the next network: a line of its own
            self.stage, self.task = stage, self._add_task(stage)
        self.progress.update(
            self.task,
            completed=record["epoch"],
            train=f"{record['train_loss']:.5f}",
            val=f"{record['val_loss']:.5f}",
        )

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
