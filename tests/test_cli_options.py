"""Options shared across commands: `--top-k` (alias `--k`), `--threads`, `--quiet` on deeplog-infer."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from anomaly_log_detector.cli import cli
from anomaly_log_detector.synth import generate_synthetic_log

THREADED = ("deeplog-train", "deeplog-infer", "train", "infer", "validate", "compare", "train-incremental",
            "batch-analysis")


def command(name: str):
    return cli.get_command(None, name)


def param(name: str, dest: str):
    return next(p for p in command(name).params if p.name == dest)


def test_top_k_is_the_name_and_k_the_alias_everywhere():
    with_k = [n for n in cli.list_commands(None) if any(p.name == "k" for p in command(n).params)]
    assert set(with_k) >= {"train", "batch-analysis", "deeplog-train", "deeplog-infer"}
    for name in with_k:
        assert param(name, "k").opts == ["--top-k", "--k"], name
    for name in ("train", "batch-analysis", "deeplog-train", "deeplog-infer"):
        for flag in ("--top-k", "--k"):
            args = {"train": ["--input", "x", "--model-dir", "m"], "batch-analysis": ["--log-dir", ".",
                    "--target", __file__, "--out-dir", "o"]}.get(name, [])
            if name.startswith("deeplog"):
                args = ["--seq", __file__, "--model" if name == "deeplog-infer" else "--out", __file__]
            ctx = command(name).make_context(name, [*args, flag, "4"])
            assert ctx.params["k"] == 4, (name, flag)


def test_threads_default_to_one_and_deeplog_infer_is_quiet_capable():
    for name in THREADED:
        p = param(name, "threads")
        assert p.default == 1 and "1 keeps training deterministic" in p.help, name
    assert param("deeplog-infer", "quiet").opts == ["--quiet", "-q"]
    assert "--top-p alone = pure nucleus" in param("deeplog-infer", "top_p").help
    assert "--top-k alone = pure top-k" in param("deeplog-infer", "k").help


def test_options_reach_the_model_and_torch(tmp_path):
    import torch

    before = torch.get_num_threads()
    generate_synthetic_log(str(tmp_path / "normal.log"), 1500, 0.0, seed=1)
    try:
        result = CliRunner().invoke(cli, ["train", "--input", str(tmp_path / "normal.log"), "--model-dir",
                                          str(tmp_path / "m"), "--epochs", "1", "--hidden", "8", "--layers", "1",
                                          "--embed-dim", "4", "--holdout", "0", "--top-k", "4", "--threads", "2",
                                          "--quiet"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 2  # applied in the command body
    finally:
        torch.set_num_threads(before)
    assert json.loads((tmp_path / "m" / "metadata.json").read_text())["params"]["deeplog"]["k"] == 4


@pytest.mark.parametrize("name", ["deeplog-train", "deeplog-infer"])
def test_threads_are_not_applied_at_import(name):
    # --help parses no body: torch must stay unimported (tests/test_cli.py checks the process as a whole).
    result = CliRunner().invoke(cli, [name, "--help"], catch_exceptions=False)
    assert result.exit_code == 0 and "--threads" in result.output and "--top-k, --k" in result.output
