"""Thin scripts of the hybrid system over the library (anomaly_log_detector.onnx_export and .api).

* model_converter.py  PyTorch -> ONNX (the same as `alog-detect convert-onnx`)
* batch_trainer.py    train (and export) several log sources in one go
* auto_converter.py   re-export every bundle whose models changed since its export (by checksums)

The library code lives in the package so that the installed `alog-detect` can import it; run these from
a checkout (`python hybrid_system/training/<script>.py --help`) or as `python -m hybrid_system.training.<name>`
from the repository root.
"""
