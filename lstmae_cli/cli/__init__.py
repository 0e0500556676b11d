"""The `lstmae` command line: a shell over the library (app.py: the app and entry point;
options.py: option types; one module per command group)."""

from .app import main

__all__ = ["main"]
