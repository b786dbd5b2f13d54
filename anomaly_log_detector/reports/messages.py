"""The message catalog: every sentence a report shows goes through :func:`t`.

Messages live in gettext catalogs, one ``.po`` file per area (domain) and language:
``anomaly_log_detector/locale/<lang>/LC_MESSAGES/<domain>.po``. A msgid is a stable key (also stored
in the result table as the `key` of each reason, so a reason can be re-rendered in another language
later); its msgstr is a ``str.format`` template over named params. All domains of a language are merged
(a key defined twice is an error). Adding a language is adding a folder with the same files, translated
(tests check that every key exists in every language). Catalogs are read with Babel's PO reader, once
per process.

Params that come from logs or file names (sessions, templates, paths) are formatted by the caller for
its output (reports/escape.py: a code span in Markdown); a template never quotes them itself.
"""

from __future__ import annotations

import functools
from pathlib import Path

from anomaly_log_detector.errors import AlogError

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DEFAULT_LANG = "en"
#: report languages; English first (the default). cli/options.py mirrors this literally (a test checks).
LANGUAGES = ("en", "ko")


class LanguageError(AlogError):
    """A report language that the catalogs do not have."""


class CatalogError(RuntimeError):
    """A broken message catalog (a packaging bug, not a user error)."""


def check_lang(lang: str) -> str:
    """`lang` if there are catalogs for it, else LanguageError naming the available ones."""
    if lang not in LANGUAGES:
        raise LanguageError(f"unknown report language {lang!r} (available: {', '.join(LANGUAGES)})")
    return lang


def catalog_files(lang: str) -> list[Path]:
    """The ``.po`` files (domains) of `lang`, sorted by name."""
    return sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po"))


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    """key -> message template of every domain of `lang` (untranslated entries left out)."""
    from babel.messages.pofile import read_po

    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    for path in catalog_files(check_lang(lang)):
        with path.open("rb") as f:
            entries = read_po(f, locale=lang, domain=path.stem)
        for message in entries:
            if not message.id or not isinstance(message.id, str):
                continue  # the header (and plural forms, which we do not use)
            if message.id in origin:
                raise CatalogError(f"message {message.id!r} defined in both {origin[message.id]} and {path.name}")
            origin[message.id] = path.name
            if message.string:
                merged[message.id] = message.string
    return merged


def t(key: str, lang: str = DEFAULT_LANG, **params: object) -> str:
    """The message `key` in `lang`, formatted with `params`. A key not yet translated falls back to
    English; a key English lacks is a bug (KeyError)."""
    table = catalog(check_lang(lang))
    text = table.get(key) if lang != DEFAULT_LANG else None
    if text is None:
        text = catalog(DEFAULT_LANG)[key]
    return text.format(**params)
