#!/usr/bin/env python3
"""Build a demo report.html and take the README's screenshot of it (docs/images/report.png).

Generates a normal and an anomalous gen-synth log, trains a small bundle, analyses the anomalous log
(`alog-detect infer`), writes `report.html` (`alog-detect report --html`), opens it in headless
Chromium (Playwright for Python pointed at Debian's `chromium`; nothing is downloaded), expands the
first record and saves the timeline and the records table as one PNG. Takes about a minute on 2 cores.

    .venv/bin/python scripts/screenshot_report.py [--out docs/images/report.png] [--work DIR] [--lang en]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "anomaly_log_detector", *args], capture_output=True, text=True)
    if proc.returncode not in (0, 1):  # infer exits 1 when it finds anomalies
        sys.exit(f"alog-detect {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")


def build(work: Path, lang: str) -> Path:
    """The demo folder's report.html (train on 20k normal lines, analyse 5k lines, 2 % anomalous)."""
    normal, target = work / "normal.log", work / "suspicious.log"
    cli("gen-synth", "--out", str(normal), "--lines", "20000", "--anomaly-rate", "0", "--seed", "1")
    cli("gen-synth", "--out", str(target), "--lines", "5000", "--anomaly-rate", "0.02", "--seed", "7")
    model, out = work / "model", work / "inference"
    cli("train", "--input", str(normal), "--model-dir", str(model), "--overwrite", "--epochs", "8", "--quiet")
    cli("infer", "--model-dir", str(model), "--input", str(target), "--out-dir", str(out), "-q")
    cli("report", "--processed-dir", str(out), "--html", "--with-samples", "--lang", lang)
    return out / "report.html"


def screenshot(page_path: Path, png: Path) -> None:
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        sys.exit("no chromium executable: apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_path.resolve().as_uri())
            page.wait_for_selector("#record-1")
            page.click("#record-1")
            # Page coordinates (bounding boxes are relative to the scrolled viewport).
            top, bottom = page.evaluate("""() => {
                const y = (el) => el.getBoundingClientRect().top + window.scrollY;
                const rows = document.querySelectorAll('#records-table tbody tr.record');
                const last = rows[Math.min(5, rows.length - 1)];
                return [y(document.getElementById('timeline')), y(last) + last.getBoundingClientRect().height];
            }""")
            png.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(png), full_page=True,
                            clip={"x": 0, "y": top - 10, "width": 1280, "height": bottom - top + 20})
        finally:
            browser.close()
    try:  # a screenshot has few colours: a palette PNG is a third of the size and looks the same
        from PIL import Image
    except ImportError:
        return
    with Image.open(png) as im:
        small = im.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    small.save(png, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "report.png")
    ap.add_argument("--work", type=Path, help="folder for the demo logs, bundle and report (default: a temporary one)")
    ap.add_argument("--lang", default="en")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        page = build(work, args.lang)
        screenshot(page, args.out)
    print(f"wrote {args.out} (from {page})")


if __name__ == "__main__":
    main()
