"""The model bundle: round trip, every kind of tampering refused, atomic writes under SIGKILL."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import REPO, shared_data

from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.bundle import (
    BundleWriter, environment_versions, input_fingerprint, input_fingerprints, open_bundle,
)
from anomaly_log_detector.bundle.manifest import METADATA, seal
from anomaly_log_detector.errors import BundleError

def _write_bundle(target: Path, weight: float = 0.5, overwrite: bool = False) -> Path:
    """A bundle with a real torch state dict, a real vocab and JSON components."""
    import torch

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(input_size=4, hidden_size=8, batch_first=True)
    with torch.no_grad():
        lstm.weight_ih_l0.fill_(weight)
    with BundleWriter(target, overwrite=overwrite) as w:
        torch.save({"state_dict": lstm.state_dict(), "args": {"hidden": 8}}, w.path("deeplog.pth"))
        Vocab.build(["open <*>", "close <*>", "read <*> bytes"]).save(w.path("vocab.json"))
        w.write_json("rules.json", {"rules": [{"name": "NUM", "regex": "\\d+"}]})
        w.write_json("baseline_stats.json", {"threshold": 3.25, "counts": {"3": 10}})
        return w.commit({"params": {"deeplog": {"hidden": 8, "window": 10}}, "vocab_size": 6,
                         "losses": {"deeplog": [1.5, 0.75]}, "thresholds": {"baseline": 3.25},
                         "log_format": "<Date> <Time> <Content>"})


def test_round_trip_restores_components_and_records_environment(tmp_path):
    import torch

    out = _write_bundle(tmp_path / "model")
    b = open_bundle(out)
    assert sorted(os.listdir(out)) == ["baseline_stats.json", "deeplog.pth", METADATA, "rules.json", "vocab.json"]
    assert sorted(b.files) == ["baseline_stats.json", "deeplog.pth", "rules.json", "vocab.json"]
    assert b.files["deeplog.pth"]["size"] == (out / "deeplog.pth").stat().st_size
    ckpt = torch.load(io.BytesIO(b.read_bytes("deeplog.pth")), weights_only=True)
    assert torch.all(ckpt["state_dict"]["weight_ih_l0"] == 0.5) and ckpt["args"] == {"hidden": 8}
    assert Vocab.load(b.path("vocab.json")).size == 6
    assert b.read_json("baseline_stats.json")["threshold"] == 3.25
    meta = b.metadata
    assert meta["thresholds"] == {"baseline": 3.25} and meta["losses"]["deeplog"] == [1.5, 0.75]
    assert meta["environment"]["torch"] == torch.__version__
    assert meta["environment"] == environment_versions()
    assert meta["created_utc"].endswith("Z") and meta["version"] == 1
    assert b.has("rules.json") and not b.has("mscred.pth")
    with pytest.raises(BundleError, match="has no mscred.pth"):
        b.path("mscred.pth")
    # No temporary folder is left beside the bundle.
    assert os.listdir(tmp_path) == ["model"]


def test_input_fingerprint_matches_published_checksum():
    log = shared_data("loghub_2k", "HDFS", "corrected", "HDFS_2k.log")
    sums = shared_data("SHA256SUMS").read_text().splitlines()
    expected = {name.lstrip("*"): digest for digest, name in (line.split() for line in sums if line.strip())}
    fp = input_fingerprint(log)
    assert fp["sha256"] == expected["loghub_2k/HDFS/corrected/HDFS_2k.log"]
    assert fp["lines"] == 2000 and fp["size"] == log.stat().st_size and fp["path"] == str(log.resolve())


def test_fingerprint_counts_an_unterminated_last_line(tmp_path):
    (tmp_path / "a.log").write_bytes(b"one\ntwo\nthree")
    (tmp_path / "b.log").write_bytes(b"")
    assert input_fingerprint(tmp_path / "a.log")["lines"] == 3
    assert input_fingerprint(tmp_path / "b.log")["lines"] == 0


# ---- tampering ----------------------------------------------------------------------------------

def _edit_byte(d: Path) -> None:
    data = bytearray((d / "deeplog.pth").read_bytes())
    data[len(data) // 2] ^= 0x01
    (d / "deeplog.pth").write_bytes(bytes(data))


def _truncate(d: Path) -> None:
    p = d / "vocab.json"
    p.write_bytes(p.read_bytes()[:-7])


def _rewrite_meta(d: Path, change, reseal: bool) -> None:
    meta = json.loads((d / METADATA).read_text())
    change(meta)
    (d / METADATA).write_text(json.dumps(seal(meta) if reseal else meta))


TAMPER = {
    "edited byte": (_edit_byte, "deeplog.pth: sha256 mismatch"),
    "truncated file": (_truncate, "vocab.json: size .* expected .*truncated"),
    "missing file": (lambda d: (d / "rules.json").unlink(), "missing file.*rules.json"),
    "extra file": (lambda d: (d / "evil.pth").write_bytes(b"x"), "unexpected file.*evil.pth"),
    "extra folder": (lambda d: (d / "sub").mkdir(), "unexpected file.*sub"),
    "wrong version": (lambda d: _rewrite_meta(d, lambda m: m.update(version=2), True), "version 2 is not supported"),
    "foreign format": (lambda d: _rewrite_meta(d, lambda m: m.update(format="other"), True), "not an alog-detect"),
    "edited metadata": (lambda d: _rewrite_meta(d, lambda m: m["thresholds"].update(baseline=9.0), False),
                        "metadata.json was modified"),
    "edited checksum": (lambda d: _rewrite_meta(d, lambda m: m["files"]["vocab.json"].update(sha256="0" * 64), False),
                        "metadata.json was modified"),
    "path in manifest": (lambda d: _rewrite_meta(d, lambda m: m["files"].update({"../x.json": m["files"]["rules.json"]}), True),
                         "invalid bundle file name '../x.json'"),
    "missing metadata": (lambda d: (d / METADATA).unlink(), "not a model bundle"),
    "metadata not json": (lambda d: (d / METADATA).write_bytes(b"\xff{"), "unreadable or not JSON"),
    "component is a link": (lambda d: ((d / "rules.json").unlink(), (d / "rules.json").symlink_to(d / "vocab.json")),
                            "rules.json: must be a regular file"),
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return _write_bundle(tmp_path_factory.mktemp("pristine") / "model")


@pytest.mark.parametrize("kind", sorted(TAMPER))
def test_tampered_bundle_is_refused_naming_the_problem(kind, pristine, tmp_path):
    import shutil

    d = tmp_path / "model"
    shutil.copytree(pristine, d)
    open_bundle(d)  # the copy itself is valid
    tamper, message = TAMPER[kind]
    tamper(d)
    with pytest.raises(BundleError, match=message):
        open_bundle(d)


def test_file_swapped_after_open_is_refused_on_read(tmp_path):
    b = open_bundle(_write_bundle(tmp_path / "model"))
    (tmp_path / "model" / "baseline_stats.json").write_text('{"threshold": 0.0, "counts": {"3": 99}}')
    with pytest.raises(BundleError, match="baseline_stats.json: size"):
        b.read_json("baseline_stats.json")


# ---- the writer ---------------------------------------------------------------------------------

def test_exception_inside_writer_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with BundleWriter(tmp_path / "model") as w:
            w.write_json("vocab.json", {})
            raise RuntimeError("training failed")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["../x.json", "a/b.json", ".hidden.json", "model.pkl", METADATA, "UP.json", ""])
def test_bad_component_names_are_refused(name, tmp_path):
    with BundleWriter(tmp_path / "model") as w, pytest.raises(BundleError, match="invalid bundle file name"):
        w.path(name)


def test_commit_refuses_reserved_keys_nan_and_empty_bundles(tmp_path):
    with BundleWriter(tmp_path / "m") as w:
        w.write_json("vocab.json", {})
        with pytest.raises(BundleError, match=r"must not set \['files'\]"):
            w.commit({"files": {}})
        with pytest.raises(BundleError, match="not strict JSON"):
            w.commit({"losses": [float("nan")]})
    with BundleWriter(tmp_path / "m") as w, pytest.raises(BundleError, match="nothing to commit"):
        w.commit({})
    assert os.listdir(tmp_path) == []


def test_existing_target_needs_overwrite_and_must_be_a_bundle(tmp_path):
    first = _write_bundle(tmp_path / "model", weight=0.5)
    with pytest.raises(BundleError, match="already exists"):
        BundleWriter(first)
    _write_bundle(first, weight=0.25, overwrite=True)
    import torch

    ckpt = torch.load(io.BytesIO(open_bundle(first).read_bytes("deeplog.pth")), weights_only=True)
    assert torch.all(ckpt["state_dict"]["weight_ih_l0"] == 0.25)
    assert os.listdir(tmp_path) == ["model"]
    (tmp_path / "notes").mkdir()
    with pytest.raises(BundleError, match="not a model bundle; refusing"):
        BundleWriter(tmp_path / "notes", overwrite=True)


# ---- SIGKILL: an interrupted training never leaves a half bundle ------------------------------

_WRITING = """
import sys, time
from anomaly_log_detector.bundle import BundleWriter
w = BundleWriter(sys.argv[1])
w.write_json("vocab.json", {"templates": {}})
with open(w.path("deeplog.pth"), "wb") as f:
    for i in range(2000):          # bounded: the parent kills us long before the end
        f.write(b"\\0" * 65536)
        f.flush()
        if i == 10:
            print("writing", flush=True)
        time.sleep(0.005)
