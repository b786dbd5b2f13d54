"""Training settings of the workflows: one frozen dataclass holds every default (docs/workflows.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from anomaly_log_detector.errors import DataError

SESSION_BY = ("auto", "none", "host", "process", "session", "entity")
# What `auto` tries, in order: the first grouping with a value on some line (else `none`). A stream per
# daemon per machine (`entity` = host + process) is the most regular unit of system logs: one daemon's
# messages follow its own protocol, while a whole file (or host) interleaves unrelated activities, and a
# process name alone mixes machines.
AUTO_SESSION_BY = ("entity",)
# `train --vet`: what to do with rejected files (analyzers/baseline_validation.py: VET_MODES); None = no vetting
VET_MODES = (None, "refuse", "drop", "keep")


@dataclass(frozen=True)
class TrainSettings:
    """Everything `alog-detect train` can set. Defaults are the workflow's, chosen for logs as streams
    (docs/workflows.md says why):

    * DeepLog predicts over one stream per host + process (``session_by="auto"``), cut where the stream
      pauses for more than ``session_gap`` seconds, without an end-of-session key (a log file ends
      where rotation cut it). Training runs to convergence (or ``max_steps`` optimiser steps); the miss
      threshold is calibrated on the held-out tail to ``fa_budget`` false misses per prediction, and
      transitions seen in training are never misses.
    * The baseline's thresholds are the largest training window / line scores (``quantile`` 1.0): a
      window of the training log is never an alarm.
    * MS-CRED scores the baseline's windows (``mscred``, off by default: its training costs minutes on a
      CPU; ``mscred_max_steps`` and ``mscred_top_k`` bound it); its threshold is raised above its own training windows' scores, like the baseline's.
    * Results are grouped into incidents per host + process, cut at ``incident_gap`` seconds of quiet.
    """

    # parsing
    format: str = "auto"
    log_format: str | None = None
    rules: str | None = None
    disabled_masks: tuple[str, ...] = ()
    session_regex: str | None = None
    year: int | None = None           # of year-less timestamps (default: each file's modification time)
    tz: str | None = None             # of zone-less timestamps (default UTC); inference reuses it
    # data
    holdout: float = 0.1
    session_by: str = "auto"
    session_gap: float | None = 600.0
    # baseline
    window_size: int = 50
    stride: int = 25
    quantile: float = 1.0
    line_quantile: float = 1.0
    # DeepLog
    seq_len: int = 10
    hidden: int = 64
    layers: int = 2
    embed_dim: int = 16
    epochs: int = 100
    batch_size: int = 256
    lr: float = 3e-3
    patience: int = 5
    min_delta: float = 0.01
    k: int | None = None
    top_p: float | None = None
    ensemble: int = 1
    # One false miss per 100,000 predictions: about 10 a day on a host writing a million lines a day,
    # before grouping into incidents (1e-4, deeplog-train's default for benchmark sessions, means ~100).
    fa_budget: float = 1e-5
    max_steps: int = 5000
    deeplog_max_lines: int = 2_000_000
    # MS-CRED (detectors/mscred.py) over the baseline's line windows: off by default (`--mscred`): even
    # its shortest training (one epoch of 50 steps) took 100 s on 2 busy CPU cores (docs/mscred.md);
    # `mscred_max_steps` / `mscred_top_k` bound its cost when on
    mscred: bool = False
    mscred_max_steps: int = 100
    mscred_top_k: int = 32
    # Export the trained networks to ONNX into the bundle (convert-onnx --portable --validate), so that
    # `infer` scores without importing torch: ~170 MiB less memory and ~1 s less start-up (docs/hybrid.md)
    onnx: bool = True
    # alerting layer and incidents
    alert_at: float = 1.75
    incident_gap: float = 60.0
    # incidents of several hosts/processes at once (same message within this many seconds, or one
    # host's overlapping ones) are one record (reports/anomalies.py); None = one entity per record
    storm_gap: float | None = 10.0
    seed: int = 42
    # vet the inputs with validate-baseline first: None = no; "refuse" / "drop" / "keep" rejected files
    vet: str | None = None
    quiet: bool = True

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.holdout < 1.0:
            problems.append(f"holdout must be in [0, 1) (got {self.holdout})")
        if self.session_by not in SESSION_BY:
            problems.append(f"session_by must be one of {', '.join(SESSION_BY)} (got {self.session_by!r})")
        if self.deeplog_max_lines < 1:
            problems.append("deeplog_max_lines must be >= 1")
        if self.session_gap is not None and not self.session_gap > 0:
            problems.append("session_gap must be > 0 seconds")
        if not self.incident_gap >= 0:
            problems.append("incident_gap must be >= 0 seconds")
        if self.storm_gap is not None and not self.storm_gap >= 0:
            problems.append("storm_gap must be >= 0 seconds (or None)")
        if not 0 < self.fa_budget < 1:
            problems.append("fa_budget must be in (0, 1)")
        if self.mscred_max_steps < 1 or self.mscred_top_k < 1:
            problems.append("mscred_max_steps and mscred_top_k must be >= 1")
        if self.vet not in VET_MODES:
            problems.append(f"vet must be one of refuse, drop, keep or None (got {self.vet!r})")
        if problems:
            raise DataError("training settings: " + "; ".join(problems))

    def baseline_params(self) -> dict[str, Any]:
        # Frequency only: novelty and severity are the alerting layer's (counted once, per line).
        return {"window_size": self.window_size, "stride": self.stride, "quantile": self.quantile,
                "line_quantile": self.line_quantile, "weights": (0.0, 1.0, 0.0)}

    def deeplog_params(self) -> dict[str, Any]:
        return {"seq_len": self.seq_len, "hidden": self.hidden, "layers": self.layers,
                "embed_dim": self.embed_dim, "epochs": self.epochs, "batch_size": self.batch_size,
                "lr": self.lr, "patience": self.patience, "k": self.k, "top_p": self.top_p, "eos": False,
                "ensemble": self.ensemble, "fa_budget": self.fa_budget, "max_steps": self.max_steps,
                "min_delta": self.min_delta,
                "seen_is_normal": True, "seed": self.seed, "quiet": self.quiet}

    def mscred_params(self) -> dict[str, Any]:
        """MS-CRED's arguments: its smallest scale spans one baseline window (``window_size`` lines);
        ``unseen="mask"``: new messages are the alerting layer's novelty, not MS-CRED's broken entries
        (bundles of the default score flagged 16 % of held-out normal Loghub windows; docs/mscred.md)."""
        return {"top_k": self.mscred_top_k, "window_size": self.window_size, "max_steps": self.mscred_max_steps,
                "unseen": "mask", "seed": self.seed, "quiet": self.quiet}

    def with_overrides(self, **overrides: Any) -> "TrainSettings":
        """A copy with the given settings changed (None values are ignored)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise DataError(f"unknown training setting(s): {', '.join(unknown)}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """Every setting but `quiet`, JSON-ready (recorded as `params.workflow` in the bundle)."""
        d = asdict(self)
        d["disabled_masks"] = list(self.disabled_masks)
        del d["quiet"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainSettings":
        """Settings recorded by :meth:`to_dict` (keys this version does not know are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["disabled_masks"] = tuple(values.get("disabled_masks", ()))
        return cls(**values)
