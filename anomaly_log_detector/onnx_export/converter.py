"""``alog-detect convert-onnx``: a trained model and its vocabulary in, an ONNX export out, as a bundle.

The output folder is always a bundle (docs/bundle.md), so every file is checksummed and the write is
atomic (a failed export or a failed ``--validate`` leaves the folder as it was):

* ``--output-dir`` is an existing bundle (e.g. the one ``train`` wrote): the bundle is rewritten with
  all its files, plus the export (replacing an earlier one), through ``BundleWriter(overwrite=True)``;
  its other metadata is kept. The model and vocabulary must then be the bundle's own.
* ``--output-dir`` does not exist or is an empty folder: a new bundle holding only the export.

Files (names in :mod:`.layout`; hybrid_system/README.md specifies them): ``deeplog.onnx`` (the raw
TorchScript export: portable, generic), ``deeplog_optimized.onnx`` (ONNX Runtime's ``ORT_ENABLE_ALL``
graph for this machine; not with ``portable``), ``deeplog_seen_pairs.npz`` (transitions never judged
misses, when the model has them), ``deeplog_step.onnx`` and ``deeplog_head.onnx`` (the same network
one key at a time and its head, for the prefix-trie pass of ONNX Runtime in Python), ``vocab_c.json``
(the C engine's ``{index: template}``), and with an MS-CRED model ``mscred.onnx`` (+
``mscred_optimized.onnx``) and ``mscred_state.npz``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.errors import BundleError, DataError, ModelError
from anomaly_log_detector.onnx_export import layout as L
from anomaly_log_detector.onnx_export.vocab_c import c_vocab_bytes, read_c_vocab, read_training_vocab

EXPORTER = "torch.onnx.export (TorchScript, dynamo=False)"


def _read_model_file(path: str | os.PathLike, what: str) -> tuple[bytes, str]:
    from anomaly_log_detector.detectors.checkpoint import MAX_CHECKPOINT_BYTES
    from anomaly_log_detector.fileio.jsonio import read_regular

    try:
        data = read_regular(path, MAX_CHECKPOINT_BYTES)
    except FileNotFoundError:
        raise ModelError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    return data, hashlib.sha256(data).hexdigest()


def load_deeplog(path: str | os.PathLike, vocab: Vocab) -> tuple[Any, str]:
    """The DeepLog detector of a ``deeplog.pth`` (``weights_only`` load, every shape checked against
    ``vocab``) and the file's sha256. DataError when the model was trained on another vocabulary."""
    from anomaly_log_detector.detectors.checkpoint import load_checkpoint_bytes
    from anomaly_log_detector.detectors.deeplog import DeepLogDetector

    data, sha = _read_model_file(path, "DeepLog model")
    det = DeepLogDetector.from_checkpoint(load_checkpoint_bytes(data, str(path), "DeepLog model"), str(path),
                                          vocab_size=vocab.size)
    if det.vocab_ is not None and det.vocab_ != vocab.templates:
        moved = sum(1 for t, i in det.vocab_.items() if vocab.templates.get(t) != i)
        raise DataError(f"{path}: the model was trained with another vocabulary ({moved:,} templates differ "
                        f"from --vocab); pass the vocab.json it was trained with")
    return det, sha


def _strict(obj: Any) -> Any:
    """``obj`` if it is strict JSON (no NaN/Infinity), else None."""
    try:
        json.dumps(obj, allow_nan=False)
        return obj
    except (TypeError, ValueError):
        return None


