"""Issue 9, item 4: a folder input never follows a link out of the folder.

Operators run `train`/`infer` as root over /var/log; a local user who can drop a symlink there must not
get another file's contents (think /etc/shadow) into the bundle, the parsed tables or the report. The
folder holds one real log and links to a secret outside it: absolute, relative (`../`), through a
linked folder and through a chain of links. The secret is a syslog line that masking leaves intact, so
it would surface verbatim (as a raw line, a template or a report sample) if it were ever read.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq

from helpers import run_cli
from anomaly_log_detector.synth import generate_synthetic_log

SECRET = "QZXJVKWPBMSECRETTOKENQZXJVKWPBM"
TINY = ["--epochs", "1", "--hidden", "8", "--layers", "1", "--embed-dim", "4", "--max-steps", "20", "--quiet"]


def _folder_with_links(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    secret_line = f"Jan  1 00:00:00 vault shadow[1]: root password {SECRET} rotated\n"
    (outside / "shadow").write_text(secret_line * 50)
    (outside / "dir" / "shadow.log").write_text(secret_line * 50)
    logs = tmp_path / "logs"
    logs.mkdir()
    generate_synthetic_log(str(logs / "n.log"), 1500, 0.0, seed=1)
    os.remove(logs / "n.log.labels.parquet")  # only the log
    os.symlink(outside / "shadow", logs / "absolute")
    os.symlink("../outside/shadow", logs / "relative")
    os.symlink(outside / "dir", logs / "linked-dir")
    os.symlink(logs / "relative", logs / "chain")  # inside -> inside link -> outside
    (logs / "sub").mkdir()
    os.symlink("../../outside/shadow", logs / "sub" / "deeper")
    return logs


def _files_holding(root: Path, secret: str) -> list[str]:
    """Files under `root` whose bytes hold `secret`, Parquet files searched value by value (their
    pages are compressed, so a byte search alone could miss it)."""
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if secret.encode() in path.read_bytes():
            hits.append(str(path))
        elif path.suffix == ".parquet":
            table = pq.read_table(path)
            if any(secret in str(v) for col in table.columns for v in col.to_pylist()):
                hits.append(f"{path} (a value)")
    return hits


def test_links_out_of_a_folder_never_reach_any_output(tmp_path):
    logs = _folder_with_links(tmp_path)
    model, out = tmp_path / "model", tmp_path / "infer"

    proc = run_cli("train", "--input", str(logs), "--model-dir", str(model), *TINY)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, err
    assert "link absolute ->" in err and "outside the folder" in err  # said, not silently dropped

    proc = run_cli("infer", "--model-dir", str(model), "--input", str(logs), "--out-dir", str(out), "--quiet")
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode in (0, 1), err
    assert "outside the folder" in err

    assert model.is_dir() and out.is_dir() and any(out.iterdir())
    assert SECRET not in err
    assert _files_holding(model, SECRET) == []
    assert _files_holding(out, SECRET) == []
    # The sanity check of the check: the same secret, read on purpose, is found.
    proc = run_cli("parse", "--input", str(tmp_path / "outside" / "shadow"), "--out-dir", str(tmp_path / "direct"))
    assert proc.returncode == 0 and _files_holding(tmp_path / "direct", SECRET)
