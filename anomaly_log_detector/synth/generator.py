"""Synthetic kernel/system logs with labelled anomalies (``alog-detect gen-synth``).

Normal behaviour has structure a sequence model can learn: SSH sessions (accept -> session opened ->
logind -> ... -> disconnect -> session closed -> logout), cron jobs every 5 minutes and a sysstat timer
every 10 minutes on each host, container life cycles, DHCP renewals, backup-disk mounts, firewall
drops and internet SSH scans. Anomalies are injected as whole events:

* ``unseen``: messages normal operation never writes (kernel oops/panic, segfault, I/O errors, OOM kill,
  hung task, machine check);
* ``burst``: one normal message repeated 20-80 times within a few seconds;
* ``reordered``: a normal sequence with steps swapped or missing;
* ``error_storm``: 30-120 error lines from several processes within seconds;
* ``correlation_break`` (only when asked for, ``anomaly_types``): for 20-60 s, service runs start and
  never finish - templates that always move together come apart, with no new message and hardly any
  change of rate (what MS-CRED's signature matrices are for).

Everything is drawn from one ``numpy`` generator seeded by ``seed``: the same arguments give
byte-identical files. Lines are built per event type with list comprehensions over numpy arrays, so a
million lines take a few seconds.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from datetime import datetime, timezone
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anomaly_log_detector.synth import anomalies as an
from anomaly_log_detector.synth import events as ev
from anomaly_log_detector.errors import DataError

ANOMALY_TYPES = ("unseen", "burst", "reordered", "error_storm")   # the default mix
EXTRA_TYPES = ("correlation_break",)                                # injected only when asked for
ALL_TYPES = ANOMALY_TYPES + EXTRA_TYPES
FORMATS = ("syslog", "rfc5424")
START = datetime(2024, 3, 1, tzinfo=timezone.utc)  # written without a year in syslog format
LINES_PER_SECOND = 10                               # mean rate: sets the time span of the log
WRAPPED_PID_OFFSET = 100_000                        # process ids of wrapped episodes (see _earlier_instances)

# Random normal episodes: (generator, share of the normal lines, lines per episode).
_NORMAL: tuple[tuple[Callable, float, int], ...] = (
    (ev.ssh_session, 0.30, 8), (ev.ssh_scan, 0.20, 3), (ev.container, 0.15, 5), (ev.dhcp_renew, 0.10, 4),
    (ev.service_run, 0.10, 3), (ev.backup_mount, 0.05, 4), (ev.background_error, 0.01, 1),
)


def labels_path(out: str) -> str:
    return out + ".labels.parquet"


def check_types(types) -> tuple[str, ...]:
    """The anomaly kinds to inject, in the order of ALL_TYPES (None = the default four)."""
    if types is None:
        return ANOMALY_TYPES
    if isinstance(types, str):
        types = [t.strip() for t in types.split(",") if t.strip()]
    unknown = sorted(set(types) - set(ALL_TYPES))
    if unknown or not types:
        raise DataError(f"--anomaly-types: unknown or no kind ({', '.join(unknown) or 'none given'}); "
                        f"choose from: {', '.join(ALL_TYPES)}")
    return tuple(t for t in ALL_TYPES if t in set(types))


def _check(lines: int, anomaly_rate: float, fmt: str) -> None:
    if isinstance(lines, bool) or not isinstance(lines, (int, np.integer)) or lines < 1:
        raise DataError(f"--lines must be an integer >= 1 (got {lines!r})")
    if not 0.0 <= anomaly_rate < 1.0:
        raise DataError(f"--anomaly-rate must be in [0, 1) (got {anomaly_rate!r})")
    if fmt not in FORMATS:
        raise DataError(f"unknown synthetic log format {fmt!r}; choose one of: {', '.join(FORMATS)}")


def _count(batches: list[ev.Batch]) -> int:
    return sum(map(len, batches))


def _fill(budget: int, make: Callable[[int], ev.Batch], size: int) -> list[ev.Batch]:
    """Events of about `size` lines until exactly `budget` lines (the last event is cut to fit)."""
    batches: list[ev.Batch] = []
    while _count(batches) < budget:
        left = budget - _count(batches)
        batches.append(make(max(1, left // size)).head(left))
    return batches


def _normal(ctx: ev.Context, budget: int) -> list[ev.Batch]:
    """Exactly `budget` normal lines: periodic jobs, random episodes, then single firewall lines."""
    batches: list[ev.Batch] = []
    for periodic in (ev.cron_jobs, ev.sysstat_timer):
        batches.append(periodic(ctx).head(budget - _count(batches)))
    rest = budget - _count(batches)
    for make, share, size in _NORMAL:
        k = int(rest * share) // size
        batches.append(make(ctx, ctx.uniform_times(k), ctx.random_hosts(k)))
    left = budget - _count(batches)
    batches.append(ev.firewall_drop(ctx, ctx.uniform_times(left), ctx.random_hosts(left)))
    return batches


def _anomalies(ctx: ev.Context, budget: int, types: tuple[str, ...] = ANOMALY_TYPES) -> list[ev.Batch]:
    """Exactly `budget` anomalous lines, split evenly over the chosen types (line counts)."""
    n = len(types)
    shares = [budget // n + (i < budget % n) for i in range(n)]
    makers = {"unseen": (an.unseen, 3), "burst": (an.burst, 50), "reordered": (an.reordered, 5),
              "error_storm": (an.error_storm, 70), "correlation_break": (an.correlation_break, 27)}
    batches = []
    for kind, share in zip(types, shares):
        make, size = makers[kind]
        events = _fill(share, lambda k, make=make: make(ctx, ctx.uniform_times(k), ctx.random_hosts(k)), size)
        batches += [b.labelled(kind) for b in events]
    return batches


def _render(fmt: str, t: np.ndarray, host: pa.Array, app: pa.Array, pid: pa.Array, msg: pa.Array,
            pri: np.ndarray) -> pa.Array:
    """The log lines, built column-wise with Arrow kernels."""
    micros = np.int64(START.timestamp() * 1e6) + (t * 1e6).astype(np.int64)
    no_pid = pc.equal(pid, "")
    if fmt == "syslog":
        seconds, inverse = np.unique(micros // 1_000_000, return_inverse=True)
        texts = pc.strftime(pa.array(seconds, pa.timestamp("s", tz="UTC")), format="%b %d %H:%M:%S")
        texts = pc.replace_substring_regex(texts, pattern=r"^(\w{3}) 0", replacement=r"\1  ")  # "Mar  1"
        tag = pc.if_else(no_pid, app, pc.binary_join_element_wise(app, "[", pid, "]", ""))
        return pc.binary_join_element_wise(texts.take(pa.array(inverse)), host,
                                           pc.binary_join_element_wise(tag, ":", ""), msg, " ")
    stamps = pc.strftime(pa.array(micros, pa.timestamp("us", tz="UTC")), format="%Y-%m-%dT%H:%M:%S")
    head = pc.binary_join_element_wise("<", pa.array(pri).cast(pa.string()), ">1", "")
    return pc.binary_join_element_wise(head, pc.binary_join_element_wise(stamps, "+00:00", ""), host, app,
                                       pc.if_else(no_pid, "-", pid), "-", "-", msg, " ")


def _write_text(path: str, lines: pa.Array) -> None:
    text = pc.binary_join_element_wise(lines, "", "\n")  # every line + "\n", in one buffer
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset:]
    data = memoryview(text.buffers()[2])[offsets[0]:offsets[len(text)]]
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        if path.endswith(".gz"):
            # No name and a zero time in the gzip header keep the file byte-identical across runs.
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=6) as gz:
                gz.write(data)
        else:
            f.write(data)
    os.replace(tmp, path)


def _write_labels(path: str, kinds: pa.Array, events: np.ndarray) -> None:
    import pyarrow.parquet as pq

    anomalous = pc.is_valid(kinds).to_numpy(zero_copy_only=False)
    # Anomaly events numbered 1.. in order of their first line; normal lines get null.
    uniq, first, inverse = np.unique(events[anomalous], return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(1, len(uniq) + 1)
    numbers = np.zeros(len(kinds), np.int64)
    numbers[anomalous] = rank[inverse]
    table = pa.table({
        "line_no": pa.array(np.arange(1, len(kinds) + 1), pa.int64()),
        "is_anomaly": pa.array(anomalous, pa.bool_()),
        "anomaly_type": kinds,
        "anomaly_event": pa.array(numbers, pa.int64(), mask=~anomalous),
    })
    tmp = path + ".tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _earlier_instances(batch: ev.Batch, wrapped: np.ndarray) -> list[str]:
    """Process ids after the time wrap. The wrapped part of an episode stands for an *earlier* instance
    of it (the log is cut from a continuous stream), so where a process id belongs to one episode only
    (an sshd connection, a cron run) its wrapped lines get another id: one process never logs the end
    of its session before its start. Daemons (one pid for many episodes) keep theirs."""
    if not wrapped.any():
        return batch.pid
    keys = [f"{h}\t{a}\t{p}" for h, a, p in zip(batch.host.tolist(), batch.app, batch.pid)]
    events: dict[str, set] = {}
    for k, e in zip(keys, batch.event.tolist()):
        events.setdefault(k, set()).add(e)
    return [str(int(p) + WRAPPED_PID_OFFSET) if w and p.isdigit() and len(events[k]) == 1 else p
            for k, p, w in zip(keys, batch.pid, wrapped.tolist())]


_ID_TOKEN = re.compile(r"[0-9A-Za-z]*[0-9][0-9A-Za-z]*")
_HEX = "0123456789abcdef"


def _is_id(token: str) -> bool:
    """A token that reads as an identifier (a port, a session number, a hex id, ``veth1a2b3c4``): after
    a leading name, 3+ hex characters with a digit (``docker0``, ``ssh2`` are names)."""
    tail = token[_name_length(token):]
    return len(tail) >= 3 and any(c.isdigit() for c in tail)


def _name_length(token: str) -> int:
    """Length of a token's leading name: up to its last character that is not a hex digit."""
    return max((i + 1 for i, c in enumerate(token.lower()) if c not in _HEX), default=0)


