"""Faults: full disks, interrupts, kills and concurrent trainings (issue 9, items 8 and 11).

Each case leaves the old bundle or none (never half of one), no partial or temporary file, and says in
one line what happened.

How a full disk is made without touching the machine's disks:
* a small tmpfs mounted on a folder of the test (``mount -t tmpfs -o size=...``: needs root, skipped
  otherwise): the real ENOSPC, as a full /var would give it;
* ``RLIMIT_FSIZE`` in the child process (with SIGXFSZ ignored, so writes fail with EFBIG instead of
  killing it): runs everywhere, and exercises the same clean-up paths.
Writers are killed with real signals in subprocesses; the trainings are tiny (one epoch, 8 units).
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: helpers.py
from helpers import REPO, assert_one_line_error, run_cli  # noqa: E402

from anomaly_log_detector.api import parse_logs  # noqa: E402
from anomaly_log_detector.bundle import BundleWriter, input_fingerprints, open_bundle  # noqa: E402
from anomaly_log_detector.bundle import store  # noqa: E402
from anomaly_log_detector.errors import BundleError, OutputError  # noqa: E402
from anomaly_log_detector.fileio.jsonio import write_json_atomic  # noqa: E402
from anomaly_log_detector.synth import generate_synthetic_log  # noqa: E402

TINY = ["--epochs", "1", "--hidden", "8", "--layers", "1", "--embed-dim", "4", "--quiet"]
# Training that lasts until it is killed: many epochs, progress on stderr (no --quiet).
LONG = ["--epochs", "200", "--patience", "200", "--hidden", "8", "--layers", "1", "--embed-dim", "4"]
CMD = [sys.executable, "-m", "anomaly_log_detector"]


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "ALOG_DEBUG"}


def big_log(path: Path, lines: int = 100_000) -> Path:
    """About 100 bytes a line with random ids, so the parsed output does not compress away."""
    r = random.Random(1)
    with open(path, "w") as f:
        for i in range(lines):
            f.write(f"Jan  5 10:{i // 60 % 60:02d}:{i % 60:02d} web{i % 7} sshd[{1000 + i % 50}]: session "
                    f"{r.getrandbits(64):016x} opened for user u{i % 13} port {r.randrange(65536)}\n")
    return path


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("faults")
    small = root / "small.log"
    generate_synthetic_log(str(small), 600, 0.0, seed=1)
    os.remove(f"{small}.labels.parquet")
    model = root / "model"
    run_cli("train", "--input", str(small), "--model-dir", str(model), *TINY, check=True)
    return {"root": root, "small": small, "big": big_log(root / "big.log"), "model": model}


def copy_bundle(logs: dict, dest: Path) -> dict:
    """A copy of the module's trained bundle at `dest`; returns its verified metadata."""
    shutil.copytree(logs["model"], dest)
    return open_bundle(dest).metadata


def hidden_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def no_partial_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if re.search(r"\.(partial(\.\d+)?|tmp)$", p.name)]


@contextmanager
def small_filesystem(path: Path, size: str, read_only: bool = False):
    """A tmpfs of `size` mounted at `path` for the block; skips the test where mounting is not allowed."""
    path.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    options = f"size={size}" + (",ro" if read_only else "")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); test_file_size_limit_* covers failed writes")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


# ---- item 8: full disks ------------------------------------------------------------------------

def test_parse_on_a_full_disk_names_the_device_and_removes_its_partial_files(logs, tmp_path):
    with small_filesystem(tmp_path / "fs", "2m") as fs:
        out = fs / "out"
        proc = run_cli("parse", "--input", str(logs["big"]), "--out-dir", str(out), "--quiet")
        assert proc.returncode == 2
        assert assert_one_line_error(proc) == f"Error: no space left on the device holding {out}"
        assert os.listdir(out) == []  # no 2 MB parsed.parquet.partial.0 keeping the disk full
        st = os.statvfs(fs)
        assert st.f_bfree == st.f_blocks


