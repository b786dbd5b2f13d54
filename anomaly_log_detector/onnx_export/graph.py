"""The torch modules that are exported, and the export (TorchScript exporter, ``dynamo=False``).

DeepLog's ensemble becomes ONE graph, :class:`EnsembleLogProbs`: input ``input_sequence`` (batch,
sequence) int64 keys, output ``log_probs`` (batch, vocab_size) float32 = the members' log-softmax
averaged and renormalised, exactly :meth:`DeepLogDetector.log_probs`. One graph instead of one per
member: the engine makes one call per batch, and the averaging (the part most easily got subtly
wrong in C) is the exporter's, checked against torch by ``--validate``. Batch and sequence axes are
dynamic; the trained window length is a recommendation recorded in the metadata.

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

from anomaly_log_detector.onnx_export.layout import (
    DEEPLOG_INPUT, DEEPLOG_OUTPUT, MSCRED_INPUT, MSCRED_OUTPUT, OPSET,
)


class EnsembleLogProbs(nn.Module):
    """DeepLog's ensemble as one module: averaged, renormalised log-probabilities of the next key."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, keys: torch.Tensor) -> torch.Tensor:
        logp = torch.stack([torch.log_softmax(m(keys), 1) for m in self.members]).mean(0)
        return logp - torch.logsumexp(logp, 1, keepdim=True)


def _export(module: nn.Module, example: torch.Tensor, path: str | os.PathLike, input_name: str,
            output_name: str, dynamic: dict[str, dict[int, str]]) -> None:
    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # The exporter warns that it is the legacy one (chosen on purpose), and about tracing LSTM
        # shape checks; the graph is checked against torch by --validate instead.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), os.fspath(path), dynamo=False, export_params=True,
                          opset_version=OPSET, do_constant_folding=True, input_names=[input_name],
                          output_names=[output_name], dynamic_axes=dynamic)


def export_deeplog(models: Sequence[nn.Module], seq_len: int, path: str | os.PathLike) -> None:
    """Write the ensemble ``models`` as one ONNX graph (see the module docstring)."""
    module = EnsembleLogProbs(list(models))
    example = torch.zeros((1, seq_len), dtype=torch.int64)
    _export(module, example, path, DEEPLOG_INPUT, DEEPLOG_OUTPUT,
            {DEEPLOG_INPUT: {0: "batch", 1: "sequence"}, DEEPLOG_OUTPUT: {0: "batch"}})


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
