"""Write docs/cli.md: every `alog-detect` command with all its options, from the Click definitions.

Usage: .venv/bin/python scripts/gen_cli_docs.py [--check]
With --check it exits 1 when docs/cli.md is out of date (the test suite runs this check).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "cli.md"


def render() -> str:
    from anomaly_log_detector.cli import cli

    ctx = click.Context(cli, info_name="alog-detect", terminal_width=100, max_content_width=100)
    parts = ["# `alog-detect` command reference",
             "",
             "Generated from the code by `scripts/gen_cli_docs.py` (a test keeps it in sync). "
             "Every command exits 0 on success and 2 on a user error (one line on stderr); "
             "`infer` also exits 1 when it found anomalies.",
             "",
             "```", cli.get_help(ctx), "```", ""]
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        sub = click.Context(command, info_name=f"alog-detect {name}", parent=None,
                            terminal_width=100, max_content_width=100)
        parts += [f"## `alog-detect {name}`", "", "```", command.get_help(sub), "```", ""]
    return "\n".join(parts)


def main() -> None:
    text = render()
    if "--check" in sys.argv:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            sys.exit("docs/cli.md is out of date: run .venv/bin/python scripts/gen_cli_docs.py")
        return
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
