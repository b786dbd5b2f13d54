"""`report.html`: one self-contained page over a processed folder's results.

The page opens from disk with no server and no network (coverage.py's ``htmlcov`` and pytest-html are
the models): the charts are inline SVG drawn by matplotlib (:mod:`.timeline`), the MS-CRED heatmaps are
embedded PNG ``data:`` URIs, the records table is JSON in a ``<script type="application/json">``
element that a small inline script (``templates/report.js``) turns into a sortable table whose rows
expand to their raw lines. A Content-Security-Policy allows no fetch of any kind and runs only that
script (by its hash), so even a line that escaped escaping could not run or load anything.

Text from logs and file names is attacker-controlled (see :mod:`.escape`). Here it is: rendered by
Jinja2 with autoescape on; control, bidi and undecodable characters made visible
(:func:`.escape.terminal_safe`), so an ANSI sequence shows as ``\\x1b[31m``; in the JSON, ``<``, ``>``,
``&`` and U+2028/2029 written as ``\\u`` escapes so that ``</script>`` inside a line cannot close the
element; and put into the page by the script with ``textContent`` only, never as markup. Links are
relative paths to files that exist, percent-encoded (a file named ``javascript:x`` stays a file).

Size stays bounded on big logs: ``MAX_RECORDS`` records in detail, ``MAX_SHOWN_LINES`` lines each
(``CONTEXT`` lines around each flagged line), lines cut at ``MAX_LINE_CHARS``, the timeline binned
(``timeline.MAX_BINS``), ``MAX_HOSTS`` hosts and ``MAX_TEMPLATES`` templates, ``MAX_HEATMAPS`` heatmaps.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
from markupsafe import Markup

from anomaly_log_detector.builders.string_codes import column_codes, missing_last
from anomaly_log_detector.reports.escape import terminal_safe
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.reports.inputs import ANOMALIES_PARQUET, read_table
from anomaly_log_detector.reports.parsed_rows import ParsedRows
from anomaly_log_detector.reports.messages import check_lang, t
from anomaly_log_detector.reports.summary import lines_label, reason_text, template_stats
from anomaly_log_detector.reports.timeline import heatmap_svg, timeline_svg

REPORT_HTML = "report.html"
MAX_RECORDS = 200
CONTEXT = 3
MAX_SHOWN_LINES = 40
MAX_LINE_CHARS = 500
MAX_SUMMARY_CHARS = 160
MAX_HOSTS = 50
MAX_TEMPLATES = 30
MAX_HEATMAPS = 12
MAX_IMAGE_BYTES = 2_000_000
TEMPLATES = Path(__file__).resolve().parent / "templates"
# Markdown / JSON outputs a folder may hold, linked when present (message key, file).
_KNOWN_LINKS = [("html.link.report", "report.md"), ("html.link.report", "inference_report.md"),
                ("html.link.json", "report.json"), ("html.link.json", "inference_report.json"),
                ("html.link.anomalies", "anomalies.jsonl"),
                ("html.link.samples", "log_samples_analysis/anomaly_analysis_report.md"),
                ("html.link.mscred", "mscred_analysis/mscred_report.md"),
                ("html.link.temporal", "temporal_analysis/temporal_report.md")]
_PNG = b"\x89PNG\r\n\x1a\n"
# In JSON inside <script>: nothing that could end the element or start a comment or CDATA section.
_SCRIPT_SAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(value: Any) -> Markup:
    """`value` as JSON that is safe inside a `<script>` element (``</script>``, ``<!--`` cannot occur)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escaped in _SCRIPT_SAFE.items():  # str.replace per character: str.translate is ~7x slower here
        text = text.replace(char, escaped)
    return Markup(text)


def shown(text: Any, limit: int = MAX_LINE_CHARS) -> str:
    """Log text as the page shows it: control characters visible, cut at `limit` characters."""
    s = terminal_safe("" if _plain(text) is None else text)
    return s if len(s) <= limit else s[:limit - 1] + "…"


def _iso(value: Any) -> str | None:
    """A time as `YYYY-MM-DD HH:MM:SS` in UTC (sorts as text); None when missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return shown(value, 40)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%d %H:%M:%S")


def _plain(value: Any) -> Any:
    """numpy / pandas scalars as JSON values (NaN and NA as null)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---- records ----------------------------------------------------------------------------------
