"""DeepLog (Du et al., CCS'17): an LSTM predicts the next template key from the previous ``seq_len``
keys; an event whose key is not among the model's top-``k`` candidates is a miss, and a session with at
least one miss is anomalous.

Differences from a plain reimplementation, each aimed at a known blind spot:

* **Short sessions**: windows are left-padded with PAD, so every event (the first one too) is predicted
  and sessions shorter than ``seq_len`` are scored instead of skipped.
* **End of session**: an EOS target follows the last event (``eos=True``), so a session that stops
  early (a truncated block) is a miss at its end. Use ``eos=False`` for one long stream of lines.
* **Unseen keys**: a target the model never saw as a target in training (UNK, a template the
  vocabulary lacks, or a key outside the model's vocabulary) is always a miss, reported as novelty.
* **Optional top-p**: with ``top_p``, a candidate must also lie inside the smallest set of keys whose
  probability mass reaches ``top_p``; this drops keys the model thinks nearly impossible even when
  the vocabulary is so small that they still rank within the top ``k``.
* **Duplicates**: training runs on distinct (window, target) pairs weighted by their counts, and
  inference computes each distinct window once; on HDFS that removes most of the work.

Input ``X`` is a sequences DataFrame (``sequences.parquet``): ``events`` (lists of vocab indices),
optionally ``session``, ``line_nos``, ``label``.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomaly_log_detector.builders.vocab import EOS, UNK, Vocab
from anomaly_log_detector.detectors.base import Detector
from anomaly_log_detector.jsonio import check_format
from anomaly_log_detector.detectors.checkpoint import load_checkpoint, save_checkpoint
from anomaly_log_detector.detectors.windows import (WindowScores, build_windows, flatten, target_line_numbers,
                                                    unique_rows)
from anomaly_log_detector.errors import AlogError, DataError, ModelError

# Session score = misses + SURPRISE_WEIGHT * max(1 - p(target)): the second term orders sessions with
# equal misses and stays <= 0.5, so "score > 0.5" is exactly "at least one miss".
SURPRISE_WEIGHT = 0.5
THRESHOLD = 0.5
CHECKPOINT_FORMAT = "alog-detect/deeplog"
CHECKPOINT_VERSION = 1


class DeepLogDetector(Detector):
    """Next-key LSTM over sessions. ``threshold_`` is 0.5 by rule: predict == "session has a miss"."""

    name = "deeplog"

    def __init__(self, seq_len: int = 10, hidden: int = 64, layers: int = 2, embed_dim: int = 16,
                 epochs: int = 100, batch_size: int = 128, lr: float = 3e-3, patience: int = 5,
                 k: int = 9, top_p: float | None = 0.9999, eos: bool = True, seed: int = 42,
                 infer_batch_size: int = 8192, quiet: bool = True):
        self.seq_len = seq_len
        self.hidden = hidden
        self.layers = layers
        self.embed_dim = embed_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.k = k
        self.top_p = top_p
        self.eos = eos
        self.seed = seed
        self.infer_batch_size = infer_batch_size
        self.quiet = quiet

    # ---- training ---------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y=None, vocab: Vocab | None = None) -> "DeepLogDetector":
        """Train on the normal sessions of ``X``: rows with ``y == 0`` when ``y`` is given, otherwise rows
        whose ``label`` is not 1 (a missing label counts as normal)."""
        import torch

        from anomaly_log_detector.detectors.nets import NextKeyLSTM
        from anomaly_log_detector.detectors.training import TrainConfig, seed_everything, train

        self._check_settings()
        normal = _normal_rows(X, y)
        values, lengths = flatten(_events(X)[normal])
        self.vocab_size_ = vocab.size if vocab is not None else max(int(values.max(initial=0)) + 1, EOS + 1)
        self.vocab_ = dict(vocab.templates) if vocab is not None else None
        windows = build_windows(self._known(values), lengths, self.seq_len, self.eos)
        # An UNK target carries nothing to learn (it is always a miss at inference).
        keys = windows.keys[windows.targets != UNK]
        if len(keys) == 0:
            raise DataError("no training windows: the training sessions are empty")
        pairs, _, counts = unique_rows(keys)
        self.seen_keys_ = np.unique(pairs[:, -1]).astype(np.int64)
        seed_everything(self.seed)
        self.model_ = NextKeyLSTM(self.vocab_size_, self.embed_dim, self.hidden, self.layers)
        config = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                             patience=self.patience, seed=self.seed)
        result = train(self.model_, torch.from_numpy(pairs[:, :-1]), torch.from_numpy(pairs[:, -1]),
                       _cross_entropy, config, weights=torch.from_numpy(counts), label="deeplog",
                       quiet=self.quiet)
        self.history_ = result.losses
        self.train_stats_ = {
            "sessions": int(normal.sum()), "windows": int(len(keys)), "distinct_windows": int(len(pairs)),
            "epochs": len(result.losses), "stopped_early": result.stopped_early,
            "seconds": result.seconds, "windows_per_s": result.weighted_per_s,
            "distinct_per_s": result.samples_per_s,
        }
        self.threshold_ = THRESHOLD
        return self

    # ---- inference --------------------------------------------------------------------------
    def evaluate(self, X: pd.DataFrame) -> WindowScores:
        """Rank the target of every window. Each distinct window goes through the model once, in
        batches of ``infer_batch_size``."""
        import torch

        self._check_fitted()
        values, lengths = flatten(_events(X))
        windows = build_windows(self._known(values), lengths, self.seq_len, self.eos)
        pairs, pair_inv, _ = unique_rows(windows.keys)
        contexts, ctx_inv, _ = unique_rows(pairs[:, :-1])
        order = np.argsort(ctx_inv, kind="stable")
        bounds = np.searchsorted(ctx_inv[order], np.arange(0, len(contexts) + self.infer_batch_size,
                                                           self.infer_batch_size))
        rank = np.zeros(len(pairs), dtype=np.int64)
        prob = np.zeros(len(pairs), dtype=np.float32)
        tail = np.zeros(len(pairs), dtype=np.float32)
        with torch.inference_mode():
            for b, lo in enumerate(range(0, len(contexts), self.infer_batch_size)):
                logp = torch.log_softmax(self.model_(torch.from_numpy(contexts[lo:lo + self.infer_batch_size])), 1)
                sel = order[bounds[b]:bounds[b + 1]]
                rows = logp[torch.from_numpy(ctx_inv[sel] - lo)]
                target_logp = rows.gather(1, torch.from_numpy(pairs[sel, -1:]))
                above = rows > target_logp
                rank[sel] = (above.sum(1) + 1).numpy()
                prob[sel] = target_logp.exp().squeeze(1).numpy()
                # Summing the small side keeps precision where 1 - (mass above) would lose it.
                tail[sel] = (rows.exp() * ~above).sum(1).numpy()
        # Novel = a key the model never saw as a target in training (UNK included); the top-k of a
        # small vocabulary would otherwise often contain such keys, ranked by untrained logits.
        novel = ~np.isin(pairs[:, -1], self.seen_keys_)
        hit = (rank <= self.k) & ~novel
        if self.top_p is not None:
            hit &= tail > 1.0 - self.top_p
        return WindowScores(windows, rank[pair_inv], prob[pair_inv], tail[pair_inv], hit[pair_inv],
                            novel[pair_inv], len(lengths), len(contexts))

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """Per session: number of misses + 0.5 * the largest (1 - p(target)); higher is more anomalous."""
        return self.evaluate(X).per_session(SURPRISE_WEIGHT)["score"]

    def infer(self, X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The per-window table (``deeplog_infer.parquet``) and the per-session table
        (``deeplog_sessions.parquet``)."""
        return self.tables(X, self.evaluate(X))

    def tables(self, X: pd.DataFrame, ws: WindowScores) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``infer``'s tables from an ``evaluate`` result on the same ``X``."""
        w = ws.windows
        session_ids = _session_ids(X)
        lines = np.full(len(w), -1, dtype=np.int64)
        if "line_nos" in X.columns:
            try:
                lines = target_line_numbers(X["line_nos"], flatten(X["events"])[1], w)
            except ValueError as exc:
                raise DataError(str(exc)) from None
        per_window = pd.DataFrame({
            "session": session_ids[w.session], "idx": w.pos, "line_no": _nullable(lines),
            "target": w.targets, "in_topk": ws.in_topk, "rank": ws.rank, "prob": ws.prob,
            "is_novel": ws.is_novel,
        })
        s = ws.per_session(SURPRISE_WEIGHT)
        first = np.full(ws.n_sessions, -1, dtype=np.int64)
        has_miss = s["first_miss"] >= 0
        first[has_miss] = lines[s["first_miss"][has_miss]]
        per_session = pd.DataFrame({
            "session": session_ids, "is_anomaly": s["score"] > self.threshold_, "windows": s["windows"],
            "misses": s["misses"], "novel": s["novel"], "first_miss_line": _nullable(first),
            "score": s["score"],
        })
        if "label" in X.columns:
            per_session["label"] = X["label"].to_numpy()
        return per_window, per_session

    # ---- persistence ------------------------------------------------------------------------
    def to_checkpoint(self) -> dict:
        """The weights and the settings that rebuild the model: tensors and plain types only, so
        ``torch.load(weights_only=True)`` reads it without running code."""
        self._check_fitted()
        return {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "state_dict": self.model_.state_dict(),
            "config": {**self.get_params(), "vocab_size": self.vocab_size_},
            "vocab": self.vocab_, "seen_keys": [int(x) for x in self.seen_keys_],
            "history": list(self.history_), "train_stats": self.train_stats_,
        }

    def save(self, path) -> None:
        """``torch.save`` of :meth:`to_checkpoint`, written atomically."""
        save_checkpoint(self.to_checkpoint(), path)

    @classmethod
    def load(cls, path) -> "DeepLogDetector":
        """Rebuild a detector saved by :meth:`save`; the file is read with ``weights_only=True``."""
        return cls.from_checkpoint(load_checkpoint(path, "DeepLog model"), str(path))

    @classmethod
    def from_checkpoint(cls, ckpt: Any, where: str = "DeepLog model") -> "DeepLogDetector":
        """Validate a checkpoint dict and rebuild the detector; ModelError naming ``where`` if invalid."""
        from anomaly_log_detector.detectors.nets import NextKeyLSTM

        check_format(ckpt, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, where, "DeepLog model", ModelError)
        config = ckpt.get("config")
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        missing = [p for p in [*params, "vocab_size"] if not isinstance(config, dict) or p not in config]
        if missing:
            raise ModelError(f"{where}: model config lacks {', '.join(missing)}")
        det = cls(**{p: config[p] for p in params})
        try:
            det._check_settings()
            det.vocab_size_ = int(config["vocab_size"])
            det.model_ = NextKeyLSTM(det.vocab_size_, det.embed_dim, det.hidden, det.layers)
            det.model_.load_state_dict(ckpt.get("state_dict") or {})
        except (AlogError, RuntimeError, TypeError, ValueError) as exc:
            raise ModelError(f"{where}: weights do not match the model config: {str(exc).splitlines()[0]}") from None
        det.model_.eval()
        seen = ckpt.get("seen_keys")
        if not isinstance(seen, list) or not all(isinstance(x, int) and 0 <= x < det.vocab_size_ for x in seen):
            raise ModelError(f"{where}: model lacks a valid 'seen_keys' list")
        det.seen_keys_ = np.asarray(seen, dtype=np.int64)
        det.vocab_ = ckpt.get("vocab")
        det.history_ = list(ckpt.get("history") or [])
        det.train_stats_ = dict(ckpt.get("train_stats") or {})
        det.threshold_ = THRESHOLD
        return det

    # ---- helpers ----------------------------------------------------------------------------
    def _known(self, values: np.ndarray) -> np.ndarray:
        """Keys outside the model's vocabulary become UNK (unseen)."""
        return np.where((values >= 0) & (values < self.vocab_size_), values, UNK)

    def _check_settings(self) -> None:
        problems = [f"{name} must be >= 1" for name in
                    ("seq_len", "hidden", "layers", "embed_dim", "epochs", "batch_size", "k", "infer_batch_size")
                    if int(getattr(self, name)) < 1]
        if not self.lr > 0:
            problems.append("lr must be > 0")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            problems.append("top_p must be in (0, 1]")
        if problems:
            raise DataError("DeepLog settings: " + "; ".join(problems))