def _other_id(token: str) -> str:
    """A different identifier of the same shape (length and a leading name such as ``veth`` kept,
    digits stay digits, hex stays hex): a deterministic function of the token, so every line of one
    wrapped episode agrees."""
    h = hashlib.sha256(token.encode()).digest()
    first = _name_length(token)
    out = list(token[:first])
    for i, c in enumerate(token[first:], start=first):
        b = h[i % len(h)]
        if c.isdigit():
            out.append(str((int(c) + 1 + b % 9) % 10) if i > first else str(1 + (int(c) + b) % 9))
        elif c.lower() in _HEX:
            new = _HEX[(_HEX.index(c.lower()) + 1 + b % 15) % 16]
            out.append(new.upper() if c.isupper() else new)
        else:
            out.append(c)
    return "".join(out)


def _earlier_ids(batch: ev.Batch, wrapped: np.ndarray) -> list[str]:
    """Messages after the time wrap. Like process ids (:func:`_earlier_instances`), the identifiers a
    wrapped part shares with the rest of its episode (a container id, a veth name, a session number, a
    port) stand for an earlier instance and get other values: a container never logs its exit before
    its start under the same id. Tokens with a digit that occur in both parts of one episode are
    replaced in the wrapped lines."""
    if not wrapped.any():
        return batch.msg
    events = batch.event.tolist()
    flags = wrapped.tolist()
    cut = {e for e, w in zip(events, flags) if w}
    unwrapped: dict[int, set[str]] = {}
    for e, w, m in zip(events, flags, batch.msg):
        if e in cut and not w:
            unwrapped.setdefault(e, set()).update(t for t in _ID_TOKEN.findall(m) if _is_id(t))
    out = list(batch.msg)
    for i, (e, w) in enumerate(zip(events, flags)):
        shared = unwrapped.get(e) if w else None
        if shared:
            out[i] = _ID_TOKEN.sub(lambda t: _other_id(t.group()) if t.group() in shared else t.group(), out[i])
    return out