def context_rows(rows: list[int], source: np.ndarray, context: int = CONTEXT,
                 limit: int = MAX_SHOWN_LINES) -> tuple[list[int | None], int]:
    """The parsed rows shown for a record: `context` rows around each flagged row, never crossing into
    another source, merged; None where rows are skipped; at most `limit` rows. Also returns how many
    flagged rows did not fit."""
    n = len(source)
    spans: list[list[int]] = []
    for r in sorted(set(int(x) for x in rows)):
        a, b = max(0, r - context), min(n - 1, r + context)
        while a < r and source[a] != source[r]:
            a += 1
        while b > r and source[b] != source[r]:
            b -= 1
        if spans and a <= spans[-1][1] + 1 and source[spans[-1][1]] == source[r]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    out: list[int | None] = []
    for a, b in spans:
        room = limit - sum(x is not None for x in out)
        if room <= 0:
            break
        if out:
            out.append(None)
        out.extend(range(a, min(b, a + room - 1) + 1))
    placed = {x for x in out if x is not None}
    return out, sum(1 for r in set(rows) if int(r) not in placed)


def source_codes(source: pd.Series) -> np.ndarray:
    """One integer per row, equal where the sources are (a missing one equal to ""): what
    :func:`context_rows` compares, without a Python string per row."""
    codes, names = missing_last(*column_codes(source), "")  # a missing source takes the last name: ""
    _, same = np.unique(names, return_inverse=True)
    return same.astype(np.int32)[codes]


def _lines(line_nos: list[int]) -> str:
    """`5-9`, `3, 7, 8`, or for many scattered lines `3, 7, 8, …, 95`."""
    label = lines_label(line_nos)
    return label if len(line_nos) <= 6 or "," not in label else \
        ", ".join(map(str, line_nos[:3])) + ", …, " + str(line_nos[-1])


def _reasons(value: Any) -> list[dict]:
    if isinstance(value, str):  # anomalies.parquet keeps them as JSON text
        return json.loads(value)
    return list(value) if value is not None else []


def shown_rows(table: pd.DataFrame, source: np.ndarray, limit: int = MAX_RECORDS) -> list[int]:
    """The parsed rows :func:`record_rows` shows (to fetch them with other parts' rows)."""
    return [x for rows in table.head(limit)["rows"] for x in context_rows(list(rows), source)[0] if x is not None]


def record_rows(d: Path, table: pd.DataFrame, source: np.ndarray, lang: str,
                limit: int = MAX_RECORDS, parsed: ParsedRows | None = None) -> list[dict[str, Any]]:
    """The first `limit` records as the page's JSON: columns, reasons, and the lines to show (each
    ``[line_no, text, flagged]``, null for skipped lines)."""
    head = table.head(limit)
    plans = [context_rows(list(rows), source) for rows in head["rows"]]
    wanted = [x for plan, _ in plans for x in plan if x is not None]
    raw = (parsed or ParsedRows(d)).take(wanted, ["line_no", "raw"]) if wanted else None
    # Plain dicts: a DataFrame lookup per shown line costs ~40 us (200 records x 40 lines).
    line_of = dict(zip(raw.index.tolist(), raw["line_no"].tolist())) if raw is not None else {}
    text_of = dict(zip(raw.index.tolist(), raw["raw"].tolist())) if raw is not None else {}
    out = []
    for r, (plan, hidden) in zip(head.to_dict("records"), plans):
        flagged = {int(x) for x in r["rows"]}
        line_nos = [int(x) for x in r["line_nos"]]
        first, last = _iso(r.get("first_time")), _iso(r.get("last_time"))
        span = "" if first is None else first if first == last or last is None else \
            f"{first} – {last[11:] if last[:10] == first[:10] else last}"
        out.append({
            "rank": int(r["rank"]), "score": round(float(r["score"]), 4),
            "detectors": [str(x) for x in r["detectors"]],
            "first": first, "last": last, "span": span,
            "host": shown(r["host"], 200) if _plain(r.get("host")) is not None else "",
            "entity": shown(r.get("entity"), 200),
            "source": shown(r.get("source"), 300),
            "line0": min(line_nos) if line_nos else 0,
            "lines": _lines(line_nos),
            "n": len(line_nos),
            "summary": shown(r.get("raw"), MAX_SUMMARY_CHARS),
            "template": shown(r.get("template"), MAX_LINE_CHARS),
            "reasons": [shown(reason_text(x, lang), 2000) for x in _reasons(r.get("reasons"))],
            "ctx": [None if x is None else [int(line_of[x]), shown(text_of[x]), int(x in flagged)]
                    for x in plan],
            "hidden": hidden,
        })
    return out


