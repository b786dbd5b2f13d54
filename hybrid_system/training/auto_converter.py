#!/usr/bin/env python3
"""Re-export every bundle whose models changed since its ONNX export, by checksums; optionally deploy.

    python hybrid_system/training/auto_converter.py --models-dir models [--deploy-dir deploy] [--portable]
    python hybrid_system/training/auto_converter.py --models-dir models --watch 60

A bundle is MODELS itself or any folder directly in it holding a metadata.json. Its export is current
when `onnx.source` in its metadata.json records the sha256 of the bundle's own deeplog.pth /
mscred.pth / vocab.json (`export_status` in anomaly_log_detector/onnx_export/pipeline.py); otherwise
(no export yet, a retrained model, a lost file) the models are exported and validated into the bundle
again (`convert-onnx --validate`), and with --deploy-dir copied, without torch weights, to
DEPLOY/<name>. Bundles without torch models (deployments) are left alone. --watch repeats the scan
every SECONDS until interrupted (a scan reads checksums only: cheap when nothing changed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

try:
    from hybrid_system.training import _path  # noqa: F401
except ImportError:
    import _path  # noqa: F401


def find_bundles(models_dir: Path) -> list[Path]:
    if (models_dir / "metadata.json").is_file():
        return [models_dir]
    return sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and (p / "metadata.json").is_file())


def scan(models_dir: Path, *, portable: bool, validate: bool, deploy_dir: Path | None) -> dict[str, str]:
    """One pass: {bundle name: what was done}."""
    from anomaly_log_detector.errors import AlogError
    from anomaly_log_detector.onnx_export.converter import copy_export
    from anomaly_log_detector.onnx_export.pipeline import convert_bundle, export_status

    done = {}
    for bundle in find_bundles(models_dir):
        if not any((bundle / n).is_file() for n in ("deeplog.pth", "mscred.pth")):
            done[bundle.name] = "skipped (no torch model: a deployment?)"
            continue
        try:
            reason = export_status(bundle)
            if reason is None:
                done[bundle.name] = "up to date"
                continue
            convert_bundle(bundle, portable=portable, validate=validate)
            done[bundle.name] = f"re-exported ({reason})"
            if deploy_dir is not None:
                copy_export(bundle, deploy_dir / bundle.name)
                done[bundle.name] += f", deployed to {deploy_dir / bundle.name}"
        except AlogError as exc:
            done[bundle.name] = f"failed: {exc}"
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Re-export bundles whose models changed since their export.")
    parser.add_argument("--models-dir", required=True, help="A bundle, or a folder of bundles.")
    parser.add_argument("--deploy-dir", default=None, help="Also deploy each re-exported bundle to DEPLOY/<name>.")
    parser.add_argument("--portable", action="store_true", help="Export the generic graph only.")
    parser.add_argument("--no-validate", action="store_true", help="Skip the ONNX Runtime vs torch check.")
    parser.add_argument("--watch", type=float, default=None, metavar="SECONDS", help="Scan again every SECONDS.")
    args = parser.parse_args(argv)
    models_dir = Path(args.models_dir)
    if not models_dir.is_dir():
        print(f"Error: {models_dir}: not a folder", file=sys.stderr)
        return 2
    deploy = Path(args.deploy_dir) if args.deploy_dir else None
    failed = False
    while True:
        for name, what in scan(models_dir, portable=args.portable, validate=not args.no_validate,
                               deploy_dir=deploy).items():
            print(f"{name}: {what}", flush=True)
            failed |= what.startswith("failed")
        if args.watch is None:
            return 1 if failed else 0
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
