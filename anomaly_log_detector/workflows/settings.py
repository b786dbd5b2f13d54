"""Training settings of the workflows: one frozen dataclass holds every default (docs/workflows.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from anomaly_log_detector.errors import DataError

SESSION_BY = ("auto", "none", "host", "process", "session")
# What `auto` tries, in order: the first column with a value on some line (else `none`). Per-process
# sequences are the most regular in system logs: one daemon's messages follow its own protocol, while
# a whole file (or host) interleaves many independent activities.
AUTO_SESSION_BY = ("process", "host")


@dataclass(frozen=True)
class TrainSettings:
    """Everything `alog-detect train` can set. Defaults are the workflow's, chosen for logs as streams:

    * DeepLog predicts over one sequence per process (``session_by="auto"``: process, else host, else
      each source file) without an end-of-session key (``eos`` off: a log file ends where rotation cut
      it, not where a session did).
    * The baseline's window threshold is the 0.99 quantile of the training windows (the detector's own
      default, 0.95, makes 1 normal window in 20 an alarm by construction: too many for an exit status).
    * DeepLog trains on at most ``deeplog_max_lines`` lines (the first ones of the training part) for
      at most ``epochs`` epochs: training time stays bounded on large logs.
    """

    # parsing
    format: str = "auto"
    log_format: str | None = None
    rules: str | None = None
    disabled_masks: tuple[str, ...] = ()
    session_regex: str | None = None
    # data
    holdout: float = 0.1
    session_by: str = "auto"
    # baseline
    window_size: int = 50
    stride: int = 25
    quantile: float = 0.99
    line_quantile: float = 0.99
    # DeepLog
    seq_len: int = 10
    hidden: int = 64
    layers: int = 2
    embed_dim: int = 16
    epochs: int = 10
    batch_size: int = 512
    lr: float = 3e-3
    patience: int = 3
    k: int = 9
    top_p: float = 0.9999
    deeplog_max_lines: int = 200_000
    seed: int = 42
    quiet: bool = True

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.holdout < 1.0:
            problems.append(f"holdout must be in [0, 1) (got {self.holdout})")
        if self.session_by not in SESSION_BY:
            problems.append(f"session_by must be one of {', '.join(SESSION_BY)} (got {self.session_by!r})")
        if self.deeplog_max_lines < 1:
            problems.append("deeplog_max_lines must be >= 1")
        if problems:
            raise DataError("training settings: " + "; ".join(problems))

    def baseline_params(self) -> dict[str, Any]:
        return {"window_size": self.window_size, "stride": self.stride, "quantile": self.quantile,
                "line_quantile": self.line_quantile}

    def deeplog_params(self) -> dict[str, Any]:
        return {"seq_len": self.seq_len, "hidden": self.hidden, "layers": self.layers,
                "embed_dim": self.embed_dim, "epochs": self.epochs, "batch_size": self.batch_size,
                "lr": self.lr, "patience": self.patience, "k": self.k, "top_p": self.top_p, "eos": False,
                "seed": self.seed, "quiet": self.quiet}


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