def _cross_entropy(logits: Any, targets: Any) -> Any:
    import torch.nn.functional as F

    return F.cross_entropy(logits, targets, reduction="none")


def _events(X: pd.DataFrame) -> pd.Series:
    if not isinstance(X, pd.DataFrame) or "events" not in X.columns:
        raise DataError("DeepLog needs a sequences table with an 'events' column (see build-deeplog)")
    return X["events"]


def _normal_rows(X: pd.DataFrame, y) -> np.ndarray:
    if y is not None:
        labels = np.asarray(y)
    elif "label" in X.columns:
        labels = X["label"].fillna(0).to_numpy()
    else:
        labels = np.zeros(len(X))
    if len(labels) != len(X):
        raise DataError(f"{len(labels)} labels for {len(X)} sessions")
    normal = labels.astype(float) != 1
    if not normal.any():
        raise DataError("no normal session to train on (every session is labelled anomalous)")
    return normal


def _session_ids(X: pd.DataFrame) -> np.ndarray:
    if "session" in X.columns:
        return X["session"].astype(str).to_numpy()
    return np.array([str(i) for i in range(len(X))], dtype=object)


def _nullable(values: np.ndarray) -> pd.arrays.IntegerArray:
    """-1 -> <NA> (EOS targets and sessions without line numbers)."""
    return pd.arrays.IntegerArray(values.astype(np.int64), values < 0)


