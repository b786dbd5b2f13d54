"""The built-in header formats (``--format NAME``).

Each preset is an RE2 pattern over the header, written for RE2's fast one-pass engine (see
``header.py``): at most 4 groups, no ambiguous branches. Fields packed into one group are split by a
`derive` pattern on distinct values. Extra fields keep their Loghub names (``Label``, ``Type``,
``Component``...) so that they match the columns of the Loghub ``--log-format`` strings; the presets
for other logs use lower-case names. An absent optional field is an empty group, read as null.

Beyond the Loghub systems, the presets cover what a Debian/Ubuntu ``/var/log`` holds as text: syslog
files, dmesg, dpkg / apt / alternatives logs, Python-logging daemons (cloud-init, unattended-upgrades),
other ISO-timestamped daemons, and nginx / Apache access and error logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anomaly_log_detector.parsing.header import RegexFormat, Roles
from anomaly_log_detector.parsing.timestamps import TimeContext, TimeFormat

_ISO = (TimeFormat("%Y-%m-%dT%H:%M:%S%z"), TimeFormat("%Y-%m-%dT%H:%M:%S"))
_ISO_SPACE = (TimeFormat("%Y-%m-%d %H:%M:%S%z"), TimeFormat("%Y-%m-%d %H:%M:%S"))
_SYSLOG_TS = r"[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d"
_ISO_TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"
# ISO 8601 as daemons write it: `T` or a space, `.` or `,` before the fraction, optional offset.
_ISO_ANY_TS = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
_PY_TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"  # logging's default asctime
_APT_TS = r"\d{4}-\d\d-\d\d +\d\d:\d\d:\d\d"     # apt writes two spaces between date and time
# Upper-case level names of common loggers; a longer name before its prefix (WARNING before WARN).
_LEVELS = "TRACE|DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|ERR|CRITICAL|CRIT|ALERT|FATAL|EMERG|SEVERE"
# The keys of apt's history.log blocks (apt-pkg/deb/dpkgpm.cc).
_APT_KEYS = "Commandline|Requested-By|Install|Reinstall|Upgrade|Downgrade|Remove|Purge|Error"
# `proc[pid]: ` as in syslog; optional, since `-- MARK --` and some daemons write no tag.
_TAG = r"(?:(?P<process>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?:(?: |$))?"


@dataclass(frozen=True)
class _Spec:
    pattern: str
    roles: Roles
    time_formats: tuple[TimeFormat, ...]
    derive: dict[str, str] = field(default_factory=dict)
    carry_time: bool = False            # lines without a time take the block's (RegexFormat)
    first_line: str | None = None       # detected only when the first line matches this


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
    # Python logging: `%(asctime)s - %(name)s - %(levelname)s - %(message)s` (the cookbook's),
    # `%(asctime)s %(levelname)s %(name)s: %(message)s`, and cloud-init's `... - util.py[DEBUG]: msg`.
    # The logger name is the process, as Spark's component.
    "python": _Spec(
        rf"^(?P<ts>{_PY_TS}) (?P<who>- [^\s\[\]]+(?: - [A-Z]+ -|\[[A-Z]+\]:)|(?:{_LEVELS}) [^\s:]+:)(?: |$)",
        Roles(time=("ts",), process="logger", level="level"),
        _ISO_SPACE,
        {"who": r"^(?:- (?P<logger>[^\s\[\]]+)(?: - (?P<level>[A-Z]+) -|\[(?P<level__2>[A-Z]+)\]:)|"
                r"(?P<level__3>[A-Z]+) (?P<logger__2>[^\s:]+):)$"},
    ),
    # `YYYY-MM-DD[T ]HH:MM:SS[.,frac][Z|+hh:mm] [LEVEL] msg`: dpkg.log, unattended-upgrades, and the
    # many daemons that start a line with an ISO time; the level is optional (`LEVEL`, `[LEVEL]`, `LEVEL:`).
    "iso": _Spec(
        rf"^(?P<ts>{_ISO_ANY_TS})(?: (?:(?P<lv>\[(?:{_LEVELS})\]|(?:{_LEVELS}):?)(?: |$))?|$)",
        Roles(time=("ts",), level="level"),
        _ISO + _ISO_SPACE,
        {"lv": r"^\[?(?P<level>[A-Z]+)"},
    ),
    # `prog YYYY-MM-DD HH:MM:SS: msg`: /var/log/alternatives.log (update-alternatives).
    "alternatives": _Spec(
        r"^(?P<process>[a-z][\w.-]*) (?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d): ",
        Roles(time=("ts",), process="process"),
        _ISO_SPACE[1:],
    ),
    # /var/log/apt/history.log: blocks of `Key: value` lines from `Start-Date:` to `End-Date:`. The
    # message keeps the key (`Install: pkg (ver), ...`); a date line's message is its key alone. Lines
    # inside a block take the block's start time.
    "apt-history": _Spec(
        rf"^(?:(?P<content>Start-Date|End-Date): (?P<ts>{_APT_TS})\s*$|(?P<content__2>(?:{_APT_KEYS}): .*))",
        Roles(time=("ts",)),
        _ISO_SPACE[1:],
        carry_time=True,
    ),
    # /var/log/apt/term.log and unattended-upgrades-dpkg.log: `Log started: date  time`, the free
    # output of dpkg, `Log ended: ...`. Every line is part of a block and takes its start time; since
    # any line matches, the format is detected only when the file starts with `Log started:`.
    "apt-term": _Spec(
        rf"^(?:(?P<content>Log started|Log ended): (?P<ts>{_APT_TS})\s*$|(?P<content__2>.*))",
        Roles(time=("ts",)),
        _ISO_SPACE[1:],
        carry_time=True,
        first_line=r"^Log started: \d{4}-",
    ),
    # nginx and Apache access logs, Common or Combined Log Format:
    # `client ident user [02/Jan/2024:03:04:05 +0000] "GET / HTTP/1.1" 200 612 "referer" "agent"`.
    # The client address is the extra `client` (the host column is the machine that wrote the log);
    # the message is the request, status, size, referer and agent.
    "access": _Spec(
        r"^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<ts>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\](?: |$)",
        Roles(time=("ts",), extra=("client", "user")),
        (TimeFormat("%d/%b/%Y:%H:%M:%S %z"),),
        {"user": r"^(?:-|(?P<user>.+))$"},
    ),
    # nginx error log: `2024/01/02 03:04:05 [error] 123#123: *1 msg` (pid#tid, then the connection).
    "nginx-error": _Spec(
        r"^(?P<ts>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<level>[a-z]+)\] (?P<ids>\d+#\d+): (?:\*(?P<connection>\d+) )?",
        Roles(time=("ts",), pid="pid", level="level", extra=("tid", "connection")),
        (TimeFormat("%Y/%m/%d %H:%M:%S"),),
        {"ids": r"^(?P<pid>\d+)#(?P<tid>\d+)$"},
    ),
}

REGEX_PRESETS: tuple[str, ...] = tuple(_SPECS)


def regex_preset(name: str, time: TimeContext | None = None) -> RegexFormat:
    """The preset `name` (one of REGEX_PRESETS); `time` completes times without year or zone."""
    spec = _SPECS[name]
    return RegexFormat(name, spec.pattern, spec.roles, derive=spec.derive, time_formats=spec.time_formats,
                       time=time, carry_time=spec.carry_time, first_line=spec.first_line)
