"""Option decorators shared by several commands."""

from __future__ import annotations

import click


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
