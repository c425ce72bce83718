"""Every message key the code and the forms use is translated in Vietnamese and English."""

from __future__ import annotations

import gettext
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.i18n import compile_catalogs

REPO = Path(__file__).resolve().parent.parent
LOCALES = REPO / "locales"
LANGUAGES = ("vi", "en")
TELEGRAM_COMMANDS = {
    f"command.{name}"
    for name in (
        "start",
        "menu",
        "help",
        "cancel",
        "lang",
        "privacy",
        "mydata",
        "link",
        "export",
        "delete",
    )
}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The keys the project's own extractors find (babel.cfg), as `make catalogs` runs them."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    done = subprocess.run(
        [str(pybabel), "extract", "-F", "babel.cfg", "-o", str(pot), "--no-location", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with pot.open("rb") as file:
        keys = sorted(str(message.id) for message in read_po(file) if message.id)
    assert len(keys) > 50, keys
    return keys


def load(language: str) -> Catalog:
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as file:
        return read_po(file, locale=language)


def fields(text: str) -> set[str]:
    """The {placeholders} of a str.format template."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_extractors_find_keys_from_code_forms_and_families(extracted: list[str]) -> None:
    # One key from each source: a handler's say(), a form file, and a dynamic family.
    assert "privacy.notice" in extracted
    assert "onboarding.place" in extracted
    assert "role.village_head" in extracted


def untranslated(language: str, keys: list[str]) -> list[str]:
    catalog = load(language)
    return [
        key
        for key in keys
        if key not in catalog or not str(catalog[key].string or "").strip() or catalog[key].fuzzy
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_extracted_key_has_a_translation(language: str, extracted: list[str]) -> None:
    """Present, not empty, not fuzzy (fuzzy entries are not compiled)."""
    assert untranslated(language, extracted) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_telegram_command_menu_is_translated(language: str) -> None:
    assert untranslated(language, sorted(TELEGRAM_COMMANDS)) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_translation_is_a_valid_template(language: str) -> None:
    broken = []
    for message in load(language):
        if not message.id or not message.string:
            continue
        try:
            fields(str(message.string))
        except ValueError as error:
            broken.append(f"{message.id}: {error}")
    assert not broken, broken


def test_placeholders_match_between_vietnamese_and_english(extracted: list[str]) -> None:
    vi, en = load("vi"), load("en")
    differing = {}
    for key in extracted:
        if key in vi and key in en and vi[key].string and en[key].string:
            vi_fields, en_fields = fields(str(vi[key].string)), fields(str(en[key].string))
            if vi_fields != en_fields:
                differing[key] = (sorted(vi_fields), sorted(en_fields))
    assert not differing, differing


def test_compiled_catalogs_translate_every_key(tmp_path: Path, extracted: list[str]) -> None:
    """What the bot reads at run time: the .po files compiled to .mo, as `make` does."""
    copy = tmp_path / "locales"
    shutil.copytree(LOCALES, copy, ignore=shutil.ignore_patterns("*.mo"))
    written = compile_catalogs(copy)
    assert {path.parent.parent.name for path in written} == set(LANGUAGES)
    for language in LANGUAGES:
        translations = gettext.translation("messages", localedir=copy, languages=[language])
        missing = [key for key in extracted if translations.gettext(key) == key]
        assert not missing, f"{language}: {missing}"


def test_no_compiled_catalog_is_committed() -> None:
    done = subprocess.run(
        ["git", "ls-files", "*.mo"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_translation_is_for_a_key_the_extractors_find(
    language: str, extracted: list[str]
) -> None:
    """`make catalogs` drops what the extractors do not find: a key built at run time
    (f"a.{b}") needs its family in bot/i18n_extract.py, or its translation is lost."""
    found = set(extracted)
    orphans = sorted(str(m.id) for m in load(language) if m.id and str(m.id) not in found)
    assert orphans == []
