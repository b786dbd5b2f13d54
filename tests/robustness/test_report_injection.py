"""Hostile log text and file names in every human output (issue 9, item 3).

Hosts, processes, messages, templates and file names carry HTML (`<script>`), Markdown (`|`,
backticks, links), a CR, ANSI/OSC escape sequences (colour, terminal title, OSC 52 clipboard write)
and a bidi override. No Markdown report may hold a raw control byte (``cat report.md`` must not act on
the terminal), no rendering of it may hold a tag of ours or theirs, and nothing the CLI prints may hold
a raw control byte. The rendering check uses markdown-it-py (and cmark-gfm, GitHub's renderer) when
installed; otherwise every ``<`` outside code must be an entity.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import run_cli

from anomaly_log_detector.reports.escape import code_block, code_span, md_text, terminal_safe

HTML = "<script>alert(1)</script>"
OSC_TITLE, OSC_CLIPBOARD, CSI_RED, RLO = "\x1b]0;pwned\x07", "\x1b]52;c;ZXZpbA==\x07", "\x1b[31m", "\u202e"
EVIL = f"{HTML}|`x`\r{OSC_TITLE}{OSC_CLIPBOARD}{CSI_RED}{RLO} *b* [x](javascript:alert(1)) \\|"
#: Bytes that must never reach a Markdown file or a terminal raw.
RAW = ("\x1b", "\x07", "\r", "\u202e", "\x9b", "\x00")
TINY = dict(epochs=2, hidden=16, layers=1, embed_dim=8, holdout=0.0, quiet=True)
MESSAGES = ["request {n} accepted from 10.0.0.{m}", "cache lookup for key {n} took {m} ms",
            "request {n} served in {m} ms", "connection {n} closed after {m} s", "heartbeat {n} ok"]
# Logged often in training, so its host/process and template (with HTML, a pipe, backticks and escape
# sequences) are in the dominant-templates table and among the templates DeepLog expects.
HOSTILE_NORMAL = f"Mar  1 00:{{mm:02d}}:{{ss:02d}} {HTML}{CSI_RED} d`mn|{OSC_TITLE}[7]: user <img src=x " \
                 f"onerror=alert(1)> `id` | logged in {OSC_CLIPBOARD}{RLO} from 10.0.0.{{m}}"


def normal_lines(n: int) -> list[str]:
    out = []
    for i in range(n):
        mm, ss = divmod(i, 60)
        if i % 6 == 5:
            out.append(HOSTILE_NORMAL.format(mm=mm, ss=ss, m=i % 7 + 1))
        else:
            out.append(f"Mar  1 00:{mm:02d}:{ss:02d} host1 app[42]: " + MESSAGES[i % 5].format(n=1000 + i, m=i % 7 + 1))
    return out


# ---- checks -------------------------------------------------------------------------------------

def _outside_code(md: str) -> str:
    """The Markdown without its fenced blocks and code spans (CommonMark's rules, simplified to what
    our writers produce: fences of backticks only, spans within one line)."""
    kept, fence = [], None
    for line in md.split("\n"):
        m = re.match(r"^ {0,3}(`{3,})", line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None:
            if re.fullmatch(rf" {{0,3}}`{{{len(fence)},}}\s*", line):
                fence = None
        else:
            kept.append(re.sub(r"(?<!`)(`+)(?!`)(.*?)(?<!`)\1(?!`)", " ", line))
    return "\n".join(kept)


def assert_inert(md: str, where: str = "") -> None:
    """No raw control byte; rendered, no tag from the text (script, img, a link); else, without a
    renderer, no `<` outside code."""
    for ch in RAW:
        assert ch not in md, f"{where}: raw {ch!r} in the Markdown"
    rendered = []  # (renderer, html, tags that must not appear)
    tags = ["<script", "<img", "href=\"javascript", "<em>", "<del>"]
    try:
        import markdown_it
        html = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(md)
        rendered.append(("markdown-it", html, [*tags, "<a "]))
    except ImportError:
        pass
    try:  # GitHub's renderer: its autolink extension links a bare http:// URL (text, not markup: allowed)
        import cmarkgfm
        from cmarkgfm.cmark import Options
        html = cmarkgfm.github_flavored_markdown_to_html(md, options=Options.CMARK_OPT_UNSAFE)
        rendered.append(("cmark-gfm", html, tags))
    except ImportError:
        pass
    for name, html, forbidden in rendered:
        low = html.lower()
        for tag in forbidden:
            assert tag not in low, f"{where}: {tag} in the {name} rendering:\n{html}"
        for ch in RAW:
            assert ch not in html, where
    if not rendered:  # no renderer installed: every < of log text is an entity or inside code
        assert "<" not in _outside_code(md), f"{where}: raw < outside code:\n{_outside_code(md)}"


def assert_terminal_safe(text: str, where: str) -> None:
    for ch in RAW:
        assert ch not in text, f"{where}: raw {ch!r}: {text!r}"


# ---- the escaping functions ---------------------------------------------------------------------

@pytest.mark.parametrize("ch, shown", [("\x1b", "\\x1b"), ("\x07", "\\x07"), ("\r", "\\r"), ("\x00", "\\x00"),
                                       ("\x7f", "\\x7f"), ("\x9b", "\\x9b"), ("\u202e", "\\u202e"),
                                       ("\u2066", "\\u2066"), ("\udcff", "\\xff"), ("\n", "\\n")])
def test_terminal_safe_shows_every_control_character_as_an_escape(ch, shown):
    assert terminal_safe(f"a{ch}b") == f"a{shown}b"
    assert terminal_safe("tab\tand é ü 漢字 ok") == "tab\tand é ü 漢字 ok"  # text and tabs untouched
    assert terminal_safe("two\nlines", multiline=True) == "two\nlines"
    assert terminal_safe(EVIL).isprintable()


def test_code_span_fence_is_longer_than_any_backtick_run():
    for text in ["a`b", "``", "x```y`", "`lead", "trail`", " both ", "|pipe|", "", "plain"]:
        span = code_span(text)
        runs = [len(r) for r in re.findall("`+", text)]
        fence = re.match("`+", span).group()
        assert len(fence) > max(runs, default=0) and span.endswith(fence) and "\n" not in span
    assert code_span("a\nb\rc") == "`a\\nb\\rc`"
    assert code_span("a|b", table=True) == "`a\\|b`" and code_span("a|b") == "`a|b`"
    assert_inert(f"| h |\n|---|\n| {code_span(EVIL, table=True)} |\n\ntext {code_span(EVIL)}\n")


def test_md_text_forms_no_markup():
    for text in [EVIL, "- item", "+ item", "1. item", "# heading", "> quote", "===", "***", "~~s~~",
                 "&lt;script&gt;", "<http://x>", "![i](http://x)"]:
        out = md_text(text)
        assert "<" not in out and "\n" not in out, out
        assert_inert(f"x\n\n{out}\n\n| a |\n|---|\n| {out} |\n", text)


def test_code_block_cannot_be_closed_from_inside():
    block = code_block(["```", "````` and more", EVIL])
    assert block.startswith("``````\n") and block.endswith("\n``````")
    assert_inert(block + "\n\n" + HTML.replace("<", "&lt;") + "\n")


# ---- the writers, with hostile text in every field ------------------------------------------------

def hostile_report_data() -> dict:
    from anomaly_log_detector.reports.summary import render_reasons

    reasons = [
        {"detector": "alerting", "key": "reason.alert_line", "line_no": 3,
         "params": {"score": 1.0, "severity": 0.5, "novel": True, "novelty": 1.0, "nearest": EVIL, "seq_miss": True}},
        {"detector": "deeplog", "key": "reason.deeplog_surprise", "line_no": 3,
         "params": {"session": EVIL, "rank": 3, "prob": 0.01, "surprise": 9.0, "tail": 1e-9, "expected": [EVIL]}},
        {"detector": "deeplog", "key": "reason.deeplog_session", "line_no": 3,
         "params": {"session": EVIL, "misses": 2, "windows": 4}},
    ]
    reasons = render_reasons(reasons, "en")  # as report_data stores them: with their plain text
    record = {"rank": 1, "score": 0.9, "detectors": ["alerting", "deeplog"], "source": EVIL, "line_nos": [3],
              "rows": [2], "time": EVIL, "first_time": EVIL, "last_time": None, "host": EVIL, "process": EVIL,
              "entity": EVIL, "template": EVIL, "template_training_count": 0, "expected": [EVIL, "`"],
              "raw": EVIL, "reasons": reasons, "lines": [{"line_no": 3, "raw": EVIL}], "more_lines": 0}
    return {"processed_dir": EVIL, "generated_utc": "2026-01-01T00:00:00Z", "lang": "en",
            "warnings": [f"the input {EVIL} could not be read"], "detectors_run": ["alerting"],
            "summary": {"lines": 3, "sources": 1, "templates": 1, "unseen_lines": 1, "anomalies": 1,
                        "multi_detector": 1, "detectors": {"alerting": {"records": 1, "lines": 1}}},
            "top": [record],
            "windows": [{"source": EVIL, "start": 1, "end": 3, "score": 0.9, "components": {"severity": 0.5}}],
            "templates": [{"template_id": 0, "template": EVIL, "count": 3, "share": 1.0}],
            "flagged_templates": [{"template_id": 0, "template": EVIL, "count": 3, "share": 1.0, "flagged": 1}],
            "hosts": [{"host": EVIL, "lines": 3, "flagged_lines": 1, "records": 1, "first": EVIL, "last": None}],
            "hosts_total": 1,
            "agreement": [{"a": "alerting", "b": "deeplog", "both": 1, "either": 1, "jaccard": 1.0}],
            "links": {EVIL: EVIL, "temporal": EVIL},
            "samples": EVIL}


def test_report_markdown_escapes_every_field():
    from anomaly_log_detector.reports.markdown import render_report

    md = render_report(hostile_report_data())
    assert_inert(md, "report.md")
    assert md.count("\n| ") >= 4  # the tables are still tables: no cell split by a log's pipe
    templates = md[md.index("## Dominant templates"):].split("\n")[4]
    assert templates.startswith("| 3 | 100.0% | ``") and templates.count(" | ") == 2, templates
    hosts = md[md.index("## Hosts"):].split("\n")[6]  # six cells, whatever the host and time hold
    assert hosts.startswith("| ``<script>") and len(re.findall(r"(?<!\\) \| ", hosts)) == 5, hosts
    assert md.count("\n- Log samples with context: [``<script>") == 1  # the links, escaped
    assert "](%3Cscript%3E" in md  # and their targets percent-encoded


def test_samples_markdown_escapes_every_field():
    from anomaly_log_detector.analyzers.samples import _render

    data = hostile_report_data()
    r = data["top"][0]
    sample = {**{k: r[k] for k in ("rank", "source", "line_nos", "time", "host", "process", "detectors", "score")},
              "explanation": [code_span(EVIL)], "reasons": r["reasons"],
              "lines": [{"line_no": 3, "raw": EVIL, "template": EVIL, "flagged": True}]}
    assert_inert(_render([sample], EVIL, 3, "en"), "samples")


def test_comparative_markdown_escapes_every_field():
    from anomaly_log_detector.analyzers.comparative import render

    first = {"source": EVIL, "line_no": 1, "raw": EVIL}
    stats = {"target": EVIL, "baseline_lines": 10, "target_lines": 5,
             "templates_only_in_target": [{"template_id": 1, "template": EVIL, "count": 1, "target_share": 0.2,
                                           "first_line": first}],
             "frequency_changes": [{"template_id": 2, "template": EVIL, "baseline_count": 1, "target_count": 2,
                                    "baseline_share": 0.1, "target_share": 0.4, "ratio": 4.0}],
             "missing_in_target": [{"template_id": 3, "template": EVIL, "baseline_count": 5, "baseline_share": 0.5}]}
    md = render(stats)
    assert_inert(md, "comparative")
    for line in md.split("\n"):
        if line.startswith("| 1 |"):  # count | template | first line: three cells, whatever the text holds
            assert len(re.findall(r"(?<!\\) \| ", line)) == 2, line


def test_compare_table_and_json_reasons_keep_the_terminal_safe():
    from anomaly_log_detector.reports.summary import render_reasons
    from anomaly_log_detector.workflows.compare import format_columns

    assert_terminal_safe(format_columns({"A": f"A: {EVIL}"}, {"log format": {"A": EVIL}}), "compare")
    # The JSON keeps the raw text (JSON escapes control characters itself).
    reasons = render_reasons(hostile_report_data()["top"][0]["reasons"], "en")
    assert EVIL in reasons[1]["text"] and reasons[1]["params"]["session"] == EVIL


# ---- end to end: train, infer, report, samples, comparative --------------------------------------

@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict:
    from anomaly_log_detector.workflows.settings import TrainSettings
    from anomaly_log_detector.workflows.train import train_model

    root = tmp_path_factory.mktemp("inject")
    lines = normal_lines(600)
    (root / "normal.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    train_model([str(root / "normal.log")], root / "model", TrainSettings().with_overrides(**TINY))
    folder = root / f"logs{OSC_TITLE}"
    folder.mkdir()
    target = folder / f"t{HTML.replace('/', '')}|``x\r{OSC_TITLE}{OSC_CLIPBOARD}{CSI_RED}{RLO}.log"
    bad = [f"Mar  1 00:01:00 {HTML}{CSI_RED} kern`el|{OSC_TITLE}[7]: Kernel panic {EVIL}",
           f"Mar  1 00:01:00 {HTML}{CSI_RED} d`mn|{OSC_TITLE}[7]: user <img src=x onerror=alert(1)> `id` | "
           f"logged out {OSC_CLIPBOARD}{RLO} at once"]
    target.write_text("\n".join([*lines[:60], *bad, *lines[60:150]]) + "\n", encoding="utf-8")
    return {"root": root, "model": root / "model", "target": target, "out": root / f"out{CSI_RED}{RLO}"}


def test_infer_and_reports_neutralise_hostile_text(hostile):
    out = hostile["out"]
    proc = run_cli("infer", "--model-dir", str(hostile["model"]), "--input", str(hostile["target"]),
                   "--out-dir", str(out))
    stdout, stderr = proc.stdout.decode(), proc.stderr.decode(errors="replace")
    assert proc.returncode == 1, stderr
    assert_terminal_safe(stdout, "infer stdout")
    assert_terminal_safe(stderr, "infer stderr")
    assert "report: " in stdout and "\\x1b[31m\\u202e" in stdout  # the path shown, with visible escapes
    # A report, then a samples analysis and report run on their own over the same folder.
    for args in (["report", "--processed-dir", str(out), "--with-samples"],
                 ["analyze-samples", "--processed-dir", str(out)]):
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        assert_terminal_safe(proc.stdout.decode() + proc.stderr.decode(errors="replace"), args[0])
    mds = sorted(out.rglob("*.md"))
    assert {p.name for p in mds} == {"inference_report.md", "report.md", "anomaly_analysis_report.md",
                                     "temporal_report.md"}
    for path in mds:
        assert_inert(path.read_text(encoding="utf-8"), path.name)
    report = (out / "inference_report.md").read_text(encoding="utf-8")
    # The hostile fields are shown (escaped), not dropped: host, process, file name, raw line, template.
    assert "host `<script>alert(1)</script>\\x1b[31m`" in report
    assert "``kern`el|\\x1b]0;pwned\\x07``" in report
    assert "\\x1b]52;c;ZXZpbA==\\x07" in report  # the raw line
    assert "| ``user <img src= x onerror= alert(<NUM>)> `id` \\| logged in" in report  # a template, in a table
    # JSON keeps the raw text (json escapes the control characters itself).
    docs = [json.loads(x) for x in (out / "anomalies.jsonl").read_text(encoding="utf-8").splitlines()]
    assert any(OSC_TITLE in d["message"] and HTML in d["message"] for d in docs)  # the raw line, in ECS `message`
    assert any(d["alog"]["source"] == d["log"]["file"]["path"] == str(hostile["target"]) for d in docs)


def test_comparative_analysis_of_a_hostile_target(hostile, tmp_path):
    from anomaly_log_detector.analyzers.comparative import write_comparative
    from anomaly_log_detector.workflows.model import load_bundle

    paths = write_comparative(load_bundle(hostile["model"]), str(hostile["target"]), tmp_path)
    md = paths["md"].read_text(encoding="utf-8")
    assert_inert(md, "comparative")
    assert "Kernel panic" in md
    stats = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert any(HTML in x["first_line"]["raw"] for x in stats["templates_only_in_target"])


def test_error_lines_naming_hostile_paths_are_terminal_safe(hostile):
    out = hostile["model"] / f"r{OSC_TITLE}{OSC_CLIPBOARD}\r{RLO}"  # refused: inside the bundle
    proc = run_cli("infer", "--model-dir", str(hostile["model"]), "--input", str(hostile["target"]),
                   "--out-dir", str(out))
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 2 and err.startswith("Error: --out-dir ") and err.count("\n") == 1, err
    assert_terminal_safe(err, "error line")
    assert "\\x1b]0;pwned\\x07" in err and not out.exists()
