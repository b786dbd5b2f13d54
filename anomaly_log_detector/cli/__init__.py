"""The `alog-detect` command line: a root Click group over the library.

Commands live in small modules named ``cmd_<area>.py``; each exposes ``COMMANDS``, a list of Click
commands. They are discovered here, so adding an area never edits a shared registry. Command modules
import only click at top level; heavy libraries (torch, onnx, pandas) are imported inside command bodies
so that ``alog-detect --help`` stays instant.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

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


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors and exit status 2 instead of tracebacks."""
    from anomaly_log_detector.errors import AlogError

    try:
        rv = cli.main(args=argv, prog_name="alog-detect", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ERROR_EXIT if exc.exit_code == 1 else exc.exit_code)
    except AlogError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(ERROR_EXIT)
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error for the user.
        sys.stderr.close()
        sys.exit(0)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug of ours: still one line unless asked for details
        if os.environ.get("ALOG_DEBUG"):
            raise
        click.echo(f"Error: internal error: {type(exc).__name__}: {exc} (set ALOG_DEBUG=1 for the traceback)", err=True)
        sys.exit(ERROR_EXIT)
    # Commands may return an int to choose their exit status (e.g. `infer`: 1 = anomalies found).
    sys.exit(rv if isinstance(rv, int) else 0)
