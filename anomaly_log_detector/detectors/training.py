"""The one training loop shared by the neural detectors: seeded, mini-batched, early stop on plateau,
progress and the loss of every epoch on stderr."""

from __future__ import annotations

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


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100
    batch_size: int = 128
    lr: float = 3e-3
    # Stop when the epoch loss has not improved by `min_delta` (relative) for `patience` epochs.
    patience: int = 5
    min_delta: float = 1e-3
    seed: int = 42


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    stopped_early: bool = False
    seconds: float = 0.0
    samples_seen: int = 0       # rows passed through the model, all epochs
    weighted_seen: float = 0.0  # the same, a row of weight w counting w times

    @property
    def samples_per_s(self) -> float:
        """Rows per second actually computed."""
        return self.samples_seen / self.seconds if self.seconds > 0 else 0.0

    @property
    def weighted_per_s(self) -> float:
        """Samples per second counting duplicates (the rate of training on every duplicate)."""
        return self.weighted_seen / self.seconds if self.seconds > 0 else 0.0


def seed_everything(seed: int) -> None:
    """Seed every generator a model build or training may touch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
          config: TrainConfig, weights: torch.Tensor | None = None, label: str = "train",
          quiet: bool = False) -> TrainResult:
    """Minimise the (weighted) mean of ``loss_fn`` over ``(inputs, targets)`` with Adam.

    ``weights`` lets callers train on distinct samples with their counts instead of on every
    duplicate: the objective is the same, an epoch is much shorter. Shuffling uses its own generator
    seeded from ``config.seed``, so the same seed and data give identical weights.
    """
    n = len(inputs)
    w = torch.ones(n) if weights is None else weights.to(torch.float32)
    mean_weight = float(w.mean())
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    result = TrainResult()
    best, stale = float("inf"), 0
    start = time.perf_counter()
    model.train()
    for epoch in range(1, config.epochs + 1):
        progress = Progress(f"{label} epoch {epoch}/{config.epochs}", total=n, unit="samples", quiet=quiet)
        order = torch.randperm(n, generator=generator)
        total_loss, total_weight = 0.0, 0.0
        for lo in range(0, n, config.batch_size):
            idx = order[lo:lo + config.batch_size]
            wb = w[idx]
            # Dividing by the batch's expected weight (not its own) keeps the estimate of the epoch
            # loss unbiased: a batch holding a very frequent sample must weigh more, not the same.
            loss = (loss_fn(model(inputs[idx]), targets[idx]) * wb).sum() / (len(idx) * mean_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(idx) * mean_weight
            total_weight += float(wb.sum())
            progress.update(len(idx), loss=f"{total_loss / total_weight:.4f}")
        progress.close()
        epoch_loss = total_loss / max(total_weight, 1e-12)
        result.losses.append(epoch_loss)
        result.samples_seen += n
        result.weighted_seen += total_weight
        if not quiet:
            print(f"{label}: epoch {epoch}/{config.epochs} loss {epoch_loss:.5f}", file=sys.stderr, flush=True)
        if epoch_loss < best * (1 - config.min_delta):
            best, stale = epoch_loss, 0
        else:
            stale += 1
            if stale >= config.patience:
                result.stopped_early = True
                if not quiet:
                    print(f"{label}: loss plateaued for {stale} epochs, stopping", file=sys.stderr, flush=True)
                break
    result.seconds = time.perf_counter() - start
    model.eval()
    return result
