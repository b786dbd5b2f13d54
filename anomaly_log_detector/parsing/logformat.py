"""``--log-format`` strings in the convention of logparser / the Loghub benchmark.

``'<Date> <Time> <Pid> <Level> <Component>: <Content>'``: each ``<Name>`` becomes a named group
``(?P<Name>.*?)`` (``Content`` takes the rest of the line), the text between them is a regular
expression in which runs of spaces match ``\\s+``, and the pattern is anchored at both ends. This is
logparser's ``generate_logformat_regex``, in RE2 syntax for ``pyarrow.compute.extract_regex``:
unnamed groups such as ``(\\[<PID>\\])?`` become non-capturing. A literal ``<`` is written ``\\<``.
When ``<Content>`` ends the format, only the header part is matched and the message is the rest of
the line: the same split, found faster; when the fields are separated by blanks (after an optional
literal such as ``:``), most lines are split without the regex at all, to the same result
(``tokensplit.py``).

Field names map case-insensitively to the canonical columns (the first listed name present wins; the
others stay extra fields):

* host: Node, Host, Hostname
* process: Process, Program, Ident, Comm, Component
* pid: Pid; level: Level, Severity, Priority
* timestamp: Date, Time, Timestamp, Datetime, Month, Day, Year (joined in format order)

One rule of position comes first. A format in the shape of RFC 3164 syslog (``<Month> <Date> <Time>
<X> ...``: three month/day/time fields, none a year, then one field that is not the last before
``<Content>``) has the HOSTNAME where X is. With no host-named field, X is the host whatever its name:
Loghub's Linux format calls it ``<Level>`` and OpenSSH's ``<Component>``. A level-named X stays a
level where its value is a level word (``INFO``, ``err``...): a year-less application log may really
have its level there.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from anomaly_log_detector.errors import FormatError
from anomaly_log_detector.parsing.header import RegexFormat, Roles
from anomaly_log_detector.parsing.timestamps import TimeContext
from anomaly_log_detector.parsing.tokensplit import token_plan

_PLACEHOLDER = re.compile(r"(?<!\\)<([^<>]*)>")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

TIME_NAMES = ("date", "time", "timestamp", "datetime", "month", "day", "year")
HOST_NAMES = ("node", "host", "hostname")
PROCESS_NAMES = ("process", "program", "ident", "comm", "component")
PID_NAMES = ("pid",)
LEVEL_NAMES = ("level", "severity", "priority")
_SYSLOG_TIME_NAMES = ("month", "date", "day", "time")  # the year-less time of RFC 3164


def _uncapture(regex: str) -> str:
    """Turn unnamed capturing groups into non-capturing ones (extract_regex wants only named groups)."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            out.append(regex[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            j = i + 1 + regex.startswith("^", i + 1)
            j += regex.startswith("]", j)  # a `]` first in a class is literal
            out.append(regex[i:j])
            i = j
            continue
        elif c == "(" and not regex.startswith("?", i + 1):
            out.append("(?:")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _syslog_host(pieces: list[str]) -> str | None:
    """The field in RFC 3164's HOSTNAME place (see the module docstring), or None when the format
    does not have that shape. `pieces` alternate literal text and field names."""
    names, texts = pieces[1::2], pieces[0::2]
    if len(names) < 5 or texts[0] or names[4].lower() == "content" and not texts[4].strip():
        return None
    if not all(n.lower() in _SYSLOG_TIME_NAMES for n in names[:3]) or names[3].lower() in TIME_NAMES:
        return None
    return names[3] if all(t and not t.strip() for t in texts[1:4]) else None


def _roles(names: list[str], content: str, syslog_host: str | None = None) -> Roles:
    by_lower = {n.lower(): n for n in names}
    host_or_level = None
    if syslog_host and not any(n in by_lower for n in HOST_NAMES):
        if syslog_host.lower() in LEVEL_NAMES:
            host_or_level = syslog_host
        del by_lower[syslog_host.lower()]   # not a process, pid or level by its name

    def first(candidates: tuple[str, ...]) -> str | None:
        return next((by_lower[c] for c in candidates if c in by_lower), None)

    host, process, pid, level = first(HOST_NAMES), first(PROCESS_NAMES), first(PID_NAMES), first(LEVEL_NAMES)
    if syslog_host and not host and not host_or_level:
        host = syslog_host
    time = tuple(n for n in names if n.lower() in TIME_NAMES)
    used = {host, process, pid, level, host_or_level, content, *time}
    return Roles(time=time, host=host, process=process, pid=pid, level=level, host_or_level=host_or_level,
                 extra=tuple(n for n in names if n not in used))


def compile_log_format(text: str, time: TimeContext | None = None) -> RegexFormat:
    """Build the header format of a logparser-style format string; FormatError when it is invalid.
    `time` completes times without year or zone."""
    if not text or not text.strip():
        raise FormatError("--log-format is empty")
    pieces = _PLACEHOLDER.split(text)
    names = pieces[1::2]
    seen: set[str] = set()
    for name in names:
        if not _IDENTIFIER.match(name):
            raise FormatError(f"--log-format field <{name}> is not a name "
                              "(letters, digits and _, not starting with a digit)")
        if name.lower() in seen:
            raise FormatError(f"--log-format has the field <{name}> twice")
        seen.add(name.lower())
    content = next((n for n in names if n.lower() == "content"), None)
    if content is None:
        raise FormatError("--log-format needs a <Content> field for the message")
    parts = [f"(?P<{piece}>.*?)" if k % 2 else _uncapture(re.sub(" +", r"\\s+", piece))
             for k, piece in enumerate(pieces)]
    regex = "^" + "".join(parts) + "$"
    groups = _group_names(regex)
    at = 1 + 2 * names.index(content)
    if at == len(pieces) - 2 and pieces[-1] == "":
        # The message ends the line: match the header alone, the message is the rest (see header.py).
        header = "^" + "".join(parts[:at])
        if not pc.match_substring_regex(pa.array([""], pa.string()), pattern=header)[0].as_py():
            regex = header
            groups.remove(content)
    roles = _roles(groups, content, _syslog_host(pieces))
    tokens = token_plan(pieces) if content not in groups else None
    return RegexFormat("custom", regex, roles, content=content, time=time, tokens=tokens)


def _group_names(regex: str) -> list[str]:
    try:
        probe = pc.extract_regex(pa.array([""], pa.string()), pattern=regex)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise FormatError(f"--log-format is not a valid regular expression: {str(exc).splitlines()[0]}") from None
    return [probe.type.field(i).name for i in range(probe.type.num_fields)]
