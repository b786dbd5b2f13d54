"""The built-in header formats (``--format NAME``).

Each preset is an RE2 pattern over the header, written for RE2's fast one-pass engine (see
``header.py``): at most 4 groups, no ambiguous branches. Fields packed into one group are split by a
`derive` pattern on distinct values. Extra fields keep their Loghub names (``Label``, ``Type``,
``Component``...) so that they match the columns of the Loghub ``--log-format`` strings. An absent
optional field is an empty group, read as null.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anomaly_log_detector.parsing.header import RegexFormat, Roles
from anomaly_log_detector.parsing.timestamps import TimeFormat

_ISO = (TimeFormat("%Y-%m-%dT%H:%M:%S%z"), TimeFormat("%Y-%m-%dT%H:%M:%S"))
_SYSLOG_TS = r"[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d"
_ISO_TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"
# `proc[pid]: ` as in syslog; optional, since `-- MARK --` and some daemons write no tag.
_TAG = r"(?:(?P<process>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?:(?: |$))?"


@dataclass(frozen=True)
class _Spec:
    pattern: str
    roles: Roles
    time_formats: tuple[TimeFormat, ...]
    derive: dict[str, str] = field(default_factory=dict)


_SPECS: dict[str, _Spec] = {
    # RFC 3164 (`Jan  2 03:04:05 host proc[pid]: msg`) and rsyslog's ISO-8601 variant.
    "syslog": _Spec(
        rf"^(?P<ts>{_SYSLOG_TS}|{_ISO_TS}) (?P<host>\S+) {_TAG}",
        Roles(time=("ts",), host="host", process="process", pid="pid"),
        (TimeFormat("%b %d %H:%M:%S", yearless=True),) + _ISO,
    ),
    # RFC 5424: `<pri>1 ts host app procid msgid [sd] msg`, `-` = absent; a BOM before msg is dropped.
    "rfc5424": _Spec(
        r"^<(?P<pts>\d{1,3}>\d{1,2} \S+) (?P<ids>\S+ \S+ \S+ \S+) "
        r"(?P<structured_data>-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: \x{FEFF}?|$)",
        Roles(time=("ts",), host="host", process="process", pid="pid", priority="pri",
              extra=("msgid", "structured_data")),
        _ISO,
        {"pts": r"^(?P<pri>\d+)>\d+ (?:-|(?P<ts>\S+))$",
         "ids": r"^(?:-|(?P<host>\S+)) (?:-|(?P<process>\S+)) (?:-|(?P<pid>\S+)) (?:-|(?P<msgid>\S+))$",
         "structured_data": r"^(?:-|(?P<structured_data>.+))$"},
    ),
    # `[   12.345678] msg` (seconds since boot, kept as `uptime`), `dmesg -T` `[Mon Jan  2 03:04:05 2024]`,
    # and `dmesg -x` `kern  :info  : [...]`.
    "dmesg": _Spec(
        r"^(?:(?P<facility>[a-z0-9]+) *:(?P<level>[a-z]+) *: )?\[ *(?:(?P<uptime>\d+\.\d+)|"
        r"(?P<ts>[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d \d{4}))\](?: |$)",
        Roles(time=("ts",), level="level", extra=("facility", "uptime")),
        (TimeFormat("%a %b %d %H:%M:%S %Y"),),
    ),
    # Loghub BGL: `Label epoch date node time node type component level msg` ("-" label = normal).
    # The node is written twice; the host is read from the second copy.
    "bgl": _Spec(
        r"^(?P<Label>\S+) \d+ \d{4}\.\d\d\.\d\d \S+ (?P<Time>\d{4}-\d\d-\d\d-\d\d\.\d\d\.\d\d\.\d+) "
        r"(?P<rest>\S+ \S+ \S+ \S+)(?: |$)",
        Roles(time=("Time",), host="Node", process="Component", level="Level", extra=("Label", "Type")),
        (TimeFormat("%Y-%m-%d-%H.%M.%S"),),
        {"rest": r"^(?P<Node>\S+) (?P<Type>\S+) (?P<Component>\S+) (?P<Level>\S+)$"},
    ),
    # Loghub Thunderbird: `Label epoch date user Mon d hh:mm:ss location proc[pid]: msg`.
    "thunderbird": _Spec(
        r"^(?P<Label>\S+) \d+ (?P<when>\d{4}\.\d\d\.\d\d \S+ [A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d) "
        rf"(?P<Location>\S+) {_TAG}",
        Roles(time=("Date", "Time"), host="User", process="process", pid="pid", extra=("Label", "Location")),
        (TimeFormat("%Y.%m.%d %H:%M:%S"),),
        {"when": r"^(?P<Date>\S+) (?P<User>\S+) \S+ +\d+ (?P<Time>\S+)$"},
    ),
    "hdfs": _Spec(
        r"^(?P<ts>\d{6} \d{6}) (?P<Pid>\d+) (?P<Level>[A-Z]+) (?P<Component>[^\s:]+):(?: |$)",
        Roles(time=("ts",), process="Component", pid="Pid", level="Level"),
        (TimeFormat("%y%m%d %H%M%S"),),
    ),
    # Loghub names the bracketed thread `Process` and the logger class `Component`.
    "hadoop": _Spec(
        r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) (?P<Level>[A-Z]+) +\[(?P<Process>[^\]]*)\] "
        r"(?P<Component>[^\s:]+):(?: |$)",
        Roles(time=("ts",), process="Process", level="Level", extra=("Component",)),
        (TimeFormat("%Y-%m-%d %H:%M:%S"),),
    ),
    "spark": _Spec(
        r"^(?P<ts>\d\d/\d\d/\d\d \d\d:\d\d:\d\d) (?P<Level>[A-Z]+) (?P<Component>[^\s:]+):(?: |$)",
        Roles(time=("ts",), process="Component", level="Level"),
        (TimeFormat("%y/%m/%d %H:%M:%S"),),
    ),
    # `date time - LEVEL [thread:Component@line] - msg`; the thread may itself contain `:`.
    "zookeeper": _Spec(
        r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) - (?P<where>[A-Z]+ +\[[^@]*@\d+)\] - ",
        Roles(time=("ts",), process="Component", level="Level", extra=("Thread", "Line")),
        (TimeFormat("%Y-%m-%d %H:%M:%S"),),
        {"where": r"^(?P<Level>[A-Z]+) +\[(?P<Thread>.*):(?P<Component>[^:]+)@(?P<Line>\d+)$"},
    ),
    # Apache error log: 2.2 `[Sun Dec 04 04:47:44 2005] [notice] msg` and 2.4
    # `[Wed Oct 11 14:32:52.123456 2023] [core:error] [pid 1:tid 2] msg`.
    "apache": _Spec(
        r"^\[(?P<Time>[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)? \d{4})\] "
        r"\[(?P<ml>[a-z_0-9:]+)\](?: \[pid (?P<Pid>\d+)(?::tid \d+)?\])?(?: |$)",
        Roles(time=("Time",), pid="Pid", level="Level", extra=("Module",)),
        (TimeFormat("%a %b %d %H:%M:%S %Y"),),
        {"ml": r"^(?:(?P<Module>[a-z_0-9]+):)?(?P<Level>[a-z]+\d?)$"},
    ),
}

REGEX_PRESETS: tuple[str, ...] = tuple(_SPECS)


def regex_preset(name: str, year: int | None = None) -> RegexFormat:
    """The preset `name` (one of REGEX_PRESETS)."""
    spec = _SPECS[name]
    return RegexFormat(name, spec.pattern, spec.roles, derive=spec.derive, time_formats=spec.time_formats,
                       year=year)