def test_train_on_a_full_disk_keeps_the_old_bundle(logs, tmp_path):
    with small_filesystem(tmp_path / "fs", "3m") as fs:
        model = fs / "model"
        before = copy_bundle(logs, model)
        proc = run_cli("train", "--input", str(logs["big"]), "--model-dir", str(model), "--overwrite", *TINY)
        assert proc.returncode == 2
        assert assert_one_line_error(proc) == f"Error: no space left on the device holding {model}"
        assert open_bundle(model).metadata == before
        assert os.listdir(fs) == ["model"]  # no .model.work-*, .model.tmp-*, .model.lock


def test_torch_failing_on_a_full_device_is_reported_as_a_full_disk(tmp_path, monkeypatch):
    # torch.save reports ENOSPC as "RuntimeError: [enforce fail at inline_container.cc] unexpected pos".
    with BundleWriter(tmp_path / "model") as w:
        with pytest.raises(RuntimeError, match="a bug"), w.output_errors():
            raise RuntimeError("a bug")  # plenty of space: not a disk problem
        monkeypatch.setattr(store, "_space_left", lambda path: 4096)
        with pytest.raises(OutputError, match=f"no space left on the device holding {tmp_path / 'model'}$"), \
                w.output_errors():
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    assert os.listdir(tmp_path) == []


def test_read_only_output_folder_is_named(logs, tmp_path):
    with small_filesystem(tmp_path / "fs", "1m", read_only=True) as fs:
        proc = run_cli("parse", "--input", str(logs["small"]), "--out-dir", str(fs / "out"), "--quiet")
        assert proc.returncode == 2
        assert assert_one_line_error(proc) == f"Error: {fs / 'out'} is on a read-only file system"


def _limit_file_size() -> None:
    # In the child: any write past 1 MiB fails with EFBIG (SIGXFSZ ignored, so it is not killed).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_file_size_limit_gives_a_clear_error_and_no_partial_files(logs, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([*CMD, "parse", "--input", str(logs["big"]), "--out-dir", str(out), "--quiet"],
                          capture_output=True, env=_env(), cwd=REPO, timeout=120, preexec_fn=_limit_file_size)
    assert proc.returncode == 2
    line = assert_one_line_error(proc)
    assert line.startswith(f"Error: file too large for the device holding {out}"), line
    assert os.listdir(out) == []


