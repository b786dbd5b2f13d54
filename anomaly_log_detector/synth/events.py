"""Event generators for :mod:`anomaly_log_detector.synth`: each builds `k` events at once.

An event is a few lines (one SSH session, one cron run, one kernel oops...). Generators take the start
times and host indices of their `k` events and return a :class:`Batch` whose lines are grouped by
event, in time order within an event.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

HOSTS = ("web-01", "web-02", "db-01", "cache-01", "worker-03")
USERS = ("alice", "bob", "deploy", "ubuntu", "backup", "carol")
BAD_USERS = ("admin", "test", "oracle", "guest", "postgres", "pi", "user1", "ftpuser", "git", "support")
IMAGES = ("nginx:1.25", "redis:7.2", "postgres:16", "python:3.12-slim", "busybox:1.36")
UNITS = (("logrotate.service", "Rotate log files"), ("apt-daily.service", "Daily apt download activities"),
         ("man-db.service", "Daily man-db regeneration"), ("fstrim.service", "Discard unused blocks on filesystems"),
         ("certbot.service", "Certbot renewal"), ("backup.service", "Nightly backup"))
COMMS = ("nginx", "postgres", "redis-server", "python3", "java", "node")
FUNCS = ("ext4_readdir", "__kmalloc", "tcp_recvmsg", "nvme_queue_rq", "do_sys_open", "copy_page_range")
INFO, WARNING, ERR, CRIT, EMERG = 6, 4, 3, 2, 0  # syslog severities
FACILITY = {"kernel": 0, "sshd": 10, "systemd-logind": 10, "CRON": 9}  # others: daemon (3)


@dataclass
class Batch:
    """Lines of one or more events; `kind` is the anomaly type of each line (None = normal)."""

    t: np.ndarray                 # seconds since the log start
    host: np.ndarray              # index into HOSTS
    app: list[str]
    pid: list[str]                # "" = no pid (the kernel)
    msg: list[str]
    pri: np.ndarray               # syslog PRI = facility * 8 + severity
    event: np.ndarray             # event number of each line (lines of one event are contiguous)
    kind: list[str | None] = field(default_factory=list)
    kind_name: str | None = None

    def __post_init__(self) -> None:
        if not self.kind:
            self.kind = [self.kind_name] * len(self.msg)

    def __len__(self) -> int:
        return len(self.msg)

    def take(self, index: np.ndarray, time_index: np.ndarray | None = None) -> "Batch":
        """Lines at `index`; with `time_index` the times come from those positions instead (the
        messages move while the times stay in order)."""
        ix = index.tolist()
        return replace(self, t=self.t[index if time_index is None else time_index], host=self.host[index],
                       app=[self.app[i] for i in ix], pid=[self.pid[i] for i in ix],
                       msg=[self.msg[i] for i in ix], pri=self.pri[index], event=self.event[index],
                       kind=[self.kind[i] for i in ix])

    def head(self, n: int) -> "Batch":
        return self if n >= len(self) else self.take(np.arange(max(n, 0)))

    def labelled(self, kind: str) -> "Batch":
        return replace(self, kind=[kind] * len(self), kind_name=kind)

    def as_one_event(self) -> "Batch":
        return replace(self, event=np.zeros(len(self), np.int64))

    @staticmethod
    def concat(batches: list["Batch"]) -> "Batch":
        """All lines, events renumbered so that events of different batches stay apart."""
        sizes = [int(b.event.max()) + 1 if len(b) else 0 for b in batches]
        shift = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        return Batch(np.concatenate([b.t for b in batches]), np.concatenate([b.host for b in batches]),
                     [a for b in batches for a in b.app], [p for b in batches for p in b.pid],
                     [m for b in batches for m in b.msg], np.concatenate([b.pri for b in batches]),
                     np.concatenate([b.event + s for b, s in zip(batches, shift.tolist())]),
                     [k for b in batches for k in b.kind])


# One line of each of k events: (times[k], app, pids[k] or one pid for all, messages[k], severity).
Step = tuple[np.ndarray, str, list[str] | str, list[str], int]


class Context:
    """The random source and the per-host facts (uptime at start, daemon pids) shared by generators."""

    def __init__(self, rng: np.random.Generator, span: float, start: datetime):
        self.rng, self.span, self.epoch = rng, span, start.timestamp()
        self.hosts = HOSTS
        n = len(HOSTS)
        self.boot = rng.uniform(2e3, 9e5, n)           # kernel uptime at the log start
        self.host_ip = [f"10.0.{i}.{10 + i}" for i in range(n)]
        self.daemon_pid = {d: rng.integers(300, 999, n) for d in ("systemd-logind", "dockerd", "NetworkManager")}
        self.next_pid = 0

    # ---- random values, as lists for fast formatting --------------------------------------
    def uniform_times(self, k: int) -> np.ndarray:
        return self.rng.uniform(0.0, self.span, max(k, 0))

    def random_hosts(self, k: int) -> np.ndarray:
        return self.rng.integers(0, len(self.hosts), max(k, 0))

    def pick(self, options: tuple, k: int) -> list:
        return [options[i] for i in self.rng.integers(0, len(options), k).tolist()]

    def ints(self, lo: int, hi: int, k: int) -> list[int]:
        return self.rng.integers(lo, hi, k).tolist()

    def ips(self, k: int, internal: bool = False) -> list[str]:
        o = self.rng.integers(1, 255, (k, 4))
        if internal:
            return [f"10.{b}.{c}.{d}" for _, b, c, d in o.tolist()]
        return [f"{a}.{b}.{c}.{d}" for a, b, c, d in o.tolist()]

    def hexes(self, k: int, digits: int) -> list[str]:
        return [f"{v:0{digits}x}" for v in self.rng.integers(0, 16 ** min(digits, 15), k).tolist()]

    def macs(self, k: int) -> list[str]:
        return ["%02x:%02x:%02x:%02x:%02x:%02x" % tuple(row) for row in self.rng.integers(0, 256, (k, 6)).tolist()]

    def uuids(self, k: int) -> list[str]:
        rows = [bytes(r).hex() for r in self.rng.integers(0, 256, (k, 16)).tolist()]
        return [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in rows]

    def pids(self, k: int) -> list[str]:
        """New process ids: a counter advancing by small random steps, as the kernel hands them out,
        so two processes of one log never share a pid (up to Linux's pid_max, 4194304)."""
        steps = np.cumsum(self.rng.integers(1, 9, k))
        pids = 1000 + (self.next_pid + steps) % (4_194_304 - 1000)
        self.next_pid += int(steps[-1]) if k else 0
        return [str(p) for p in pids.tolist()]

    def host_pids(self, daemon: str, host: np.ndarray) -> list[str]:
        return [str(p) for p in self.daemon_pid[daemon][host].tolist()]

    def kern(self, t: np.ndarray, host: np.ndarray, texts: list[str]) -> list[str]:
        uptime = (self.boot[host] + t).tolist()
        return [f"[{u:12.6f}] {x}" for u, x in zip(uptime, texts)]

    def nm_stamp(self, t: np.ndarray) -> list[str]:
        return [f"{self.epoch + s:.4f}" for s in t.tolist()]


def build(host: np.ndarray, steps: list[Step]) -> Batch:
    """A batch from per-step columns, reordered so the lines of each event are contiguous."""
    k = len(host)
    if k == 0 or not steps:
        return Batch(np.zeros(0), np.zeros(0, np.int64), [], [], [], np.zeros(0, np.int64), np.zeros(0, np.int64))
    t = np.concatenate([np.broadcast_to(s[0], (k,)) for s in steps])
    app = [s[1] for s in steps for _ in range(k)]
    pid = [p for s in steps for p in ([s[2]] * k if isinstance(s[2], str) else s[2])]
    msg = [m for s in steps for m in s[3]]
    pri = np.concatenate([np.full(k, FACILITY.get(s[1], 3) * 8 + s[4]) for s in steps])
    order = (np.arange(len(steps))[None, :] * k + np.arange(k)[:, None]).ravel()
    event = np.tile(np.arange(k), len(steps))
    return Batch(t, np.tile(host, len(steps)), app, pid, msg, pri, event).take(order)


# ---- normal behaviour -----------------------------------------------------------------------
def ssh_session(ctx: Context, t0: np.ndarray, host: np.ndarray) -> Batch:
    k = len(t0)
    user, ip, port, pid = ctx.pick(USERS, k), ctx.ips(k, internal=True), ctx.ints(1024, 65536, k), ctx.pids(k)
    uid = [1000 + USERS.index(u) for u in user]
    sid, key = ctx.ints(1, 9000, k), ctx.hexes(k, 12)
    logind = ctx.host_pids("systemd-logind", host)
    end = t0 + 5 + ctx.rng.exponential(600, k)
    return build(host, [
        (t0, "sshd", pid, [f"Accepted publickey for {u} from {i} port {p} ssh2: ED25519 SHA256:{f}"
                           for u, i, p, f in zip(user, ip, port, key)], INFO),
        (t0 + 0.02, "sshd", pid, [f"pam_unix(sshd:session): session opened for user {u}(uid={n}) by (uid=0)"
                                  for u, n in zip(user, uid)], INFO),
        (t0 + 0.05, "systemd-logind", logind, [f"New session {s} of user {u}." for s, u in zip(sid, user)], INFO),
        (t0 + 0.08, "systemd", "1", [f"Started Session {s} of User {u}." for s, u in zip(sid, user)], INFO),
        (end, "sshd", pid, [f"Received disconnect from {i} port {p}:11: disconnected by user"
                            for i, p in zip(ip, port)], INFO),
        (end + 0.01, "sshd", pid, [f"Disconnected from user {u} {i} port {p}"
                                   for u, i, p in zip(user, ip, port)], INFO),
        (end + 0.02, "sshd", pid, [f"pam_unix(sshd:session): session closed for user {u}" for u in user], INFO),
        (end + 0.05, "systemd-logind", logind, [f"Session {s} logged out. Waiting for processes to exit."
                                                for s in sid], INFO),
    ])


def ssh_scan(ctx: Context, t0: np.ndarray, host: np.ndarray) -> Batch:
    k = len(t0)
    user, ip, port, pid = ctx.pick(BAD_USERS, k), ctx.ips(k), ctx.ints(1024, 65536, k), ctx.pids(k)
    return build(host, [
        (t0, "sshd", pid, [f"Invalid user {u} from {i} port {p}" for u, i, p in zip(user, ip, port)], INFO),
        (t0 + 0.3, "sshd", pid, [f"Received disconnect from {i} port {p}:11: Bye Bye [preauth]"
                                 for i, p in zip(ip, port)], INFO),
        (t0 + 0.31, "sshd", pid, [f"Disconnected from invalid user {u} {i} port {p} [preauth]"
                                  for u, i, p in zip(user, ip, port)], INFO),
    ])


def container(ctx: Context, t0: np.ndarray, host: np.ndarray) -> Batch:
    k = len(t0)
    cid, image, veth, port = ctx.hexes(k, 12), ctx.pick(IMAGES, k), ctx.hexes(k, 7), ctx.ints(1, 16, k)
    dockerd = ctx.host_pids("dockerd", host)
    end = t0 + 2 + ctx.rng.exponential(900, k)
    veth_msg = [f"docker0: port {p}(veth{v}) entered" for p, v in zip(port, veth)]
    return build(host, [
        (t0, "dockerd", dockerd, [f"Starting container {c} from image {i}" for c, i in zip(cid, image)], INFO),
        (t0 + 0.1, "kernel", "", ctx.kern(t0 + 0.1, host, [f"{m} blocking state" for m in veth_msg]), INFO),
        (t0 + 0.2, "kernel", "", ctx.kern(t0 + 0.2, host, [f"{m} forwarding state" for m in veth_msg]), INFO),
        (end, "dockerd", dockerd, [f"Container {c} exited with code 0" for c in cid], INFO),
        (end + 0.05, "kernel", "", ctx.kern(end + 0.05, host, [f"{m} disabled state" for m in veth_msg]), INFO),
    ])


def dhcp_renew(ctx: Context, t0: np.ndarray, host: np.ndarray) -> Batch:
    k = len(t0)
    nm, mac, ip = ctx.host_pids("NetworkManager", host), ctx.macs(k), ctx.ips(k, internal=True)
    steps = []
    for i, (dt, texts) in enumerate([(0.0, [f"dhcp4 (eth0): client-id 01:{m}" for m in mac]),
                                     (0.01, [f"dhcp4 (eth0): address {a}" for a in ip]),
                                     (0.02, ["dhcp4 (eth0): state changed bound -> bound"] * k),
                                     (0.03, ["device (eth0): DHCPv4 lease renewed, expires in 3600 seconds"] * k)]):
        stamps = ctx.nm_stamp(t0 + dt)
        steps.append((t0 + dt, "NetworkManager", nm, [f"<info>  [{s}] {x}" for s, x in zip(stamps, texts)], INFO))
    return build(host, steps)


def service_run(ctx: Context, t0: np.ndarray, host: np.ndarray, unit: tuple[str, str] | None = None) -> Batch:
    k = len(t0)
    units = [unit] * k if unit else ctx.pick(UNITS, k)
    cpu = ctx.rng.uniform(0.01, 9.0, k).tolist()
    end = t0 + ctx.rng.uniform(0.2, 30, k)
    return build(host, [
        (t0, "systemd", "1", [f"Starting {d}..." for _, d in units], INFO),
        (end, "systemd", "1", [f"{u}: Deactivated successfully. Consumed {c:.3f}s CPU time."
                               for (u, _), c in zip(units, cpu)], INFO),
        (end + 0.01, "systemd", "1", [f"Finished {d}." for _, d in units], INFO),
    ])


def backup_mount(ctx: Context, t0: np.ndarray, host: np.ndarray) -> Batch:
    k = len(t0)
    uuid, scsi = ctx.uuids(k), ctx.ints(0, 8, k)
    end = t0 + ctx.rng.uniform(60, 1800, k)
    return build(host, [
        (t0, "kernel", "", ctx.kern(t0, host, [f"sd {s}:0:0:0: [sdb] Attached SCSI disk" for s in scsi]), INFO),
        (t0 + 0.5, "systemd", "1", [f"Mounting /dev/disk/by-uuid/{u} (8:17)..." for u in uuid], INFO),
        (t0 + 0.6, "kernel", "", ctx.kern(t0 + 0.6, host, [
            f"EXT4-fs (sdb1): mounted filesystem {u} r/w with ordered data mode. Quota mode: none."
            for u in uuid]), INFO),
        (end, "kernel", "", ctx.kern(end, host, [f"EXT4-fs (sdb1): unmounting filesystem {u}." for u in uuid]), INFO),
    ])


def firewall_drop(ctx: Context, t0: np.ndarray, host: np.ndarray) -> Batch:
    k = len(t0)
    mac, src, sport = ctx.macs(k), ctx.ips(k), ctx.ints(1024, 65536, k)
    dport, ttl = ctx.pick((22, 23, 80, 443, 3389, 5900, 8080), k), ctx.ints(30, 250, k)
    dst = [ctx.host_ip[h] for h in host.tolist()]
    return build(host, [(t0, "kernel", "", ctx.kern(t0, host, [
        f"[UFW BLOCK] IN=eth0 OUT= MAC={m} SRC={s} DST={d} LEN=60 TTL={t} PROTO=TCP SPT={sp} DPT={dp} SYN URGP=0"
        for m, s, d, t, sp, dp in zip(mac, src, dst, ttl, sport, dport)]), INFO)])


def background_error(ctx: Context, t0: np.ndarray, host: np.ndarray) -> Batch:
    """The two error lines that also occur in quiet times (scanners, a flaky DHCP server)."""
    k = len(t0)
    return build(host, [(t0, "sshd", ctx.pids(k),
                         ["error: kex_exchange_identification: Connection closed by remote host"] * k, ERR)])


def cron_run(ctx: Context, t0: np.ndarray, host: np.ndarray) -> Batch:
    k = len(t0)
    pid = ctx.pids(k)
    return build(host, [
        (t0, "CRON", pid, ["pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"] * k, INFO),
        (t0 + 0.01, "CRON", pid, ["(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"] * k, INFO),
        (t0 + ctx.rng.uniform(0.5, 3.0, k), "CRON", pid, ["pam_unix(cron:session): session closed for user root"] * k,
         INFO),
    ])


def _every(ctx: Context, period: float, offset: float) -> tuple[np.ndarray, np.ndarray]:
    starts = np.arange(offset, ctx.span, period)
    n = len(ctx.hosts)
    t = np.repeat(starts, n) + ctx.rng.uniform(0, 0.9, len(starts) * n)
    return t, np.tile(np.arange(n), len(starts))


def cron_jobs(ctx: Context) -> Batch:
    """A cron job every 5 minutes on every host."""
    return cron_run(ctx, *_every(ctx, 300.0, 1.0))


def sysstat_timer(ctx: Context) -> Batch:
    """The sysstat collector every 10 minutes on every host."""
    t, host = _every(ctx, 600.0, 5.0)
    return service_run(ctx, t, host, ("sysstat-collect.service", "system activity accounting tool"))
