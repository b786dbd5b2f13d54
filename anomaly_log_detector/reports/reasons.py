"""Sentences of the result table's reasons: each reason stores a message key and params; these turn
them into text in a language, with the text params (from logs) quoted for the output at hand."""

from __future__ import annotations

from typing import Callable

from anomaly_log_detector.reports.messages import t


def reason_text(reason: dict, lang: str, quote: Callable[[str], str] | None = None) -> str:
    """The sentence of one reason. Its text params come from the log (a session, the nearest known
    template): `quote` formats them for the output (escape.code_span for Markdown; as is for JSON)."""
    params = reason["params"]
    q = quote or (lambda v: v)
    # A list of log texts (MS-CRED's top templates) is shown as its quoted items, comma-separated.
    params = {k: _word(v, lang) if isinstance(v, bool) or v is None else q(v) if isinstance(v, str)
              else ", ".join(q(str(x)) for x in v) if isinstance(v, list) else v for k, v in params.items()}
    return t(reason["key"], lang, **params)


def _word(value: bool | None, lang: str) -> str:
    """A flag or a missing value as a word of the language ("yes", "no", "none"), never `True`/`None`."""
    return t("word.none" if value is None else "word.yes" if value else "word.no", lang)


def render_reasons(reasons: list[dict], lang: str, quote: Callable[[str], str] | None = None) -> list[dict]:
    """Reasons with their sentence added under `text` (key and params kept for re-rendering)."""
    return [{**r, "text": reason_text(r, lang, quote)} for r in reasons]
