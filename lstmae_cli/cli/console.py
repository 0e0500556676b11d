"""What one invocation shows on stderr: the state its global options and --quiet set, and
`err`, the tool's one-line message."""

from __future__ import annotations

from typing import Any

import typer

# --debug, --threads (the app's callback) and --quiet (each command); reset per invocation
STATE: dict[str, Any] = {"debug": False, "quiet": False}


def err(message: str) -> None:
    """One line on stderr."""
    typer.echo(f"lstmae: {message}", err=True)
