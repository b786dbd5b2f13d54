"""report.html (issue 11): one self-contained page, checked as text and in a real headless Chromium.

The folder is real: a gen-synth log trains a tiny bundle, `infer` analyses an anomalous one that also
holds hostile lines (HTML with a payload that would set `window.__pwned`, an `</script>` to break out
of the embedded JSON, ANSI and Markdown), and `alog-detect report --html` writes the page. The browser
test (Playwright for Python driving Debian's `chromium`; no browser is ever downloaded) asserts: no
console or page errors, no request but the file itself, the chart and the record rows are there,
sorting reorders the rows, a click expands a record to its raw lines with the flagged one marked, and
the hostile line shows as text while its payload never runs. It saves a screenshot to
``$ALOG_ARTIFACTS`` (else pytest's tmp_path) and prints where.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from helpers import run_cli

from anomaly_log_detector.reports import html as html_report
from anomaly_log_detector.reports.escape import terminal_safe
from anomaly_log_detector.synth import generate_synthetic_log

TINY = ["--epochs", "2", "--hidden", "16", "--layers", "1", "--embed-dim", "8", "--quiet"]
PAYLOAD = "<script>window.__pwned=1</script>"
HOSTILE = [
    f"kernel: {PAYLOAD} <img src=x onerror=\"window.__pwned=2\"> </script><script>window.__pwned=3</script>",
    "kernel: \x1b[31mRED\x1b[0m \x1b]0;title\x07 **bold** [link](javascript:window.__pwned=4) <!-- x",
]
HOSTILE_HOST = "<svg/onload=window.__pwned=5>"


def _parse(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag of the page with its attributes."""
    tags: list[tuple[str, dict[str, str | None]]] = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    P(convert_charrefs=True).feed(html)
    return tags


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("html")
    normal, target = root / "normal.log", root / "target.log"
    generate_synthetic_log(str(normal), 3000, 0.0, seed=1)
    generate_synthetic_log(str(target), 2000, 0.05, seed=2)
    lines = target.read_text(encoding="utf-8").splitlines()
    stamp = lines[-1][:15]  # the last line's syslog time: the hostile lines come right after it
    hostile = [f"{stamp} db-01 {HOSTILE[0]}", f"{stamp} {HOSTILE_HOST} {HOSTILE[1]}"]
    target.write_text("\n".join(lines + hostile) + "\n", encoding="utf-8")
    model, out = root / "model", root / "out"
    run_cli("train", "--input", str(normal), "--model-dir", str(model), *TINY, check=True)
    proc = run_cli("infer", "--model-dir", str(model), "--input", str(target), "--out-dir", str(out), "-q")
    assert proc.returncode == 1, proc.stderr.decode(errors="replace")
    proc = run_cli("report", "--processed-dir", str(out), "--html", "--with-samples", check=True)
    assert "report.html" in proc.stdout.decode()
    records = pd.read_parquet(out / "anomalies.parquet").to_dict("records")
    hostile_no = len(lines) + 1
    return {"out": out, "page": out / "report.html", "records": records, "hostile_no": hostile_no,
            "hostile_rank": next((int(r["rank"]) for r in records if hostile_no in list(r["line_nos"])), None)}


# ---- the page as text ---------------------------------------------------------------------------

