"""Option decorators shared by several commands, and the few helpers that give them effect.

The same options have the same names on every command: ``-q/--quiet`` (no progress bars and no
summary; errors and warnings still print), ``-v/--verbose`` (debug logging on stderr), ``--json`` (the
summary as one JSON object on stdout), ``--lang`` and ``--since``/``--until``. Commands print their
summary through :func:`say` (silent under ``--quiet``) and their JSON through :func:`echo_json`.
"""

from __future__ import annotations

import json
import logging
import math
import sys

import click

from anomaly_log_detector.cli.timerange import TIME

#: languages of reports and summaries; mirrors reports.messages.LANGUAGES, kept literal so that `--help`
#: imports nothing (tests/test_messages.py checks that they agree)
LANGUAGES = ("en", "ko")
#: the root of every logger of the package (``logging.getLogger(__name__)`` in its modules)
LOGGER = "anomaly_log_detector"
LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"
_QUIET = "alog.quiet"


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange without NaN and infinities (they pass its comparisons and would silently
    disable a threshold or a gap)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if number is not None and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number

    def _describe_range(self) -> str:
        # click describes a range without bounds as "x<=None" in --help
        return "" if self.min is None and self.max is None else super()._describe_range()

    def get_metavar(self, param, *args, **kwargs) -> str:
        if self.min is None and self.max is None:
            return "FLOAT"
        return super().get_metavar(param, *args, **kwargs)


#: a finite float with no range
FINITE_FLOAT = FiniteFloatRange()


def _remember_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    ctx.meta[_QUIET] = bool(value)
    return value


def quiet_option(f=None, *, expose: bool = True):
    """`-q/--quiet`: no progress bars and no summary output (errors and warnings still print; with
    `--json` the JSON object still does). `@quiet_option` passes `quiet` to the command;
    `@quiet_option(expose=False)` only silences :func:`say` (for commands without progress)."""
    def deco(fn):
        return click.option("--quiet", "-q", is_flag=True, expose_value=expose, callback=_remember_quiet,
                            help="No progress bars and no summary output (errors and warnings still print).")(fn)
    return deco if f is None else deco(f)


def is_quiet() -> bool:
    """Whether the running command was given `--quiet` (False outside a command)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_QUIET))  # meta is shared by a command and its group


def say(message: object = "", err: bool = False) -> None:
    """Print a line of a command's summary (stdout, or stderr with `err`), unless `--quiet`."""
    if not is_quiet():
        click.echo(message, err=err)


class _StderrHandler(logging.StreamHandler):
    """A handler writing to whatever `sys.stderr` is now (a test runner swaps it between commands)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # noqa: D102 - logging reads it on every record
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _enable_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if not value or ctx.resilient_parsing:
        return value
    logger = logging.getLogger(LOGGER)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)

    def restore() -> None:  # the next command in the same process (tests, api users) starts as before
        logger.removeHandler(handler)
        logger.setLevel(before)

    ctx.call_on_close(restore)
    logging.getLogger(LOGGER).debug("verbose logging on (%s)", ctx.command_path)
    return value


def verbose_option(f):
    """`-v/--verbose`: debug logging of every stage (the `logging` module) on stderr."""
    return click.option("--verbose", "-v", is_flag=True, expose_value=False, is_eager=True,
                        callback=_enable_verbose,
                        help="Debug logging of each stage on stderr (time, logger, message).")(f)


def output_options(f):
    """`-q/--quiet` (not passed to the command) and `-v/--verbose`: for commands without progress."""
    return verbose_option(quiet_option(expose=False)(f))


def json_option(help: str = "Print the summary as one JSON object on stdout and nothing else there "
                            "(human text goes to stderr or is left out); the exit status is unchanged."):
    def deco(f):
        return click.option("--json", "as_json", is_flag=True, help=help)(f)
    return deco


def echo_json(obj: object) -> None:
    """`obj` as one JSON object on stdout (ASCII: no raw control or bidi character reaches a terminal)."""
    click.echo(json.dumps(obj, indent=1, default=str, ensure_ascii=True))


def lang_option(f):
    """`--lang`: the language of reports and summaries."""
    return click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True,
                        help="Language of the report and summary text.")(f)


def time_range_options(f):
    """`--since` / `--until` (ISO 8601, no zone = UTC): lines at or after `since` and before `until`."""
    f = click.option("--until", type=TIME, default=None,
                     help="Only lines before this time (exclusive; ISO 8601, e.g. 2026-06-15 or "
                          "2026-06-15T00:00; no zone = UTC).")(f)
    return click.option("--since", type=TIME, default=None,
                        help="Only lines at or after this time (inclusive; ISO 8601, e.g. 2026-06-14 or "
                             "2026-06-14T03:00:00+09:00; no zone = UTC). Read from raw logs, a line without a "
                             "timestamp (a stack trace's continuation) takes the last one before it in its file; "
                             "lines with none are left out and counted.")(f)


def seed_option(default: int = 42):
    def deco(f):
        return click.option("--seed", type=int, default=default, show_default=True,
                            help="Random seed; the same seed gives identical results.")(f)
    return deco


def out_dir_option(required: bool = True, help: str = "Output folder (created if missing)."):
    def deco(f):
        return click.option("--out-dir", type=click.Path(file_okay=False), required=required, help=help)(f)
    return deco


def threads_option(f):
    """`--threads`: torch's CPU threads; the command body calls :func:`set_threads` before any torch work
    (never at import: `alog-detect --help` must not import torch)."""
    return click.option("--threads", type=click.IntRange(0), default=1, show_default=True,
                        help="torch threads (0 = torch's default); 1 keeps training deterministic and leaves "
                             "cores to other work (these small LSTMs gain little from more).")(f)


def set_threads(n: int) -> None:
    """Apply `--threads` (0 leaves torch's default)."""
    if n:
        import torch

        torch.set_num_threads(n)


def top_k_option(default: int | None, help: str):
    """`--top-k` (alias `--k`, the older name) for DeepLog's candidate count; the parameter is `k`."""
    def deco(f):
        return click.option("--top-k", "--k", "k", type=click.IntRange(1), default=default,
                            show_default=default is not None, help=help)(f)
    return deco


def rule_options(f):
    """`--top-k` (alias `--k`) and `--top-p`: DeepLog's decision rule at inference (neither = the
    model's calibrated threshold)."""
    f = click.option("--top-p", type=FiniteFloatRange(0, 1, min_open=True), default=None,
                     help="A key outside the smallest set of predictions holding this much probability is a "
                          "miss. --top-p alone = pure nucleus rule; with --top-k, both must hold [default when "
                          "neither is given: the model's calibrated rule].")(f)
    return top_k_option(None, "A key outside the model's top-k predictions is a miss. --top-k alone = pure top-k; "
                              "with --top-p, both must hold [default when neither is given: the model's "
                              "calibrated rule]. --k is an alias.")(f)