# ---- hosts and templates ----------------------------------------------------------------------
def host_summary(data: dict) -> tuple[list[dict[str, Any]], int]:
    """Per host: lines, flagged lines, records, first and last time, most flagged first (the report
    data's `hosts`, reports/summary.py), at most MAX_HOSTS; and how many hosts are not shown."""
    hosts = data.get("hosts") or []
    hosts = sorted(hosts, key=lambda h: (-(h.get("flagged_lines") or 0), -(h.get("lines") or 0), str(h.get("host"))))
    rows = [{"host": shown(h.get("host"), 200), "lines": int(h.get("lines") or 0),
             "flagged": int(h.get("flagged_lines") or 0), "records": int(h.get("records") or 0),
             "first": _iso(h.get("first")) or "", "last": _iso(h.get("last")) or ""} for h in hosts[:MAX_HOSTS]]
    return rows, max(0, int(data.get("hosts_total") or len(hosts)) - len(rows))


def _template_order(keys: pd.DataFrame, table: pd.DataFrame, stats: pd.DataFrame | None = None) -> pd.DataFrame:
    stats = (template_stats(keys, table) if stats is None else stats).rename_axis("tid").reset_index()
    return stats.sort_values(["flagged", "count", "tid"], ascending=[False, False, True], kind="stable")


def template_summary_rows(keys: pd.DataFrame, table: pd.DataFrame, stats: pd.DataFrame | None = None) -> list[int]:
    """The parsed rows whose template :func:`template_summary` shows (to fetch with other parts').
    `stats`: reports/summary.py `template_stats` when the caller has it."""
    return _template_order(keys, table, stats).head(MAX_TEMPLATES)["first_row"].tolist()


def template_summary(d: Path, keys: pd.DataFrame, table: pd.DataFrame,
                     parsed: ParsedRows | None = None) -> tuple[list[dict[str, Any]], int]:
    """Per template: lines and flagged lines (reports/summary.py `template_stats`, what the report
    data's template lists are cut from), most flagged first, then most frequent, at most
    MAX_TEMPLATES; and how many templates are not shown."""
    stats = _template_order(keys, table, parsed.per_table(table, template_stats) if parsed is not None else None)
    top = stats.head(MAX_TEMPLATES)
    text = (parsed or ParsedRows(d)).take(top["first_row"].to_numpy(), ["template"]) if len(top) else None
    rows = [{"id": int(s.tid), "count": int(s["count"]), "flagged": int(s.flagged),
             "template": shown(text.at[int(s.first_row), "template"])} for _, s in top.iterrows()]
    return rows, max(0, len(stats) - MAX_TEMPLATES)


# ---- extras: heatmaps, links ------------------------------------------------------------------
def _inside(d: Path, rel: Any) -> Path | None:
    """`rel` (relative to the folder, or absolute) if it names an existing file."""
    if not rel:
        return None
    p = Path(str(rel))
    p = p if p.is_absolute() else d / p
    return p if p.is_file() else None


