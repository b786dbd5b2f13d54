"""The torch modules that are exported, and the export (TorchScript exporter, ``dynamo=False``).

DeepLog's ensemble becomes ONE graph, :class:`EnsembleLogProbs`: input ``input_sequence`` (batch,
sequence) int64 keys, output ``log_probs`` (batch, vocab_size) float32 = the members' log-softmax
averaged and renormalised, exactly :meth:`DeepLogDetector.log_probs`. One graph instead of one per
member: the engine makes one call per batch, and the averaging (the part most easily got subtly
wrong in C) is the exporter's, checked against torch by ``--validate``. Batch and sequence axes are
dynamic; the trained window length is a recommendation recorded in the metadata.

For ONNX Runtime in Python the same network is also exported in two parts, :class:`Step` (one key
through every member's LSTM, from given states: ``deeplog_step.onnx``) and :class:`Head` (the top
layer's h -> the same ensemble log-probabilities: ``deeplog_head.onnx``). Windows that share a
prefix then share its steps (:meth:`DeepLogOnnx.log_probs` walks the sorted windows as a prefix
trie); the C engine keeps the one graph.

The legacy TorchScript exporter is used on purpose (the original's fix for LSTM models: the dynamo
exporter mishandles ``dynamic_axes`` there). It traces with a batch of one, as its LSTM export
recommends, and the graph runs any batch size.
"""

from __future__ import annotations

import os
import warnings
from typing import Sequence

import torch
from torch import nn

from anomaly_log_detector.errors import ModelError
from anomaly_log_detector.onnx_export.layout import (
    DEEPLOG_INPUT, DEEPLOG_OUTPUT, HEAD_INPUT, HEAD_OUTPUT, MSCRED_INPUT, MSCRED_OUTPUT, OPSET, STEP_KEY, STEP_OUTPUT,
    STEP_STATE,
)


class EnsembleLogProbs(nn.Module):
    """DeepLog's ensemble as one module: averaged, renormalised log-probabilities of the next key."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, keys: torch.Tensor) -> torch.Tensor:
        logp = torch.stack([torch.log_softmax(m(keys), 1) for m in self.members]).mean(0)
        return logp - torch.logsumexp(logp, 1, keepdim=True)


class Step(nn.Module):
    """One key through every member's embedding and LSTM: ``(key (B,), state (B, members, layers, 2,
    hidden))`` -> the states after it, same shape (``[..., 0, :]`` is h, ``[..., 1, :]`` c). The
    members' LSTMs from given initial states (ONNX ``LSTM`` with ``initial_h`` / ``initial_c``)."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, key: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        out = []
        for i, m in enumerate(self.members):
            h0 = state[:, i, :, 0, :].transpose(0, 1).contiguous()  # (layers, B, hidden), as nn.LSTM takes it
            c0 = state[:, i, :, 1, :].transpose(0, 1).contiguous()
            _, (h1, c1) = m.lstm(m.embed(key).unsqueeze(1), (h0, c0))
            out.append(torch.stack([h1, c1], 2).transpose(0, 1))  # (B, layers, 2, hidden)
        return torch.stack(out, 1)


class Head(nn.Module):
    """The top layer's h of every member (B, members, hidden) -> what :class:`EnsembleLogProbs`
    returns for the window: the same head, log-softmax, average and renormalisation."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logp = torch.stack([torch.log_softmax(m.head(hidden[:, i, :]), 1) for i, m in enumerate(self.members)]).mean(0)
        return logp - torch.logsumexp(logp, 1, keepdim=True)


def _export(module: nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], path: str | os.PathLike,
            input_name: str | list[str], output_name: str, dynamic: dict[str, dict[int, str]]) -> None:
    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # The exporter warns that it is the legacy one (chosen on purpose), and about tracing LSTM
        # shape checks; the graph is checked against torch by --validate instead.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example if isinstance(example, tuple) else (example,), os.fspath(path),
                          dynamo=False, export_params=True, opset_version=OPSET, do_constant_folding=True,
                          input_names=[input_name] if isinstance(input_name, str) else input_name,
                          output_names=[output_name], dynamic_axes=dynamic)


def export_deeplog(models: Sequence[nn.Module], seq_len: int, path: str | os.PathLike) -> None:
    """Write the ensemble ``models`` as one ONNX graph (see the module docstring)."""
    module = EnsembleLogProbs(list(models))
    example = torch.zeros((1, seq_len), dtype=torch.int64)
    _export(module, example, path, DEEPLOG_INPUT, DEEPLOG_OUTPUT,
            {DEEPLOG_INPUT: {0: "batch", 1: "sequence"}, DEEPLOG_OUTPUT: {0: "batch"}})


def export_deeplog_trie(models: Sequence[nn.Module], step_path: str | os.PathLike,
                        head_path: str | os.PathLike) -> tuple[int, int, int]:
    """Write :class:`Step` and :class:`Head` of the ensemble ``models``; return (members, layers,
    hidden), the state's shape after the batch axis and the h/c axis."""
    members = list(models)
    layers, hidden = members[0].lstm.num_layers, members[0].lstm.hidden_size
    if any((m.lstm.num_layers, m.lstm.hidden_size) != (layers, hidden) for m in members):
        raise ModelError("the ensemble's members differ in LSTM shape")
    state = torch.zeros((1, len(members), layers, 2, hidden), dtype=torch.float32)
    _export(Step(members), (torch.zeros((1,), dtype=torch.int64), state), step_path, [STEP_KEY, STEP_STATE],
            STEP_OUTPUT, {STEP_KEY: {0: "batch"}, STEP_STATE: {0: "batch"}, STEP_OUTPUT: {0: "batch"}})
    _export(Head(members), torch.zeros((1, len(members), hidden), dtype=torch.float32), head_path, HEAD_INPUT,
            HEAD_OUTPUT, {HEAD_INPUT: {0: "batch"}, HEAD_OUTPUT: {0: "batch"}})
    return len(members), layers, hidden


def export_mscred(net: nn.Module, history: int, scales: int, n: int, path: str | os.PathLike) -> None:
    """Write MS-CRED's network: input ``input_features`` (batch, history, scales, n, n) float32 signature
    matrices, output ``reconstructed`` (batch, scales, n, n). Only the batch axis is dynamic: the
    ConvLSTM's loop over ``history`` steps and the padding of small matrices are fixed by the trace."""
    example = torch.zeros((1, history, scales, n, n), dtype=torch.float32)
    _export(net, example, path, MSCRED_INPUT, MSCRED_OUTPUT, {MSCRED_INPUT: {0: "batch"}, MSCRED_OUTPUT: {0: "batch"}})


def optimize(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Save ONNX Runtime's fully optimised graph of ``src`` (``ORT_ENABLE_ALL``: fusions and layouts for
    this machine's CPU and this ORT version) at ``dst``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = os.fspath(dst)
    options.log_severity_level = 3
    ort.InferenceSession(os.fspath(src), options, providers=["CPUExecutionProvider"])