def test_the_page_is_self_contained(folder):
    html = folder["page"].read_text(encoding="utf-8")
    tags = _parse(html)
    for tag, attrs in tags:
        for name in ("src", "href", "action", "xlink:href", "poster", "data"):
            value = attrs.get(name)
            if value is None:
                continue
            assert not re.match(r"^\s*([a-z][a-z0-9+.-]*:|//)", value, re.I) or value.startswith("data:image/png;base64,"), \
                f"<{tag} {name}={value!r}>: not a local relative link"
            if name == "href" and not value.startswith("#"):
                assert (folder["page"].parent / value).is_file(), f"link to a missing file: {value}"
    assert not [t for t, a in tags if t == "link" or (t == "script" and "src" in a)], "external resources"
    assert "<svg" in html and "report.md" in html
    # The policy forbids every fetch and runs only our script, by its hash.
    csp = next(a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp
    script = (html_report.TEMPLATES / "report.js").read_text(encoding="utf-8")
    assert f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'" in csp
    assert f"<script>{script}</script>" in html


def test_log_text_is_escaped(folder):
    html = folder["page"].read_text(encoding="utf-8")
    assert folder["hostile_rank"] is not None, "the hostile line is in no record: the test would prove nothing"
    tags = _parse(html)
    assert [t for t, _ in tags].count("script") == 2  # the JSON data and report.js, nothing from the log
    assert not [t for t, _ in tags if t in ("img", "iframe", "object", "embed")]
    assert not [(t, a) for t, a in tags if any(k.startswith("on") for k in a)], "an event handler attribute"
    for raw in ("\x1b", "\x07", "</script><script>window"):
        assert raw not in html
    data = json.loads(re.search(r'<script type="application/json" id="alog-data">(.*?)</script>', html, re.S)[1])
    texts = [line[1] for r in data["records"] for line in r["ctx"] if line]
    assert any(PAYLOAD in x and "</script><script>window.__pwned=3" in x for x in texts)
    assert any("\\x1b[31mRED" in x for x in texts)  # ANSI shown as a visible escape


def test_script_json_cannot_end_its_element():
    text = html_report.script_json({"a": "</script><!-- <script>x</script> & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- <script>x</script> & \u2028"}


def test_context_rows_stay_in_their_source_and_are_capped():
    source = ["a"] * 10 + ["b"] * 10
    rows, hidden = html_report.context_rows([9, 12], source, context=3, limit=40)
    assert rows == [6, 7, 8, 9, None, 10, 11, 12, 13, 14, 15]  # never across the a/b boundary
    rows, hidden = html_report.context_rows(list(range(0, 20, 2)), source, context=1, limit=5)
    assert sum(x is not None for x in rows) == 5 and hidden == 7


def test_render_is_deterministic_bounded_and_translated(folder):
    out = folder["out"]
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    table = pd.read_parquet(out / "anomalies.parquet")
    a = html_report.render_html(out, data, table, lang="en")
    assert a == html_report.render_html(out, data, table, lang="en")
    assert len(a.encode()) < 1_000_000
    source = pd.read_parquet(out / "parsed.parquet", columns=["source"])["source"].to_numpy(dtype=object)
    assert len(html_report.record_rows(out, table, source, "en", limit=3)) == 3
    ko = html_report.write_html_report(out, data, table, lang="ko", path=out / "ko" / "report.html")
    text = ko.read_text(encoding="utf-8")
    assert '<html lang="ko">' in text and "이상 탐지 보고서" in text
    assert 'href="../report.md"' in text  # links are relative to where the page is


def _extras(out: Path, where: Path) -> dict:
    """A temporal heatmap (+ baseline) and an MS-CRED heatmap PNG, as the workflows pass them."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.add_subplot().imshow([[0, 1], [1, 0]])
    png = where / "window_3.png"
    fig.savefig(png)
    (where / "temporal_report.md").write_text("# temporal\n")
    grid = [[(d * 24 + h) % 7 for h in range(24)] for d in range(7)]
    return {"temporal": {"heatmap": grid, "baseline_heatmap": grid[::-1], "report": str(where / "temporal_report.md")},
            "mscred": {"heatmaps": [str(png)], "report": None}}


def test_heatmaps_are_embedded(folder, tmp_path):
    out = folder["out"]
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    table = pd.read_parquet(out / "anomalies.parquet")
    page = html_report.write_html_report(out, data, table, extras=_extras(out, tmp_path), path=tmp_path / "x.html")
    text = page.read_text(encoding="utf-8")
    assert text.count("<svg") == 2 and 'id="temporal"' in text and "Mon" in text
    assert 'src="data:image/png;base64,iVBOR' in text and "window_3.png" in text
    assert 'href="temporal_report.md"' in text


def test_a_clean_log_and_a_log_without_times(folder, tmp_path):
    out = folder["out"]
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    empty = pd.read_parquet(out / "anomalies.parquet").iloc[0:0]
    text = html_report.render_html(out, data, empty, lang="en")
    assert "No anomalies were found." in text and 'id="records-table"' not in text
    # Without timestamps the timeline runs over the lines' positions.
    copy = tmp_path / "untimed"
    shutil.copytree(out, copy)
    parsed = pd.read_parquet(copy / "parsed.parquet")
    parsed.assign(timestamp=pd.Series(pd.NaT, index=parsed.index, dtype=parsed["timestamp"].dtype)).to_parquet(
        copy / "parsed.parquet")
    table = pd.read_parquet(copy / "anomalies.parquet").assign(first_time=pd.NaT, last_time=pd.NaT)
    text = html_report.render_html(copy, data, table, lang="en")
    assert "Line (position in the parse)" in text and "<svg" in text and 'id="incident-1"' in text


# ---- in a real browser --------------------------------------------------------------------------

def _browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; the test extra has it)")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("no chromium executable (apt-get install chromium; scripts/setup_env.sh tries)")
    return sync_playwright, exe


def test_report_in_headless_chromium(folder, tmp_path):
    sync_playwright, exe = _browser()
    page_url = folder["page"].resolve().as_uri()
    problems, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in
                    ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_url)
            page.wait_for_selector("#records-table tbody tr.record")

            assert page.locator("#timeline svg").count() == 1
            assert page.locator("#timeline svg [id^='incident-']").count() >= 1
            ranks = lambda: [int(x) for x in page.locator("#records-table tbody tr.record td:first-child").all_inner_texts()]
            n = min(len(folder["records"]), html_report.MAX_RECORDS)
            assert ranks() == list(range(1, n + 1))

            # Sorting: by score, lowest first, then by host.
            page.click("#records-table th button[data-key='score']")
            scores = [float(x) for x in page.locator("#records-table tbody tr.record td:nth-child(2)").all_inner_texts()]
            assert scores == sorted(scores) and len(ranks()) == n
            if len(set(scores)) > 1:
                assert ranks() != list(range(1, n + 1))
            page.click("#records-table th button[data-key='host']")
            hosts = [h for h in page.locator("#records-table tbody tr.record td:nth-child(5)").all_inner_texts() if h != "-"]
            assert hosts == sorted(hosts)
            page.click("#records-table th button[data-key='rank']")
            assert ranks() == list(range(1, n + 1))

            # Expanding record 1 shows its raw lines, its flagged line marked.
            first = folder["records"][0]
            page.click("#record-1")
            flagged = page.locator("#record-detail-1 pre.lines .flagged").all_inner_texts()
            assert any(terminal_safe(first["raw"]) in x for x in flagged), flagged
            assert page.locator("#record-detail-1 pre.lines .line").count() > len(flagged)  # context too
            page.click("#record-1")
            assert page.locator("#record-detail-1").count() == 0

            # A click on an incident in the chart opens its record.
            if n >= 2:
                page.dispatch_event("#timeline svg #incident-2", "click")
                assert page.locator("#record-detail-2").count() == 1

            # The hostile line is text; its payloads never ran.
            rank = folder["hostile_rank"]
            page.click(f"#record-{rank}")
            text = "\n".join(page.locator(f"#record-detail-{rank} pre.lines").all_inner_texts())
            assert PAYLOAD in text and '<img src=x onerror="window.__pwned=2">' in text
            assert page.evaluate("typeof window.__pwned") == "undefined"
            assert page.locator("img:not([src^='data:'])").count() == 0
            assert page.locator("body").inner_text().count(HOSTILE_HOST) >= 1  # the host column or table

            page.click(f"#record-{rank}")
            page.click("#record-1")
            shot = Path(os.environ.get("ALOG_ARTIFACTS") or tmp_path) / "report_html.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")

            # The heatmaps: the PNG (a data: URI, allowed by the page's policy) is drawn.
            extras_page = html_report.write_html_report(
                folder["out"], json.loads((folder["out"] / "report.json").read_text(encoding="utf-8")),
                pd.read_parquet(folder["out"] / "anomalies.parquet"), extras=_extras(folder["out"], tmp_path),
                path=tmp_path / "extras.html")
            extras_url = extras_page.resolve().as_uri()
            page.goto(extras_url)
            assert page.locator("#temporal svg").count() == 1
            assert page.evaluate("document.querySelector('#mscred img').naturalWidth") > 0
        finally:
            browser.close()
    assert not problems, problems
    assert requests and set(requests) == {page_url, extras_url}, requests
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize("seed", range(6))
def test_timeline_bins_values_as_numpy_does(seed):
    """The timeline's binning (a bin by arithmetic, then corrected) gives np.histogram's counts and
    np.searchsorted's bins exactly, values on and next to the edges included."""
    import numpy as np

    from anomaly_log_detector.reports.timeline import _bins, bin_counts, bin_index

    rng = np.random.default_rng(seed)
    for _ in range(50):
        x = rng.normal(size=int(rng.integers(1, 3000))) * rng.uniform(1e-9, 1e7) + rng.uniform(-1e5, 1e5)
        if seed % 2:
            x = np.round(x)
        edges = _bins(x)
        x = np.concatenate([x, edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf),
                            [edges[0] - 1, edges[-1] + 1], np.full(3, x[0])])
        assert bin_counts(edges, x).tolist() == np.histogram(x, bins=edges)[0].tolist()
        assert (bin_index(edges, x) == np.searchsorted(edges, x, side="right") - 1).all()
    uneven = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 1000.0])  # not a linspace: still right
    assert bin_index(uneven, np.array([500.0, 0.5, 7.5, 1000.0])).tolist() == [8, 0, 7, 9]
