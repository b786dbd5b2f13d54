"""`--since` / `--until`: ISO 8601 dates and times on the command line, as aware UTC datetimes.

Accepted: ``2026-06-14``, ``2026-06-14T03:00``, ``2026-06-14 03:00:05``, with an optional zone
(``Z``, ``+09:00``); a time without a zone is UTC. Imports only click and the standard library, so
``--help`` stays instant. The shared ``--since`` / ``--until`` decorator is
:func:`anomaly_log_detector.cli.options.time_range_options`.
"""

from __future__ import annotations

from datetime import datetime, timezone

import click


class TimeType(click.ParamType):
    """An ISO 8601 date or date-time; returns an aware UTC datetime."""

    name = "TIME"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, datetime):
            return None if value is None else _utc(value)
        text = str(value).strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" and text else text)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time (e.g. 2026-06-14, 2026-06-14T03:00, "
                      f"2026-06-14T03:00:00+09:00; a time without a zone is UTC)", param, ctx)
        return _utc(parsed)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


#: the shared parameter type of `--since` / `--until`
TIME = TimeType()

