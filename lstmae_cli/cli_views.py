"""Commands that show a model or results to a person: inspect (and plot / report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli import app, handle_errors


@app.command()
@handle_errors
def inspect(
    model: Annotated[Path, typer.Argument(help="Model bundle.")],
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """What is inside a bundle: config, features, scaler, threshold, history, versions."""
    import json

    from .bundle import load_bundle

    _, meta = load_bundle(model)
    if fmt == "json":
        typer.echo(json.dumps(meta, indent=2))
        return
    from rich.console import Console
    from rich.pretty import Pretty

    Console().print(Pretty(meta))
