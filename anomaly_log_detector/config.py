"""Frozen settings dataclasses. One place defines every default; the CLI and the bundle read them here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

# Longest line we keep, in bytes of UTF-8; longer lines are cut and counted as `lines_truncated`.
MAX_LINE_BYTES = 64 * 1024
# Lines per columnar chunk: memory is bounded by this, not by the input size.
CHUNK_LINES = 65536


@dataclass(frozen=True)
class DrainConfig:
    """Drain parameters (see He et al., ICWS'17 and Drain3).

    Defaults chosen on the Loghub 2k benchmark (docs/parsing-accuracy.md) together with rules.json and
    the mask-aware similarity of parsing/miner.py: masked slots count as equal there, so ``sim_th`` is
    the share of tokens that must agree (0.78: one differing word in five joins, two in six split, and
    so does one in four: short messages with a variable word split); ``depth`` 5 routes on the first
    two tokens. Both picked by leave-one-system-out selection over a 40-configuration grid
    (``benchmarks/parsing_accuracy.py --loso``: 6 of 8 folds pick exactly these).

    ``max_clusters_per_leaf`` bounds the work per line on noisy or hostile logs: a prefix-tree leaf
    that holds this many templates takes no new one, and a message matching none of them is folded
    into the leaf's catch-all template (``<*>`` once per token) and counted as folded (0: no cap).
    Real logs stay far below it (the largest leaf of each Loghub system holds a few dozen templates);
    CAP_MEASUREMENT in benchmarks/robustness.py for the choice.
    """

    sim_th: float = 0.78
    depth: int = 5
    max_children: int = 100
    extra_delimiters: tuple[str, ...] = ()
    parametrize_numeric_tokens: bool = True
    max_clusters_per_leaf: int = 2000

    def to_dict(self) -> dict:
        d = asdict(self)
        d["extra_delimiters"] = list(self.extra_delimiters)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DrainConfig":
        d = dict(d)
        d["extra_delimiters"] = tuple(d.get("extra_delimiters", ()))
        return cls(**d)


@dataclass(frozen=True)
class ParseConfig:
    """Everything `alog-detect parse` needs besides the input paths."""

    out_dir: str
    format: str = "auto"              # preset name, or "custom" when log_format is given
    log_format: str | None = None     # logparser-style header format string
    rules_path: str | None = None     # None = the packaged default rules.json
    disabled_masks: frozenset[str] = field(default_factory=frozenset)
    drain: DrainConfig = field(default_factory=DrainConfig)
    drain_state: str | None = None    # load if exists, save after the run
    frozen: bool = False              # match existing templates only
    session_regex: str | None = None
    year: int | None = None           # year of year-less timestamps (default: from each file's mtime)
    tz: str | None = None             # zone of zone-less timestamps (default: UTC)
    chunk_lines: int = CHUNK_LINES
    max_line_bytes: int = MAX_LINE_BYTES
    quiet: bool = False
    # Keep only lines with since <= time < until (aware datetimes; naive = UTC). A line without a
    # timestamp takes the last one of its file; lines before a file's first timestamp are left out.
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):  # aware UTC from here on
            value = getattr(self, name)
            if value is not None:
                utc = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
                object.__setattr__(self, name, utc)
        if self.since is not None and self.until is not None and self.since >= self.until:
            from anomaly_log_detector.errors import InputError

            raise InputError(f"--since {self.since.isoformat()} is not before --until {self.until.isoformat()}")
        if self.year is not None or self.tz is not None:
            # Checked here so that a bad --year / --tz fails before any input is read (FormatError).
            from anomaly_log_detector.parsing.timestamps import TimeContext

            TimeContext(year=self.year, tz=self.tz)
