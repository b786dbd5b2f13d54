"""MS-CRED's network (Zhang et al., AAAI 2019): torch modules only, imported lazily by detectors/mscred.py.

Input ``(batch, h, scales, n, n)``: the signature matrices of the last ``h`` steps; output
``(batch, scales, n, n)``: the reconstruction of the last (current) step's matrices.

* **Encoder**: four convolutions with SELU, strides 1/2/2/2 as in the paper (3x3, 3x3, 2x2, 2x2
  kernels), applied to every step.
* **Attention-based ConvLSTM** per encoder level over the ``h`` steps, starting from a zero state; the
  level's output is the softmax-weighted sum of its ``h`` hidden states, weighted by each state's inner
  product with the last one divided by ``chi`` (the paper's rescale factor, 5).
* **Decoder**: transposed convolutions from the deepest attended state back to ``n x n``, each output
  concatenated with the attended state of the level above (skip connections) before the next one; the
  last layer is linear (signature matrices of standardised series can be negative).

Matrices smaller than ``MIN_SIZE`` are zero-padded so the three stride-2 layers keep at least one cell.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

MIN_SIZE = 8
CHI = 5.0


class AttentionConvLSTM(nn.Module):
    """A convolutional LSTM (Shi et al., 2015; no peepholes) over ``(batch, h, C, H, W)`` from a zero
    state, returning the attended hidden state ``(batch, C, H, W)``.

    The gates are one 3x3 convolution over [input, hidden], computed as two: the input part for all
    ``h`` steps in one call, the hidden part per step (skipped at the first step, where the hidden
    state is zero). Same function, fewer and larger convolutions."""

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__()
        self.x2g = nn.Conv2d(channels, 4 * channels, kernel, padding=kernel // 2)
        self.h2g = nn.Conv2d(channels, 4 * channels, kernel, padding=kernel // 2, bias=False)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        b, steps = seq.shape[:2]
        gx = self.x2g(seq.flatten(0, 1)).unflatten(0, (b, steps))
        h = c = None
        states = []
        for t in range(steps):
            g = gx[:, t] if h is None else gx[:, t] + self.h2g(h)
            i, f, o, cand = g.chunk(4, 1)
            c = torch.sigmoid(i) * torch.tanh(cand) if c is None else torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(cand)
            h = torch.sigmoid(o) * torch.tanh(c)
            states.append(h)
        hs = torch.stack(states, 1)                                      # (b, steps, C, H, W)
        sim = (hs.flatten(2) * h.flatten(1).unsqueeze(1)).sum(-1) / CHI  # (b, steps)
        alpha = torch.softmax(sim, 1)
        return (alpha[:, :, None, None, None] * hs).sum(1)


class MSCREDNet(nn.Module):
    """Convolutional encoder, attention ConvLSTM per level, deconvolutional decoder with skips."""

    def __init__(self, scales: int, channels: Sequence[int] = (32, 64, 128, 256)):
        super().__init__()
        if len(channels) != 4:
            raise ValueError("MS-CRED has four encoder levels: give four channel counts")
        c1, c2, c3, c4 = (int(c) for c in channels)
        self.scales = scales
        self.enc = nn.ModuleList([
            nn.Conv2d(scales, c1, 3, stride=1, padding=1),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),
            nn.Conv2d(c2, c3, 2, stride=2),
            nn.Conv2d(c3, c4, 2, stride=2),
        ])
        self.lstm = nn.ModuleList([AttentionConvLSTM(c) for c in (c1, c2, c3, c4)])
        self.dec4 = nn.ConvTranspose2d(c4, c3, 2, stride=2)
        self.dec3 = nn.ConvTranspose2d(2 * c3, c2, 2, stride=2)
        self.dec2 = nn.ConvTranspose2d(2 * c2, c1, 3, stride=2, padding=1)
        self.dec1 = nn.ConvTranspose2d(2 * c1, scales, 3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, steps, s, n, _ = x.shape
        pad = max(0, MIN_SIZE - n)
        if pad:
            x = F.pad(x, (0, pad, 0, pad))
        z = x.reshape(b * steps, s, n + pad, n + pad)
        attended, sizes = [], []
        for conv, lstm in zip(self.enc, self.lstm):
            z = F.selu(conv(z))
            sizes.append(z.shape[-2:])
            attended.append(lstm(z.reshape(b, steps, *z.shape[1:])))
        h1, h2, h3, h4 = attended
        d = F.selu(self.dec4(h4, output_size=sizes[2]))
        d = F.selu(self.dec3(torch.cat([d, h3], 1), output_size=sizes[1]))
        d = F.selu(self.dec2(torch.cat([d, h2], 1), output_size=sizes[0]))
        out = self.dec1(torch.cat([d, h1], 1), output_size=sizes[0])
        return out[:, :, :n, :n] if pad else out


class WindowLoss(nn.Module):
    """What the shared training loop (training.py) optimises: the per-window mean squared
    reconstruction error of the current step's matrices.

    Input ``(batch, h)`` int64: indices of the ``h`` steps of each window into ``matrices``
    ``(steps, scales, n, n)`` (index 0 may be an all-zero padding step); the last index is the current
    step, whose matrices are the target. The matrices are a plain attribute, not a buffer, so the
    state dict holds the network's weights only. Without gradients, windows go through the network
    ``chunk`` at a time (the loop's exact loss passes thousands at once)."""

    def __init__(self, net: MSCREDNet, matrices: torch.Tensor, chunk: int = 256):
        super().__init__()
        self.net = net
        self.matrices = matrices
        self.chunk = chunk

    def _loss(self, idx: torch.Tensor) -> torch.Tensor:
        out = self.net(self.matrices[idx])
        return (out - self.matrices[idx[:, -1]]).pow(2).flatten(1).mean(1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return self._loss(idx)
        return torch.cat([self._loss(idx[lo:lo + self.chunk]) for lo in range(0, len(idx), self.chunk)])
