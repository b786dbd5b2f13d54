"""A CLI that scripts well: `--json`, `-q`, `-v`, `--since`/`--until`, `--lang`, progress bars.

One tiny bundle (trained once for the module on a gen-synth log) serves the JSON and quiet checks; the
commands whose exit status matters run in a subprocess (`run_cli`), the others in-process.
"""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from click.testing import CliRunner
from helpers import assert_one_line_error, read_summary, run_cli

from anomaly_log_detector.cli import cli
from anomaly_log_detector.progress import Progress
from anomaly_log_detector.synth import generate_synthetic_log

TINY = ["--epochs", "1", "--hidden", "8", "--layers", "1", "--embed-dim", "4", "--max-steps", "20", "--quiet"]
# gen-synth's logs start at 00:00:00 on March 1st (syslog: no year; `--year` sets it).
RANGED_LOG = """orphan line before any timestamp
2026-06-14T00:30:00Z web1 app[7]: job 1 started
2026-06-14T01:00:00Z web1 app[7]: job 2 failed with code 3
Traceback (most recent call last):
  File "x.py", line 1, in <module>
2026-06-14T01:30:00Z web1 app[7]: job 3 started
2026-06-14T02:00:00Z web1 app[7]: job 4 started
"""


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("comfort")
    normal, target = root / "normal.log", root / "target.log"
    generate_synthetic_log(str(normal), 1500, 0.0, seed=1)
    generate_synthetic_log(str(target), 600, 0.05, seed=2)
    result = invoke("train", "--input", normal, "--model-dir", root / "model", *TINY)
    assert result.exit_code == 0, result.output
    return {"root": root, "model": root / "model", "normal": normal, "target": target}


# ---- --json ------------------------------------------------------------------------------------
def _json_of(proc) -> dict:
    stdout = proc.stdout.decode()
    obj = json.loads(stdout)  # the whole of stdout is one JSON object
    assert isinstance(obj, dict)
    return obj


@pytest.mark.parametrize("quiet", [[], ["-q"]], ids=["loud", "quiet"])
def test_infer_json_is_one_object_and_keeps_the_exit_status(bundle, tmp_path, quiet):
    proc = run_cli("infer", "--model-dir", str(bundle["model"]), "--input", str(bundle["target"]), "--out-dir",
                   str(tmp_path / "out"), "--json", *quiet)
    s = _json_of(proc)
    assert {"lines", "anomalies", "exit_status", "detectors", "fit", "outputs", "seconds", "time_range"} <= set(s)
    assert proc.returncode == s["exit_status"] and proc.returncode in (0, 1)
    assert s["lines"] == 600 and s["time_range"] == {"since": None, "until": None}


def test_validate_compare_bundle_info_json(bundle, tmp_path):
    model = str(bundle["model"])
    v = run_cli("validate", "--model-dir", model, "--json")
    result = _json_of(v)
    assert v.returncode == 0 and {"score", "components", "passed", "evaluated_on", "min_score"} <= set(result)
    below = run_cli("validate", "--model-dir", model, "--json", "--min-score", "100")
    assert below.returncode == (0 if result["score"] >= 100 else 1) and _json_of(below)["passed"] is (
        below.returncode == 0)
    c = run_cli("compare", "--model-a", model, "--model-b", model, "--json", "-q")
    rows = _json_of(c)["rows"]
    assert c.returncode == 0 and rows["templates"]["A"] == rows["templates"]["B"]
    b = run_cli("bundle-info", "--model-dir", model, "--json")
    assert b.returncode == 0 and {"files", "params", "vocab_size"} <= set(_json_of(b))


def test_lang_reaches_validate(bundle):
    result = invoke("validate", "--model-dir", bundle["model"], "--json", "--lang", "ko")
    text = json.loads(result.stdout)["evaluated_on"]
    assert re.search("[\uac00-\ud7a3]", text), text  # Hangul


