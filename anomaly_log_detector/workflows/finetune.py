"""Fine-tune a trained DeepLog on new normal sessions over a grown vocabulary (incremental training).

The vocabulary only grows (``Vocab.extend``: old indices stay), so the new network is the old one with
more rows (``nets.grown``): the LSTM is copied whole, and the embedding and output layers keep the old
rows for the old indices, new rows starting from a fresh seeded initialisation. Every network of the
ensemble then continues with the shared loop (detectors/training.py) and the threshold is calibrated
again (``DeepLogDetector.continue_fit``).
"""

from __future__ import annotations

import pandas as pd

from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.detectors.deeplog import DeepLogDetector


def finetune_deeplog(old: DeepLogDetector, X: pd.DataFrame, vocab: Vocab, *, epochs: int, lr: float,
                     seed: int, quiet: bool = True, calibration_X: pd.DataFrame | None = None,
                     calibration_from_row: int | None = None) -> DeepLogDetector:
    """A new detector: `old` grown to `vocab`, trained further on the sessions `X` (events encoded with
    `vocab`) and recalibrated. Keys and transitions `old` knew stay known, so old behaviour is not
    reported as new. `old` itself is left unchanged."""
    det = DeepLogDetector.from_checkpoint(old.to_checkpoint(), "DeepLog model to continue")
    det.quiet = quiet
    det.continue_fit(X, vocab, calibration_X, calibration_from_row=calibration_from_row, epochs=epochs, lr=lr,
                     seed=seed)
    det.train_stats_["fine_tuned_from_vocab_size"] = old.vocab_size_
    return det
