"""The `lstmae` app: global options, the commands in help order, errors mapped to one
stderr line and an exit code, and the console-script entry point.

Each command (train.py, score.py, evaluate.py, export.py, views.py) parses its options,
calls the library and formats the output; torch and pandas are imported inside the
commands, so `lstmae --help` stays fast.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Annotated, NoReturn

import typer
from typer.core import TyperGroup

from ..errors import ArgumentError, ExitStatus, LstmaeError, UsageError
from . import evaluate, export, score, train, views
from .console import STATE, err


class OneLineErrors(TyperGroup):
    """Option and argument errors as one `lstmae: error: ...` line on stderr, exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from typer._click.exceptions import ClickException, NoArgsIsHelpError

        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except ClickException as exc:
            err(f"error: {exc.format_message()} (see --help)")
            sys.exit(exc.exit_code)
        except typer.Abort:
            err("aborted")
            sys.exit(ExitStatus.ERROR)
        sys.exit(code if isinstance(code, int) else ExitStatus.OK)


app = typer.Typer(
    cls=OneLineErrors,
    name="lstmae",
    help="Anomaly detection for multivariate time series with an LSTM autoencoder.\n\n"
    "Train on mostly-normal data, then score any file or stream: rows, windows or events "
    "whose reconstruction error is above the learned threshold are flagged.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def handle_errors(command):  # noqa: C901 (one except clause per error kind and exit code)
    """Turn the tool's errors into one stderr line and an exit code (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from ..nn.threads import applied

        try:
            with applied(STATE.get("threads")):  # torch's intra-op threads for this command
                return command(*args, **kwargs)
        except typer.Exit:
            raise
        except ArgumentError as exc:
            return _fail(exc, f"error: {exc}; {_usage_line()}", ExitStatus.USAGE)
        except UsageError as exc:
            return _fail(exc, f"error: {exc}", ExitStatus.USAGE)
        except LstmaeError as exc:
            return _fail(exc, f"error: {exc}", ExitStatus.ERROR)
        except KeyboardInterrupt as exc:
            return _fail(exc, str(exc) or "interrupted", ExitStatus.INTERRUPTED)
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(ExitStatus.OK) from None
        except MemoryError as exc:
            return _fail(exc, "error: out of memory (try a smaller --batch-size)", 1)
        except OSError as exc:
            return _fail(exc, f"error: {exc.filename or ''}: {exc.strerror or exc}", 1)
        except Exception as exc:  # a bug, not the user's fault: still one line, no traceback
            message = f"error: unexpected {type(exc).__name__}: {exc} (--debug shows where)"
            return _fail(exc, message.splitlines()[0], ExitStatus.ERROR)

    return wrapper


def _usage_line() -> str:
    """'usage: lstmae score [OPTIONS] MODEL [DATA]' of the command running now."""
    from typer._click.globals import get_current_context

    context = get_current_context(silent=True)
    if context is None:
        return "see --help"
    usage = " ".join(context.get_usage().split())
    return usage[:1].lower() + usage[1:]


def _fail(exc: BaseException, message: str, code: int):
    if STATE["debug"]:
        raise exc
    err(" ".join(message.split()))  # always one line
    raise typer.Exit(int(code))


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def version_callback(value: bool) -> None:
    if value:
        from .._version import __version__

        typer.echo(f"lstmae {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="CPU threads for torch. Default: the CPUs allowed (affinity, cgroup quota) "
            "less those busy with other work, at least 1; or OMP_NUM_THREADS if set.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    STATE["debug"] = debug
    STATE["threads"] = threads
    STATE["quiet"] = False  # until a command's --quiet says otherwise (set_quiet)
    STATE["warned"] = set()  # the warnings shown by this command: each once
    _show_tool_warnings()


def _show_tool_warnings() -> None:
    """The tool's warnings (LstmaeWarning) as one `lstmae: warning: ...` line on stderr,
    each text once per command (a warning met in every chunk of a long file, once)."""
    import warnings

    from ..errors import LstmaeWarning

    shown = warnings.showwarning

    def show(message, category, *args, **kwargs):
        if STATE["quiet"]:  # -q: nothing but errors, on every command
            return
        if issubclass(category, LstmaeWarning):
            warned = STATE.setdefault("warned", set())
            if str(message) not in warned:
                warned.add(str(message))
                err(f"warning: {message}")
        else:
            shown(message, category, *args, **kwargs)

    if getattr(shown, "__name__", "") != "show":
        warnings.showwarning = show
    warnings.simplefilter("always", LstmaeWarning)


# The commands, in help order; each runs inside handle_errors.
COMMANDS = (
    train.train,
    score.score,
    evaluate.threshold,
    evaluate.evaluate,
    export.export,
    views.inspect,
    views.plot,
    views.report,
)
for command in COMMANDS:
    app.command()(handle_errors(command))


def main() -> None:
    """Console-script entry point.

    Called by the program's own __main__ module (the `lstmae` script, `python -m
    lstmae_cli`), a command that ended with an exit code leaves without the interpreter's
    finalization (finish_process); called from any other module or frame (a test, a
    script's function, runpy.run_module), it raises SystemExit.
    """
    from ..nn.threads import prepare_environment

    main_module = sys.modules.get("__main__")  # run_module(run_name="__main__") is not it
    top_level = main_module is not None and sys._getframe(1).f_globals is vars(main_module)
    STATE["program"] = top_level
    if top_level:  # off while the command imports; each command's settle_heap turns it on
        import gc

        gc.disable()
    prepare_environment()  # before torch is imported: OpenMP's spin before it sleeps
    try:
        app()
    except KeyboardInterrupt:
        err("interrupted")
        exit_process(ExitStatus.INTERRUPTED)
    except SystemExit as done:
        exit_process(done.code, finish=top_level)
    exit_process(ExitStatus.OK, finish=top_level)


def finish_process(code: int | str | None) -> None:
    """After a command that succeeded (exit 0, or 3 from --fail-on-anomaly), leave now
    when nothing is left for the interpreter's finalization to do.

    Tearing down the interpreter after a command (freeing every module of torch, pandas
    and pyarrow) costs 0.4-0.6 s of CPU per `lstmae score` (docs/speed.md). By the time a
    command has returned its files are written, closed and renamed (every writer is a
    `with` block inside the command), so this runs the `atexit` handlers, flushes stdout
    and stderr, and calls os._exit(code). It returns, leaving the normal exit to the
    caller, when finalization may still matter or time does not: any other exit (errors
    and Ctrl-C keep the normal exit), another non-daemon thread still running
    (finalization would wait for it), Dask imported (its clusters and worker processes
    shut down cleanly at exit), a profiler or tracer attached (it reports when the program
    ends), or a flush that fails (the normal exit reports it and exits 120, as before).
    """
    import threading

    if code is None:
        code = ExitStatus.OK
    if not isinstance(code, int) or code not in (ExitStatus.OK, ExitStatus.ANOMALIES_FOUND):
        return
    if any(name in sys.modules for name in ("dask", "distributed")):
        return
    if sys.getprofile() is not None or sys.gettrace() is not None:
        return
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    import atexit

    atexit._run_exitfuncs()  # as finalization would: logging, multiprocessing, weakref.finalize
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return
    os._exit(int(code))


def exit_process(code: int | str | None, finish: bool = False) -> NoReturn:
    """sys.exit(code); but a torchrun rank that joined a process group leaves at once,
    and with `finish` (the program's own entry point) so does any other process where
    finalization has nothing left to do (finish_process).

    After a gloo process group, interpreter finalization aborts now and then ("terminate
    called without an active exception", exit -6, after every `atexit` handler ran: seen
    in 3 of 100 two-rank runs of a probe script, on either rank), and torchrun then fails
    the whole command although the model was written. By the time the command returns
    the group is destroyed and every file is closed, so such a rank flushes its output
    and skips finalization.
    """
    distributed = sys.modules.get("lstmae_cli.nn.distributed")  # not imported: no group
    if distributed is not None and distributed.started_group_here():
        if code is None:
            code = ExitStatus.OK
        elif not isinstance(code, int):  # sys.exit's rule: the message on stderr, status 1
            print(code, file=sys.stderr)
            code = ExitStatus.ERROR
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if finish:
        finish_process(code)
    sys.exit(code)