def generate_synthetic_log(out: str, lines: int, anomaly_rate: float, seed: int = 42,
                           fmt: str = "syslog", anomaly_types=None) -> dict:
    """Write `lines` log lines to `out` (gzip when it ends with .gz) and their labels to
    `out + ".labels.parquet"`; `anomaly_rate` is the share of lines that belong to anomalies, split
    evenly over `anomaly_types` (names or a comma-separated string; default: the four of ANOMALY_TYPES).

    Returns a summary: paths, line counts, anomalous lines and events per type.
    """
    _check(lines, anomaly_rate, fmt)
    types = check_types(anomaly_types)
    if os.path.isdir(out):
        raise DataError(f"--out {out} is a folder; give a file path")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise DataError(f"folder {parent} does not exist")
    ctx = ev.Context(np.random.default_rng(seed), span=max(lines / LINES_PER_SECOND, 60.0), start=START)
    n_anomalous = int(round(lines * anomaly_rate))
    batches = _normal(ctx, lines - n_anomalous) + _anomalies(ctx, n_anomalous, types)
    merged = ev.Batch.concat(batches)
    # Time is circular: an episode that runs past the end of the span continues at its start, like a
    # log cut from a continuous stream (sessions in progress at both ends). Without this, the tail
    # would hold only the endings of long episodes and look unlike the rest of the log.
    wrapped = merged.t >= ctx.span
    merged.t = np.mod(merged.t, ctx.span)
    merged.pid = _earlier_instances(merged, wrapped)
    merged.msg = _earlier_ids(merged, wrapped)
    order = np.argsort(merged.t, kind="stable")
    index = pa.array(order)
    app, pid, msg, kinds = (pa.array(getattr(merged, name), pa.string()).take(index)
                            for name in ("app", "pid", "msg", "kind"))
    hosts = pa.array(ctx.hosts).take(pa.array(merged.host[order]))
    _write_text(out, _render(fmt, merged.t[order], hosts, app, pid, msg, merged.pri[order]))
    events = merged.event[order]
    _write_labels(labels_path(out), kinds, events)
    names = pc.fill_null(kinds, "").to_numpy(zero_copy_only=False)
    per_type = {k: int((names == k).sum()) for k in types}
    events_by_type = {k: len(np.unique(events[names == k])) for k in types}
    return {
        "log": out, "labels": labels_path(out), "format": fmt, "seed": seed, "lines": len(order),
        "anomalous_lines": sum(per_type.values()), "anomalous_lines_by_type": per_type,
        "anomaly_events_by_type": events_by_type, "hosts": list(ctx.hosts),
    }
