"""Fixtures for the form engine tests: test-only forms, a small org tree, the real vault."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.crypto import SecretVault
from bot.forms.context import FormContext
from bot.forms.model import FormDef, load_form
from bot.i18n import Translator, compile_catalogs
from bot.orgtree import OrgTree, _Node
from bot.text import fold

# The texts the tests compare with come from the compiled catalog: compile it before any
# Translator is made (translations are cached per process).
compile_catalogs()

FORMS_DIR = Path(__file__).resolve().parent.parent / "data" / "forms"
TODAY = date(2026, 5, 20)
VAULT_SECRET = "forms-test-secret-0123456789"

# Labels for the test forms' choices; every other key comes from the real Vietnamese catalog
# (or falls back to the key itself, which is what the test prompts rely on).
TEST_TEXTS = {
    "choice.poor": "Hộ nghèo",
    "choice.near_poor": "Hộ cận nghèo",
    "choice.loan": "Vay vốn",
    "choice.training": "Tập huấn",
    "choice.seeds_livestock": "Cây con giống",
    "choice.job": "Việc làm",
    "choice.housing": "Nhà ở",
    "choice.health_insurance": "Bảo hiểm y tế",
    "choice.other": "Khác",
}


class TestTranslator(Translator):
    """The real ``vi`` translator plus the labels of the test-only choices."""

    __test__ = False  # not a test class, whatever its name says

    def __call__(self, key: str, /, **params: object) -> str:
        if key in TEST_TEXTS:
            return TEST_TEXTS[key].format(**params) if params else TEST_TEXTS[key]
        return super().__call__(key, **params)


# (code, name, level, parent code). One province, ten communes (more than one page of eight),
# villages with a name shared by two communes ("Thôn Bình An").
UNITS: list[tuple[str, str, str, str | None]] = [
    ("68", "Tỉnh Lâm Đồng", "province", None),
    ("C01", "Xã Đức Trọng", "commune", "68"),
    ("C01-1", "Thôn Thanh Bình", "village", "C01"),
    ("C01-2", "Thôn Hòa An", "village", "C01"),
    ("C01-3", "Thôn Bình An", "village", "C01"),
    ("C02", "Xã Di Linh", "commune", "68"),
    ("C02-1", "Thôn 1", "village", "C02"),
    ("C02-2", "Thôn 2", "village", "C02"),
    ("C02-3", "Thôn Bình An", "village", "C02"),
    ("C03", "Phường Xuân Hương", "commune", "68"),
    ("C03-1", "Khu phố 1", "village", "C03"),
    ("C03-2", "Khu phố 2", "village", "C03"),
    ("C04", "Xã Phú Long", "commune", "68"),
    ("C04-1", "Thôn Suối Cát", "village", "C04"),
    ("C05", "Xã Tà Hine", "commune", "68"),
    ("C05-1", "Thôn Chí Linh", "village", "C05"),
    ("C06", "Xã Ninh Gia", "commune", "68"),
    ("C06-1", "Thôn Phú Thạnh", "village", "C06"),
    ("C07", "Xã Lạc Dương", "commune", "68"),
    ("C07-1", "Thôn Đa Nhim", "village", "C07"),
    ("C08", "Xã Đam Rông", "commune", "68"),
    ("C08-1", "Thôn Liêng Trang", "village", "C08"),
    ("C09", "Xã Bảo Lâm", "commune", "68"),
    ("C09-1", "Thôn Lộc Bắc", "village", "C09"),
    ("C10", "Xã Cát Tiên", "commune", "68"),
    ("C10-1", "Thôn Cát Lâm", "village", "C10"),
]


def build_tree(units: list[tuple[str, str, str, str | None]]) -> OrgTree:
    """An OrgTree in memory, with the materialised paths the database would give it."""
    ids = {code: number for number, (code, *_rest) in enumerate(units, 1)}
    parents = {code: parent for code, _name, _level, parent in units}

    def path(code: str) -> str:
        chain: list[str] = []
        current: str | None = code
        while current is not None:
            chain.append(str(ids[current]))
            current = parents[current]
        return "/" + "/".join(reversed(chain)) + "/"

    nodes = [
        _Node(ids[code], code, name, fold(name), level, parent, path(code))
        for code, name, level, parent in units
    ]
    return OrgTree(nodes, (len(nodes), len(nodes)))


@pytest.fixture
def vault() -> SecretVault:
    return SecretVault(VAULT_SECRET)


@pytest.fixture
def tree() -> OrgTree:
    return build_tree(UNITS)


@pytest.fixture
def ctx(tree: OrgTree, vault: SecretVault) -> FormContext:
    return FormContext(t=TestTranslator("vi"), today=TODAY, units=tree, vault=vault)


def _form(name: str) -> FormDef:
    return load_form(FORMS_DIR / f"{name}.yaml")


@pytest.fixture
def exit_form() -> FormDef:
    return _form("household_exit")


@pytest.fixture
def branching_form() -> FormDef:
    return _form("branching")


@pytest.fixture
def quick_form() -> FormDef:
    return _form("quick")
