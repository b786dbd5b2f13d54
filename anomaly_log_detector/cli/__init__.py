"""The `alog-detect` command line: a root Click group over the library.

Commands live in small modules named ``cmd_<area>.py``; each exposes ``COMMANDS``, a list of Click
commands. They are discovered here, so adding an area never edits a shared registry. Command modules
import only click at top level; heavy libraries (torch, onnx, pandas) are imported inside command bodies
so that ``alog-detect --help`` stays instant.

Interrupts: SIGINT and SIGTERM both raise :class:`~anomaly_log_detector.errors.Interrupted` in the main
thread, so every ``finally`` and ``with`` exit runs and removes partial files; the exit status is
128 + the signal's number (130, 143), after one line on stderr. A second signal while those run is
ignored (the clean-up takes a moment; SIGKILL still ends the process at once).
"""

from __future__ import annotations

import errno
import importlib
import os
import pkgutil
import signal
import sys
import threading

import click

from anomaly_log_detector import __version__

# Exit status for every error a user can cause (bad input, bad files, bad options).
ERROR_EXIT = 2


def _discover() -> dict[str, click.Command]:
    commands: dict[str, click.Command] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("cmd_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            commands[command.name] = command
    return commands


class _Root(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_discover())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return _discover().get(name)


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="alog-detect")
def cli() -> None:
    """Anomaly Log Detector: parse kernel/system logs, train detectors on normal logs, and find the
    anomalous lines in suspicious ones.

    Typical flow: `alog-detect parse` -> `build-deeplog` / `build-mscred` -> `detect`, `deeplog-train`,
    `deeplog-infer` -> `eval` / `report`. `alog-detect train` and `alog-detect infer` run the whole job.
    """


# OSErrors that can only come from writing: named as such whatever raised them (EFBIG and EACCES can
# also come from reading, so only the writers that know they write name those: see errors.output_error).
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _install_signal_handlers() -> dict[int, object]:
    """SIGINT/SIGTERM -> Interrupted (the handlers replaced, to restore). Signals the process was
    started with ignored (``nohup``, a background job) stay ignored."""
    from anomaly_log_detector.errors import Interrupted

    if threading.current_thread() is not threading.main_thread():
        return {}
    received: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        if received:  # already unwinding: let the clean-up finish
            return
        received.append(signum)
        raise Interrupted(signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, interrupt)
    return previous


def _interrupted(exc: BaseException) -> None:
    """Report an interrupt in one line and exit 128 + its signal (130 for Ctrl-C)."""
    from anomaly_log_detector.errors import Interrupted

    signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
    click.echo(f"Interrupted ({signal.Signals(signum).name}).", err=True)
    # Every `finally` has run. Exit now: a normal interpreter shutdown would wait on (or abort over) a
    # read-ahead thread still blocked reading a pipe whose writer is alive (`parse --input -`).
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors and exit status 2 instead of tracebacks."""
    previous = _install_signal_handlers()
    try:
        _main(argv)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _main(argv: list[str] | None) -> None:
    from anomaly_log_detector.errors import AlogError, output_error
    from anomaly_log_detector.reports.escape import terminal_safe  # messages name files: no raw escapes

    try:
        rv = cli.main(args=argv, prog_name="alog-detect", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click turns an interrupt into Abort
            _interrupted(exc.__cause__)
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ERROR_EXIT if exc.exit_code == 1 else exc.exit_code)
    except AlogError as exc:
        click.echo(terminal_safe(f"Error: {exc}"), err=True)
        sys.exit(ERROR_EXIT)
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error for the user.
        sys.stderr.close()
        sys.exit(0)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    except Exception as exc:  # a bug of ours: still one line unless asked for details
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:  # a full disk is not a bug
            click.echo(terminal_safe(f"Error: {output_error(exc)}"), err=True)
            sys.exit(ERROR_EXIT)
        if os.environ.get("ALOG_DEBUG"):
            raise
        click.echo(terminal_safe(f"Error: internal error: {type(exc).__name__}: {exc} (set ALOG_DEBUG=1 for the "
                                 f"traceback)"), err=True)
        sys.exit(ERROR_EXIT)
    # Commands may return an int to choose their exit status (e.g. `infer`: 1 = anomalies found).
    sys.exit(rv if isinstance(rv, int) else 0)