# ---- -q and -v ----------------------------------------------------------------------------------
def test_quiet_silences_the_summary(bundle, tmp_path):
    proc = run_cli("infer", "--model-dir", str(bundle["model"]), "--input", str(bundle["target"]), "--out-dir",
                   str(tmp_path / "out"), "-q")
    assert proc.returncode in (0, 1) and proc.stdout == b""
    assert (tmp_path / "out" / "inference_summary.json").is_file()
    for args in (["parse", "--input", bundle["target"], "--out-dir", tmp_path / "p", "-q"],
                 ["gen-synth", "--out", tmp_path / "g.log", "--lines", "10", "-q"]):
        result = invoke(*args)
        assert result.exit_code == 0 and result.stdout == "" and result.stderr == "", args
    # Warnings stay loud (this tiny bundle did not converge): only they are left.
    quiet = invoke("bundle-info", "--model-dir", bundle["model"], "-q")
    assert quiet.exit_code == 0 and all(line.startswith("WARNING: ") for line in quiet.stdout.splitlines())
    loud = invoke("bundle-info", "--model-dir", bundle["model"])
    assert "verified:" in loud.stdout and "verified:" not in quiet.stdout


def test_quiet_keeps_errors(tmp_path):
    proc = run_cli("parse", "--input", str(tmp_path / "missing.log"), "--out-dir", str(tmp_path / "p"), "-q")
    assert proc.returncode == 2 and "missing.log" in assert_one_line_error(proc)


def test_verbose_logs_debug_lines_on_stderr(bundle, tmp_path):
    logger = logging.getLogger("anomaly_log_detector")
    level, handlers = logger.level, list(logger.handlers)
    result = invoke("parse", "--input", bundle["target"], "--out-dir", tmp_path / "p", "-v")
    assert result.exit_code == 0, result.output
    debug = [line for line in result.stderr.splitlines() if " DEBUG: " in line]
    assert any(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} anomaly_log_detector\.parsing\.pipeline DEBUG: parse: ",
                        line) for line in debug), result.stderr
    assert "lines: 600 read" in result.stdout  # -v adds to the output, it takes nothing away
    assert logger.level == level and logger.handlers == handlers  # restored for the next command
    quiet = invoke("parse", "--input", bundle["target"], "--out-dir", tmp_path / "p2")
    assert " DEBUG: " not in quiet.stderr


def test_every_command_has_the_same_output_options():
    for name in cli.list_commands(None):
        command = cli.get_command(None, name)
        opts = {p.name: p.opts for p in command.params}
        assert opts.get("verbose") == ["--verbose", "-v"], name
        assert opts.get("quiet") == ["--quiet", "-q"], name
    for name in ("infer", "validate", "compare", "bundle-info"):
        assert {p.name: p.opts for p in cli.get_command(None, name).params}["as_json"] == ["--json"], name
    for name in ("infer", "validate", "report", "analyze-samples", "analyze-mscred"):
        lang = next(p for p in cli.get_command(None, name).params if p.name == "lang")
        assert list(lang.type.choices) == ["en", "ko"], name


# ---- --since / --until ---------------------------------------------------------------------------
def test_parse_time_range_counts_and_boundaries(tmp_path):
    log = tmp_path / "r.log"
    log.write_text(RANGED_LOG)
    result = invoke("parse", "--input", log, "--out-dir", tmp_path / "p", "--since", "2026-06-14T01:00",
                    "--until", "2026-06-14T02:00:00+00:00")
    assert result.exit_code == 0, result.output
    s = read_summary(tmp_path / "p")
    # since is inclusive (01:00 kept), until exclusive (02:00 left out); the traceback goes with 01:00.
    assert s["lines_skipped"] == {"outside_time_range": 2, "no_timestamp": 1}
    assert s["lines_parsed"] == 4 and s["lines_read"] == s["lines_parsed"] + sum(s["lines_skipped"].values())
    assert s["time_range"] == {"since": "2026-06-14T01:00:00+00:00", "until": "2026-06-14T02:00:00+00:00"}
    import pandas as pd

    parsed = pd.read_parquet(tmp_path / "p" / "parsed.parquet")
    assert parsed["line_no"].tolist() == [3, 4, 5, 6]
    # Left-out lines never reach Drain: the kept lines get the templates they get on their own.
    alone = tmp_path / "alone.log"
    alone.write_text("".join(RANGED_LOG.splitlines(keepends=True)[2:6]))
    assert invoke("parse", "--input", alone, "--out-dir", tmp_path / "a").exit_code == 0
    assert pd.read_parquet(tmp_path / "a" / "parsed.parquet")["template"].tolist() == parsed["template"].tolist()
    # A zone offset is honoured: 10:00+09:00 is 01:00 UTC.
    invoke("parse", "--input", log, "--out-dir", tmp_path / "z", "--since", "2026-06-14T10:00:00+09:00")
    assert read_summary(tmp_path / "z")["lines_parsed"] == 5