def _png_uri(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_IMAGE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii") if data.startswith(_PNG) else None


def mscred_images(d: Path, extras: dict) -> list[dict[str, str]]:
    """The MS-CRED heatmaps as data URIs: `extras["mscred"]["heatmaps"]`, else the PNGs that
    analyze-mscred left in `mscred_analysis/heatmaps/`."""
    paths = [_inside(d, p) for p in (extras.get("mscred") or {}).get("heatmaps") or []]
    if not paths and (d / "mscred_analysis" / "heatmaps").is_dir():
        paths = sorted((d / "mscred_analysis" / "heatmaps").glob("*.png"))
    out = []
    for p in [p for p in paths if p is not None][:MAX_HEATMAPS]:
        uri = _png_uri(p)
        if uri:
            out.append({"name": shown(p.name, 200), "uri": uri})
    return out


def _href(target: Path, page_dir: Path) -> str:
    """A relative, percent-encoded link from the page's folder to `target` (no scheme can form)."""
    rel = os.path.relpath(target, page_dir).replace(os.sep, "/")
    return quote(rel, safe="/")  # ':' is encoded, so a name like `javascript:x` stays a path


def links(d: Path, page_dir: Path, data: dict, extras: dict) -> list[dict[str, str]]:
    """Links to the Markdown / JSON reports next to the page: those that exist."""
    wanted = [("html.link.json" if str(name).endswith(".json") else "html.link.report", str(name))
              for name in (extras.get("reports") or {}).values() if name]
    wanted += _KNOWN_LINKS
    for key, rel in (("html.link.samples", data.get("samples")), ("html.link.samples", extras.get("samples")),
                     ("html.link.temporal", (extras.get("temporal") or {}).get("report")),
                     ("html.link.mscred", (extras.get("mscred") or {}).get("report"))):
        if rel:
            wanted.append((key, str(rel)))
    out, seen = [], set()
    for key, rel in wanted:
        path = _inside(d, rel)
        if path is None or path.resolve() in seen:
            continue
        seen.add(path.resolve())
        out.append({"key": key, "href": _href(path, page_dir), "name": shown(os.path.relpath(path, d), 300)})
    return out


# ---- the page ---------------------------------------------------------------------------------
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render_html(processed_dir: str | os.PathLike, data: dict[str, Any], table: pd.DataFrame, *,
                lang: str = "en", extras: dict | None = None, page_dir: str | os.PathLike | None = None,
                parsed: ParsedRows | None = None) -> str:
    """The page's text (see :func:`write_html_report`); links are relative to `page_dir`."""
    check_lang(lang)
    d = Path(processed_dir)
    extras = extras or {}
    parsed = parsed or ParsedRows(d)
    keys = parsed.keys
    source = source_codes(keys["source"])
    records = record_rows(d, table, source, lang, parsed=parsed)
    hosts, more_hosts = host_summary(data)
    templates, more_templates = template_summary(d, keys, table, parsed)
    parsed.between()
    temporal = extras.get("temporal") or {}
    days = [t(f"html.day.{i}", lang) for i in range(7)]
    heatmap = heatmap_svg([(t("html.temporal.target", lang), temporal.get("heatmap")),
                           (t("html.temporal.baseline", lang), temporal.get("baseline_heatmap"))],
                          days, lambda key: t(key, lang))
    i18n = {"why": t("html.records.why", lang), "hidden": t("html.records.hidden", lang, n="{n}"),
            "gap": t("html.records.gap", lang), "template": t("html.records.template", lang),
            "source": t("html.records.source", lang), "none": t("html.records.none", lang)}
    script = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    context = {
        "t": lambda key, **p: t(key, lang, **p),
        "lang": lang,
        "folder": shown(data.get("processed_dir", str(d)), 500),
        "generated": shown(data.get("generated_utc") or "", 100),
        "warnings": [shown(" ".join(str(w).split()), 4000) for w in data.get("warnings") or []],
        "summary": data.get("summary") or {},
        "links": links(d, Path(page_dir) if page_dir is not None else d, data, extras),
        "timeline": timeline_svg(d, keys, parsed.times, table, lambda key: t(key, lang), parsed.between),
        "records_total": int(len(table)), "records_shown": len(records), "context": CONTEXT,
        "data_json": script_json({"records": records, "i18n": i18n}),
        "hosts": hosts, "more_hosts": more_hosts,
        "templates": templates, "more_templates": more_templates,
        "heatmap": heatmap,
        "mscred": mscred_images(d, extras),
        "script": Markup(script),
        "script_hash": base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii"),
        "style": Markup((TEMPLATES / "report.css").read_text(encoding="utf-8")),
    }
    return _environment().get_template("report.html.j2").render(context)


def write_html_report(processed_dir: str | os.PathLike, data: dict[str, Any], table: pd.DataFrame, *,
                      lang: str = "en", extras: dict | None = None, path: str | os.PathLike | None = None,
                      parsed: ParsedRows | None = None) -> Path:
    """Write `report.html` (default: into the processed folder) and return its path.

    `data` is what :func:`.summary.report_data` builds (report.json); `table` the result table
    (:func:`.anomalies.anomaly_table`). `extras` may add ``{"temporal": {"heatmap": 7x24,
    "baseline_heatmap": 7x24 or None, "report": path}, "mscred": {"heatmaps": [PNG paths], "report":
    path}, "samples": path, "reports": {"report_md": name, "report_json": name}}``, paths relative to
    the folder (the Markdown/JSON reports and analyses found in the folder are linked anyway).
    `parsed`: the folder's parse as the report reads it (shared by its parts)."""
    d = Path(processed_dir)
    out = Path(path) if path is not None else d / REPORT_HTML
    html = render_html(d, data, table, lang=lang, extras=extras, page_dir=out.parent, parsed=parsed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    return out


def write_html_from_outputs(processed_dir: str | os.PathLike, *, lang: str = "en", report_json: str = "report.json",
                            extras: dict | None = None, path: str | os.PathLike | None = None) -> Path:
    """`report.html` from what `report` already wrote into the folder: `report_json` (the report data)
    and `anomalies.parquet` (the result table), so nothing is computed twice."""
    d = Path(processed_dir)
    try:
        data = json.loads((d / report_json).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{d / report_json}: cannot read the report data ({exc})") from None
    table = read_table(d / ANOMALIES_PARQUET, ["rank", "rows", "line_nos", "score", "detectors"])
    return write_html_report(d, data, table, lang=lang, extras=extras, path=path)
