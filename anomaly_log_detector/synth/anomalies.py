"""Anomalous events for :mod:`anomaly_log_detector.synth`, built from the normal ones where they can be."""

from __future__ import annotations

from typing import Callable

import numpy as np

from anomaly_log_detector.synth import events as ev
from anomaly_log_detector.synth.events import (FACILITY, COMMS, CRIT, EMERG, ERR, FUNCS, UNITS, WARNING, Batch,
                                               Context, build)


def _one(ctx: Context, t: float, h: int, rows: list[tuple[float, str, str, str, int]]) -> Batch:
    """One event from (offset, app, pid, message, severity) rows; kernel messages get their uptime."""
    n = len(rows)
    times, host = t + np.array([r[0] for r in rows]), np.full(n, h)
    uptime = ctx.kern(times, host, [""] * n)
    msg = [u + text if app == "kernel" else text for u, (_, app, _, text, _) in zip(uptime, rows)]
    pri = np.array([FACILITY.get(app, 3) * 8 + sev for _, app, _, _, sev in rows])
    return Batch(times, host, [r[1] for r in rows], [r[2] for r in rows], msg, pri, np.zeros(n, np.int64))


def _kernel_oops(ctx: Context, t: float, h: int) -> Batch:
    r = ctx.rng
    comm, pid, func = ctx.pick(COMMS, 1)[0], ctx.pids(1)[0], ctx.pick(FUNCS, 1)[0]
    addr, off, size = f"ffff{ctx.hexes(1, 12)[0]}", ctx.hexes(1, 3)[0], ctx.hexes(1, 3)[0]
    rows = [(0.0, f"BUG: unable to handle page fault for address: {addr}", CRIT),
            (0.001, "#PF: supervisor read access in kernel mode", CRIT),
            (0.002, "Oops: 0000 [#1] PREEMPT SMP NOPTI", CRIT),
            (0.003, f"CPU: {r.integers(0, 16)} PID: {pid} Comm: {comm} Not tainted "
                    f"6.5.0-{r.integers(10, 40)}-generic", CRIT),
            (0.004, f"RIP: 0010:{func}+0x{off}/0x{size}", CRIT)]
    if r.random() < 0.5:
        rows.append((0.01, "Kernel panic - not syncing: Fatal exception", EMERG))
    return _one(ctx, t, h, [(dt, "kernel", "", text, sev) for dt, text, sev in rows])


def _segfault(ctx: Context, t: float, h: int) -> Batch:
    comm, pid = ctx.pick(COMMS, 1)[0], ctx.pids(1)[0]
    at, ip, sp, base, size = ctx.hexes(5, 12)
    return _one(ctx, t, h, [
        (0.0, "kernel", "", f"{comm}[{pid}]: segfault at {at[:8]} ip 0000{ip} sp 00007ffd{sp[:8]} error 4 in "
                            f"libc.so.6[{base},{base[:6]}+{size[:6]}]", ERR),
        (0.05, "systemd", "1", f"{comm}.service: Main process exited, code=dumped, status=11/SEGV", ERR),
    ])


def _io_error(ctx: Context, t: float, h: int) -> Batch:
    sector, block, inode = ctx.ints(10_000, 2_000_000_000, 3)
    comm = ctx.pick(COMMS, 1)[0]
    return _one(ctx, t, h, [
        (0.0, "kernel", "", f"blk_update_request: I/O error, dev sdb, sector {sector} op 0x0:(READ) flags 0x80700 "
                            "phys_seg 1 prio class 0", ERR),
        (0.01, "kernel", "", f"Buffer I/O error on dev sdb1, logical block {block}, async page read", ERR),
        (0.02, "kernel", "", f"EXT4-fs error (device sdb1): ext4_find_entry:1683: inode #{inode}: comm {comm}: "
                             "reading directory lblock 0", ERR),
    ])


