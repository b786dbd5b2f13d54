"""Torch modules only (no data handling, no training): imported lazily by the detectors that use them."""

from __future__ import annotations

import torch
from torch import nn


class NextKeyLSTM(nn.Module):
    """DeepLog's model (Du et al., CCS'17): an LSTM over a window of template keys that outputs
    logits for the next key.

    Keys are embedded rather than fed as scalars (the paper's form) so that key indices carry no order.
    Input ``(batch, seq_len)`` int64 keys; output ``(batch, vocab_size)`` logits.
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, keys: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(keys))
        return self.head(out[:, -1, :])


def grown(old: NextKeyLSTM, vocab_size: int) -> NextKeyLSTM:
    """A network for `vocab_size` keys holding `old`'s weights: old key rows copied, new rows from a
    fresh initialisation (seed the generators first for a reproducible result)."""
    old_size = old.embed.num_embeddings
    if vocab_size < old_size:
        raise ValueError(f"a vocabulary can only grow: {vocab_size} < {old_size} indices")
    new = NextKeyLSTM(vocab_size, old.embed.embedding_dim, old.lstm.hidden_size, old.lstm.num_layers)
    with torch.no_grad():
        new.lstm.load_state_dict(old.lstm.state_dict())
        new.embed.weight[:old_size] = old.embed.weight
        new.head.weight[:old_size] = old.head.weight
        new.head.bias[:old_size] = old.head.bias
    return new
