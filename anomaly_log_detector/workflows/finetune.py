"""Fine-tune a trained DeepLog on new normal sessions over a grown vocabulary (incremental training).

The vocabulary only grows (``Vocab.extend``: old indices stay), so the new network is the old one with
more rows: the LSTM is copied whole, and the embedding and output layers keep the old rows for the old
indices, new rows starting from a fresh seeded initialisation. Training then continues with the shared
loop (detectors/training.py). The result is rebuilt through ``DeepLogDetector.from_checkpoint``, the same
validated path as loading a saved model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from anomaly_log_detector.builders.vocab import UNK, Vocab
from anomaly_log_detector.detectors.deeplog import DeepLogDetector
from anomaly_log_detector.detectors.nets import NextKeyLSTM
from anomaly_log_detector.detectors.training import TrainConfig, seed_everything, train
from anomaly_log_detector.detectors.windows import build_windows, flatten, unique_rows
from anomaly_log_detector.errors import DataError


def grow(old: NextKeyLSTM, vocab_size: int, seed: int) -> NextKeyLSTM:
    """A network for `vocab_size` keys holding `old`'s weights (old key rows copied, new rows fresh)."""
    old_size = old.embed.num_embeddings
    if vocab_size < old_size:
        raise DataError(f"a vocabulary can only grow: {vocab_size} < {old_size} indices")
    seed_everything(seed)
    new = NextKeyLSTM(vocab_size, old.embed.embedding_dim, old.lstm.hidden_size, old.lstm.num_layers)
    with torch.no_grad():
        new.lstm.load_state_dict(old.lstm.state_dict())
        new.embed.weight[:old_size] = old.embed.weight
        new.head.weight[:old_size] = old.head.weight
        new.head.bias[:old_size] = old.head.bias
    return new


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits, targets, reduction="none")


def finetune_deeplog(old: DeepLogDetector, X: pd.DataFrame, vocab: Vocab, *, epochs: int, lr: float,
                     seed: int, quiet: bool = True) -> DeepLogDetector:
    """A new detector: `old` grown to `vocab` and trained further on the sessions `X` (events encoded
    with `vocab`). Keys `old` saw as targets stay seen, so old behaviour is not reported as novel."""
    if old.vocab_ is not None and any(vocab.templates.get(t) != i for t, i in old.vocab_.items()):
        raise DataError("the new vocabulary moves templates of the old model: it must extend the old one")
    values, lengths = flatten(X["events"])
    windows = build_windows(values, lengths, old.seq_len, old.eos)
    keys = windows.keys[windows.targets != UNK]  # an UNK target teaches nothing (always a miss)
    if len(keys) == 0:
        raise DataError("no training windows: the new training sessions are empty")
    pairs, _, counts = unique_rows(keys)
    model = grow(old.model_, vocab.size, seed)
    config = TrainConfig(epochs=epochs, batch_size=old.batch_size, lr=lr, patience=old.patience, seed=seed)
    result = train(model, torch.from_numpy(pairs[:, :-1]), torch.from_numpy(pairs[:, -1]), _cross_entropy,
                   config, weights=torch.from_numpy(counts), label="deeplog fine-tune", quiet=quiet)
    params: dict[str, Any] = {**old.get_params(), "epochs": epochs, "lr": lr, "seed": seed, "quiet": quiet}
    checkpoint = {
        **old.to_checkpoint(), "state_dict": model.state_dict(), "config": {**params, "vocab_size": vocab.size},
        "vocab": dict(vocab.templates),
        "seen_keys": [int(x) for x in np.union1d(old.seen_keys_, pairs[:, -1])],
        "history": list(result.losses),
        "train_stats": {"sessions": int(len(X)), "windows": int(len(keys)), "distinct_windows": int(len(pairs)),
                        "epochs": len(result.losses), "stopped_early": result.stopped_early,
                        "seconds": result.seconds, "windows_per_s": result.weighted_per_s,
                        "distinct_per_s": result.samples_per_s, "fine_tuned_from_vocab_size": old.vocab_size_},
    }
    return DeepLogDetector.from_checkpoint(checkpoint, "fine-tuned DeepLog")