"""

# Killed inside commit at the last moment: checksums and metadata.json are written and fsynced, and the
# process dies at its first rename (os.rename is the stdlib call commit publishes with).
_COMMIT = """
import os, signal, sys
from anomaly_log_detector.bundle import BundleWriter
w = BundleWriter(sys.argv[1], overwrite=True)
w.write_json("vocab.json", {"templates": {"new": 3}})
w.path("deeplog.pth").write_bytes(os.urandom(1 << 20))
os.rename = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)
w.commit({"params": {}})
"""


def _run_child(code: str, target: Path, wait_for_line: bool) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(target)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    if wait_for_line:
        assert proc.stdout.readline().strip() == "writing", proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    return proc


def test_sigkill_while_writing_leaves_no_bundle(tmp_path):
    target = tmp_path / "model"
    _run_child(_WRITING, target, wait_for_line=True)
    assert not target.exists()
    with pytest.raises(BundleError, match="not found"):
        open_bundle(target)
    lock, tmp = sorted(os.listdir(tmp_path))  # the next writer removes both (tests/robustness/test_faults.py)
    assert lock == ".model.lock" and tmp.startswith(".model.tmp-")


def test_sigkill_mid_commit_leaves_no_bundle_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "model"
    _run_child(_COMMIT, target, wait_for_line=False)
    assert not target.exists()
    # The child really died inside commit: its temp folder holds a complete, sealed manifest.
    (tmp,) = [p for p in tmp_path.iterdir() if p.name.startswith(".model.tmp-")]
    assert json.loads((tmp / METADATA).read_text())["files"].keys() == {"deeplog.pth", "vocab.json"}

    _write_bundle(target)
    before = open_bundle(target).metadata
    _run_child(_COMMIT, target, wait_for_line=False)
    assert open_bundle(target).metadata == before


def test_folder_inputs_are_fingerprinted_file_by_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.log").write_bytes(b"x\n")
    (tmp_path / "a.log").write_bytes(b"y\nz\n")
    (tmp_path / ".hidden").write_bytes(b"skip me")
    fps = input_fingerprints([tmp_path, "-"])
    assert [(Path(f["path"]).name, f.get("lines")) for f in fps] == [("a.log", 2), ("b.log", 1), ("-", None)]
    assert fps[-1] == {"path": "-", "kind": "stdin"}  # recorded, never read again