# ---- file-level entry points (what `deeplog-train` / `deeplog-infer` call) ----------------------
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
    return {"model": str(out_path), "vocab_size": vocab.size, "final_loss": det.history_[-1],
            "excluded_anomalous": int(len(df) - det.train_stats_["sessions"]), **det.train_stats_}


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
                  top_p: float | None = None, split: str | None = None) -> dict:
    """Score every session; write `deeplog_infer.parquet` and `deeplog_sessions.parquet` into
    ``out_dir`` (default: the folder of the sequences); return a summary."""
    import time

    det = DeepLogDetector.load(model_path)
    if k is not None:
        det.k = k
    if top_p is not None:
        det.top_p = top_p
    det._check_settings()
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
        "model": str(model_path), "k": det.k, "top_p": det.top_p, "sessions": int(len(per_session)),
        "anomalous_sessions": int(len(flagged)), "windows": int(len(per_window)),
        "distinct_windows": scores.distinct_windows, "misses": int((~per_window["in_topk"]).sum()),
        "novel": int(per_window["is_novel"].sum()), "seconds": seconds,
        "windows_per_s": len(per_window) / seconds if seconds > 0 else 0.0,
        "top": [{"session": r.session, "misses": int(r.misses), "score": float(r.score),
                 "first_miss_line": None if pd.isna(r.first_miss_line) else int(r.first_miss_line)}
                for r in top.itertuples()],
        "outputs": {key: str(path) for key, path in paths.items()},
    }
