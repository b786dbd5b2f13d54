"""The one training loop shared by the neural detectors: seeded, step-based, converged on an exact loss.

Why it looks like this (each point fixes a measured failure of a plain epoch loop):

* **Batches drawn by count.** Training data arrive as distinct samples with their counts. Each batch is
  drawn with replacement, a sample's chance proportional to its count, so every batch is an unbiased,
  equally weighted estimate of the full objective (weighting distinct samples inside a batch gave batch
  weights from 0.03x to 3.1x of the mean).
* **Enough steps on small data.** An "epoch" is ``ceil(distinct / batch_size)`` steps but never fewer
  than ``min_steps_per_epoch``: ten epochs over 1,200 distinct windows used to be ten optimiser steps.
* **Stop on the exact loss, keep the best weights.** After every epoch the weighted loss over all
  distinct samples is computed in eval mode (not a running average taken while weights change); training
  stops when the best loss is less than ``min_delta`` (relative) better than ``patience`` epochs before
  (``converged``), at
  ``epochs``, or past ``time_budget`` seconds, and the weights of the best epoch are restored.

Progress: a bar over the epochs (rate, ETA at the ``epochs`` limit, the last exact loss) on a terminal;
elsewhere, unless ``quiet``, one line per epoch on stderr (logs and scripts can follow it).
"""

from __future__ import annotations

import copy
import logging
import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from anomaly_log_detector.progress import Progress

# Per-sample loss: (model output, batch targets) -> 1-D tensor of losses, one per sample.
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
EVAL_BATCH = 8192

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100
    batch_size: int = 128
    lr: float = 3e-3
    # Stop when the exact loss has not improved by `min_delta` (relative) for `patience` epochs.
    patience: int = 10
    min_delta: float = 1e-3
    seed: int = 42
    min_steps_per_epoch: int = 50
    time_budget: float | None = None  # seconds; None = no limit


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)  # exact weighted loss after each epoch
    stopped_early: bool = False   # stopped on a plateau (= converged)
    stop_reason: str = "epochs"   # "plateau", "epochs" or "time"
    best_epoch: int = 0
    steps: int = 0
    seconds: float = 0.0
    samples_seen: int = 0         # rows passed through the model in training steps
    weighted_seen: float = 0.0    # the same (rows are drawn by count, so each counts once)

    @property
    def converged(self) -> bool:
        return self.stop_reason == "plateau"

    @property
    def best_loss(self) -> float:
        return self.losses[self.best_epoch - 1] if self.losses else float("nan")

    @property
    def samples_per_s(self) -> float:
        """Rows per second computed in training steps."""
        return self.samples_seen / self.seconds if self.seconds > 0 else 0.0

    @property
    def weighted_per_s(self) -> float:
        return self.weighted_seen / self.seconds if self.seconds > 0 else 0.0


def seed_everything(seed: int) -> None:
    """Seed every generator a model build or training may touch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def exact_loss(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
               weights: torch.Tensor) -> float:
    """Weighted mean loss over every sample, in eval mode."""
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for lo in range(0, len(inputs), EVAL_BATCH):
            sl = slice(lo, lo + EVAL_BATCH)
            total += float((loss_fn(model(inputs[sl]), targets[sl]).double() * weights[sl].double()).sum())
    model.train()
    return total / float(weights.double().sum())


def train(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
          config: TrainConfig, weights: torch.Tensor | None = None, label: str = "train",
          quiet: bool = False, augment: Callable | None = None) -> TrainResult:
    """Minimise the (count-weighted) mean of ``loss_fn`` over ``(inputs, targets)`` with Adam.

    ``weights`` are the counts of distinct samples; ``augment(batch_inputs, generator)`` may alter each
    training batch (never the exact loss). The same seed and data give identical weights."""
    n = len(inputs)
    w = torch.ones(n, dtype=torch.float64) if weights is None else weights.to(torch.float64)
    probs = w / w.sum()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = max(config.min_steps_per_epoch, math.ceil(n / config.batch_size))
    result = TrainResult()
    best, best_state, bests = float("inf"), None, []
    start = time.perf_counter()
    model.train()
    log.debug("%s: %d distinct samples, %d steps of %d per epoch, at most %d epochs", label, n, steps_per_epoch,
              config.batch_size, config.epochs)
    progress = Progress(label, total=config.epochs, unit="epoch", quiet=quiet)
    try:
        for epoch in range(1, config.epochs + 1):
            for _ in range(steps_per_epoch):
                idx = torch.multinomial(probs, config.batch_size, replacement=True, generator=generator)
                x = inputs[idx] if augment is None else augment(inputs[idx], generator)
                loss = loss_fn(model(x), targets[idx]).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            result.steps += steps_per_epoch
            result.samples_seen += steps_per_epoch * config.batch_size
            epoch_loss = exact_loss(model, inputs, targets, loss_fn, w)
            result.losses.append(epoch_loss)
            progress.update(1, loss=epoch_loss)
            if not quiet and not progress.enabled:  # no bar (not a terminal): one line per epoch instead
                print(f"{label}: epoch {epoch}/{config.epochs} loss {epoch_loss:.5f}", file=sys.stderr, flush=True)
            if epoch_loss < best:
                best, best_state, result.best_epoch = epoch_loss, copy.deepcopy(model.state_dict()), epoch
            bests.append(best)
            # Plateau: the best loss is less than `min_delta` better than `patience` epochs ago.
            if len(bests) > config.patience and bests[-1] > bests[-1 - config.patience] * (1 - config.min_delta):
                result.stopped_early, result.stop_reason = True, "plateau"
                break
            if config.time_budget is not None and time.perf_counter() - start > config.time_budget:
                result.stop_reason = "time"
                break
    finally:
        progress.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    result.weighted_seen = float(result.samples_seen)
    result.seconds = time.perf_counter() - start
    log.debug("%s: stopped (%s) after %d epochs; best loss %.5f at epoch %d", label, result.stop_reason,
              len(result.losses), result.best_loss, result.best_epoch)
    if not quiet:
        print(f"{label}: {result.stop_reason}; best loss {result.best_loss:.5f} at epoch {result.best_epoch}, "
              f"{result.steps:,} steps, {result.seconds:.1f} s", file=sys.stderr, flush=True)
    model.eval()
    return result
