"""The alerts benchmark's shared pieces (benchmarks/alerts.py): how it runs the CLI and the shell scripts
(`Ctx`), the ground truth of a generated or labelled log (`Truth`), and the figures over seeds."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
_BIN = REPO / ".venv" / "bin" / "alog-detect"
ALOG = [str(_BIN)] if _BIN.exists() else [sys.executable, "-m", "anomaly_log_detector"]
TRAIN_SH, INFER_SH = REPO / "train_models.sh", REPO / "run_inference.sh"
TOP = 10
INFER_OK = (0, 1)   # run_inference.sh: 0 no anomaly, 1 anomalies; 2 = error


class StepError(RuntimeError):
    """A command failed; the message names it and ends with stderr's last lines."""


def log(msg: str) -> None:
    print(f"[alerts] {msg}", file=sys.stderr, flush=True)


def r4(x) -> float | None:
    return None if x is None else round(float(x), 4)


# ---- running commands -----------------------------------------------------------------------------

class Ctx:
    """Options, the scratch folder, and bundles shared between sections (trained once per seed)."""

    def __init__(self, args):
        self.work, self.data, self.quick = args.work, args.data, args.quick
        self.seeds, self.hdfs_seeds = args.seeds, args.hdfs_seeds
        self.env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # 1 thread: fastest for these small LSTMs
            self.env.setdefault(var, "1")
        # --quick: few epochs, so the smoke run checks the plumbing in minutes (figures are not comparable)
        self.epochs = ["--epochs", "3"] if args.quick else []
        self.reuse = args.reuse
        self._help: dict[str, str] = {}
        self._bundles: dict[tuple[str, int], Path] = {}
        self.synth: dict[str, Path] = {}   # the synthetic train / target / clean logs, made once

    def run(self, name: str, *argv, ok=(0,)) -> tuple[dict, subprocess.CompletedProcess]:
        """Run argv in the work folder; return ({rc, wall_s}, the process). Exit status outside ``ok``
        raises StepError with stderr's last lines."""
        start = time.perf_counter()
        p = subprocess.run([str(a) for a in argv], cwd=self.work, env=self.env, capture_output=True, text=True)
        res = {"rc": p.returncode, "wall_s": round(time.perf_counter() - start, 2)}
        if p.returncode not in ok:
            tail = (p.stderr.strip() or p.stdout.strip()).splitlines()[-6:]
            raise StepError(f"{name}: exit status {p.returncode}: " + " | ".join(tail))
        return res, p

    def alog(self, name: str, *args, ok=(0,)):
        return self.run(name, *ALOG, *args, ok=ok)

    def help(self, command: str) -> str:
        """`alog-detect COMMAND --help` text ('' for an unknown command), to adapt to options that exist."""
        if command not in self._help:
            p = subprocess.run([*ALOG, *([command] if command else []), "--help"], capture_output=True,
                               text=True, env=self.env)
            self._help[command] = p.stdout if p.returncode == 0 else ""
        return self._help[command]

    def has_command(self, command: str) -> bool:
        return re.search(rf"^\s+{re.escape(command)}\s", self.help(""), re.M) is not None

    def fresh(self, *parts: str) -> Path:
        """A path under the work folder whose previous content (an earlier run) is removed."""
        path = self.work.joinpath(*parts)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def bundle(self, key: str, seed: int, normal: Path) -> tuple[Path, dict | None]:
        """The bundle trained on ``normal`` with ``seed``: trained on first use, then reused (returns
        the training run's figures only the first time)."""
        if (key, seed) in self._bundles:
            return self._bundles[(key, seed)], None
        model = self.work / "bundles" / f"{key}_seed{seed}"
        if self.reuse and (model / "metadata.json").is_file():  # --reuse: a bundle of an earlier run
            meta = json.loads((model / "metadata.json").read_text())
            self._bundles[(key, seed)] = model
            return model, {"reused": True, "holdout_false_alarm_rate": r4(meta.get("holdout", {}).get("false_alarm_rate"))}
        model = self.fresh("bundles", f"{key}_seed{seed}")
        res, _ = self.run(f"train_models.sh {key} seed {seed}", TRAIN_SH, normal, model, "--seed", seed,
                          *self.epochs)
        meta = json.loads((model / "metadata.json").read_text())
        res["holdout_false_alarm_rate"] = r4(meta.get("holdout", {}).get("false_alarm_rate"))
        self._bundles[(key, seed)] = model
        return model, res

    def infer(self, name: str, model: Path, target: Path, out: Path) -> tuple[dict, subprocess.CompletedProcess]:
        res, p = self.run(name, INFER_SH, model, target, out, ok=INFER_OK)
        res["records"] = len(records(out))
        return res, p

    def gen_synth(self, name: str, lines: int, rate: float, seed: int) -> Path:
        path = self.fresh("synth", name)
        self.alog(f"gen-synth {name}", "gen-synth", "--out", path, "--lines", lines, "--anomaly-rate", rate,
                  "--seed", seed)
        return path


def records(out_dir: Path) -> list[dict]:
    """The records of `anomalies.jsonl` (ECS documents; our fields under `alog`, the shown line in
    `message`: docs/formats.md) as flat dicts with the result table's names, most anomalous first."""
    path = out_dir / "anomalies.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    docs = (json.loads(x) for x in lines if x.strip())
    return sorted(({**d["alog"], "raw": d.get("message"), "score": d["event"]["risk_score"]} for d in docs),
                  key=lambda r: r["rank"])


# ---- scoring --------------------------------------------------------------------------------------

