"""Option decorators shared by several commands."""

from __future__ import annotations

import math

import click


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange without NaN and infinities (they pass its comparisons and would silently
    disable a threshold or a gap)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if number is not None and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


#: a finite float with no range
FINITE_FLOAT = FiniteFloatRange()


def quiet_option(f):
    """`--quiet`: no progress output on stderr."""
    return click.option("--quiet", "-q", is_flag=True, help="No progress output on stderr.")(f)


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
