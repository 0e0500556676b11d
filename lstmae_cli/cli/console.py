"""What one invocation shows on stderr: the state its global options and --quiet set, and
`err`, the tool's one-line message."""

from __future__ import annotations

from typing import Any

import typer

# --debug, --threads (the app's callback) and --quiet (each command); reset per invocation
STATE: dict[str, Any] = {"debug": False, "quiet": False}


def settle_heap() -> None:
    """In the program's own run (main() sets STATE["program"]), once a command has imported
    torch and pandas: the garbage collector's full passes skip those modules' objects from
    then on (gc.freeze), instead of walking hundreds of thousands of them each time. They
    live to the end of the process anyway, which ends without finalization (app.py)."""
    if STATE.get("program"):
        import gc

        gc.freeze()


def err(message: str) -> None:
    """One line on stderr."""
    typer.echo(f"lstmae: {message}", err=True)