def _oom(ctx: Context, t: float, h: int) -> Batch:
    comm, pid = ctx.pick(COMMS, 1)[0], ctx.pids(1)[0]
    vm, rss = ctx.ints(1_000_000, 9_000_000, 2)
    return _one(ctx, t, h, [
        (0.0, "kernel", "", f"{comm} invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), "
                            "order=0, oom_score_adj=0", ERR),
        (0.01, "kernel", "", f"Out of memory: Killed process {pid} ({comm}) total-vm:{vm}kB, anon-rss:{rss}kB, "
                             "file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:4096kB oom_score_adj:0", ERR),
    ])


def _hung_task(ctx: Context, t: float, h: int) -> Batch:
    comm, pid = ctx.pick(COMMS, 1)[0], ctx.pids(1)[0]
    return _one(ctx, t, h, [
        (0.0, "kernel", "", f"INFO: task {comm}:{pid} blocked for more than {ctx.ints(2, 10, 1)[0] * 60} "
                            "seconds.", ERR),
        (0.001, "kernel", "", '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.', ERR),
    ])


def _machine_check(ctx: Context, t: float, h: int) -> Batch:
    return _one(ctx, t, h, [
        (0.0, "kernel", "", "mce: [Hardware Error]: Machine check events logged", WARNING),
        (0.001, "kernel", "", f"mce: [Hardware Error]: CPU {ctx.ints(0, 16, 1)[0]}: Machine Check: 0 Bank 5: "
                              f"be{ctx.hexes(1, 14)[0]}", CRIT),
    ])


_UNSEEN: tuple[Callable[[Context, float, int], Batch], ...] = (
    _kernel_oops, _segfault, _io_error, _oom, _hung_task, _machine_check)


def _each(ctx: Context, t0: np.ndarray, host: np.ndarray, make: Callable[[int, float, int], Batch]) -> Batch:
    """One event per start time: `make(i, t, h)` builds event i."""
    events = [make(i, t, h).as_one_event() for i, (t, h) in enumerate(zip(t0.tolist(), host.tolist()))]
    return Batch.concat(events) if events else build(host, [])


def unseen(ctx: Context, t0: np.ndarray, host: np.ndarray) -> Batch:
    """Messages that normal operation never writes."""
    kinds = ctx.rng.integers(0, len(_UNSEEN), len(t0)).tolist()
    return _each(ctx, t0, host, lambda i, t, h: _UNSEEN[kinds[i]](ctx, t, h))


