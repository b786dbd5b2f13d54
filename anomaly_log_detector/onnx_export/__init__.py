"""ONNX export of the trained detectors, for ONNX Runtime in Python and for the C engine.

``alog-detect convert-onnx`` (cli/cmd_onnx.py) calls :func:`.converter.convert_onnx`; the file set it
writes and the ``onnx`` section of ``metadata.json`` are specified in ``hybrid_system/README.md`` and
named in :mod:`.layout`. Modules:

* :mod:`.layout`    names, opset and the metadata section, read back without torch
* :mod:`.vocab_c`   the C engine's vocabulary (``vocab_c.json``) and the template-id vocab check and fix
* :mod:`.graph`     the torch modules that are exported, and the export itself (imports torch)
* :mod:`.converter` checkpoint + vocab in, a checksummed bundle with the export out
* :mod:`.validate`  ONNX Runtime against torch on the same windows (``--validate``)
* :mod:`.pipeline`  train -> convert -> validate -> deploy, batches, and re-export when a bundle changed

The library lives in the package (not in ``hybrid_system/training``) because the installed CLI must
import it; ``hybrid_system/training`` keeps thin scripts over it. Nothing here is imported by the
inference path except :mod:`.layout` and :mod:`.vocab_c`, which never import torch.
"""
