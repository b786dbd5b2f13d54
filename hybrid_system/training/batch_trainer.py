#!/usr/bin/env python3
"""Train several log sources in one go, each into its own bundle, and optionally export each to ONNX.

    python hybrid_system/training/batch_trainer.py --models-dir models \
        --source web=/var/log/web --source db=/var/log/db.log [--convert [--portable]]
    python hybrid_system/training/batch_trainer.py --models-dir models --logs-dir normal_logs/ --convert

Every source (a file or a folder of logs) is trained with `anomaly_log_detector.api.train_model` into
MODELS/<name>; with --convert its models are exported and validated into the same bundle
(`convert-onnx --validate`). A failing source does not stop the others; MODELS/batch_results.json
records every source's outcome and time, and the exit status is 1 when any failed.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

try:
    from hybrid_system.training import _path  # noqa: F401
except ImportError:
    import _path  # noqa: F401

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def sources_from(args: argparse.Namespace) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in args.source or []:
        name, sep, path = item.partition("=")
        if not sep or not _NAME.fullmatch(name):
            raise SystemExit(f"Error: --source {item!r}: expected NAME=PATH with NAME of letters, digits, _ . -")
        out[name] = path
    if args.logs_dir:
        for entry in sorted(Path(args.logs_dir).iterdir()):
            if entry.name.startswith("."):
                continue
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", entry.name.split(".")[0] or entry.name)[:64]
            if name in out:
                raise SystemExit(f"Error: two sources named {name!r} in {args.logs_dir}; use --source NAME=PATH")
            out[name] = str(entry)
    if not out:
        raise SystemExit("Error: no source: pass --source NAME=PATH or --logs-dir DIR")
    return out


def train_all(sources: dict[str, str], models_dir: Path, *, convert: bool, portable: bool, overwrite: bool,
              **settings) -> dict:
    from anomaly_log_detector import api
    from anomaly_log_detector.errors import AlogError
    from anomaly_log_detector.onnx_export.pipeline import _plain, convert_bundle

    results = {}
    for name, path in sources.items():
        started = time.perf_counter()
        entry: dict = {"input": path, "bundle": str(models_dir / name)}
        try:
            # onnx=False: whether and how to export is this script's `convert` / `portable` choice
            entry["training"] = _plain(api.train_model([path], str(models_dir / name), overwrite=overwrite,
                                                       **{**settings, "onnx": False}))
            if convert:
                entry["conversion"] = _plain(convert_bundle(models_dir / name, portable=portable, validate=True))
            entry["status"] = "ok"
        except AlogError as exc:
            entry.update(status="failed", error=str(exc))
        entry["seconds"] = round(time.perf_counter() - started, 3)
        results[name] = entry
        print(f"{name}: {entry['status']}{' (' + entry['error'] + ')' if 'error' in entry else ''} "
              f"in {entry['seconds']:.1f} s", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train several log sources into one bundle each.")
    parser.add_argument("--models-dir", required=True, help="Folder for MODELS/<name> bundles and batch_results.json")
    parser.add_argument("--source", action="append", metavar="NAME=PATH", help="A log source. Repeatable.")
    parser.add_argument("--logs-dir", help="Every file or folder in it is one source, named after it.")
    parser.add_argument("--convert", action="store_true", help="Export each bundle to ONNX and validate it.")
    parser.add_argument("--portable", action="store_true", help="With --convert: the generic graph only.")
    parser.add_argument("--overwrite", action="store_true", help="Replace existing bundles.")
    parser.add_argument("--format", default=None, help="Header format preset (see `alog-detect parse --help`).")
    parser.add_argument("--epochs", type=int, default=None, help="DeepLog: most epochs.")
    parser.add_argument("--max-steps", type=int, default=None, help="DeepLog: most optimiser steps per network.")
    parser.add_argument("--seed", type=int, default=None, help="Random seed.")
    parser.add_argument("--quiet", action="store_true", help="No progress output from training.")
    args = parser.parse_args(argv)

    from anomaly_log_detector.fileio.jsonio import write_json_atomic

    models_dir = Path(args.models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in (("format", args.format), ("epochs", args.epochs), ("max_steps", args.max_steps),
                                  ("seed", args.seed)) if v is not None}
    results = train_all(sources_from(args), models_dir, convert=args.convert, portable=args.portable,
                        overwrite=args.overwrite, quiet=args.quiet, **settings)
    write_json_atomic(models_dir / "batch_results.json", results, indent=1)
    failed = [n for n, r in results.items() if r["status"] != "ok"]
    print(f"{len(results) - len(failed)} of {len(results)} sources trained; results: {models_dir / 'batch_results.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
