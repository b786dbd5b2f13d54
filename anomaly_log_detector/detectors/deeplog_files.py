"""File-level DeepLog entry points: what `deeplog-train` and `deeplog-infer` call (a sequences.parquet
and a model file in, a model file or result Parquet files out), and the rule in words."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.detectors.deeplog import DeepLogDetector
from anomaly_log_detector.detectors.windows import flatten
from anomaly_log_detector.errors import DataError


def _read(seq_path: str | os.PathLike, split: str | None) -> pd.DataFrame:
    from anomaly_log_detector.builders.deeplog import read_sequences

    df = read_sequences(seq_path)
    if split is None:
        return df
    if "split" not in df.columns:
        raise DataError(f"{seq_path}: no 'split' column to select --split {split!r} from")
    chosen = df[df["split"] == split].reset_index(drop=True)
    if chosen.empty:
        raise DataError(f"{seq_path}: no session with split {split!r} "
                        f"(have: {', '.join(sorted(map(str, df['split'].dropna().unique())))})")
    return chosen


def train_deeplog(seq_path: str | os.PathLike, out_path: str | os.PathLike, *,
                  vocab_path: str | os.PathLike | None = None, split: str | None = None,
                  **params: Any) -> dict:
    """Train on the normal sessions of a `sequences.parquet` and save the model; return a summary.
    ``vocab_path`` defaults to the `vocab.json` beside the sequences."""
    df = _read(seq_path, split)
    vocab = Vocab.load(vocab_path or Path(seq_path).parent / "vocab.json")
    top = int(flatten(df["events"])[0].max(initial=0))
    if top >= vocab.size:
        raise DataError(f"{seq_path}: event index {top} is outside the vocabulary ({vocab.size} indices); "
                        f"were the sequences built with another vocab.json?")
    det = DeepLogDetector(**params).fit(df, vocab=vocab)
    det.save(out_path)
    return {"model": str(out_path), "vocab_size": vocab.size, "rule": rule_name(det),
            "excluded_anomalous": int(len(df) - det.train_stats_["sessions"]), **det.train_stats_}


def rule_name(det: DeepLogDetector) -> str:
    """The decision rule in words, e.g. "calibrated (surprise > 3.21)" or "top-9, top-p 0.9"."""
    if det.calibrated:
        own = f"; {len(det.tau_by_group_)} process(es) with their own threshold" if det.tau_by_group_ else ""
        return f"calibrated (miss when surprise > {det.tau_:.2f}, i.e. tail < {10 ** -det.tau_:.1e}{own})"
    parts = ([f"top-{det.k}"] if det.k is not None else []) + ([f"top-p {det.top_p:g}"] if det.top_p is not None else [])
    return ", ".join(parts)


def check_vocab(det: DeepLogDetector, seq_path: str | os.PathLike) -> None:
    """Refuse sequences whose `vocab.json` gives the model's templates other indices (they would be
    scored as different templates). A vocabulary that only appends templates is fine."""
    path = Path(seq_path).parent / "vocab.json"
    if det.vocab_ is None or not path.exists():
        return
    theirs = Vocab.load(path).templates
    moved = [t for t, i in det.vocab_.items() if theirs.get(t, i) != i]
    if moved:
        raise DataError(f"{path}: template indices differ from the model's vocabulary ({len(moved)} templates); "
                        f"rebuild the sequences with the training vocab.json (build-deeplog --vocab)")


def infer_deeplog(seq_path: str | os.PathLike, model_path: str | os.PathLike,
                  out_dir: str | os.PathLike | None = None, *, k: int | None = None,
                  top_p: float | None = None, split: str | None = None, quiet: bool = True) -> dict:
    """Score every session; write `deeplog_infer.parquet` and `deeplog_sessions.parquet` into
    ``out_dir`` (default: the folder of the sequences); return a summary. ``k`` / ``top_p`` replace
    the model's rule (see :meth:`DeepLogDetector.set_rule`); neither keeps it."""
    import time

    det = DeepLogDetector.load(model_path)
    det.quiet = quiet  # its scoring progress bar follows --quiet
    if k is not None or top_p is not None:
        det.set_rule(k=k, top_p=top_p)
    check_vocab(det, seq_path)
    df = _read(seq_path, split)
    start = time.perf_counter()
    scores = det.evaluate(df)
    seconds = time.perf_counter() - start
    per_window, per_session = det.tables(df, scores)
    out = Path(out_dir) if out_dir is not None else Path(seq_path).parent
    out.mkdir(parents=True, exist_ok=True)
    paths = {"windows": out / "deeplog_infer.parquet", "sessions": out / "deeplog_sessions.parquet"}
    for key, table in (("windows", per_window), ("sessions", per_session)):
        tmp = f"{paths[key]}.tmp"
        table.to_parquet(tmp, index=False)
        os.replace(tmp, paths[key])
    flagged = per_session[per_session["is_anomaly"]].sort_values("score", ascending=False)
    top = flagged.head(10)
    return {
        "model": str(model_path), "k": det.k, "top_p": det.top_p, "rule": rule_name(det),
        "threshold": det.threshold_, "sessions": int(len(per_session)),
        "anomalous_sessions": int(len(flagged)), "windows": int(len(per_window)),
        "distinct_windows": scores.distinct_windows, "misses": int((~per_window["in_topk"]).sum()),
        "novel": int(per_window["is_novel"].sum()), "seconds": seconds,
        "windows_per_s": len(per_window) / seconds if seconds > 0 else 0.0,
        "top": [{"session": r.session, "misses": int(r.misses), "score": float(r.score),
                 "first_miss_line": None if pd.isna(r.first_miss_line) else int(r.first_miss_line)}
                for r in top.itertuples()],
        "outputs": {key: str(path) for key, path in paths.items()},
    }
