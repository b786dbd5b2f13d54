"""DeepLog (Du et al., CCS'17): an LSTM predicts the next template key from the previous ``seq_len``
keys; an event the model finds too unlikely is a miss, and a session with at least one miss is anomalous.

Differences from a plain reimplementation, each aimed at a measured blind spot:

* **Calibrated misses, not a fixed k.** Every prediction gets a *surprise*: ``-log10`` of the tail
  probability (the mass of the actual key and of every key the model ranks at or below it), so 3 means
  "one in a thousand". A share ``calibration`` of the normal sessions (or, with few sessions, the last
  share of each) is held out of training; the miss threshold ``tau_`` is the surprise that a share
  ``fa_budget`` of held-out normal predictions exceed (never below ``MIN_TAU``; extrapolated with an
  exponential tail when the held-out set is too small to show it): with the default budget about one
  normal prediction in 10,000 is a miss. ``k`` / ``top_p`` switch to the paper's top-k rule and/or
  pure nucleus (``set_rule``).
* **An ensemble.** ``ensemble`` networks with consecutive seeds; their log-probabilities are averaged
  (and renormalised). Single networks disagree on the rare transitions that decide HDFS verdicts; the
  average is stable across seeds.
* **Seen transitions are normal** (``seen_is_normal``): a (window, next key) pair that occurs in the
  training sessions is never a miss, so a model run over its own training log raises nothing. Off by
  default for benchmark sessions, on in the train workflow.
* **Short sessions**: windows are left-padded with PAD, so every event (the first one too) is predicted.
* **End of session**: an EOS target follows the last event (``eos=True``), so a session that stops
  early is a miss at its end. Use ``eos=False`` for one long stream of lines.
* **Unseen keys**: a target the model never saw as a target in training (UNK, a template the
  vocabulary lacks, or a key outside the model's vocabulary) is always a miss, reported as novelty.
  UNK is also put into ``unk_rate`` of the training contexts, so the network learns to read past an
  unseen key instead of meeting an untrained embedding at inference.
* **Duplicates**: training draws batches from distinct (window, target) pairs by their counts (see
  training.py), and inference computes each distinct window once.

Input ``X`` is a sequences DataFrame (``sequences.parquet``): ``events`` (lists of vocab indices),
optionally ``session``, ``source``, ``line_nos``, ``label``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from anomaly_log_detector.builders.vocab import EOS, PAD, UNK, Vocab
from anomaly_log_detector.detectors.base import Detector
from anomaly_log_detector.detectors.calibration import (MAX_SURPRISE, calibration_windows, session_groups,
                                                        surprise_of, tail_quantile)
from anomaly_log_detector.detectors.checkpoint import load_checkpoint, save_checkpoint
from anomaly_log_detector.detectors.deeplog_checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION
from anomaly_log_detector.detectors.deeplog_scoring import score_pairs, torch_pair_stats, window_hits
from anomaly_log_detector.detectors.deeplog_tables import WindowTable
from anomaly_log_detector.detectors.windows import (CHUNK, WindowScores, Windows, build_windows, compact_key_dtype,
                                                    flatten, list_values, rows_in, target_line_numbers,
                                                    unique_rows)
from anomaly_log_detector.errors import DataError

# Session score in the top-k / top-p rules = misses + SURPRISE_WEIGHT * max(1 - p(target)): the second
# term orders sessions with equal misses and stays <= 0.5, so "score > 0.5" is "at least one miss".
SURPRISE_WEIGHT = 0.5
THRESHOLD = 0.5
# Windows per LSTM forward pass in scoring (see log_probs).
FORWARD_ROWS = 1024
# Calibrated rule: a miss is never called below this surprise (tail 1 %), whatever the held-out data.
MIN_TAU = 2.0
# A tail estimate (overall, or a process's own) needs this many held-out predictions beyond its level.
MIN_EXCESSES = 10
# Below this many normal sessions, calibration holds out the tail of each session instead of sessions.
MIN_SESSIONS_TO_SPLIT = 20
SPLIT_SEED = 20170101
# Share of training contexts whose start is cut to PAD (see DeepLogDetector._augment).
CROP_RATE = 0.1
# Upper bounds of the network's sizes: far above any useful model, and what a model file may claim
# (checked before anything is allocated; see from_checkpoint).
MAX_SIZES = {"seq_len": 1024, "hidden": 1 << 14, "embed_dim": 1 << 12, "layers": 16, "ensemble": 32}


class DeepLogDetector(Detector):
    """Next-key LSTM ensemble over sessions.

    ``threshold_`` is ``tau_`` (a session's score is its largest surprise) under the calibrated rule,
    0.5 (a session's score counts its misses) under top-k / top-p."""

    name = "deeplog"

    def __init__(self, seq_len: int = 10, hidden: int = 64, layers: int = 2, embed_dim: int = 16,
                 epochs: int = 100, batch_size: int = 128, lr: float = 3e-3, patience: int = 10,
                 k: int | None = None, top_p: float | None = None, eos: bool = True, seed: int = 42,
                 ensemble: int = 3, calibration: float = 0.1, fa_budget: float = 1e-4,
                 seen_is_normal: bool = False, unk_rate: float = 0.01, max_steps: int = 20000,
                 min_delta: float = 1e-3,
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
        self.ensemble = ensemble
        self.calibration = calibration
        self.fa_budget = fa_budget
        self.seen_is_normal = seen_is_normal
        self.unk_rate = unk_rate
        self.max_steps = max_steps
        self.min_delta = min_delta
        self.infer_batch_size = infer_batch_size
        self.quiet = quiet

    # ---- training ---------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y=None, vocab: Vocab | None = None,
            calibration_X: pd.DataFrame | None = None, calibration_from_row: int | None = None) -> "DeepLogDetector":
        """Train on the normal sessions of ``X`` (rows with ``y == 0`` when ``y`` is given, otherwise rows
        whose ``label`` is not 1) and calibrate the miss threshold on held-out normal data:
        ``calibration_X`` when given (all of it normal), else a share of ``X``'s normal sessions. With
        ``calibration_from_row``, only the predictions of ``calibration_X`` events whose ``rows`` value
        (parsed row) is at least that calibrate: the earlier events only give them their context."""
        self._check_settings()
        normal = X[_normal_rows(X, y)].reset_index(drop=True)
        values, lengths = flatten(_events(normal))
        self.vocab_size_ = vocab.size if vocab is not None else max(int(values.max(initial=0)) + 1, EOS + 1)
        self.vocab_ = dict(vocab.templates) if vocab is not None else None
        windows = build_windows(self._known(values), lengths, self.seq_len, self.eos)
        if calibration_X is not None:
            cal_windows, cal_groups = calibration_windows(self, calibration_X, calibration_from_row)
            fit_mask = np.ones(len(windows), dtype=bool)
        else:
            fit_mask = self._fit_mask(windows, lengths)
            cal_windows, cal_groups = None, None
        fit_keys = windows.keys[fit_mask & (windows.targets != UNK)]  # an UNK target teaches nothing
        if len(fit_keys) == 0:
            raise DataError("no training windows: the training sessions are empty")
        pairs, _, counts = unique_rows(fit_keys)
        self.seen_keys_ = np.unique(pairs[:, -1]).astype(np.int64)
        result = self._train(pairs, counts)
        # Calibrate on what training did not see, with "seen" meaning the fitted part only.
        all_pairs = unique_rows(windows.keys[windows.targets != UNK])[0]
        self.seen_pairs_ = pairs if self.seen_is_normal else None
        if cal_windows is not None:
            cal_keys = cal_windows
        else:
            cal_keys = windows.keys[~fit_mask]
            groups = session_groups(normal)
            cal_groups = None if groups is None else groups[windows.session[~fit_mask]]
        self.tau_, self.tau_by_group_ = self._calibrate(cal_keys, cal_groups)
        # The shipped model knows every normal transition and key it was given.
        self.seen_keys_ = np.unique(all_pairs[:, -1]).astype(np.int64) if len(all_pairs) else self.seen_keys_
        self.seen_pairs_ = all_pairs if self.seen_is_normal else None
        self.train_stats_ = self._stats(result, len(normal), int(fit_mask.sum()), len(pairs), len(cal_keys))
        self.history_ = [float(np.mean(v)) for v in zip(*[r.losses for r in result])]
        self.threshold_ = self._threshold()
        return self

    def _stats(self, result: list, sessions: int, windows: int, distinct: int, calibration: int) -> dict:
        seconds = sum(r.seconds for r in result)
        return {
            "sessions": int(sessions), "windows": int(windows), "distinct_windows": int(distinct),
            "calibration_windows": int(calibration), "epochs": max(len(r.losses) for r in result),
            "stopped_early": all(r.stopped_early for r in result), "converged": all(r.converged for r in result),
            "stop_reasons": [r.stop_reason for r in result], "best_epochs": [r.best_epoch for r in result],
            "steps": sum(r.steps for r in result), "seconds": round(seconds, 3),
            "windows_per_s": sum(r.samples_seen for r in result) / max(seconds, 1e-9),
            "distinct_per_s": sum(r.samples_seen for r in result) / max(seconds, 1e-9),
            "final_loss": float(np.mean([r.best_loss for r in result])), "tau": float(self.tau_),
        }

    def _fit_mask(self, windows: Windows, lengths: np.ndarray) -> np.ndarray:
        """Which windows train the networks (the rest calibrate): whole held-out sessions when there are
        enough sessions, else the last ``calibration`` share of every session's predictions."""
        n = len(lengths)
        if self.calibration <= 0:
            return np.ones(len(windows), dtype=bool)
        if n >= MIN_SESSIONS_TO_SPLIT:
            # The held-out sessions depend on the data only, not on the seed: the seed varies the
            # networks, and a verdict must not hinge on which sessions happened to calibrate it.
            rng = np.random.default_rng(SPLIT_SEED)
            held = np.zeros(n, dtype=bool)
            held[rng.permutation(n)[:max(1, int(round(n * self.calibration)))]] = True
            return ~held[windows.session]
        # The tail of each session's events calibrates; its end-of-session target (if any) still trains,
        # or the networks would never learn where sessions end.
        cut = np.ceil(lengths * (1.0 - self.calibration)).astype(np.int64)
        return (windows.pos < cut[windows.session]) | (windows.pos >= lengths[windows.session])

    def _train(self, pairs: np.ndarray, counts: np.ndarray, start: list | None = None) -> list:
        import torch

        from anomaly_log_detector.detectors.nets import NextKeyLSTM
        from anomaly_log_detector.detectors.training import TrainConfig, seed_everything, train

        inputs, targets = torch.from_numpy(pairs[:, :-1]), torch.from_numpy(pairs[:, -1])
        steps_per_epoch = max(50, -(-len(pairs) // self.batch_size))
        epochs = max(1, min(self.epochs, self.max_steps // steps_per_epoch))
        self.models_, results = [], []
        for member in range(self.ensemble):
            seed = self.seed + member
            seed_everything(seed)
            model = NextKeyLSTM(self.vocab_size_, self.embed_dim, self.hidden, self.layers) if start is None \
                else start[member].train()
            config = TrainConfig(epochs=epochs, batch_size=self.batch_size, lr=self.lr, patience=self.patience,
                                 min_delta=self.min_delta, seed=seed)
            results.append(train(model, inputs, targets, _cross_entropy, config, weights=torch.from_numpy(counts),
                                 label=f"deeplog[{member + 1}/{self.ensemble}]", quiet=self.quiet,
                                 augment=self._augment))
            self.models_.append(model)
        return results

    def _augment(self, keys: Any, generator: Any) -> Any:
        """Replace ``unk_rate`` of the non-PAD context keys by UNK (trains the UNK embedding), and, for
        streams (``eos`` off), cut the start of ``CROP_RATE`` of the contexts to PAD: a log file (rotated,
        or read from the middle) starts streams anywhere, not only where the training streams started.
        Whole sessions (``eos`` on) keep their real starts: there a start is information."""
        import torch

        if self.unk_rate > 0:
            drop = (torch.rand(keys.shape, generator=generator) < self.unk_rate) & (keys != PAD)
            keys = torch.where(drop, torch.full_like(keys, UNK), keys)
        if self.eos or CROP_RATE <= 0:
            return keys
        crop = torch.rand(len(keys), generator=generator) < CROP_RATE
        cut = torch.randint(1, keys.shape[1], (len(keys),), generator=generator)
        hide = crop[:, None] & (torch.arange(keys.shape[1])[None, :] < cut[:, None])
        return torch.where(hide, torch.full_like(keys, PAD), keys)

    def _calibrate(self, cal_keys: np.ndarray, groups: np.ndarray | None = None) -> tuple[float, dict[str, float]]:
        """The miss threshold from held-out normal windows (MIN_TAU when there are none): the surprise
        exceeded by a share ``fa_budget`` of held-out predictions. A held-out set smaller than
        1 / fa_budget cannot show that quantile, so its upper tail is extrapolated (peaks over
        threshold with an exponential tail, as in SPOT: Siffer et al., KDD'17): above u, the 98th
        percentile, P(S > s) = p_u * exp(-(s - u) / beta) with beta the mean excess over u.

        With ``groups`` (the sessions' ``group``, e.g. the process of a stream), every group with enough
        held-out predictions for its own tail estimate gets its own threshold at the same budget: a
        regular daemon is judged by its own held-out behaviour, not by the noisiest stream of the host."""
        if len(cal_keys) == 0:
            return MIN_TAU, {}
        s = self._surprise_of_pairs(cal_keys)
        normal = np.isin(cal_keys[:, -1], self.seen_keys_)  # novelty is reported on its own
        if self.seen_pairs_ is not None:  # a seen transition is never a miss: it cannot be a false one
            s = np.where(rows_in(cal_keys, self.seen_pairs_), 0.0, s)
        overall = tail_quantile(s[normal], self.fa_budget, min_excesses=MIN_EXCESSES)
        # Too few possible misses for a tail estimate: the largest seen, with a margin of one decade.
        tau = float(max(MIN_TAU, overall if overall is not None else s[normal].max(initial=0.0) + 1.0))
        by_group: dict[str, float] = {}
        if groups is not None:
            g = np.asarray(groups, dtype=object)[normal]
            for name in pd.unique(g):
                own = tail_quantile(s[normal][g == name], self.fa_budget, min_excesses=MIN_EXCESSES)
                if own is not None:  # else the group keeps the overall threshold
                    by_group[str(name)] = float(max(MIN_TAU, own))
        return tau, by_group

    def window_tau(self, X: pd.DataFrame, windows: Windows) -> np.ndarray:
        """The calibrated threshold of each window: its session's group's, else the global ``tau_``."""
        tau = np.full(len(windows), float(self.tau_))
        groups = session_groups(X)
        if groups is not None and self.tau_by_group_ and len(groups):
            # Looked up once per distinct group (a few hundred), not per session (~130k at 1M lines).
            code, distinct = pd.factorize(groups, use_na_sentinel=False)
            per_group = np.array([self.tau_by_group_.get(str(g), self.tau_) for g in distinct.tolist()], dtype=float)
            tau = per_group[code][windows.session]
        return tau

    def grow_to(self, vocab: Vocab) -> "DeepLogDetector":
        """Extend the networks to a vocabulary that appends templates to the model's (old rows kept)."""
        import torch

        from anomaly_log_detector.detectors.nets import grown

        self._check_fitted()
        if self.vocab_ is not None and any(vocab.templates.get(t) != i for t, i in self.vocab_.items()):
            raise DataError("the new vocabulary moves templates of the old model: it must extend the old one")
        if vocab.size > self.vocab_size_:
            torch.manual_seed(self.seed)
            self.models_ = [grown(m, vocab.size).eval() for m in self.models_]
            self.vocab_size_ = vocab.size
        self.vocab_ = dict(vocab.templates)
        return self

    def absorb(self, X: pd.DataFrame, vocab: Vocab) -> "DeepLogDetector":
        """Learn the keys and transitions of more normal sessions without training the networks (what
        the shipped bundle adds from its held-out lines): their targets stop being novel and, with
        ``seen_is_normal``, their transitions stop being misses."""
        self.grow_to(vocab)
        values, lengths = flatten(_events(X))
        keys = build_windows(self._known(values), lengths, self.seq_len, self.eos).keys
        keys = keys[keys[:, -1] != UNK]
        self.seen_keys_ = np.union1d(self.seen_keys_, keys[:, -1]).astype(np.int64)
        if self.seen_pairs_ is not None and len(keys):
            self.seen_pairs_ = unique_rows(np.concatenate([self.seen_pairs_, keys]))[0]
        return self

    def continue_fit(self, X: pd.DataFrame, vocab: Vocab, calibration_X: pd.DataFrame | None = None, *,
                     calibration_from_row: int | None = None, epochs: int | None = None, lr: float | None = None,
                     seed: int | None = None) -> "DeepLogDetector":
        """Incremental training: grow to ``vocab``, train every network further on the normal sessions
        of ``X``, recalibrate the threshold; keys and transitions learnt before stay known."""
        self.grow_to(vocab)
        self.epochs, self.lr, self.seed = epochs or self.epochs, lr or self.lr, self.seed if seed is None else seed
        old_keys, old_pairs = self.seen_keys_, self.seen_pairs_
        normal = X[_normal_rows(X, None)].reset_index(drop=True)
        values, lengths = flatten(_events(normal))
        windows = build_windows(self._known(values), lengths, self.seq_len, self.eos)
        fit_mask = np.ones(len(windows), dtype=bool) if calibration_X is not None else self._fit_mask(windows, lengths)
        keys = windows.keys[fit_mask & (windows.targets != UNK)]
        if len(keys) == 0:
            raise DataError("no training windows: the new training sessions are empty")
        pairs, _, counts = unique_rows(keys)
        result = self._train(pairs, counts, start=self.models_)
        self.seen_keys_ = np.union1d(old_keys, pairs[:, -1]).astype(np.int64)
        self.seen_pairs_ = None if old_pairs is None else unique_rows(np.concatenate([old_pairs, pairs]))[0]
        if calibration_X is not None:
            cal_keys, cal_groups = calibration_windows(self, calibration_X, calibration_from_row)
        else:
            cal_keys = windows.keys[~fit_mask]
            groups = session_groups(normal)
            cal_groups = None if groups is None else groups[windows.session[~fit_mask]]
        self.tau_, self.tau_by_group_ = self._calibrate(cal_keys, cal_groups)
        self.absorb(normal, vocab)
        self.history_ = [float(np.mean(v)) for v in zip(*[r.losses for r in result])]
        self.train_stats_ = {**self._stats(result, len(normal), int(fit_mask.sum()), len(pairs), len(cal_keys)),
                             "fine_tuned": True}
        self.threshold_ = self._threshold()
        return self

    # ---- inference --------------------------------------------------------------------------
    def set_rule(self, k: int | None = None, top_p: float | None = None) -> "DeepLogDetector":
        """Decision rule: neither = the calibrated threshold ``tau_``; ``k`` = top-k; ``top_p`` = pure
        nucleus (a miss when the key lies outside the smallest set holding ``top_p`` of the mass);
        both = both must hold."""
        self.k, self.top_p = k, top_p
        self._check_settings()
        if self.is_fitted:
            self.threshold_ = self._threshold()
        return self

    @property
    def calibrated(self) -> bool:
        return self.k is None and self.top_p is None

    def _threshold(self) -> float:
        return float(self.tau_) if self.calibrated else THRESHOLD

    def log_probs(self, contexts: np.ndarray) -> Any:
        """Ensemble log-probabilities of the next key for (n, seq_len) context windows."""
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(contexts, dtype=np.int64))
            # The LSTM runs over FORWARD_ROWS windows at a time: its per-step activations then stay in
            # the CPU caches (~1.7x less CPU than 8,192 at once). Each row's result does not depend
            # on the rows beside it, so the scores are the same.
            logp = torch.stack([torch.cat([torch.log_softmax(m(part), 1) for part in x.split(FORWARD_ROWS)])
                                if len(x) else torch.log_softmax(m(x), 1) for m in self.models_]).mean(0)
            return logp - torch.logsumexp(logp, 1, keepdim=True)

    # (rank, prob, tail) from the log-probabilities of a batch, in torch float64 (deeplog_scoring.py).
    pair_stats = staticmethod(torch_pair_stats)

    def top_keys(self, contexts: np.ndarray, n: int = 3) -> np.ndarray:
        """The ``n`` most likely next keys for each context window, most likely first."""
        if len(contexts) == 0:
            return np.zeros((0, n), dtype=np.int64)
        out = [self.log_probs(contexts[lo:lo + self.infer_batch_size]).topk(min(n, self.vocab_size_), 1).indices
               for lo in range(0, len(contexts), self.infer_batch_size)]
        import torch

        return torch.cat(out).numpy().astype(np.int64)

    def _score_pairs(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(rank, prob, tail) of each distinct (context, target) row, each context computed once, and
        the number of distinct contexts (detectors/deeplog_scoring.py; the torch or ONNX Runtime
        network through ``log_probs``, the arithmetic on its output by ``pair_stats``)."""
        return score_pairs(pairs, self.log_probs, self.pair_stats, self.infer_batch_size,
                           quiet=getattr(self, "quiet", True))

    def _surprise_of_pairs(self, keys: np.ndarray) -> np.ndarray:
        pairs, inv, _ = unique_rows(keys)
        tail = self._score_pairs(pairs)[2]
        return surprise_of(tail)[inv]

    def evaluate(self, X: pd.DataFrame) -> WindowScores:
        """Score the target of every window under the current rule. Each distinct window goes through
        the networks once, in batches of ``infer_batch_size``."""
        self._check_fitted()
        values, lengths = list_values(_events(X))  # int32 as stored: no int64 copy
        # Keys in the smallest dtype that holds the vocabulary (uint8 / uint16): a quarter of the
        # bytes or less to hold and to sort, and the same distinct rows in the same order
        # (compact_key_dtype), so every batch and every score is the same as with int64 keys.
        windows = build_windows(self._known(values), lengths, self.seq_len, self.eos,
                                dtype=compact_key_dtype(max(self.vocab_size_, EOS + 1)))
        del values
        pairs, pair_inv, _ = unique_rows(windows.keys)
        rank, prob, tail, n_contexts = self._score_pairs(pairs)
        surprise = surprise_of(tail)
        # Novel = a key the model never saw as a target in training (UNK included); the top-k of a
        # small vocabulary would otherwise often contain such keys, ranked by untrained logits.
        novel = ~np.isin(pairs[:, -1], self.seen_keys_)
        surprise[novel] = MAX_SURPRISE
        tau = self.window_tau(X, windows)
        hit = np.ones(len(pairs), dtype=bool)
        if self.k is not None:
            hit &= rank <= self.k
        if self.top_p is not None:
            hit &= (1.0 - tail) < self.top_p  # mass ranked strictly above the key is below top_p
        seen = rows_in(pairs, self.seen_pairs_) if self.seen_pairs_ is not None else np.zeros(len(pairs), bool)
        # Per window from here: each per-pair column is cast first and gathered once (a float32 of a
        # gathered float64 is the gathered float32), and the calibrated test runs a chunk at a time.
        return WindowScores(windows, rank[pair_inv], prob.astype(np.float32)[pair_inv],
                            tail.astype(np.float32)[pair_inv],
                            window_hits(hit, seen, novel, surprise, pair_inv, tau if self.calibrated else None),
                            novel[pair_inv], len(lengths), n_contexts, surprise.astype(np.float32)[pair_inv], tau)

    def session_scores(self, ws: WindowScores) -> np.ndarray:
        """Per session: under the calibrated rule its largest miss surprise (a session without a miss
        scores at most ``tau_``); under top-k / top-p the misses + 0.5 * the largest (1 - p)."""
        if not self.calibrated:
            return ws.per_session(SURPRISE_WEIGHT)["score"]
        out = np.zeros(ws.n_sessions)
        for lo in range(0, len(ws.in_topk), CHUNK):  # a chunk at a time: the maximum is the same
            part = slice(lo, lo + CHUNK)
            tau = ws.tau[part] if ws.tau is not None else np.full(len(ws.in_topk[part]), float(self.tau_))
            # On the global scale: a window's surprise relative to its own threshold, times tau_.
            surprise = ws.surprise[part]
            strength = (np.where(ws.in_topk[part], np.minimum(surprise, tau), surprise) * (self.tau_ / tau)).astype(np.float64)
            np.maximum.at(out, ws.windows.session[part], strength)
        return out

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """One score per session; higher is more anomalous (``> threshold_`` = has a miss)."""
        return self.session_scores(self.evaluate(X))

    def infer(self, X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The per-window table (``deeplog_infer.parquet``) and the per-session table
        (``deeplog_sessions.parquet``)."""
        return self.tables(X, self.evaluate(X))

    def tables(self, X: pd.DataFrame, ws: WindowScores) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``infer``'s tables from an ``evaluate`` result on the same ``X``."""
        per_window, per_session = self.window_table(X, ws)
        return per_window.frame(), per_session

    def window_table(self, X: pd.DataFrame, ws: WindowScores) -> tuple[WindowTable, pd.DataFrame]:
        """:meth:`tables` with the per-window table as a :class:`WindowTable` (its columns are the
        arrays of ``ws``: no million-row frame until rows are asked for; written a row group at a
        time)."""
        w = ws.windows
        session_ids = _session_ids(X)
        sources = (X["source"].astype("string").to_numpy(dtype=object, na_value=None) if "source" in X.columns
                   else np.full(len(X), None, dtype=object))
        lines = np.full(len(w), -1, dtype=np.int64)
        if "line_nos" in X.columns:
            try:
                lines = target_line_numbers(X["line_nos"], list_values(X["events"])[1], w)
            except ValueError as exc:
                raise DataError(str(exc)) from None
        per_window = WindowTable(session_ids, sources, ws, lines,
                                 ws.tau if (self.calibrated and ws.tau is not None) else None)
        s = ws.per_session(SURPRISE_WEIGHT)
        first = np.full(ws.n_sessions, -1, dtype=np.int64)
        has_miss = s["first_miss"] >= 0
        first[has_miss] = lines[s["first_miss"][has_miss]]
        score = self.session_scores(ws)
        per_session = pd.DataFrame({
            "session": session_ids, "is_anomaly": score > self.threshold_, "windows": s["windows"],
            "misses": s["misses"], "novel": s["novel"], "first_miss_line": _nullable(first), "score": score,
        })
        if "label" in X.columns:
            per_session["label"] = X["label"].to_numpy()
        return per_window, per_session

    # ---- persistence ------------------------------------------------------------------------
    def to_checkpoint(self) -> dict:
        """The weights and the settings that rebuild the model: tensors and plain types only, so
        ``torch.load(weights_only=True)`` reads it without running code."""
        import torch

        self._check_fitted()
        return {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "state_dicts": [m.state_dict() for m in self.models_],
            "config": {**self.get_params(), "vocab_size": self.vocab_size_},
            "vocab": self.vocab_, "seen_keys": [int(x) for x in self.seen_keys_], "tau": float(self.tau_),
            "tau_by_group": dict(self.tau_by_group_),
            "seen_pairs": None if self.seen_pairs_ is None else torch.from_numpy(self.seen_pairs_.astype(np.int32)),
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
    def from_checkpoint(cls, ckpt: Any, where: str = "DeepLog model",
                        vocab_size: int | None = None) -> "DeepLogDetector":
        """Validate a checkpoint dict and rebuild the detector; ModelError naming ``where`` if invalid.

        Everything is checked before a network is built: the arguments' types and bounds, the key
        count against ``vocab_size`` (the bundle's vocabulary, when loading from a bundle) and every
        weight's shape against the arguments (:func:`check_state_dict`), so a small file claiming a
        huge vocabulary or width is refused without allocating what it claims
        (detectors/deeplog_checkpoint.py)."""
        from anomaly_log_detector.detectors.deeplog_checkpoint import detector_from_checkpoint

        return detector_from_checkpoint(cls, ckpt, where, vocab_size)

    # ---- helpers ----------------------------------------------------------------------------
    def _known(self, values: np.ndarray) -> np.ndarray:
        """Keys outside the model's vocabulary become UNK (unseen)."""
        return np.where((values >= 0) & (values < self.vocab_size_), values, UNK)

    def _check_settings(self) -> None:
        problems = [f"{name} must be >= 1" for name in
                    ("seq_len", "hidden", "layers", "embed_dim", "epochs", "batch_size", "ensemble",
                     "max_steps", "infer_batch_size")
                    if int(getattr(self, name)) < 1]
        problems += [f"{name} must be at most {most:,}" for name, most in MAX_SIZES.items()
                     if int(getattr(self, name)) > most]
        if self.k is not None and int(self.k) < 1:
            problems.append("k must be >= 1")
        # Written as "not inside" so that NaN, which fails every comparison, is refused too.
        if not 0 < self.lr < math.inf:
            problems.append("lr must be a finite number > 0")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            problems.append("top_p must be in (0, 1]")
        if not 0 <= self.calibration < 1:
            problems.append("calibration must be in [0, 1)")
        if not 0 < self.fa_budget < 1:
            problems.append("fa_budget must be in (0, 1)")
        if not 0 <= self.unk_rate < 1:
            problems.append("unk_rate must be in [0, 1)")
        if not 0 <= self.min_delta < math.inf:
            problems.append("min_delta must be a finite number >= 0")
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
