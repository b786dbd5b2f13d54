"""The command line as a whole: help everywhere, fast help, one-line errors."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from anomaly_log_detector.cli import cli
from helpers import assert_one_line_error, run_cli


def test_every_command_has_help_text():
    runner = CliRunner()
    names = cli.list_commands(None)
    assert {"parse", "gen-synth"} <= set(names)
    for name in names:
        command = cli.get_command(None, name)
        assert command.help and command.help.strip(), f"{name} has no help text"
        for param in command.params:
            if getattr(param, "help", None) is None and param.name not in ("help",):
                assert param.param_type_name == "argument", f"{name} --{param.name} has no help"
        result = runner.invoke(cli, [name, "--help"], catch_exceptions=False)
        assert result.exit_code == 0 and "Usage:" in result.output


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; from anomaly_log_detector.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "for name in ['parse', 'deeplog-train', 'train', 'infer']:\n"
            "    try:\n        main([name, '--help'])\n    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'sklearn', 'pandas') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("HEAVY []"), out


def test_unknown_command_and_bad_option_exit_two_without_traceback():
    proc = run_cli("no-such-command")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr
    proc = run_cli("parse", "--input")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr


def test_version():
    proc = run_cli("--version", check=True)
    assert proc.stdout.decode().startswith("alog-detect, version ")


def test_internal_errors_are_one_line(tmp_path):
    # A parsed.parquet that is not Parquet at all reaches library code: still one line, exit 2.
    bad = tmp_path / "parsed.parquet"
    bad.write_bytes(b"not parquet")
    proc = run_cli("build-deeplog", "--parsed", str(bad), "--out-dir", str(tmp_path / "o"))
    assert_one_line_error(proc)


def test_command_reference_is_up_to_date():
    import subprocess
    from helpers import REPO

    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_cli_docs.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr



def test_help_never_shows_an_unbounded_range_as_none():
    """click renders a float range without bounds as `x<=None` (and `FLOAT RANGE`); no --help may."""
    from click.testing import CliRunner

    from anomaly_log_detector.cli import cli

    runner = CliRunner()
    names = sorted(cli.list_commands(None))
    assert "gen-synth" in names and "parse" in names
    for name in names:
        out = runner.invoke(cli, [name, "--help"]).output
        assert "Usage:" in out, name
        assert "None" not in out, (name, out)
