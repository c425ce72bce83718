"""Babel extractors for message keys in Python calls and in form files (see babel.cfg)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import yaml

__all__ = ["KEY", "extract_forms", "extract_python_keys"]

KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
# Functions whose first string argument is a message key.
_KEY_FUNCTIONS = {"say", "t", "ParseError", "InvitationError", "BadRequest", "menu", "show_menu"}
Extracted = tuple[int, str, str, list[str]]


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def extract_python_keys(
    fileobj: BinaryIO, keywords: Any, comment_tags: Any, options: Any
) -> Iterator[Extracted]:
    tree = ast.parse(fileobj.read())
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _name(node.func) not in _KEY_FUNCTIONS:
            continue
        for arg in node.args[:2]:
            if (
                isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and KEY.match(arg.value)
            ):
                yield node.lineno, "", arg.value, []


def form_keys(form: dict[str, Any]) -> Iterator[str]:
    for key in ("title", "intro"):
        if form.get(key):
            yield form[key]
    for field in form.get("fields", []):
        yield field["prompt"]
        yield field.get("label") or f"{field['prompt']}.label"
        if field.get("hint"):
            yield field["hint"]
        for choice in field.get("choices", []):
            yield f"choice.{choice}"
    for check in form.get("checks", []):
        yield check["message"]


def extract_forms(
    fileobj: BinaryIO, keywords: Any, comment_tags: Any, options: Any
) -> Iterator[Extracted]:
    form = yaml.safe_load(fileobj.read())
    for key in form_keys(form):
        yield 1, "", key, []


# Keys built at run time from a known set of values (roles, kinds, channels...).
DYNAMIC_FAMILIES: dict[str, tuple[str, ...]] = {
    "role": (
        "household",
        "village_head",
        "commune_official",
        "district_official",
        "province_official",
        "admin",
    ),
    "kind": ("household", "official", "guest"),
    "lang.name": ("vi", "en"),
    "channel": ("web", "telegram", "zalo", "zalo_oa"),
    "attachment": ("photo", "document"),
    "error.integer": ("range",),
    "error.decimal": ("range",),
    "error.money": ("range",),
    "format": ("money",),
    "status": ("submitted", "returned", "village_confirmed", "approved", "rejected"),
    "next": ("submitted", "returned", "village_confirmed", "approved", "rejected"),
    "review": ("confirm", "return", "approve", "reject"),
    "review.household": ("confirm", "return", "approve", "reject"),
    "menu": ("title",),
}


def dynamic_keys() -> Iterator[str]:
    for family, members in DYNAMIC_FAMILIES.items():
        for member in members:
            yield f"{family}.{member}"


def extract_dynamic(
    fileobj: BinaryIO, keywords: Any, comment_tags: Any, options: Any
) -> Iterator[Extracted]:
    for key in dynamic_keys():
        yield 1, "", key, []
