"""The gettext message catalogs: every key in every language, the same params, real Korean."""

from __future__ import annotations

import re
import string

import pytest

from anomaly_log_detector.reports import messages
from anomaly_log_detector.reports.messages import LANGUAGES, catalog, catalog_files, t

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _params(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_cli_language_choices_mirror_the_catalogs():
    from anomaly_log_detector.cli.cmd_report import LANGUAGES as CLI_LANGUAGES

    assert CLI_LANGUAGES == LANGUAGES
    on_disk = sorted(p.name for p in messages.LOCALE_DIR.iterdir() if (p / "LC_MESSAGES").is_dir())
    assert sorted(LANGUAGES) == on_disk


def test_every_language_has_the_same_domains():
    domains = {lang: [p.name for p in catalog_files(lang)] for lang in LANGUAGES}
    assert domains["en"], "no English catalogs packaged"
    assert all(d == domains["en"] for d in domains.values()), domains


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_every_message_is_translated_with_the_same_params(lang):
    english, other = catalog("en"), catalog(lang)
    missing = sorted(set(english) - set(other))
    assert not missing, f"{len(missing)} message(s) without a {lang} translation: {missing[:10]}"
    assert not set(other) - set(english), "translations of keys English does not have"
    for key, text in english.items():
        assert _params(other[key]) == _params(text), f"{key}: params differ"
        # formatting with dummy values must work in both languages (same format specs)
    if lang == "ko":
        untranslated = [k for k, v in other.items() if not HANGUL.search(v) and HANGUL.search(v) is None
                        and v == english[k] and re.search(r"[A-Za-z]{4,}", v)]
        assert not untranslated, f"copied English text in ko: {untranslated[:10]}"


def test_korean_report_sentence_renders():
    assert HANGUL.search(t("report.title", "ko"))
    assert "7" in t("report.top", "ko", n=7)


def _fields(text: str) -> list[tuple[str, str, str | None]]:
    return sorted((name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text) if name is not None)


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_translations_keep_every_format_spec(lang):
    """`{prob:.4f}` stays `{prob:.4f}`: the same params with the same format specs and conversions."""
    english, other = catalog("en"), catalog(lang)
    differ = [key for key, text in english.items() if key in other and _fields(other[key]) != _fields(text)]
    assert not differ, f"format specs differ from English: {differ[:10]}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_files_are_clean_po(lang):
    """Every domain parses with Babel, holds no fuzzy or obsolete entry and no compiled .mo is needed."""
    from babel.messages.pofile import read_po

    for path in catalog_files(lang):
        with path.open("rb") as f:
            entries = read_po(f, locale=lang, domain=path.stem)
        fuzzy = [m.id for m in entries if m.id and m.fuzzy]
        assert not fuzzy, f"{path.name}: fuzzy entries {fuzzy[:5]}"
        assert not entries.obsolete, f"{path.name}: obsolete entries {list(entries.obsolete)[:5]}"
    assert not list((messages.LOCALE_DIR / lang).rglob("*.mo")), "catalogs are read from .po files only"
