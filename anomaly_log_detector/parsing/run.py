"""`parse_logs`: the one call that turns log files into `parsed.parquet` (settings from plain arguments)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Iterable

from anomaly_log_detector.config import CHUNK_LINES, MAX_LINE_BYTES, DrainConfig, ParseConfig


def parse_logs(inputs: str | Iterable[str], out_dir: str, *, drain_state: str | None = None,
               rules: str | None = None, format: str = "auto", log_format: str | None = None,
               year: int | None = None, tz: str | None = None, disabled_masks: Iterable[str] = (),
               sim_th: float | None = None, depth: int | None = None,
               session_regex: str | None = None, frozen: bool = False,
               max_line_bytes: int | None = None, chunk_lines: int | None = None,
               quiet: bool = True, since: datetime | None = None, until: datetime | None = None) -> dict:
    """Parse log files/folders/.gz/stdin (``-``) into ``out_dir/parsed.parquet``; return the summary
    (also written to ``out_dir/parse_summary.json``). `year` and `tz` complete timestamps that carry
    no year or zone (default: each file's modification time, UTC). `since` / `until` keep the lines
    with ``since <= time < until`` (naive = UTC); the others are counted as skipped
    (``outside_time_range``, ``no_timestamp``: see :class:`~anomaly_log_detector.config.ParseConfig`)."""
    from anomaly_log_detector.parsing.pipeline import run_parse

    overrides = {k: v for k, v in (("sim_th", sim_th), ("depth", depth)) if v is not None}
    drain = dataclasses.replace(DrainConfig(), **overrides)
    config = ParseConfig(
        out_dir=out_dir, format=format, log_format=log_format, year=year, tz=tz, rules_path=rules,
        disabled_masks=frozenset(disabled_masks), drain=drain, drain_state=drain_state, frozen=frozen,
        session_regex=session_regex, chunk_lines=chunk_lines or CHUNK_LINES,
        max_line_bytes=max_line_bytes or MAX_LINE_BYTES, quiet=quiet, since=since, until=until,
    )
    paths = [inputs] if isinstance(inputs, str) else list(inputs)
    return run_parse(paths, config)
