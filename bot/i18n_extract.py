"""Babel extractors for message keys in Python calls and in form files (see babel.cfg)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from bot.award_exports import XLSX_COLUMNS
from bot.awards import STATUSES as AWARD_STATUSES

__all__ = ["KEY", "extract_forms", "extract_python_keys"]

KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
# Functions whose first string argument is a message key.
_KEY_FUNCTIONS = {
    "say",
    "_typed_text",
    "t",
    "ParseError",
    "InvitationError",
    "LinkRefused",
    "BadRequest",
    "Reason",
    "AwardInputError",
    "menu",
    "show_menu",
    "QuickProblem",
}
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
        # The first two positional arguments (say(key), t(key), ParseError(key)) and any
        # keyword argument (typed_text(ctx, ask="a.b", too_short="a.c")).
        for arg in [*node.args[:2], *(keyword.value for keyword in node.keywords)]:
            # t("a.b" if done else "a.c"): both keys are used.
            choices = [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]
            for choice in choices:
                if (
                    isinstance(choice, ast.Constant)
                    and isinstance(choice.value, str)
                    and KEY.match(choice.value)
                ):
                    yield node.lineno, "", choice.value, []


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


def dataset_keys(dataset: dict[str, Any]) -> Iterator[str]:
    """A data set file (rules/datasets/): its form's keys and its indicators' labels."""
    yield from form_keys(dataset)
    for indicator in dataset.get("indicators", []):
        yield indicator["label"]


def extract_datasets(
    fileobj: BinaryIO, keywords: Any, comment_tags: Any, options: Any
) -> Iterator[Extracted]:
    for key in dataset_keys(yaml.safe_load(fileobj.read())):
        yield 1, "", key, []


def _deadline_families() -> dict[str, tuple[str, ...]]:
    """Names and kinds of rules/deadlines.yaml: keys the reminders build from that file."""
    path = Path(__file__).resolve().parent.parent / "rules" / "deadlines.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    items = [d for d in raw.get("deadlines", []) if isinstance(d, dict)]
    names = [str(d["name"]) for d in items if str(d.get("name", "")).startswith("deadline.")]
    kinds = [str(d.get("kind") or d.get("id")) for d in items]
    return {
        "deadline": tuple(dict.fromkeys(name.split(".", 1)[1] for name in names)),
        "deadline.kind": tuple(dict.fromkeys(kinds)),
    }


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
    # Village reports (handlers/village*.py): org-unit levels, period states, verdicts.
    "level": ("province", "district", "commune", "village"),
    "village.sum": ("criterion_met", "criterion_not_met"),
    "village.view": ("on_time", "late", "first", "no_reason"),
    "village.view.status": ("open", "reopened", "locked", "future"),
    "village.reopen.not_locked": ("open", "reopened", "future"),
    "announce.role": ("village_head", "commune_official", "household", "all"),
    # A household's reminder (bot/reminders.py compose_household): why it is unfinished.
    "reminder.household": ("draft", "returned"),
    # Award nominations (handlers/award*.py): statuses, the council's buttons, XLSX columns.
    "award.status": AWARD_STATUSES,
    "award.status_short": AWARD_STATUSES,
    "award.button": ("accept", "approve", "more", "reject", "award"),
    "award.xlsx": XLSX_COLUMNS,
    "award.xlsx.quota": ("award", "year", "quota", "count", "min", "max", "flag"),
    "award.xlsx.verdict": ("yes", "no", "council"),
    "award.xlsx.flag": ("over", "under", "ok"),
    **_deadline_families(),
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
