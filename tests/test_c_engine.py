"""The C engine (hybrid_system/inference/): its C unit tests, and parity with the Python path on the
same log: the same template index for every line, the same DeepLog verdicts (misses) and the same
alerts (infer's alert rules: deeplog_alerts.parquet against the engine's default output); the alert
rules alone against Python's run_alerts on random prediction streams.

Skipped, with the reason, when gcc / make / npm or the PCRE2 headers are missing, or when the ONNX
Runtime headers cannot be fetched (offline). In CI npm is reachable and the test runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomaly_log_detector.bundle.manifest import seal

REPO = Path(__file__).resolve().parent.parent
ENGINE_DIR = REPO / "hybrid_system" / "inference"
ENGINE = ENGINE_DIR / "build" / "alog-engine"


def _run_cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "anomaly_log_detector", *args], check=True, capture_output=True, cwd=REPO)


@pytest.fixture(scope="module")
def built():
    for tool in ("gcc", "make", "npm", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed: the C engine cannot be built")
    if not Path("/usr/include/pcre2.h").exists():
        pytest.skip("PCRE2 headers missing: apt-get install -y libpcre2-dev")
    fetch = subprocess.run([str(REPO / "scripts" / "fetch_ort_headers.sh")], capture_output=True, text=True)
    if fetch.returncode != 0:
        pytest.skip(f"ONNX Runtime headers unavailable (npm offline?): {fetch.stderr.strip()[-300:]}")
    proc = subprocess.run(["make", "-C", str(ENGINE_DIR), "all"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ENGINE


def test_c_unit_tests_pass(built):
    proc = subprocess.run([str(ENGINE_DIR / "build" / "test_engine"), str(REPO / "rules.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith(", 0 failed"), proc.stdout


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    d = tmp_path_factory.mktemp("c_engine")
    _run_cli("gen-synth", "--out", str(d / "normal.log"), "--lines", "3000", "--anomaly-rate", "0", "--seed", "3")
    _run_cli("gen-synth", "--out", str(d / "target.log"), "--lines", "2000", "--anomaly-rate", "0.05", "--seed", "4")
    _run_cli("hybrid-pipeline", "--log-file", str(d / "normal.log"), "--models-dir", str(d / "m"), "--auto-deploy",
             "--epochs", "2", "--max-steps", "60", "--hidden", "16", "--layers", "1", "--embed-dim", "8", "--quiet")
    return d


def compare(py_dir: Path, c_lines: list[dict]) -> dict:
    """Python's per-window table against the C engine's --all output, line by line."""
    w = pd.read_parquet(py_dir / "deeplog_infer.parquet").dropna(subset=["line_no"])
    c = pd.DataFrame(c_lines)
    m = w.merge(c, left_on="line_no", right_on="line", how="outer", indicator=True, suffixes=("_py", "_c"))
    both = m[m["_merge"] == "both"]
    return {
        "python_windows": len(w), "c_lines": len(c), "unpaired": int((m["_merge"] != "both").sum()),
        "template_differs": int((both["target"] != both["template"]).sum()),
        "session_differs": int((both["session_py"] != both["session_c"]).sum()),
        "verdict_differs": int((both["in_topk"].astype(bool) == both["alert"].astype(bool)).sum()),
        "novel_differs": int((both["is_novel"].astype(bool) != both["novel"].astype(bool)).sum()),
        "rank_differs": int((both["rank_py"] != both["rank_c"]).sum()),
        "max_surprise_diff": float(np.abs(both["surprise_py"].astype(float) - both["surprise_c"].astype(float)).max()),
        "python_misses": int((~w["in_topk"].astype(bool)).sum()), "c_alerts": int(c["alert"].sum()),
    }


def test_c_engine_equals_python_on_the_same_log(built, bundle):
    from anomaly_log_detector import api

    api.infer_logs(str(bundle / "m" / "model"), [str(bundle / "target.log")], str(bundle / "py"))
    proc = subprocess.run([str(built), "--bundle", str(bundle / "m" / "deployment"), "--all", "--stats",
                           str(bundle / "target.log")], capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    got = compare(bundle / "py", lines)
    assert got["unpaired"] == 0 and got["python_windows"] == got["c_lines"] == 2000, got
    for key in ("template_differs", "session_differs", "verdict_differs", "novel_differs", "rank_differs"):
        assert got[key] == 0, got
    assert got["max_surprise_diff"] <= 1e-4, got  # torch vs ONNX Runtime float32 (validated <= 1e-5 on log-probs)
    assert got["python_misses"] == got["c_alerts"] > 0, got
    # --misses prints only the misses, one JSON line each, and the exit status says so.
    alerts = subprocess.run([str(built), "--bundle", str(bundle / "m" / "deployment"), "--misses",
                             str(bundle / "target.log")], capture_output=True, text=True)
    assert alerts.returncode == 1
    printed = [json.loads(x) for x in alerts.stdout.splitlines()]
    assert [a["line"] for a in printed] == [x["line"] for x in lines if x["alert"]]
    assert all({"line", "entity", "template", "surprise", "expected"} <= set(a) for a in printed)
    # stdin gives the same verdicts
    with open(bundle / "target.log", "rb") as f:
        piped = subprocess.run([str(built), "--bundle", str(bundle / "m" / "deployment"), "--year", "2025",
                                "--misses"], stdin=f, capture_output=True, text=True)
    assert [json.loads(x)["line"] for x in piped.stdout.splitlines()] == [a["line"] for a in printed]
    # By default: infer's alert rules, one JSON line per alert, as deeplog_alerts.parquet has them.
    rules = subprocess.run([str(built), "--bundle", str(bundle / "m" / "deployment"), str(bundle / "target.log")],
                           capture_output=True, text=True)
    assert rules.returncode == 1, rules.stderr
    got = [json.loads(x) for x in rules.stdout.splitlines()]
    want = pd.read_parquet(bundle / "py" / "deeplog_alerts.parquet")
    assert len(got) == len(want) > 0
    for a, (_, w) in zip(got, want.iterrows()):
        assert (a["alert_id"], a["entity"], a["type"], a["first_line"], a["last_line"], a["failed_count"],
                a["suppressed_count"]) == (w["alert_id"], w["entity"], w["type"], w["first_line"], w["last_line"],
                                           w["failed_count"], w["suppressed_count"])
        assert a["rows"] == list(w["rows"]) and a["templates"] == list(w["templates"])
        assert a["expected_templates"] == list(w["expected_templates"])
        assert pd.Timestamp(a["first_time"]) == w["first_time"] and abs(a["score"] - w["score"]) <= 1e-4


def _random_stream(seed: int, path: Path):
    """A random predictions table (entities interleaved, times missing or going backwards, novel rows)
    and random settings; written as test_engine --alerts reads it."""
    from anomaly_log_detector.alerts.engine import AlertSettings

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    size = int(rng.integers(1, 8))
    settings = AlertSettings(k=int(rng.integers(1, size + 1)), n=size,
                             cooldown_seq=float(rng.choice([0, 1, 3, 10, 60])),
                             cooldown_novelty=float(rng.choice([0, 1, 3, 10, 60])),
                             session_timeout=None if rng.random() < 0.5 else float(rng.choice([2, 5, 30])))
    ent = rng.choice(["a", "b", "c/d", "e"][: int(rng.integers(1, 5))], n)
    order = np.sort(rng.choice(np.arange(3 * n), n, replace=False))
    has = rng.random(n) < rng.choice([0.0, 0.7, 1.0])
    secs = np.cumsum(rng.choice([0, 1, 2, 5, 20], n)) + rng.choice([0, 0, -3], n)
    ns = (1_700_000_000 + secs).astype(np.int64) * 1_000_000_000 + rng.choice([0, 500_000_000], n)
    novel = rng.random(n) < 0.1
    miss = novel | (rng.random(n) < rng.choice([0.2, 0.5, 0.8]))
    tmpl = rng.choice(["T1", "T2", "T3"], n)
    df = pd.DataFrame({"entity": ent, "order": order, "time": pd.Series(pd.to_datetime(np.where(has, ns, 0), utc=True)).where(has),
                       "line_no": order + 1, "is_miss": miss, "is_novel": novel, "template": tmpl})
    path.write_text("".join(f"{ent[i]}\t{order[i]}\t{int(has[i])}\t{ns[i] if has[i] else 0}\t{int(miss[i])}\t"
                            f"{int(novel[i])}\t{tmpl[i]}\n" for i in range(n)))
    return df, settings


def test_alert_rules_equal_python_on_random_streams(built, tmp_path):
    """alerts.c against alerts/engine.py run_alerts: K-of-N, cooldowns (seconds, or lines without a time),
    session timeouts, novelty, interleaved entities, times going backwards."""
    from anomaly_log_detector.alerts.engine import run_alerts

    total = 0
    for seed in range(150):
        df, s = _random_stream(seed, tmp_path / "p.tsv")
        proc = subprocess.run([str(ENGINE_DIR / "build" / "test_engine"), "--alerts", str(tmp_path / "p.tsv"), str(s.k),
                               str(s.n), str(s.cooldown_seq), str(s.cooldown_novelty), str(s.session_timeout or 0)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        got = [json.loads(x) for x in proc.stdout.splitlines()]
        want = run_alerts(df, s).alerts
        assert [(a["entity"], a["type"], a["rows"], a["suppressed_count"], a["templates"]) for a in got] == [
            (w.entity, w.type, [int(x) for x in w.rows], int(w.suppressed_count), list(w.templates))
            for w in want.itertuples()], (seed, s)
        total += len(got)
    assert total > 1000


def test_malformed_input_never_crashes(built, bundle, tmp_path):
    rng = np.random.default_rng(0)
    normal = (bundle / "target.log").read_bytes().splitlines(keepends=True)[:50]
    cases = {
        "empty": b"",
        "blank": b"\n\n  \r\n\t\n",
        "nul_and_invalid_utf8": b"Mar  1 00:00:00 h sshd[1]: a\x00b\xff\xfe\xc3(\n" + b"".join(normal),
        "huge_line": b"Mar  1 00:00:00 h p: " + b"x1-" * 200_000 + b"\n" + b"".join(normal),
        "no_final_newline": b"".join(normal).rstrip(b"\n"),
        "random_bytes": rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes(),
        "crlf": b"".join(x.rstrip(b"\n") + b"\r\n" for x in normal),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        proc = subprocess.run([str(built), "--bundle", str(bundle / "m" / "deployment"), "--all", str(path)],
                              capture_output=True, timeout=120)
        assert proc.returncode in (0, 1), (name, proc.stderr[-500:])
        for line in proc.stdout.splitlines():
            json.loads(line)  # every output line is valid JSON
    proc = subprocess.run([str(built), "--bundle", str(tmp_path / "nope")], capture_output=True, text=True)
    assert proc.returncode == 2 and "metadata.json" in proc.stderr


def test_unsupported_format_says_so(built, bundle):
    proc = subprocess.run([str(built), "--bundle", str(bundle / "m" / "deployment"), "--format", "bgl"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "not supported by the C engine" in proc.stderr


def test_consistency_script(built):
    if os.environ.get("ALOG_SKIP_CONSISTENCY_SCRIPT"):
        pytest.skip("ALOG_SKIP_CONSISTENCY_SCRIPT set")
    proc = subprocess.run(["bash", str(REPO / "scripts" / "test_python_c_vocab_consistency.sh"), "--quick"],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "PASS" in proc.stdout


def _copy_deployment(bundle: Path, dest: Path) -> Path:
    target = dest / "deployment"
    shutil.copytree(bundle / "m" / "deployment", target)
    return target


def _refused(built: Path, folder: Path) -> str:
    proc = subprocess.run([str(built), "--bundle", str(folder)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # one line, no output
    return proc.stderr


@pytest.mark.parametrize("name", ["vocab_c.json", "rules.json", "deeplog.onnx", "drain3_state.json",
                                  "deeplog_seen_pairs.npz"])
def test_a_tampered_byte_is_refused(built, bundle, tmp_path, name):
    folder = _copy_deployment(bundle, tmp_path)
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, one bit changed
    (folder / name).write_bytes(bytes(data))
    err = _refused(built, folder)
    assert f"{name}: sha256 mismatch" in err, err


def test_bundle_checks_sizes_links_and_the_file_list(built, bundle, tmp_path):
    # the untouched copy is accepted (the checksums of a real export match)
    ok = _copy_deployment(bundle, tmp_path / "ok")
    proc = subprocess.run([str(built), "--bundle", str(ok)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    # grown by one byte
    grown = _copy_deployment(bundle, tmp_path / "grown")
    with open(grown / "vocab_c.json", "ab") as f:
        f.write(b" ")
    assert "vocab_c.json: size" in _refused(built, grown)
    # a symbolic link to an identical copy is still refused (O_NOFOLLOW), for a component and for metadata.json
    for name in ("rules.json", "metadata.json"):
        linked = _copy_deployment(bundle, tmp_path / f"link-{name}")
        (linked / name).rename(tmp_path / f"real-{name}")
        (linked / name).symlink_to(tmp_path / f"real-{name}")
        err = _refused(built, linked)
        assert f"{name}: must be a regular file: a symbolic link" in err, err
    # a FIFO in place of a file: refused at once, never a hang
    fifo = _copy_deployment(bundle, tmp_path / "fifo")
    (fifo / "rules.json").unlink()
    os.mkfifo(fifo / "rules.json")
    assert "rules.json: must be a regular file: a FIFO" in _refused(built, fifo)
    # a file the manifest lists is missing; a file it does not list is present
    missing = _copy_deployment(bundle, tmp_path / "missing")
    (missing / "deeplog_optimized.onnx").unlink()
    assert "missing file listed in the manifest: deeplog_optimized.onnx" in _refused(built, missing)
    extra = _copy_deployment(bundle, tmp_path / "extra")
    (extra / "evil.pth").write_bytes(b"x")
    assert "unexpected file not in the manifest: evil.pth" in _refused(built, extra)
    # a manifest entry the engine reads is removed, or metadata points outside the folder
    for edit, expected in ((lambda m: m["files"].pop("vocab_c.json"), "unexpected file not in the manifest: vocab_c.json"),
                           (lambda m: m["onnx"]["deeplog"].__setitem__("model", "../deployment/deeplog.onnx"),
                            "invalid bundle file name")):
        forged = _copy_deployment(bundle, tmp_path / f"forged-{len(expected)}")
        meta = json.loads((forged / "metadata.json").read_text())
        edit(meta)
        (forged / "metadata.json").write_text(json.dumps(seal(meta)))  # resealed: the later checks answer
        assert expected in _refused(built, forged)


def _rewrite_metadata(folder: Path, meta: dict) -> None:
    """metadata.json as the bundle writer writes it, with `files` recomputed from the folder but the
    old `metadata_sha256` kept: what an edit that also fixes the file checksums leaves behind."""
    from anomaly_log_detector.bundle.manifest import hash_file

    for name in meta["files"]:
        meta["files"][name] = {"sha256": hash_file(folder / name), "size": (folder / name).stat().st_size}
    (folder / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True,
                                                     allow_nan=False), encoding="utf-8")


def test_an_edited_metadata_json_is_refused(built, bundle, tmp_path):
    from anomaly_log_detector.bundle.manifest import read_metadata
    from anomaly_log_detector.errors import BundleError

    ok = _copy_deployment(bundle, tmp_path / "ok")  # a bundle written by Python verifies in C
    meta = json.loads((ok / "metadata.json").read_text(encoding="utf-8"))
    assert meta["metadata_sha256"] == seal(meta)["metadata_sha256"]
    proc = subprocess.run([str(built), "--bundle", str(ok)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    _rewrite_metadata(ok, meta)  # rewritten unchanged: still accepted
    assert subprocess.run([str(built), "--bundle", str(ok)], stdin=subprocess.DEVNULL).returncode == 0

    def threshold(m: dict) -> None:
        m["onnx"]["deeplog"]["tau"] = m["onnx"]["deeplog"]["tau"] * 10 if m["onnx"]["deeplog"].get("tau") else 99.0

    def rules(m: dict, folder: Path) -> None:  # a component swapped, its checksum updated in `files`
        (folder / "rules.json").write_text("[]")

    for label, edit in (("threshold", lambda m, f: threshold(m)), ("rules", rules),
                        ("added-key", lambda m, f: m.__setitem__("note", "caf\u00e9")),
                        ("no-seal", lambda m, f: m.pop("metadata_sha256"))):
        folder = _copy_deployment(bundle, tmp_path / label)
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        edit(meta, folder)
        _rewrite_metadata(folder, meta)
        err = _refused(built, folder)
        expected = "metadata.json was modified after the bundle was written (metadata_sha256 mismatch)"
        assert f"{folder}: {expected}" in err, (label, err)
        with pytest.raises(BundleError, match=r"metadata_sha256 mismatch"):  # the Python reader says the same
            read_metadata(folder / "metadata.json")
    # a duplicate key (Python would keep the last one): refused
    dup = _copy_deployment(bundle, tmp_path / "dup")
    text = (dup / "metadata.json").read_text(encoding="utf-8")
    assert text.startswith('{\n "created_utc"'), text[:40]
    (dup / "metadata.json").write_text(text.replace('{\n "created_utc"', '{\n "version": 1,\n "created_utc"', 1),
                                       encoding="utf-8")
    assert "metadata.json cannot be verified: not canonical JSON: duplicate key 'version'" in _refused(built, dup)


_ALPHABET = ("abcxyzAZ09 _-./:\"\\\x7f\u00e9\u00fc\u00df\u0301\u20ac\u2028\u2029\ue000\uffff\uff5a"
             "\U0001f600\U0001d11e\u4e2d" + "".join(map(chr, range(1, 32))))


def _random_value(rng, depth: int):
    kind = rng.integers(0, 10 if depth < 4 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return bool(rng.integers(0, 2))
    if kind == 2:  # ints, big ones included
        return int(rng.choice([0, -1, 7, 2**53 + 1, -(2**70) - 3, 10**25])) + int(rng.integers(-1000, 1000))
    if kind in (3, 4):  # floats as repr writes them: 1e-05, 0.30000000000000004, -0.0, 1e+16, 5e-324
        special = [1e-05, 0.1 + 0.2, -0.0, 0.0, 1e16, 5e-324, 1.7976931348623157e308, 123456789.125, 1e-7, 2.5]
        if rng.integers(0, 2):
            return float(rng.choice(special))
        return float(rng.standard_normal() * 10.0 ** int(rng.integers(-320, 300)))
    if kind in (5, 6):  # strings: NUL, control characters, quotes, non-ASCII, astral
        return _random_str(rng, nul=True)
    if kind in (7, 8):
        return {_random_str(rng, nul=False): _random_value(rng, depth + 1) for _ in range(rng.integers(0, 6))}
    return [_random_value(rng, depth + 1) for _ in range(rng.integers(0, 5))]


def _random_str(rng, nul: bool) -> str:
    chars = [_ALPHABET[i] for i in rng.integers(0, len(_ALPHABET), rng.integers(0, 8))]
    if nul and rng.integers(0, 4) == 0:
        chars.insert(0, "\x00")
    return "".join(chars)


def test_canonical_json_equals_python(built, tmp_path):
    """The C canonical form (test_engine --canonical) of random nested JSON written by Python, compact or
    indented, ASCII-escaped or not: byte for byte Python's canonical_json, and the same sha256."""
    import hashlib

    from anomaly_log_detector.bundle.manifest import canonical_json

    test_engine = ENGINE_DIR / "build" / "test_engine"
    rng = np.random.default_rng(12)
    for i in range(60):
        obj = {_random_str(rng, nul=False): _random_value(rng, 0) for _ in range(rng.integers(1, 8))}
        want = canonical_json(obj)
        ascii_ = bool(i % 2)
        path = tmp_path / f"doc{i}.json"
        path.write_text(json.dumps(obj, ensure_ascii=ascii_, indent=None if i % 3 else 1), encoding="utf-8")
        got = subprocess.run([str(test_engine), "--canonical", str(path)], capture_output=True, timeout=30)
        assert got.returncode == 0 and got.stdout == want, (i, got.stderr, got.stdout[:300], want[:300])
        digest = subprocess.run([str(test_engine), "--canonical-sha256", str(path)], capture_output=True, text=True,
                                timeout=30)
        assert digest.stdout.strip() == hashlib.sha256(want).hexdigest(), (i, digest.stderr)
    # what Python's canonical form cannot hold, or would read differently, is refused
    for bad in ('{"a\\u0000": 1}', '{"a": 1, "a": 2}', '["\\ud800"]', '[NaN]', '[1e400]'):
        path = tmp_path / "bad.json"
        path.write_text(bad, encoding="utf-8")
        got = subprocess.run([str(test_engine), "--canonical", str(path)], capture_output=True, text=True, timeout=30)
        assert got.returncode == 2 and "not canonical JSON" in got.stderr, (bad, got.stderr)
