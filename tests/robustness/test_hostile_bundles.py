"""Hostile bundles and hostile files given to the read side (issue 9, items 1, 6, 9, 10 and 11).

Each forged bundle is refused in one line, with exit status 2, and - where the file carries a payload -
a sentinel file proves that nothing in it ran. Forged components are resealed (their sha256 and size
in metadata.json, and metadata_sha256), as anyone who can write the folder can do: the checksums
detect accidents, the loader's checks are what stop a hostile file.

Every case that could hang (a FIFO) or eat memory (/dev/zero, a model claiming a huge vocabulary)
runs in a subprocess with a timeout and an address-space limit, so a regression fails instead of
stalling or exhausting the machine. The bundle is trained once (tiny: one epoch, 8 units).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: helpers.py
from helpers import REPO, assert_one_line_error  # noqa: E402

from anomaly_log_detector.bundle import open_bundle  # noqa: E402
from anomaly_log_detector.bundle.manifest import METADATA, seal  # noqa: E402
from anomaly_log_detector.errors import BundleError  # noqa: E402
from anomaly_log_detector.synth import generate_synthetic_log  # noqa: E402

TINY = ["--epochs", "1", "--hidden", "8", "--layers", "1", "--embed-dim", "4", "--quiet"]
# Log lines whose first or second word is a jsonpickle tag: they become template tokens and keys of
# the Drain tree in the bundle's template state.
JSONPICKLE_WORDS = [
    "Mar  1 00:00:{s:02d} web-01 logger: py/object x",
    "Mar  1 00:00:{s:02d} web-01 app[12]: py/reduce hello",
    "Mar  1 00:00:{s:02d} web-02 app[12]: start py/type now",
    "Mar  1 00:00:{s:02d} web-02 cron[7]: py/state {s}",
    "Mar  1 00:00:{s:02d} web-01 cron[7]: run py/function f",
]
MEMORY_LIMIT = 4 << 30  # address space of a child: torch needs < 1 GiB; a regression fails, not the host


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`alog-detect ARGS` in a child with a timeout and a memory limit."""
    env = {k: v for k, v in os.environ.items() if k != "ALOG_DEBUG"}
    return subprocess.run([sys.executable, "-m", "anomaly_log_detector", *args], capture_output=True,
                          env=env, cwd=REPO, timeout=timeout, preexec_fn=_limit_memory)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("hostile")
    log = root / "train.log"
    generate_synthetic_log(str(log), 1500, 0.0, seed=5)
    os.remove(f"{log}.labels.parquet")
    lines = log.read_text().splitlines()
    odd = [tpl.format(s=s) for s in range(0, 50, 5) for tpl in JSONPICKLE_WORDS]
    log.write_text("\n".join(lines[:200] + odd + lines[200:]) + "\n")
    target = root / "target.log"
    target.write_text("\n".join(lines[:300] + odd[:5]) + "\n")
    model = root / "model"
    proc = cli("train", "--input", str(log), "--model-dir", str(model), *TINY, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return {"root": root, "model": model, "log": log, "target": target}


def copy_of(trained: dict, dest: Path) -> Path:
    shutil.copytree(trained["model"], dest)
    return dest


def reseal(bundle: Path, change=None) -> None:
    """Record every component's current sha256 and size in metadata.json, apply `change` to the
    metadata, and recompute metadata_sha256: the bundle passes every checksum again."""
    import hashlib

    meta = json.loads((bundle / METADATA).read_text())
    for name in meta["files"]:
        data = (bundle / name).read_bytes()
        meta["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    if change is not None:
        change(meta)
    (bundle / METADATA).write_text(json.dumps(seal(meta)))


def three_commands(bundle: Path, target: Path, out: Path, capsys=None) -> list[tuple[str, str]]:
    """(command, its one-line error) of bundle-info, validate and infer on `bundle`; each must refuse.
    In a child each, or with `capsys` in this process (the same `main`, without a torch import each)."""
    runs = {"bundle-info": ["bundle-info", "--model-dir", str(bundle)],
            "validate": ["validate", "--model-dir", str(bundle)],
            "infer": ["infer", "--model-dir", str(bundle), "--input", str(target), "--out-dir", str(out), "--quiet"]}
    errors = []
    for name, args in runs.items():
        proc = cli(*args) if capsys is None else _in_process(args, capsys)
        assert proc.returncode == 2, f"{name} accepted the bundle: {proc.stdout.decode()[-500:]}"
        errors.append((name, assert_one_line_error(proc)))
    return errors


def _in_process(args: list[str], capsys) -> subprocess.CompletedProcess:
    from anomaly_log_detector.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, exit_.value.code, out.encode(), err.encode())


# ---- item 1: jsonpickle is recognised by structure, not by the text of templates ----------------

def test_log_words_like_jsonpickle_tags_leave_the_bundle_usable(trained, tmp_path):
    state = (trained["model"] / "drain3_state.json").read_text()
    assert '"py/object"' in state and "py/reduce hello" in state  # tree keys and template text
    for args in (["bundle-info", "--model-dir", str(trained["model"])],
                 ["validate", "--model-dir", str(trained["model"])]):
        proc = cli(*args)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = tmp_path / "out"
    proc = cli("infer", "--model-dir", str(trained["model"]), "--input", str(trained["target"]),
               "--out-dir", str(out), "--quiet")
    assert proc.returncode in (0, 1), proc.stderr.decode(errors="replace")
    assert (out / "anomalies.jsonl").is_file()


def _jsonpickle_payload(sentinel: Path) -> dict:
    """What jsonpickle would turn into a call of os.system (it is never decoded here)."""
    return {"py/object": "drain3.drain.Drain",
            "py/state": {"py/reduce": [{"py/function": "os.system"}, {"py/tuple": [f"touch {sentinel}"]}]}}


def test_jsonpickle_state_is_refused_as_drain_state_and_in_a_bundle(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ALOG_DEBUG", raising=False)
    sentinel = tmp_path / "SENTINEL"
    state = tmp_path / "drain3.json"
    state.write_text(json.dumps(_jsonpickle_payload(sentinel)))
    err = assert_one_line_error(cli("parse", "--input", str(trained["target"]), "--out-dir", str(tmp_path / "p"),
                                    "--drain-state", str(state), "--quiet"))
    assert "jsonpickle" in err and str(state) in err

    bundle = copy_of(trained, tmp_path / "model")
    shutil.copyfile(state, bundle / "drain3_state.json")
    reseal(bundle)
    for _, err in three_commands(bundle, trained["target"], tmp_path / "out", capsys):
        assert "jsonpickle" in err and str(bundle / "drain3_state.json") in err  # the bundle's file, not a temp copy
    assert not sentinel.exists()


# ---- item 6: metadata.json, --drain-state and --rules are regular files, bounded ------------------

def test_metadata_that_is_a_fifo_a_device_or_a_link_is_refused_at_once(trained, tmp_path):
    cases = {}
    fifo = copy_of(trained, tmp_path / "fifo")
    (fifo / METADATA).unlink()
    os.mkfifo(fifo / METADATA)
    cases["fifo"] = (fifo, "FIFO")
    zero = copy_of(trained, tmp_path / "zero")
    (zero / METADATA).unlink()
    (zero / METADATA).symlink_to("/dev/zero")
    cases["/dev/zero"] = (zero, "symbolic link")
    outside = tmp_path / "elsewhere.json"
    linked = copy_of(trained, tmp_path / "linked")
    shutil.move(linked / METADATA, outside)
    (linked / METADATA).symlink_to(outside)  # a valid copy, but outside the bundle
    cases["link to a copy"] = (linked, "symbolic link")
    for kind, (bundle, message) in cases.items():
        err = assert_one_line_error(cli("bundle-info", "--model-dir", str(bundle), timeout=60))
        assert METADATA in err and message in err, (kind, err)


def test_drain_state_and_rules_from_a_fifo_or_dev_zero_give_one_line(trained, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    for option in ("--drain-state", "--rules"):
        for path, message in ((fifo, "FIFO"), (zero, "character device")):
            err = assert_one_line_error(cli("parse", "--input", str(trained["target"]), "--out-dir",
                                            str(tmp_path / "p"), option, str(path), "--quiet", timeout=60))
            assert str(path) in err and message in err, (option, err)


def test_oversized_rules_file_is_refused_without_reading_it_whole(trained, tmp_path):
    rules = tmp_path / "rules.json"
    with open(rules, "wb") as f:
        f.truncate(64 << 20)  # sparse: 64 MiB of zeros that take no disk
    err = assert_one_line_error(cli("parse", "--input", str(trained["target"]), "--out-dir", str(tmp_path / "p"),
                                    "--rules", str(rules), "--quiet", timeout=60))
    assert "more than the" in err


# ---- item 9: deep nesting is a malformed bundle, not a RecursionError ----------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("name", ["drain3_state.json", "vocab.json", METADATA])
def test_deeply_nested_bundle_file_is_refused_as_malformed(trained, tmp_path, name):
    bundle = copy_of(trained, tmp_path / "model")
    if name == METADATA:  # cannot be resealed (sealing walks it): refused before the checksum
        (bundle / name).write_bytes(b'{"format": "alog-detect/bundle", "version": 1, "x": ' + DEEP + b"}")
    else:
        (bundle / name).write_bytes(DEEP)
        reseal(bundle)
    err = assert_one_line_error(cli("bundle-info", "--model-dir", str(bundle), timeout=60))
    assert "nested" in err and "RecursionError" not in err and "internal error" not in err, err


def test_deep_template_tree_is_refused_without_recursion(tmp_path):
    from anomaly_log_detector.errors import StateError
    from anomaly_log_detector.parsing.state import checksum, validate_state

    node: dict = {"children": {}, "clusters": [1]}
    for _ in range(60):  # deeper than any Drain tree, shallow enough for json
        node = {"children": {"x": node}, "clusters": []}
    state = {"format": "alog-detect/drain-state", "version": 1, "config": {},
             "clusters": [{"id": 1, "template": "x", "size": 1}], "tree": node}
    state["checksum"] = checksum(state)
    with pytest.raises(StateError, match="deeper than"):
        validate_state(state)


# ---- item 10: a model's claimed sizes are checked before anything is allocated --------------------

_MEASURED = """
import resource, sys
from anomaly_log_detector.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(f"maxrss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
sys.exit(code)
"""


def measured_cli(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    """`alog-detect ARGS` in a child; (the process, its peak RSS in MB)."""
    env = {k: v for k, v in os.environ.items() if k != "ALOG_DEBUG"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_MEASURED), *args], capture_output=True,
                          env=env, cwd=REPO, timeout=300, preexec_fn=_limit_memory)
    found = re.search(rb"maxrss_kb=(\d+)", proc.stdout)
    assert found, proc.stderr.decode(errors="replace")
    return proc, int(found.group(1)) / 1024


def _checkpoint(bundle: Path) -> dict:
    import torch

    return torch.load(bundle / "deeplog.pth", weights_only=True)


def test_model_claiming_a_huge_vocabulary_is_refused_before_allocating(trained, tmp_path):
    import torch

    bundle = copy_of(trained, tmp_path / "model")
    ckpt = _checkpoint(bundle)
    ckpt["config"].update(vocab_size=5_000_000, hidden=64, embed_dim=16)
    torch.save(ckpt, bundle / "deeplog.pth")
    assert (bundle / "deeplog.pth").stat().st_size < 100_000
    reseal(bundle)
    proc, rss = measured_cli("bundle-info", "--model-dir", str(bundle))
    assert rss < 600, f"peak RSS {rss:.0f} MB"
    err = assert_one_line_error(proc)
    assert "deeplog.pth" in err and "5,000,000" in err, err


def test_mscred_model_claiming_huge_channels_is_refused_before_allocating(trained, tmp_path):
    """A bundle's mscred.pth whose arguments claim huge channel widths over small weights: load_bundle
    checks every weight's shape against the arguments (check_state_dict) before building the network."""
    import hashlib

    import numpy as np
    import pandas as pd
    import torch

    from anomaly_log_detector.detectors.mscred import MSCREDDetector

    rng = np.random.default_rng(0)
    counts = pd.DataFrame({f"t{i}": rng.poisson(3, 60) for i in range(2, 8)})
    ckpt = MSCREDDetector(top_k=4, channels=(2, 2, 2, 2), max_steps=1, calibration=0.0).fit(counts).to_checkpoint()
    ckpt["config"]["channels"] = [4096, 4096, 4096, 4096]
    bundle = copy_of(trained, tmp_path / "model")
    torch.save(ckpt, bundle / "mscred.pth")
    data = (bundle / "mscred.pth").read_bytes()
    assert len(data) < 100_000

    def add(meta):
        meta["files"]["mscred.pth"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        meta["params"]["mscred"] = {"window_size": 50, "stride": 25}

    reseal(bundle, add)
    proc, rss = measured_cli("bundle-info", "--model-dir", str(bundle))
    assert rss < 600, f"peak RSS {rss:.0f} MB"
    err = assert_one_line_error(proc)
    assert "mscred.pth" in err and "has shape" in err, err


def test_standalone_model_with_huge_claimed_shapes_is_refused_before_allocating(trained, tmp_path):
    """deeplog-infer has no bundle vocabulary to compare with: the weights' shapes must match the
    arguments, and a zero-stride view (a huge shape over one stored number) is refused too."""
    import torch

    ckpt = _checkpoint(trained["model"])
    keys, embed, hidden = 5_000_000, 16, 64
    ckpt["config"].update(vocab_size=keys, hidden=hidden, embed_dim=embed)
    ckpt["vocab"] = None
    small = tmp_path / "small.pth"
    torch.save(ckpt, small)  # the small trained weights: shapes disagree with the arguments
    views = tmp_path / "views.pth"
    one = torch.zeros(1)
    with torch.device("meta"):
        from anomaly_log_detector.detectors.nets import NextKeyLSTM

        shapes = {k: v.shape for k, v in NextKeyLSTM(keys, embed, hidden, 1).state_dict().items()}
    ckpt["state_dicts"] = [{k: one.expand(*shape) for k, shape in shapes.items()}]
    torch.save(ckpt, views)
    assert views.stat().st_size < 100_000
    for path, message in ((small, "has shape"), (views, "not backed by its own data")):
        proc, rss = measured_cli("deeplog-infer", "--seq", str(trained["target"]), "--model", str(path))
        assert rss < 600, f"{path.name}: peak RSS {rss:.0f} MB"
        err = assert_one_line_error(proc)
        assert str(path) in err and message in err, err


def test_pickle_payload_is_refused_without_torch_advice_and_without_running(trained, tmp_path):
    import torch

    sentinel = tmp_path / "SENTINEL"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {sentinel}",)

    evil = tmp_path / "evil.pth"
    torch.save({"format": "alog-detect/deeplog", "x": Payload()}, evil)
    err = assert_one_line_error(cli("deeplog-infer", "--seq", str(trained["target"]), "--model", str(evil)))
    assert str(evil) in err and "system" in err, err
    assert "weights_only" not in err and "trust" not in err and "\x1b" not in err, err
    assert not sentinel.exists()

    bundle = copy_of(trained, tmp_path / "model")
    shutil.copyfile(evil, bundle / "deeplog.pth")
    reseal(bundle)
    err = assert_one_line_error(cli("bundle-info", "--model-dir", str(bundle)))
    assert "deeplog.pth" in err and "weights_only" not in err, err
    assert not sentinel.exists()


# ---- item 11: one check of every stored parameter, shared by bundle-info, validate and infer -------

def _json_edit(name: str, change):
    def edit(bundle: Path) -> None:
        d = json.loads((bundle / name).read_text())
        change(d)
        (bundle / name).write_text(json.dumps(d))
        reseal(bundle)
    return edit


def _meta_edit(change):
    return lambda bundle: reseal(bundle, change)


def _nan_tau(bundle: Path) -> None:
    import torch

    ckpt = _checkpoint(bundle)
    ckpt["tau"] = float("nan")
    torch.save(ckpt, bundle / "deeplog.pth")
    reseal(bundle)


FORGED = {
    "baseline threshold 'nan'": (_json_edit("baseline_stats.json", lambda d: d.update(threshold="nan")), "threshold"),
    "baseline z_scale 'inf'": (_json_edit("baseline_stats.json", lambda d: d["params"].update(z_scale="inf")),
                               "z_scale"),
    "alerting weight 'nan'": (_json_edit("alerting.json", lambda d: d["params"].update(weights=["nan", 1, 0.5])),
                              "weight"),
    "deeplog tau NaN": (_nan_tau, "tau"),
    "metadata threshold 'inf'": (_meta_edit(lambda m: m["thresholds"].update(baseline="inf")), "thresholds.baseline"),
    "incident gap 'nan'": (_meta_edit(lambda m: m["params"].update(incidents={"gap": "nan"})), "incidents.gap"),
    "bad session regex": (_meta_edit(lambda m: m["params"]["parser"].update(session_regex="(")), "session"),
    "unknown format": (_meta_edit(lambda m: m["params"]["parser"].update(format="no-such-format")), "no-such-format"),
    "version true": (_meta_edit(lambda m: m.update(version=True)), "version True"),
    "version 1.0": (_meta_edit(lambda m: m.update(version=1.0)), "version 1.0"),
}


@pytest.mark.parametrize("kind", sorted(FORGED))
def test_bundle_info_validate_and_infer_refuse_the_same_bundles(kind, trained, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ALOG_DEBUG", raising=False)
    forge, message = FORGED[kind]
    bundle = copy_of(trained, tmp_path / "model")
    forge(bundle)
    for command, err in three_commands(bundle, trained["target"], tmp_path / "out", capsys):
        assert message in err, (command, err)
    assert not (tmp_path / "out" / "anomalies.jsonl").exists()


def test_version_must_be_an_integer(trained, tmp_path):
    for version in (True, 1.0):
        bundle = copy_of(trained, tmp_path / f"model-{version!r}")
        reseal(bundle, lambda m: m.update(version=version))
        with pytest.raises(BundleError, match=f"version {version!r} is not supported"):
            open_bundle(bundle)
