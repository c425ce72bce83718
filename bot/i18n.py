"""Translations (gettext catalogs in locales/) and vi_VN number and date formatting."""

from __future__ import annotations

import gettext
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

__all__ = ["LOCALES", "LOCALES_DIR", "Translator", "compile_catalogs", "translator"]

LOCALES = ("vi", "en")
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
_BABEL_LOCALE = {"vi": "vi_VN", "en": "en_US"}


def compile_catalogs(locales_dir: Path = LOCALES_DIR) -> list[Path]:
    """Compile every .po that is newer than its .mo; returns the files written."""
    written: list[Path] = []
    for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog, use_fuzzy=False)
        written.append(mo_path)
    return written


class _KeyFallback(gettext.NullTranslations):
    """Last resort: show the key, so a missing translation is visible, never a crash."""


@lru_cache(maxsize=8)
def _translations(locale: str) -> gettext.NullTranslations:
    chain: gettext.NullTranslations = _KeyFallback()
    # English falls back to Vietnamese, the language every message is written in first.
    for code in ("vi", locale) if locale != "vi" else ("vi",):
        try:
            found = gettext.translation(DOMAIN, localedir=LOCALES_DIR, languages=[code])
        except FileNotFoundError:
            continue
        found.add_fallback(chain)
        chain = found
    return chain


class Translator:
    """Looks up message keys and formats numbers, money and dates for one locale."""

    def __init__(self, locale: str, timezone: str = "Asia/Ho_Chi_Minh") -> None:
        self.locale = locale if locale in LOCALES else "vi"
        self.babel_locale = _BABEL_LOCALE[self.locale]
        self.tz = ZoneInfo(timezone)
        self._catalog = _translations(self.locale)

    def __call__(self, key: str, /, **params: object) -> str:
        text = self._catalog.gettext(key)
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return self._catalog.gettext(key) != key

    def number(self, value: int | float | Decimal) -> str:
        return str(format_decimal(value, locale=self.babel_locale))

    def money(self, value: int) -> str:
        return self("format.money", amount=self.number(value))

    def date(self, value: date) -> str:
        return str(format_date(value, "dd/MM/yyyy", locale=self.babel_locale))

    def datetime(self, value: datetime) -> str:
        local = value.astimezone(self.tz)
        return str(format_datetime(local, "HH:mm dd/MM/yyyy", locale=self.babel_locale))


@lru_cache(maxsize=16)
def translator(locale: str, timezone: str = "Asia/Ho_Chi_Minh") -> Translator:
    return Translator(locale, timezone)