def test_parse_time_range_on_a_generated_log(bundle, tmp_path):
    result = invoke("parse", "--input", bundle["target"], "--out-dir", tmp_path / "p", "--year", "2026",
                    "--since", "2026-03-01", "--until", "2026-03-01T00:00:30", "-q")
    assert result.exit_code == 0, result.output
    s = read_summary(tmp_path / "p")
    outside = s["lines_skipped"].get("outside_time_range", 0)
    assert 0 < s["lines_parsed"] < 600 and s["lines_parsed"] + outside == s["lines_read"] == 600


@pytest.mark.parametrize("args, needle", [
    (["--since", "yesterday"], "'yesterday' is not an ISO 8601 date"),
    (["--since", "2026-06-14", "--until", "2026-06-13"], "is not before --until"),
])
def test_bad_time_range_is_a_one_line_error(tmp_path, args, needle):
    (tmp_path / "r.log").write_text(RANGED_LOG)
    proc = run_cli("parse", "--input", str(tmp_path / "r.log"), "--out-dir", str(tmp_path / "p"), *args)
    assert proc.returncode == 2
    err = proc.stderr.decode().strip().splitlines()
    assert needle in err[-1] and not any("Traceback" in line for line in err)


def test_infer_time_range(bundle, tmp_path):
    proc = run_cli("infer", "--model-dir", str(bundle["model"]), "--input", str(bundle["target"]), "--out-dir",
                   str(tmp_path / "none"), "--since", "2001-01-01", "--until", "2001-01-02")
    assert proc.returncode == 2 and "time range" in assert_one_line_error(proc)
    result = invoke("infer", "--model-dir", bundle["model"], "--input", bundle["target"], "--out-dir",
                    tmp_path / "some", "--since", "2000-01-01", "--json", "-q")
    s = json.loads(result.stdout)
    assert s["time_range"]["since"] == "2000-01-01T00:00:00+00:00" and s["lines"] == 600


# ---- progress -------------------------------------------------------------------------------------
class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal_and_not_quiet():
    pipe = io.StringIO()
    bar = Progress("parse", total=10, unit="lines", file=pipe)
    bar.update(10, templates=3)
    bar.close()
    assert not bar.enabled and bar.done == 10 and pipe.getvalue() == ""
    term = FakeTerminal()
    quiet = Progress("parse", total=10, quiet=True, file=term)
    quiet.update(5)
    quiet.close()
    assert term.getvalue() == ""
    bar = Progress("train", total=4, unit="epoch", file=term)
    for _ in range(4):
        bar.update(1, loss=0.123456)
    bar.close()
    text = term.getvalue()
    assert bar.enabled and "train" in text and "100%" in text and "4/4" in text and "loss=0.1235" in text
    unknown = FakeTerminal()
    with Progress("read", unit="B", file=unknown) as bar:  # no total: a count and a rate, no percentage
        bar.update(2048)
    assert "2.00k" in unknown.getvalue() and "%" not in unknown.getvalue()


def test_no_progress_on_a_pipe(bundle, tmp_path):
    proc = run_cli("parse", "--input", str(bundle["target"]), "--out-dir", str(tmp_path / "p"))
    assert proc.returncode == 0 and b"%|" not in proc.stderr and b"\r" not in proc.stderr