def prf(tp: int, flagged: int, positives: int) -> dict:
    p, r = tp / flagged if flagged else 0.0, tp / positives if positives else 0.0
    return {"flagged": flagged, "tp": tp, "precision": r4(p), "recall": r4(r),
            "f1": r4(2 * p * r / (p + r) if p + r else 0.0)}


class Truth:
    """Per-line labels of a target: ``bad[line_no]`` (index 0 unused) and, for synthetic logs, the
    episodes (id -> type, line numbers)."""

    def __init__(self, bad: np.ndarray, episodes: dict[int, tuple[str, np.ndarray]] | None = None):
        self.bad = np.concatenate([[False], np.asarray(bad, bool)])
        self.n = len(bad)
        self.episodes = episodes or {}

    @classmethod
    def synth(cls, log: Path) -> "Truth":
        df = pd.read_parquet(f"{log}.labels.parquet").sort_values("line_no")
        bad = df["is_anomaly"].to_numpy(bool)
        ep = df[df["is_anomaly"]]
        episodes = {int(e): (str(g["anomaly_type"].iloc[0]), g["line_no"].to_numpy(np.int64))
                    for e, g in ep.groupby("anomaly_event")}
        return cls(bad, episodes)

    def flag_all(self) -> dict:
        share = self.bad.sum() / max(self.n, 1)
        row = {"line": prf(int(self.bad.sum()), self.n, int(self.bad.sum())),
               "alert_precision": r4(share), f"top{TOP}_precision": r4(share)}
        if self.episodes:
            row["episode_recall"] = 1.0
        return row

    def score(self, recs: list[dict]) -> dict:
        """Record-level and line-level figures of a result table against the labels."""
        n, bad = self.n, self.bad
        flagged = np.zeros(n + 1, bool)
        diff = np.zeros(n + 2, np.int64)
        cum = np.cumsum(bad)
        holds = []
        for r in recs:
            lines = np.asarray([x for x in r["line_nos"] if 1 <= x <= n], np.int64)
            if not len(lines):
                holds.append(False)
                continue
            flagged[lines] = True
            lo, hi = int(lines.min()), int(lines.max())
            diff[lo] += 1
            diff[hi + 1] -= 1
            holds.append(bool(cum[hi] - cum[lo - 1] > 0))
        covered = np.cumsum(diff)[: n + 1] > 0
        out = {"records": len(recs),
               "alert_precision": r4(sum(holds) / len(holds)) if holds else None,
               "line": prf(int((flagged & bad).sum()), int(flagged.sum()), int(bad.sum())),
               f"top{TOP}_precision": r4(sum(holds[:TOP]) / len(holds[:TOP])) if holds else None,
               f"top{TOP}_holding_an_anomaly": sum(holds[:TOP])}
        if self.episodes:
            out.update(self.episode_recall(flagged, covered))
        return out

    def episode_recall(self, flagged: np.ndarray, covered: np.ndarray) -> dict:
        """Share of episodes with a line among the records' lines (strict) or inside a record's line
        range (by_range), overall and per anomaly type; the missed episode ids."""
        by_type: dict[str, list[tuple[bool, bool]]] = {}
        missed = []
        for eid, (kind, lines) in self.episodes.items():
            hit = (bool(flagged[lines].any()), bool(covered[lines].any()))
            by_type.setdefault(kind, []).append(hit)
            if not hit[0]:
                missed.append(eid)
        every = [h for hits in by_type.values() for h in hits]

        def share(hits, i):
            return r4(sum(h[i] for h in hits) / len(hits)) if hits else None
        return {"episodes": len(every), "episode_recall": share(every, 0),
                "episode_recall_by_range": share(every, 1),
                "episode_recall_by_type": {k: {"episodes": len(v), "strict": share(v, 0), "by_range": share(v, 1)}
                                           for k, v in sorted(by_type.items())},
                "missed_episodes": missed[:50]}


# ---- aggregation over seeds -------------------------------------------------------------------------

def _numbers(d, prefix="") -> dict[str, float]:
    out = {}
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_numbers(v, path + "."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[path] = float(v)
    return out


def over_seeds(per_seed: dict) -> dict:
    """Median and spread (max - min) of every number present in all successful seeds."""
    flat = [_numbers(v) for v in per_seed.values() if isinstance(v, dict) and "error" not in v]
    if not flat:
        return {"seeds_ok": 0}
    keys = [k for k in flat[0] if all(k in f for f in flat)]
    return {"seeds_ok": len(flat), "seeds_failed": len(per_seed) - len(flat),
            "median": {k: r4(statistics.median(f[k] for f in flat)) for k in keys},
            "spread": {k: r4(max(f[k] for f in flat) - min(f[k] for f in flat)) for k in keys}}


def values(per_seed: dict, *path: str) -> list:
    out = []
    for v in per_seed.values():
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        if v is not None:
            out.append(v)
    return out


def goal(vals: list, target: float, *, at_most: bool = False, what: str = "every seed") -> dict:
    """A goal met by every value (the worst seed decides)."""
    ok = bool(vals) and all((v <= target) if at_most else (v >= target) for v in vals)
    worst = (max(vals) if at_most else min(vals)) if vals else None
    return {"target": f"{'<=' if at_most else '>='} {target} ({what})", "worst": worst, "met": ok}


def attempt(fn, *args) -> dict:
    """fn(*args), or {"error": ...} when it fails: one failing run is recorded, the others still run."""
    try:
        return fn(*args)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def per_seed_loop(seeds, fn) -> dict:
    out = {}
    for seed in seeds:
        log(f"  seed {seed}")
        out[str(seed)] = attempt(fn, seed)
    return out


# ---- sections -------------------------------------------------------------------------------------

