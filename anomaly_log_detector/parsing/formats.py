"""Header formats: choose one by name, build one from a ``--log-format`` string, or detect one.

The parsing pipeline calls ``LogFormat.parse`` on each chunk of decoded lines (a pyarrow string array)
and gets :class:`HeaderColumns` back: the message, whether the header matched, and the canonical
header fields (timestamp, host, process, pid, level) plus the format's extra fields.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Sequence

import pyarrow as pa

from anomaly_log_detector.errors import FormatError
from anomaly_log_detector.parsing.header import HeaderColumns, LogFormat, RawFormat, as_string_array
from anomaly_log_detector.parsing.journal import JournalJsonFormat
from anomaly_log_detector.parsing.logformat import compile_log_format
from anomaly_log_detector.parsing.presets import REGEX_PRESETS, regex_preset
from anomaly_log_detector.parsing.timestamps import TimeContext

__all__ = ["PRESETS", "HeaderColumns", "LogFormat", "get_format", "detect_format"]

# Also the detection order: on a full tie the earlier preset wins.
PRESETS: tuple[str, ...] = (*REGEX_PRESETS[:3], "journal-json", *REGEX_PRESETS[3:], "raw")
DETECT_LINES = 200      # non-blank lines looked at by detect_format
MIN_MATCH_RATE = 0.5    # below this for every preset, the log is "raw"


def get_format(name: str = "auto", log_format: str | None = None, year: int | None = None,
               tz: str | None = None, reference: datetime | None = None) -> LogFormat:
    """The format `name` (a preset, "auto" or "custom"), or the one `log_format` describes.

    "auto" detects the preset from the first chunk it parses. `year` is used for timestamps that carry
    none (syslog); default: the year of `reference` (the file's modification time; default now), or
    the year before for dates after it. `tz` is the zone of times that carry none (default UTC); all
    times are converted to UTC. Raises FormatError for unknown names, bad strings, a year outside
    1980-2200 or an unknown zone.
    """
    time = TimeContext(year=year, reference=reference, tz=tz)
    if log_format is not None:
        if name not in ("auto", "custom"):
            raise FormatError(f"--format {name} and --log-format cannot be used together")
        return compile_log_format(log_format, time)
    if name == "auto":
        return AutoFormat(time)
    if name == "raw":
        return RawFormat()
    if name == "journal-json":
        return JournalJsonFormat()
    if name in REGEX_PRESETS:
        return regex_preset(name, time)
    if name == "custom":
        raise FormatError("--format custom needs a --log-format string")
    raise FormatError(f"unknown format {name!r}; choose auto, custom or one of: {', '.join(PRESETS)}")


def _json_rate(lines: list[str]) -> float:
    def is_object(line: str) -> bool:
        try:
            return isinstance(json.loads(line), dict)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply (refused when parsed)
            return False
    return sum(map(is_object, lines)) / len(lines)


def detect_format(sample: Sequence[str]) -> str:
    """The preset whose header matches most of the first non-blank lines of `sample`; on equal match
    rates the one whose header covers more characters (it explains more of the line: Apache's
    `[time] [level]` over dmesg's `[time]`), then the earlier in PRESETS. "raw" when no preset
    matches at least half of the lines. A preset whose every line matches (apt-term) scores only when
    the first line matches its `first_line` pattern."""
    lines = [line.rstrip("\r\n") for line in sample if line.strip()][:DETECT_LINES]
    if not lines:
        return "raw"
    array = pa.array(lines, pa.string())
    best, best_score = "raw", (MIN_MATCH_RATE, -1.0)
    for name in PRESETS[:-1]:
        score = (_json_rate(lines), 0.0) if name == "journal-json" else regex_preset(name).header_score(array)
        if score[0] >= MIN_MATCH_RATE and score > best_score:
            best, best_score = name, score
    return best


class AutoFormat(LogFormat):
    """Detects the preset on the first chunk it parses and uses it for every later chunk."""

    name = "auto"

    def __init__(self, time: TimeContext | None = None):
        self.time = time or TimeContext()
        self.chosen: LogFormat | None = None

    def assumptions(self) -> dict[str, object]:
        return self.chosen.assumptions() if self.chosen else {}

    def parse(self, lines: pa.Array) -> HeaderColumns:
        lines = as_string_array(lines)
        if self.chosen is None:
            head = [line for line in lines.to_pylist() if line.strip()][:DETECT_LINES]
            if not head:  # nothing to decide on yet
                return RawFormat().parse(lines)
            name = detect_format(head)
            self.chosen = regex_preset(name, self.time) if name in REGEX_PRESETS else get_format(name)
            self.name = self.chosen.name
        return self.chosen.parse(lines)
