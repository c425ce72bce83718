"""What a form needs from outside: translations, today, the org-unit tree, the vault."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from bot.i18n import Translator

__all__ = ["FormContext", "UnitDirectory", "UnitInfo", "Vault"]


@dataclass(frozen=True, slots=True)
class UnitInfo:
    code: str
    name: str
    level: str
    parent_code: str | None
    has_children: bool


class UnitDirectory(Protocol):
    def get(self, code: str) -> UnitInfo | None: ...
    def children(self, code: str | None) -> list[UnitInfo]: ...
    def search(self, text: str, within: str | None) -> list[UnitInfo]: ...
    def label(self, code: str) -> str: ...


class Vault(Protocol):
    def encrypt(self, value: str) -> str: ...
    def keyed_hash(self, value: str) -> str: ...


@dataclass(frozen=True, slots=True)
class FormContext:
    t: Translator
    today: date
    units: UnitDirectory | None = None
    vault: Vault | None = None
