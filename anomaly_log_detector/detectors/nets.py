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

    @staticmethod
    def state_shapes(vocab_size: int, embed_dim: int, hidden: int, layers: int) -> dict[str, tuple[int, ...]]:
        """The shape of every weight of ``state_dict()`` for these arguments, without building the
        module (building it even on the meta device initialises its weights, which imports
        torch._dynamo: ~3 s of every `infer`). tests/test_deeplog.py checks it against a real one."""
        gates = 4 * hidden
        shapes: dict[str, tuple[int, ...]] = {"embed.weight": (vocab_size, embed_dim)}
        for k in range(layers):
            shapes.update({f"lstm.weight_ih_l{k}": (gates, embed_dim if k == 0 else hidden),
                           f"lstm.weight_hh_l{k}": (gates, hidden),
                           f"lstm.bias_ih_l{k}": (gates,), f"lstm.bias_hh_l{k}": (gates,)})
        shapes.update({"head.weight": (vocab_size, hidden), "head.bias": (vocab_size,)})
        return shapes

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