def deeplog_section(det: Any, trained_seq_len: int, optimized: bool, seen_pairs: bool,
                    trie: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """``metadata["onnx"]["deeplog"]``: the graph's interface and everything the scorer reads
    (``det.seq_len`` is the window length the scorer uses, ``trained_seq_len`` the training's;
    ``trie``: (members, layers, hidden) of the step and head graphs when they are exported)."""
    from anomaly_log_detector.detectors.calibration import MAX_SURPRISE
    from anomaly_log_detector.detectors.deeplog import SURPRISE_WEIGHT

    params = {**det.get_params(), "seq_len": int(trained_seq_len)}
    rule = "calibrated" if det.calibrated else ", ".join(
        ([f"top-k {det.k}"] if det.k is not None else []) + ([f"top-p {det.top_p:g}"] if det.top_p is not None else []))
    return {
        "model": L.DEEPLOG_ONNX, "optimized": L.DEEPLOG_OPTIMIZED if optimized else None,
        "input": {"name": L.DEEPLOG_INPUT, "type": "int64", "shape": ["batch", "sequence"]},
        "output": {"name": L.DEEPLOG_OUTPUT, "type": "float32", "shape": ["batch", det.vocab_size_]},
        "seq_len": int(det.seq_len), "trained_seq_len": int(trained_seq_len), "vocab_size": int(det.vocab_size_),
        "ensemble": len(det.models_), "eos": bool(det.eos), "k": det.k, "top_p": det.top_p, "rule": rule,
        "threshold": float(det.threshold_), "tau": float(det.tau_),
        "tau_by_group": {str(k): float(v) for k, v in det.tau_by_group_.items()},
        "seen_keys": [int(x) for x in det.seen_keys_], "seen_pairs": L.DEEPLOG_SEEN_PAIRS if seen_pairs else None,
        "max_surprise": MAX_SURPRISE, "surprise_weight": SURPRISE_WEIGHT,
        "params": _strict(params) or {}, "history": _strict(list(det.history_)) or [],
        "train_stats": _strict(dict(det.train_stats_)) or {},
        "trie": None if trie is None else L.trie_section(*trie, int(det.vocab_size_)),
    }


def _target(out: Path) -> str:
    """"bundle" (rewrite an existing bundle), or "new" (nothing there, or an empty folder)."""
    from anomaly_log_detector.bundle.manifest import METADATA

    if not out.exists() and not out.is_symlink():
        return "new"
    if out.is_dir() and not out.is_symlink() and (out / METADATA).is_file():
        return "bundle"
    if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
        return "new"
    raise DataError(f"{out} exists and is not a model bundle; pass a bundle folder (the export is added to it) "
                    f"or a new folder")


def convert_onnx(vocab_path: str | os.PathLike, output_dir: str | os.PathLike, *,
                 deeplog_model: str | os.PathLike | None = None, mscred_model: str | os.PathLike | None = None,
                 portable: bool = False, validate: bool = False, seq_len: int | None = None,
                 feature_dim: int | None = None, sequences: str | os.PathLike | None = None) -> dict[str, Any]:
    """Export the given models into the bundle at ``output_dir`` (see the module docstring); return a
    summary (files and sizes, timings, the validation numbers)."""
    import onnxruntime as ort
    import torch

    if deeplog_model is None and mscred_model is None:
        raise DataError("nothing to convert: pass --deeplog-model and/or --mscred-model")
    started = time.perf_counter()
    vocab_data, vocab_sha = _read_model_file(vocab_path, "vocab file")
    vocab = read_training_vocab(vocab_path, vocab_data)
    det = det_sha = trained_seq_len = None
    if deeplog_model is not None:
        det, det_sha = load_deeplog(deeplog_model, vocab)
        trained_seq_len = det.seq_len
        if seq_len is not None and seq_len != det.seq_len:
            det.seq_len = int(seq_len)  # the networks take any length; seen pairs are per length
    mscred = ms_sha = None
    if mscred_model is not None:
        mscred, ms_sha = _load_mscred(mscred_model, vocab, feature_dim)
    seq_df = _read_sequences(sequences, vocab) if sequences is not None else None
    out = Path(output_dir)
    mode = _target(out)
    if mode == "new" and out.is_dir():
        out.rmdir()  # BundleWriter creates the folder itself (and refuses an existing one)
    timings: dict[str, float] = {"load": round(time.perf_counter() - started, 3)}
    notes: list[str] = []

    from anomaly_log_detector.bundle import BundleWriter, hash_file, open_bundle
    from anomaly_log_detector.bundle.manifest import RESERVED_KEYS

    with BundleWriter(out, overwrite=(mode == "bundle")) as writer, writer.output_errors():
        kept: dict[str, Any] = {}
        if mode == "bundle":  # opened after taking the writer's lock: no other writer can change it now
            old = open_bundle(out)
            _check_same_sources(old, deeplog_model, det_sha, vocab, out)
            others = {n: e for n, e in old.files.items() if n not in L.EXPORT_FILES}
            for name, entry in sorted(others.items()):
                copied = writer.copy(name, old.dir / name)
                if hash_file(copied) != entry["sha256"]:
                    raise BundleError(f"{old.dir / name}: changed while the bundle was being rewritten")
            if others:  # a bundle of only an earlier export is replaced as a whole, metadata included
                kept = {k: v for k, v in old.metadata.items() if k not in RESERVED_KEYS and k != L.SECTION}
        section: dict[str, Any] = {
            "format": L.FORMAT, "version": L.VERSION, "opset": L.OPSET, "exporter": EXPORTER,
            "torch": torch.__version__, "onnx": _version("onnx"), "onnxruntime": ort.__version__,
            "portable": bool(portable),
            "optimized_for": None if portable else {"machine": platform.machine(), "system": platform.system(),
                                                    "onnxruntime": ort.__version__, "level": "ORT_ENABLE_ALL"},
            "vocab": L.VOCAB_C, "vocab_size": vocab.size,
            "seq_len": None if det is None else int(det.seq_len),
            "feature_dim": None if mscred is None else int(mscred.n_series_),
            "k": None if det is None else det.k, "top_p": None if det is None else det.top_p,
            "thresholds": {}, "source": {"vocab.json": vocab_sha}, "notes": notes,
        }
        writer.path(L.VOCAB_C).write_bytes(c_vocab_bytes(vocab))
        if det is not None:
            section["deeplog"] = _export_deeplog(det, trained_seq_len, writer, portable, notes, timings)
            section["source"]["deeplog.pth"] = det_sha
            section["thresholds"].update({"deeplog": float(det.threshold_), "deeplog_tau": float(det.tau_),
                                          "deeplog_tau_by_group": dict(section["deeplog"]["tau_by_group"])})
        if mscred is not None:
            section["mscred"] = _export_mscred(mscred, writer, portable, timings)
            section["source"]["mscred.pth"] = ms_sha
            section["thresholds"]["mscred"] = float(mscred.threshold_)
        if validate:
            section["validation"] = _validate(writer.tmp_dir, section, det, mscred, seq_df, timings)
        section["seconds"] = dict(timings)
        metadata = {**kept, L.SECTION: section}
        if not kept:  # a bundle of the export alone: the convention's keys (docs/bundle.md)
            metadata.update(vocab_size=vocab.size, thresholds=dict(section["thresholds"]))
        files = {p.name: p.stat().st_size for p in sorted(writer.tmp_dir.iterdir()) if p.name in L.EXPORT_FILES}
        final = writer.commit(metadata)
    return {"output_dir": str(final), "mode": "added to the bundle" if mode == "bundle" else "new bundle",
            "files": files, "opset": L.OPSET, "vocab_size": vocab.size, "seq_len": section["seq_len"],
            "feature_dim": section["feature_dim"], "portable": bool(portable), "notes": notes,
            "validation": section.get("validation"), "seconds": {**timings, "total": round(time.perf_counter() - started, 3)}}


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _check_same_sources(old: Any, deeplog_model: Any, det_sha: str | None, vocab: Vocab, out: Path) -> None:
    """Into a bundle, only the bundle's own model and vocabulary may be exported (else its ONNX and
    torch models would disagree)."""
    if det_sha is not None and old.has("deeplog.pth") and old.files["deeplog.pth"]["sha256"] != det_sha:
        raise DataError(f"{deeplog_model} is not the deeplog.pth of the bundle {out}; export the bundle's own "
                        f"model, or write to another folder")
    if old.has("vocab.json"):
        theirs = Vocab.from_dict(old.read_json("vocab.json"), str(out / "vocab.json"))
        if theirs.strings() != vocab.strings():
            raise DataError(f"--vocab differs from the bundle's vocab.json ({out}); pass {out / 'vocab.json'}")


def _export_deeplog(det: Any, trained_seq_len: int, writer: Any, portable: bool, notes: list[str],
                    timings: dict[str, float]) -> dict[str, Any]:
    from anomaly_log_detector.onnx_export.graph import export_deeplog, export_deeplog_trie, optimize

    started = time.perf_counter()
    export_deeplog(det.models_, det.seq_len, writer.path(L.DEEPLOG_ONNX))
    trie = export_deeplog_trie(det.models_, writer.path(L.DEEPLOG_STEP), writer.path(L.DEEPLOG_HEAD))
    timings["export_deeplog"] = round(time.perf_counter() - started, 3)
    if not portable:
        started = time.perf_counter()
        optimize(writer.path(L.DEEPLOG_ONNX), writer.path(L.DEEPLOG_OPTIMIZED))
        timings["optimize_deeplog"] = round(time.perf_counter() - started, 3)
    pairs = det.seen_pairs_
    if pairs is not None and pairs.shape[1] != det.seq_len + 1:
        notes.append(f"--seq-len {det.seq_len}: the {len(pairs):,} transitions seen in training were learnt for "
                     f"windows of {pairs.shape[1] - 1} keys and are not exported (they would judge other windows)")
        det.seen_pairs_ = pairs = None
    if pairs is not None:
        writer.path(L.DEEPLOG_SEEN_PAIRS).write_bytes(L.seen_pairs_bytes(pairs))
    if det.seq_len != trained_seq_len:
        notes.append(f"--seq-len {det.seq_len} overrides the trained window of {trained_seq_len} keys (a "
                     f"recommendation: the graph takes any length; the threshold was calibrated on {trained_seq_len})")
    return deeplog_section(det, trained_seq_len, not portable, pairs is not None, trie)


def _load_mscred(path: str | os.PathLike, vocab: Vocab, feature_dim: int | None) -> Any:
    """MS-CRED from its checkpoint; its matrices are n x n with n = top templates + 2 (fixed by the
    model), so ``feature_dim`` can only confirm n."""
    from anomaly_log_detector.detectors.checkpoint import load_checkpoint_bytes
    from anomaly_log_detector.detectors.mscred import MSCREDDetector

    data, sha = _read_model_file(path, "MS-CRED model")
    det = MSCREDDetector.from_checkpoint(load_checkpoint_bytes(data, str(path), "MS-CRED model"), str(path))
    if det.vocab_ is not None and det.vocab_ != vocab.templates:
        raise DataError(f"{path}: the MS-CRED model was trained with another vocabulary than --vocab")
    if feature_dim is not None and feature_dim != det.n_series_:
        raise DataError(f"--feature-dim {feature_dim}: this MS-CRED model reads {det.n_series_} series (its top "
                        f"{len(det.series_)} templates + <other> + <unseen>), so its matrices are "
                        f"{det.n_series_} x {det.n_series_}; omit --feature-dim or pass {det.n_series_}")
    return det, sha


def _export_mscred(det: Any, writer: Any, portable: bool, timings: dict[str, float]) -> dict[str, Any]:
    import io

    import numpy as np

    from anomaly_log_detector.onnx_export.graph import export_mscred, optimize

    n, scales = det.n_series_, len(det.scales_)
    started = time.perf_counter()
    export_mscred(det.net_, det.history, scales, n, writer.path(L.MSCRED_ONNX))
    timings["export_mscred"] = round(time.perf_counter() - started, 3)
    if not portable:
        optimize(writer.path(L.MSCRED_ONNX), writer.path(L.MSCRED_OPTIMIZED))
    buf = io.BytesIO()
    np.savez(buf, series=np.asarray(det.series_, "<i8"), mean=np.asarray(det.mean_, "<f8"),
             std=np.asarray(det.std_, "<f8"), residual_bound=np.asarray(det.residual_bound_, "<f4"),
             scales=np.asarray(det.scales_, "<i8"))
    writer.path(L.MSCRED_STATE).write_bytes(buf.getvalue())
    params = det.get_params()
    params["scales"] = None if det.scales is None else list(det.scales)
    params["channels"] = list(det.channels)
    return {
        "model": L.MSCRED_ONNX, "optimized": None if portable else L.MSCRED_OPTIMIZED, "state": L.MSCRED_STATE,
        "input": {"name": L.MSCRED_INPUT, "type": "float32", "shape": ["batch", det.history, scales, n, n]},
        "output": {"name": L.MSCRED_OUTPUT, "type": "float32", "shape": ["batch", scales, n, n]},
        "feature_dim": n, "history": int(det.history), "scales": [int(s) for s in det.scales_],
        "series_names": list(det.series_names_), "rule": det.rule, "threshold": float(det.threshold_),
        "thresholds": {k: float(v) for k, v in det.thresholds_.items()}, "params": _strict(params) or {},
    }


def _read_sequences(path: str | os.PathLike, vocab: Vocab) -> Any:
    from anomaly_log_detector.builders.deeplog import read_sequences
    from anomaly_log_detector.detectors.windows import flatten

    df = read_sequences(path)
    top = int(flatten(df["events"])[0].max(initial=0))
    if top >= vocab.size:
        raise DataError(f"{path}: event index {top} is outside the vocabulary ({vocab.size} indices); were the "
                        f"sequences built with another vocab.json?")
    return df


def _validate(folder: Path, section: dict[str, Any], det: Any, mscred: Any, seq_df: Any,
              timings: dict[str, float]) -> dict[str, Any]:
    """Check the files in the writer's folder (before the commit: a failure leaves nothing)."""
    from anomaly_log_detector.detectors.deeplog_onnx import DeepLogOnnx
    from anomaly_log_detector.onnx_export.validate import check_graph, validate_deeplog, validate_mscred

    started = time.perf_counter()
    report: dict[str, Any] = {}
    strings = read_c_vocab((folder / L.VOCAB_C).read_bytes(), str(folder / L.VOCAB_C))
    if det is not None:
        export = L.deeplog_export(section, str(folder))
        for name in (L.DEEPLOG_ONNX, *((export.trie.step, export.trie.head) if export.trie else ())):
            check_graph(folder / name)
        pairs = (L.read_seen_pairs((folder / export.seen_pairs).read_bytes(), export.seq_len, export.vocab_size,
                                   str(folder / export.seen_pairs)) if export.seen_pairs else None)
        where = str(folder / L.DEEPLOG_ONNX)
        trie = (folder / export.trie.step, folder / export.trie.head) if export.trie else None
        scorer = DeepLogOnnx.from_export(folder / L.DEEPLOG_ONNX, export, strings, pairs, where, trie=trie)
        optimized = (DeepLogOnnx.from_export(folder / L.DEEPLOG_OPTIMIZED, export, strings, pairs, where)
                     if section["deeplog"]["optimized"] else None)
        report["deeplog"] = validate_deeplog(det, scorer, optimized, seq_df)
    if mscred is not None:
        check_graph(folder / L.MSCRED_ONNX)
        optimized_path = folder / L.MSCRED_OPTIMIZED if section["mscred"]["optimized"] else None
        report["mscred"] = validate_mscred(mscred.net_, folder / L.MSCRED_ONNX, optimized_path, mscred.history,
                                           len(mscred.scales_), mscred.n_series_)
    timings["validate"] = round(time.perf_counter() - started, 3)
    report["checker"] = "onnx.checker.check_model(full_check=True): passed"
    return report


def copy_export(bundle_dir: str | os.PathLike, deploy_dir: str | os.PathLike, *, without_torch: bool = True) -> Path:
    """Write ``deploy_dir`` as a bundle with every file of the verified bundle ``bundle_dir`` except the
    torch weights (``*.pth``; keep them with ``without_torch=False``): what an inference-only host
    needs (the ONNX export, vocabularies, rules, template state, metadata). Replaces an earlier
    deployment bundle; refuses a folder that is not one."""
    from anomaly_log_detector.bundle import BundleWriter, hash_file, open_bundle
    from anomaly_log_detector.bundle.manifest import RESERVED_KEYS

    src = open_bundle(bundle_dir)
    if L.section(src.metadata, str(src.dir)) is None:
        raise BundleError(f"{src.dir}: no ONNX export to deploy; run convert-onnx first")
    target = Path(deploy_dir)
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    with BundleWriter(target, overwrite=True) as writer, writer.output_errors():
        for name, entry in sorted(src.files.items()):
            if without_torch and name.endswith(".pth"):
                continue
            if hash_file(writer.copy(name, src.dir / name)) != entry["sha256"]:
                raise BundleError(f"{src.dir / name}: changed while being deployed")
        meta = {k: v for k, v in src.metadata.items() if k not in RESERVED_KEYS}
        meta["deployed_from"] = {"path": str(src.dir.absolute()), "metadata_sha256": src.metadata["metadata_sha256"],
                                 "without_torch": without_torch}
        return writer.commit(meta)
