"""What one invocation shows on stderr: the state its global options and --quiet set, and
`err`, the tool's one-line message."""

from __future__ import annotations

from typing import Any

import typer

# --debug, --threads (the app's callback) and --quiet (each command); reset per invocation
STATE: dict[str, Any] = {"debug": False, "quiet": False}


def settle_heap() -> None:
    """Each command calls this once it has imported what it needs (torch, pandas).

    In the program's own run (main() sets STATE["program"]) main() turns the garbage
    collector off before anything heavy is imported: importing torch, pandas and pyarrow
    creates hundreds of thousands of objects and none of them is garbage, yet the collector
    walked them again and again (0.3-0.6 s of a `lstmae score`, docs/speed.md). Here it is
    turned back on, and its full passes skip those modules' objects from then on
    (gc.freeze). They live to the end of the process anyway, which ends without
    finalization (app.py)."""
    if STATE.get("program"):
        import gc

        gc.freeze()
        gc.enable()


def err(message: str) -> None:
    """One line on stderr."""
    typer.echo(f"lstmae: {message}", err=True)
