"""The org-unit tree held in memory for menus and name search, read from the database."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.forms.context import UnitInfo
from bot.storage.models import OrgUnit
from bot.text import bare_place_name, fold

__all__ = ["OrgTree", "load_tree"]


def _natural(folded: str) -> list[object]:
    """Sort "Thôn 2" before "Thôn 10"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", folded)]


@dataclass(frozen=True, slots=True)
class _Node:
    id: int
    code: str
    name: str
    folded: str
    level: str
    parent_code: str | None
    path: str


class OrgTree:
    """Implements the forms' UnitDirectory over a snapshot of the org_units table."""

    def __init__(self, nodes: list[_Node], version: tuple[int, int]) -> None:
        self.version = version
        self._by_code = {n.code: n for n in nodes}
        self._by_id = {n.id: n for n in nodes}
        self._children: dict[str | None, list[_Node]] = {}
        for node in sorted(nodes, key=lambda n: (_natural(n.folded), n.code)):
            self._children.setdefault(node.parent_code, []).append(node)

    def _info(self, node: _Node) -> UnitInfo:
        return UnitInfo(
            node.code, node.name, node.level, node.parent_code, node.code in self._children
        )

    def get(self, code: str) -> UnitInfo | None:
        node = self._by_code.get(code)
        return self._info(node) if node else None

    def by_id(self, unit_id: int) -> UnitInfo | None:
        node = self._by_id.get(unit_id)
        return self._info(node) if node else None

    def id_of(self, code: str) -> int | None:
        node = self._by_code.get(code)
        return node.id if node else None

    def path_of(self, code: str) -> str | None:
        node = self._by_code.get(code)
        return node.path if node else None

    def children(self, code: str | None) -> list[UnitInfo]:
        return [self._info(n) for n in self._children.get(code, [])]

    def label(self, code: str) -> str:
        """ "Thôn 2, Xã Phú Long, Tỉnh Lâm Đồng": the unit and its ancestors."""
        parts: list[str] = []
        node = self._by_code.get(code)
        while node is not None:
            parts.append(node.name)
            node = self._by_code.get(node.parent_code) if node.parent_code else None
        return ", ".join(parts)

    def search(self, text: str, within: str | None) -> list[UnitInfo]:
        """Units named like ``text``; "Thon Binh An, Di Linh" narrows to that commune, and so
        does "thon binh an di linh": people leave the comma out."""
        found = self._search(text, within)
        if found or "," in text:
            return found
        words = fold(text).split()
        # The shortest place first: "thon 1 di linh" is tried as "thon 1 di" in "linh",
        # then "thon 1" in "di linh".
        for cut in range(len(words) - 1, 0, -1):
            found = self._narrowed(" ".join(words[:cut]), " ".join(words[cut:]), within)
            if found:
                return found
        return []

    def _narrowed(self, name: str, place: str, within: str | None) -> list[UnitInfo]:
        """Units named ``name`` inside a unit named ``place``; none found elsewhere."""
        return [
            found
            for parent in self._search(place, within)
            for found in self._search(name, parent.code, widen=False)
            if found.code != parent.code
        ]

    def _search(self, text: str, within: str | None, *, widen: bool = True) -> list[UnitInfo]:
        name, _, place = text.partition(",")
        if place.strip():
            narrowed = self._narrowed(name, place, within)
            if narrowed:
                return narrowed
        typed = fold(name).strip(" .")
        if not typed:
            return []
        scope = self._by_code.get(within) if within else None
        candidates = [
            n for n in self._by_code.values() if scope is None or n.path.startswith(scope.path)
        ]
        exact = [n for n in candidates if typed in (n.folded, bare_place_name(n.folded))]
        if not exact:
            pattern = re.compile(rf"\b{re.escape(bare_place_name(typed))}\b")
            exact = [n for n in candidates if pattern.search(n.folded)]
        if not exact and scope is not None and widen:
            return self._search(text, None)
        # Higher levels first: "Phu Long" is more likely the commune than a village of that name.
        exact.sort(key=lambda n: (n.path.count("/"), n.folded))
        return [self._info(n) for n in exact]


# Built once: every batch of updates checks the version, and building costs more than running.
_VERSION = select(func.count(OrgUnit.id), func.max(OrgUnit.id))


async def tree_version(session: AsyncSession) -> tuple[int, int]:
    row = (await session.execute(_VERSION)).one()
    return int(row[0]), int(row[1] or 0)


async def load_tree(session: AsyncSession) -> OrgTree:
    rows = (await session.execute(select(OrgUnit).where(OrgUnit.active.is_(True)))).scalars().all()
    codes = {row.id: row.code for row in rows}
    nodes = [
        _Node(
            r.id,
            r.code,
            r.name,
            fold(r.name),
            r.level,
            codes.get(r.parent_id) if r.parent_id else None,
            r.path,
        )
        for r in rows
    ]
    return OrgTree(nodes, await tree_version(session))