def test_parse_removes_what_a_killed_run_left(logs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("parsed.parquet.partial.0", "parsed.parquet.partial.7", "parsed.parquet.tmp"):
        (out / name).write_bytes(b"\0" * 1000)
    (out / "parsed.parquet.partial.notes").write_text("not ours")
    parse_logs([str(logs["small"])], str(out))
    assert sorted(os.listdir(out)) == ["parse_summary.json", "parsed.parquet", "parsed.parquet.partial.notes",
                                       "preview.json"]


def test_failed_json_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "summary.json"
    write_json_atomic(target, {"run": 1})

    def fail(obj):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_json_atomic(target, {"run": object()}, default=fail)
    assert os.listdir(tmp_path) == ["summary.json"] and json.loads(target.read_text()) == {"run": 1}


# ---- item 8: interrupts and kills -------------------------------------------------------------

def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_interrupted_parse_removes_its_partial_files(logs, tmp_path, sig, status):
    # Lines arrive on stdin and the pipe stays open, so the signal surely lands mid-parse, with the
    # first rows written and the reader waiting for more.
    out = tmp_path / "out"
    # The child gets the default SIGINT disposition, as under a terminal: started from a background job
    # (`nohup ... &`) it would inherit SIGINT ignored, and `alog-detect` rightly keeps ignored signals ignored.
    proc = subprocess.Popen([*CMD, "parse", "--input", "-", "--out-dir", str(out), "--quiet"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(), cwd=REPO,
                            preexec_fn=_default_signals)

    def feed() -> None:
        try:
            proc.stdin.write(logs["big"].read_bytes())
            proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("parsed.parquet.partial*")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.02)
        proc.send_signal(sig)
        status_seen = proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.stdin.close()
    err = proc.stderr.read().decode()
    assert status_seen == status, err
    assert [line for line in err.splitlines() if line.strip()] == [f"Interrupted ({sig.name})."]
    assert os.listdir(out) == []


def test_sigterm_during_training_leaves_nothing(logs, tmp_path):
    model = tmp_path / "model"
    proc = subprocess.Popen([*CMD, "train", "--input", str(logs["small"]), "--model-dir", str(model), *LONG],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO)
    try:
        for line in proc.stderr:  # DeepLog reports each epoch: stop it in the middle of training
            if re.match(r"deeplog\[1/1\]: epoch 2/", line):
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
    finally:
        proc.kill()
        proc.stderr.close()
    assert os.listdir(tmp_path) == []


def _kill_training(logs: dict, model: Path) -> None:
    proc = subprocess.Popen([*CMD, "train", "--input", str(logs["small"]), "--model-dir", str(model), "--overwrite",
                             *LONG], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO)
    try:
        for line in proc.stderr:
            if re.match(r"deeplog\[1/1\]: epoch 2/", line):
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def test_next_training_cleans_up_after_a_killed_one(logs, tmp_path):
    model = tmp_path / "model"
    before = copy_bundle(logs, model)
    _kill_training(logs, model)
    assert open_bundle(model).metadata == before  # SIGKILL: nothing ran, the old bundle is whole
    left = hidden_leftovers(tmp_path)
    assert ".model.lock" in left and any(n.startswith(".model.work-") for n in left), left
    assert any(n.startswith(".model.tmp-") for n in left), left

    run_cli("train", "--input", str(logs["small"]), "--model-dir", str(model), "--overwrite", *TINY, check=True)
    assert os.listdir(tmp_path) == ["model"]
    assert open_bundle(model).metadata["created_utc"] >= before["created_utc"]
    assert run_cli("bundle-info", "--model-dir", str(model)).returncode == 0


_KILLED_BETWEEN_RENAMES = """
import os, signal, sys
from anomaly_log_detector.bundle import BundleWriter
w = BundleWriter(sys.argv[1], overwrite=True)
w.write_json("vocab.json", {"templates": {"new": 3}})
rename, calls = os.rename, []
def rename_then_die(src, dst):
    calls.append(src)
    if len(calls) == 2:  # the old bundle is aside, the new one not yet in place
        os.kill(os.getpid(), signal.SIGKILL)
    rename(src, dst)
os.rename = rename_then_die
w.commit({"params": {}})
"""


def test_bundle_left_aside_by_a_kill_mid_publish_is_put_back(logs, tmp_path):
    model = tmp_path / "model"
    before = copy_bundle(logs, model)
    proc = subprocess.run([sys.executable, "-c", _KILLED_BETWEEN_RENAMES, str(model)], capture_output=True,
                          cwd=REPO, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert not model.exists() and any(n.startswith(".model.old-") for n in hidden_leftovers(tmp_path))

    with pytest.raises(BundleError, match="already exists"):  # the old bundle is back: not replaced unasked
        BundleWriter(model)
    assert open_bundle(model).metadata == before
    assert os.listdir(tmp_path) == ["model"]


def test_interrupt_between_the_renames_puts_the_old_bundle_back(logs, tmp_path, monkeypatch):
    model = tmp_path / "model"
    before = copy_bundle(logs, model)
    rename, calls = os.rename, []

    def rename_then_interrupt(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise KeyboardInterrupt
        rename(src, dst)

    with pytest.raises(KeyboardInterrupt), BundleWriter(model, overwrite=True) as w:
        w.write_json("vocab.json", {})
        monkeypatch.setattr(os, "rename", rename_then_interrupt)
        w.commit({"params": {}})
    monkeypatch.undo()
    assert open_bundle(model).metadata == before
    assert os.listdir(tmp_path) == ["model"]


def test_stale_cleanup_takes_only_dead_or_old_leftovers_of_this_bundle(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = subprocess.Popen(["sleep", "60"])
    try:
        made = {
            f".model.work-{dead.pid}-abcd1234": "dir",     # owner dead: removed
            f".model.tmp-{alive.pid}-abcd1234": "dir",     # owner alive, fresh: kept
            ".model.tmp-abcd1234": "dir",                  # no owner recorded, fresh: kept
            ".model.old-efgh5678": "old-dir",              # no owner recorded, two minutes old: removed
            f".other.tmp-{dead.pid}-abcd1234": "dir",      # another bundle's: kept
            f".model.tmp-{dead.pid}-file0000": "file",     # not a folder: kept
            f".model.work-{dead.pid}-link0000": "link",    # a link: kept (and its target)
            "model.tmp-1-abcd1234": "dir",                 # not hidden, not our name: kept
        }
        (tmp_path / "target").mkdir()
        for name, kind in made.items():
            path = tmp_path / name
            if kind == "file":
                path.write_text("x")
            elif kind == "link":
                path.symlink_to(tmp_path / "target")
            else:
                path.mkdir()
                (path / "data").write_text("x")
                if kind == "old-dir":
                    os.utime(path, (time.time() - 120, time.time() - 120))
        with BundleWriter(tmp_path / "model"):
            pass
        kept = {p.name for p in tmp_path.iterdir()}
        assert kept == set(made) - {f".model.work-{dead.pid}-abcd1234", ".model.old-efgh5678"} | {"target"}
        assert (tmp_path / "target").is_dir()
    finally:
        alive.kill()
        alive.wait()


# ---- item 11: FIFOs and concurrent trainings ----------------------------------------------------

def test_fingerprinting_never_opens_a_fifo_or_stdin(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result: list = []
    worker = threading.Thread(target=lambda: result.append(input_fingerprints([fifo, "-"])), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "input_fingerprints blocked opening a FIFO"
    assert result == [[{"path": str(fifo), "kind": "fifo"}, {"path": "-", "kind": "stdin"}]]


def test_train_from_a_fifo_finishes(logs, tmp_path):
    fifo, model = tmp_path / "pipe", tmp_path / "model"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as f:  # blocks until the trainer opens it
            f.write(logs["small"].read_bytes())

    threading.Thread(target=write, daemon=True).start()
    proc = subprocess.run([*CMD, "train", "--input", str(fifo), "--model-dir", str(model), *TINY],
                          capture_output=True, env=_env(), cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert open_bundle(model).metadata["inputs"] == [{"path": str(fifo), "kind": "fifo"}]


def test_second_writer_fails_at_once_naming_the_holder(tmp_path):
    with BundleWriter(tmp_path / "model") as w:
        w.write_json("vocab.json", {})
        with pytest.raises(BundleError, match=rf"another training is writing {tmp_path / 'model'} "
                                              rf"\(pid {os.getpid()}\)"):
            BundleWriter(tmp_path / "model", overwrite=True)
        w.commit({"params": {}})
    assert os.listdir(tmp_path) == ["model"]  # the lock file goes with its holder


def test_train_while_another_writes_the_bundle_fails_before_training(logs, tmp_path):
    model = tmp_path / "model"
    before = copy_bundle(logs, model)
    with BundleWriter(model, overwrite=True):  # this test process holds the bundle's lock
        proc = run_cli("train", "--input", str(logs["small"]), "--model-dir", str(model), "--overwrite", *TINY)
        assert proc.returncode == 2
        assert f"another training is writing {model} (pid {os.getpid()})" in assert_one_line_error(proc)
    assert open_bundle(model).metadata == before
    assert os.listdir(tmp_path) == ["model"]


def test_concurrent_overwrite_trainings_leave_one_complete_bundle(logs, tmp_path):
    model = tmp_path / "model"
    copy_bundle(logs, model)
    cmd = [*CMD, "train", "--input", str(logs["small"]), "--model-dir", str(model), "--overwrite", *TINY]
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(), cwd=REPO)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read().decode()) for p in procs]
    for p in procs:
        p.stderr.close()
    assert 0 in [status for status, _ in results], results
    for status, err in results:
        assert status == 0 or (status == 2 and "another training is writing" in err), err
    assert run_cli("bundle-info", "--model-dir", str(model)).returncode == 0
    assert os.listdir(tmp_path) == ["model"]
