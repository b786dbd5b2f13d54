"""The hybrid system's automation: train -> convert -> validate -> deploy, and re-export on change.

``alog-detect hybrid-pipeline --log-file F --models-dir D [--auto-deploy]`` lays out ``D`` as

* ``D/model/``       the bundle ``train`` writes (:func:`anomaly_log_detector.api.train_model`), with the
                     ONNX export added by ``convert-onnx --validate``;
* ``D/deployment/``  with ``--auto-deploy``: a bundle of every file of ``D/model`` except the torch
                     weights (``*.pth``): what an inference-only host (the C engine, or ``infer`` on
                     ONNX Runtime without torch) needs;
* ``D/pipeline_results.json``  what each stage did and how long it took.

:func:`export_status` says whether a bundle's export is current, by checksums: the sha256 of the
``deeplog.pth`` / ``mscred.pth`` / ``vocab.json`` it was made from (``onnx.source``) against the
bundle's files; ``hybrid_system/training/auto_converter.py`` re-exports the bundles where it is not.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterable

from anomaly_log_detector.errors import BundleError, DataError
from anomaly_log_detector.onnx_export import layout as L

MODEL, DEPLOYMENT, RESULTS = "model", "deployment", "pipeline_results.json"


def export_status(bundle_dir: str | os.PathLike) -> str | None:
    """None when the bundle's ONNX export is current, else why it is not ("no ONNX export",
    "deeplog.pth changed since the export", ...). The bundle is verified first (BundleError)."""
    from anomaly_log_detector.bundle import open_bundle

    b = open_bundle(bundle_dir)
    try:
        s = L.section(b.metadata, str(b.dir))
    except BundleError as exc:
        return str(exc)
    if s is None:
        return "no ONNX export"
    source = s.get("source") or {}
    for name in ("deeplog.pth", "mscred.pth", "vocab.json"):
        if b.has(name) and name in source and source[name] != b.files[name]["sha256"]:
            return f"{name} changed since the export"
        if b.has(name) and name != "vocab.json" and name not in source:
            return f"{name} is not exported"
    for part in ("deeplog", "mscred"):
        entry = s.get(part)
        if isinstance(entry, dict):
            trie = entry.get("trie") if isinstance(entry.get("trie"), dict) else {}
            wanted = [entry.get("model"), entry.get("optimized"), entry.get("seen_pairs"), entry.get("state"),
                      trie.get("step"), trie.get("head")]
            missing = [n for n in wanted if isinstance(n, str) and not b.has(n)]
            if missing:
                return f"export file(s) missing: {', '.join(missing)}"
    return None


def convert_bundle(bundle_dir: str | os.PathLike, *, portable: bool = False, validate: bool = True) -> dict[str, Any]:
    """Export a bundle's own models into it (``convert-onnx`` with the bundle as input and output)."""
    from anomaly_log_detector.onnx_export.converter import convert_onnx

    d = Path(bundle_dir)
    deeplog = d / "deeplog.pth"
    mscred = d / "mscred.pth"
    if not deeplog.is_file() and not mscred.is_file():
        raise DataError(f"{d}: the bundle holds no deeplog.pth or mscred.pth to export")
    return convert_onnx(d / "vocab.json", d, deeplog_model=deeplog if deeplog.is_file() else None,
                        mscred_model=mscred if mscred.is_file() else None, portable=portable, validate=validate)


def run_hybrid_pipeline(log_files: Iterable[str], models_dir: str | os.PathLike, *, auto_deploy: bool = False,
                        portable: bool = False, overwrite: bool = False, **settings: Any) -> dict[str, Any]:
    """Train a bundle on ``log_files`` into ``models_dir/model`` (``settings``: TrainSettings fields),
    export and validate it, and with ``auto_deploy`` write ``models_dir/deployment``; write and return
    ``pipeline_results.json``."""
    from anomaly_log_detector.workflows.settings import TrainSettings
    from anomaly_log_detector.workflows.train import train_model
    from anomaly_log_detector.bundle import open_bundle
    from anomaly_log_detector.fileio.jsonio import write_json_atomic
    from anomaly_log_detector.onnx_export.converter import copy_export

    root = Path(models_dir)
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"log_files": [str(p) for p in log_files], "models_dir": str(root.absolute()),
                               "stages": {}}
    started = time.perf_counter()
    t = time.perf_counter()
    # onnx=False: the export is this pipeline's next stage, with its own --portable choice
    training = train_model(list(results["log_files"]), str(root / MODEL),
                           TrainSettings().with_overrides(**{**settings, "onnx": False}), overwrite=overwrite)
    results["stages"]["training"] = {"bundle": str(root / MODEL), "seconds": round(time.perf_counter() - t, 3),
                                     "summary": _plain(training)}
    conversion = convert_bundle(root / MODEL, portable=portable, validate=True)
    results["stages"]["conversion"] = _plain(conversion)  # its "seconds" time each step
    if auto_deploy:
        t = time.perf_counter()
        final = copy_export(root / MODEL, root / DEPLOYMENT)
        deployed = open_bundle(final)  # verified as a host would open it
        results["stages"]["deployment"] = {"bundle": str(final), "files": sorted(deployed.files),
                                           "seconds": round(time.perf_counter() - t, 3)}
    results["seconds"] = round(time.perf_counter() - started, 3)
    write_json_atomic(root / RESULTS, results, indent=1)
    return results


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """A summary with only JSON values (paths as strings, non-finite numbers as None)."""
    import json
    import math

    def fix(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): fix(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [fix(x) for x in v]
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, (str, int, float, bool)) or v is None:
            return v
        return str(v)

    out = fix(d)
    json.dumps(out, allow_nan=False)
    return out
