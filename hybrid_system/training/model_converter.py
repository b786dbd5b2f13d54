#!/usr/bin/env python3
"""PyTorch -> ONNX: the original toolkit's script name for `alog-detect convert-onnx` (same options).

    python hybrid_system/training/model_converter.py --deeplog-model models/deeplog.pth \
        --vocab models/vocab.json --output-dir models/onnx --portable --validate
"""

from __future__ import annotations

import sys

try:
    from hybrid_system.training import _path  # noqa: F401  (python -m hybrid_system.training.model_converter)
except ImportError:  # run by path
    import _path  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    from anomaly_log_detector.cli import main as cli_main

    cli_main(["convert-onnx", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
