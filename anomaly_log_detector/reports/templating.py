"""The Jinja2 environment of the Markdown reports (`templates/*.md.j2`).

Autoescape is off: it escapes for HTML, and Markdown needs other rules. Instead every value taken from
a log or a file name goes through one of the :mod:`.escape` helpers, registered as filters:
``code_span`` (inline code), ``code_cell`` (inline code in a GFM table cell), ``code_block`` (a fenced
block of lines), ``md_text`` (inert text), ``or_dash_code`` / ``or_dash_text`` (the same, ``-`` when
empty). Numbers have ``num`` (thousands separators) and ``pct``. Sentences come from ``t(key, **params)``,
which each render binds to its language; the templates hold no English.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jinja2

from anomaly_log_detector.reports.escape import code_block, code_span, md_text
from anomaly_log_detector.reports.messages import t
from anomaly_log_detector.reports.reasons import reason_text
from anomaly_log_detector.reports.summary import lines_label


def _or_dash(quote: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda value: quote(value) if value is not None and value != "" else "-"


def components(values: dict[str, float | None]) -> str:
    """Baseline score components as ``name=0.123, ...`` (names escaped; None left out)."""
    return ", ".join(f"{md_text(k)}={v:.3f}" for k, v in values.items() if v is not None)


def numbered(lines: list[dict[str, Any]], marks: bool = False) -> list[str]:
    """Shown lines as ``N: raw`` (with `marks`: ``>>`` before flagged lines, two spaces before the others),
    for ``code_block``."""
    if marks:
        return [f"{'>>' if x['flagged'] else '  '} {x['line_no']}: {x['raw']}" for x in lines]
    return [f"{x['line_no']}: {x['raw']}" for x in lines]


FILTERS: dict[str, Callable[..., Any]] = {
    "code_span": code_span,
    "code_cell": lambda value: code_span(value, table=True),
    "code_block": code_block,
    "md_text": md_text,
    "or_dash_code": _or_dash(code_span),
    "or_dash_text": _or_dash(md_text),
    "oneline": lambda value: " ".join(str(value).split()),
    "num": lambda value: f"{value:,}",
    "pct": lambda value: f"{value:.1%}",
    "components": components,
    "numbered": numbered,
    "lines_label": lines_label,
}


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("anomaly_log_detector.reports", "templates"),
        autoescape=False,  # Markdown: the filters above escape, by the rules of reports/escape.py
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(FILTERS)
    return env


def link_text(name: str, path: str, lang: str) -> str:
    """The "Further analysis" item of link `name` (`path` already formatted): its sentence when the
    catalog has ``report.link.<name>``, else the name and the path."""
    key = "report.samples_link" if name == "samples" else f"report.link.{name}"
    try:
        return t(key, lang, path=path)
    except KeyError:
        return f"{md_text(name)}: {path}"


def render(template: str, lang: str, context: dict[str, Any]) -> str:
    """Render `template` with `context`. In it ``t(key, **params)`` speaks `lang`, ``reason_md(reason)``
    is a reason's sentence with its log texts in code spans, ``link_text(name, path)`` a link's item."""
    return environment().get_template(template).render(
        {**context, "lang": lang}, t=lambda key, **params: t(key, lang, **params),
        reason_md=lambda reason: reason_text(reason, lang, code_span),
        link_text=lambda name, path: link_text(name, path, lang))