def burst(ctx: Context, t0: np.ndarray, host: np.ndarray) -> Batch:
    """A normal message (firewall drop, SSH scan) repeated 20-80 times within 2.5 seconds."""
    def one(_: int, t: float, h: int) -> Batch:
        n = int(ctx.rng.integers(20, 81))
        if ctx.rng.random() < 0.5:
            times = t + np.sort(ctx.rng.uniform(0, 2.5, n))
            return ev.firewall_drop(ctx, times, np.full(n, h))
        times = t + np.sort(ctx.rng.uniform(0, 2.5, -(-n // 3)))
        return ev.ssh_scan(ctx, times, np.full(len(times), h))
    return _each(ctx, t0, host, one)


def reordered(ctx: Context, t0: np.ndarray, host: np.ndarray) -> Batch:
    """Normal sequences (SSH session, container, cron run) with steps swapped, reversed or missing."""
    parts = []
    for j, make in enumerate((ev.ssh_session, ev.container, ev.cron_run)):
        normal = make(ctx, t0[j::3], host[j::3])  # events are contiguous, steps in time order
        if len(normal) == 0:
            continue
        starts = np.flatnonzero(np.r_[True, normal.event[1:] != normal.event[:-1]])
        ends = np.r_[starts[1:], len(normal)]
        lines, times = [], []
        for a, b in zip(starts.tolist(), ends.tolist()):
            n, mode = b - a, ctx.rng.integers(0, 3)
            if mode == 0:  # two steps swap places, times stay
                order = np.arange(n)
                i, k = ctx.rng.choice(n, 2, replace=False)
                order[[i, k]] = order[[k, i]]
                lines.append(a + order)
                times.append(np.arange(a, b))
            elif mode == 1:  # the whole sequence backwards, times stay
                lines.append(np.arange(b - 1, a - 1, -1))
                times.append(np.arange(a, b))
            else:  # some steps missing
                keep = a + np.sort(ctx.rng.choice(n, int(ctx.rng.integers(1, n)), replace=False))
                lines.append(keep)
                times.append(keep)
        if lines:
            parts.append(normal.take(np.concatenate(lines), np.concatenate(times)))
    return Batch.concat(parts) if parts else build(host, [])


_ERRORS = (
    ("systemd", "1", "{unit}: Failed with result 'exit-code'.", ERR),
    ("systemd", "1", "Failed to start {desc}.", ERR),
    ("dockerd", "", 'level=error msg="failed to connect to containerd" error="context deadline exceeded"', ERR),
    ("NetworkManager", "", "<error> [{stamp}] dhcp4 (eth0): request timed out", ERR),
    ("sshd", "", "error: kex_exchange_identification: Connection closed by remote host", ERR),
    ("CRON", "", "(CRON) error (grandchild #{pid} failed with exit status 1)", ERR),
    ("kernel", "", "nfs: server {ip} not responding, still trying", WARNING),
)


def error_storm(ctx: Context, t0: np.ndarray, host: np.ndarray) -> Batch:
    """30-120 error lines from 4-6 processes on one or two hosts within 5-15 seconds."""
    def one(_: int, t: float, h: int) -> Batch:
        r = ctx.rng
        n = int(r.integers(30, 121))
        chosen = r.choice(len(_ERRORS), int(r.integers(4, 7)), replace=False)
        kinds = chosen[r.integers(0, len(chosen), n)].tolist()
        hosts = np.where(r.random(n) < 0.7, h, r.integers(0, len(ctx.hosts), n))
        times = t + np.sort(r.uniform(0, r.uniform(5, 15), n))
        unit, desc = UNITS[int(r.integers(0, len(UNITS)))]
        ip, pids, stamps = ctx.ips(1, internal=True)[0], ctx.pids(n), ctx.nm_stamp(times)
        uptime = ctx.kern(times, hosts, [""] * n)
        app, pid, msg, pri = [], [], [], []
        for j, (kind, hh) in enumerate(zip(kinds, hosts.tolist())):
            name, fixed_pid, text, sev = _ERRORS[kind]
            text = text.format(unit=unit, desc=desc, stamp=stamps[j], pid=pids[j], ip=ip)
            app.append(name)
            if name == "kernel":
                pid.append("")
                text = uptime[j] + text
            else:
                pid.append(fixed_pid or (str(ctx.daemon_pid[name][hh]) if name in ctx.daemon_pid else pids[j]))
            msg.append(text)
            pri.append(FACILITY.get(name, 3) * 8 + sev)
        return Batch(times, hosts, app, pid, msg, np.array(pri), np.zeros(n, np.int64))
    return _each(ctx, t0, host, one)


def correlation_break(ctx: Context, t0: np.ndarray, host: np.ndarray) -> Batch:
    """Series that move together come apart: for 20-60 seconds on one host, 15-40 systemd service runs
    start and never finish (only their "Starting ..." line is written), so the "Starting" counts rise
    while "Deactivated" / "Finished" stay at their normal rate. No message is new and the rate barely
    changes: only the correlation between templates breaks."""
    def one(_: int, t: float, h: int) -> Batch:
        r = ctx.rng
        k = int(r.integers(15, 41))
        times = t + np.sort(r.uniform(0, r.uniform(20, 60), k))
        runs = ev.service_run(ctx, times, np.full(k, h))  # events contiguous, steps in time order
        return runs.take(np.flatnonzero(np.r_[True, runs.event[1:] != runs.event[:-1]]))
    return _each(ctx, t0, host, one)
