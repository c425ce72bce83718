"""Drafts of a nomination's documents (Tờ trình, Báo cáo thành tích) from its data, as DOCX.

The templates are docxtpl files in rules/templates/ (built by rules/templates/build.py);
this module gathers what they print: the presenting unit, the nominee and its place, the
household's registration and report or a unit's figures from the village reports, the
typed-in achievement report and the award history. The documents are always in Vietnamese:
they are administrative documents, printed, signed and uploaded back.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from docxtpl import DocxTemplate
from sqlalchemy.ext.asyncio import AsyncSession

from bot.awards import (
    HOUSEHOLD_REPORT,
    REGISTRATION,
    ancestors,
    award_rules,
    history_of,
    latest_submission,
)
from bot.datasets import get_dataset
from bot.forms.context import UnitInfo
from bot.i18n import translator
from bot.orgtree import OrgTree
from bot.storage.models import Nomination
from bot.submissions import latest_answers
from bot.village_reports import criteria_figures
from rules.awards import AwardRules
from rules.periods import Month

__all__ = ["DOCX_MIME", "TEMPLATES_DIR", "draft_document", "render_template"]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "rules" / "templates"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def render_template(name: str, context: dict[str, Any]) -> bytes:
    """Fill a template; user text is escaped (autoescape), so "&" or "<" cannot break it."""
    template = DocxTemplate(str(TEMPLATES_DIR / name))
    template.render(context, autoescape=True)
    buffer = io.BytesIO()
    template.save(buffer)
    return buffer.getvalue()


class _Wording:
    """The documents' words (rules/awards.yaml `documents`) and vi_VN numbers."""

    def __init__(self, rules: AwardRules) -> None:
        self.docs = rules.documents
        self.t = translator("vi")
        prefixes = "|".join(re.escape(p) for p in self.docs["place_prefixes"])
        self._prefix = re.compile(rf"^({prefixes})\s+")

    def line(self, key: str, /, **values: object) -> str:
        return str(self.docs["lines"][key]).format(**values)

    def short(self, place: str) -> str:
        """ "Xã Di Linh" → "Di Linh": how the place is written before the date."""
        return self._prefix.sub("", place).strip() or place

    def in_sentence(self, place: str) -> str:
        """ "Xã Di Linh" → "xã Di Linh", as it reads inside a sentence."""
        return self._prefix.sub(lambda m: m.group(1).lower() + " ", place)

    def body(self, unit: UnitInfo) -> str:
        return str(self.docs["body"]).format(place=self.in_sentence(unit.name))

    def money(self, amount: int) -> str:
        return self.t.money(amount)


@dataclass(frozen=True, slots=True)
class _Places:
    nominee: UnitInfo
    issuer: UnitInfo  # the presenting unit (cấp trình)
    confirmer: UnitInfo  # the authority that confirms the achievement report
    province: UnitInfo


def _places(tree: OrgTree, rules: AwardRules, nomination: Nomination) -> _Places:
    chain = ancestors(tree, nomination.nominee_unit_id)
    presenting = [u for u in chain if u.level in rules.submitting_levels]
    if nomination.submitting_unit_id is not None:
        issuer = tree.by_id(nomination.submitting_unit_id) or chain[0]
    else:
        issuer = presenting[0] if presenting else chain[0]
    unit_group = rules.groups[nomination.nominee_group].unit_level is not None
    # A unit's report is confirmed from above it; a household's or a person's by its place.
    above = [u for u in presenting if not (unit_group and u.code == chain[0].code)]
    return _Places(chain[0], issuer, above[0] if above else issuer, chain[-1])


async def _household_lines(
    session: AsyncSession, words: _Wording, nomination: Nomination, label: str
) -> tuple[list[str], list[str]]:
    t = words.t
    profile = [
        words.line("household_head", name=nomination.nominee_name),
        words.line("residence", place=label),
    ]
    achievements: list[str] = []
    if nomination.nominee_account_id is None:
        return profile, achievements
    registered: dict[str, Any] = {}
    registration = await latest_submission(session, REGISTRATION, nomination.nominee_account_id)
    if registration is not None:
        registered = await latest_answers(session, registration.id)
        if registered.get("household_size"):
            profile.append(words.line("household_size", size=registered["household_size"]))
        if registered.get("current_status"):
            status = t(f"choice.{registered['current_status']}").lower()
            profile.append(words.line("status_at_registration", status=status))
        profile.append(
            words.line(
                "registered",
                date=t.date(registration.created_at.astimezone(t.tz).date()),
                code=registration.receipt_code,
                exit_year=registered.get("exit_year", "..."),
            )
        )
    report = await latest_submission(session, HOUSEHOLD_REPORT, nomination.nominee_account_id)
    answers = await latest_answers(session, report.id) if report else {}
    if answers.get("had_loan"):
        amount = answers.get("loan_amount")
        achievements.append(
            words.line(
                "loan_repaid" if answers.get("repaid_on_time") else "loan_late",
                amount=words.money(amount) if isinstance(amount, int) else "",
                purpose=answers.get("loan_purpose") or words.line("loan_purpose"),
            ).replace("  ", " ")
        )
    if answers.get("initiatives"):
        achievements.append(words.line("initiatives", text=answers["initiatives"]))
    if answers.get("helped_others"):
        achievements.append(words.line("helped_others", text=answers["helped_others"]))
    income, size = answers.get("income_now"), registered.get("household_size")
    if isinstance(income, int) and isinstance(size, int) and size > 0:
        per_person = (2 * income + size) // (2 * size)  # rounded as the self-check rounds
        achievements.append(
            words.line(
                "income_per_person",
                income=words.money(income),
                per_person=words.money(per_person),
            )
        )
    elif isinstance(income, int):
        achievements.append(words.line("income", income=words.money(income)))
    return profile, achievements


async def _unit_figures(
    session: AsyncSession, words: _Wording, tree: OrgTree, code: str, today: date
) -> list[str]:
    """The unit's poor and near-poor households and rates, from the village reports."""
    t = words.t
    try:
        figures = await criteria_figures(
            session, get_dataset("village_monthly"), tree, code, Month.of(today) - 1
        )
    except KeyError:
        return []
    lines: list[str] = []
    keys = ("poor_start", "near_poor_start", "poor_now", "near_poor_now")
    if all(isinstance(figures.get(k), int | Decimal) for k in keys):
        start = figures["poor_start"] + figures["near_poor_start"]
        now = figures["poor_now"] + figures["near_poor_now"]
        if start:
            lines.append(
                words.line(
                    "households",
                    start=t.number(start),
                    poor_start=t.number(figures["poor_start"]),
                    now=t.number(now),
                    poor_now=t.number(figures["poor_now"]),
                    percent=t.number(round(Decimal(start - now) * 100 / start, 2)),
                )
            )
    rates = figures.get("poverty_rate_by_year") or {}
    if rates:
        shown = "; ".join(f"{year}: {t.number(rate)}%" for year, rate in sorted(rates.items()))
        lines.append(words.line("rates", rates=shown))
    return lines


async def _typed_report(
    session: AsyncSession, words: _Wording, nomination: Nomination
) -> list[str]:
    if nomination.report_submission_id is None:
        return []
    answers = await latest_answers(session, nomination.report_submission_id)
    return [
        words.line(line, text=answers[name])
        for name, line in (
            ("work_done", "work_done"),
            ("figures", "figures"),
            ("initiatives", "typed_initiatives"),
        )
        if answers.get(name)
    ]


async def _context(
    session: AsyncSession, tree: OrgTree, nomination: Nomination, today: date
) -> dict[str, Any]:
    rules = award_rules()
    words = _Wording(rules)
    docs = rules.documents
    places = _places(tree, rules, nomination)
    label = tree.label(places.nominee.code)
    group = nomination.nominee_group
    if group == "household":
        profile, achievements = await _household_lines(session, words, nomination, label)
        reporter_name = nomination.nominee_name
    else:
        kind = "collective_name" if rules.groups[group].kind == "collective" else "person_name"
        profile = [words.line(kind, name=nomination.nominee_name), words.line("area", place=label)]
        achievements = []
        if rules.groups[group].unit_level is not None:
            achievements += await _unit_figures(session, words, tree, places.nominee.code, today)
        reporter_name = ""
    achievements += await _typed_report(session, words, nomination)
    achievements = achievements or [words.line("no_achievements")]
    history = [
        words.line(
            "history_decision" if row.decision else "history_item",
            award=docs["award_names"].get(row.award, row.award),
            year=row.year,
            decision=row.decision,
        )
        for row in await history_of(session, nomination.nominee_key)
        if row.movement == rules.movement
    ]
    above = tree.get(places.nominee.parent_code) if places.nominee.parent_code else None
    return {
        "code": nomination.code,
        "award_name": docs["award_names"][nomination.award],
        "decider": docs["deciders"][nomination.award],
        "year": nomination.year,
        "plan": docs["plan"],
        "movement": docs["movement"],
        "recipient": f"{docs['standing_agency']} {words.short(places.province.name)}",
        "group_name": docs["group_names"][group],
        "nominee": nomination.nominee_name,
        "nominee_place": label,
        # A commune's document: "ỦY BAN NHÂN DÂN / XÃ DI LINH" (Decree 30/2020, the body).
        "issuer_parent": docs["body_upper"],
        "issuer": places.issuer.name.upper(),
        "place_parent": above.name.upper() if above else "",
        "place_unit": places.nominee.name.upper(),
        "issuer_title": words.body(places.issuer),
        "number": docs["number"],
        "place": words.short(places.issuer.name),
        "date_text": str(docs["blank_date"]).format(year=today.year),
        "date_year": today.year,
        "signer_body": docs["body_upper"],
        "signer_title": docs["signer"],
        "confirmer": words.body(places.confirmer).upper(),
        "reporter_title": docs["reporters"].get(group, docs["reporters"]["default"]),
        "reporter_name": reporter_name,
        "profile": profile,
        "achievements": achievements,
        "highlights": achievements[:4],
        "history": history or [words.line("no_history")],
    }


async def draft_document(
    session: AsyncSession, tree: OrgTree, nomination: Nomination, part_id: str, today: date
) -> tuple[str, bytes]:
    """The draft of one dossier part that has a template: (file name, DOCX bytes)."""
    part = award_rules().part(part_id)
    if part.template is None:
        raise KeyError(part_id)
    context = await _context(session, tree, nomination, today)
    stem = part.template.removesuffix(".docx").replace("_", "-")
    return f"{stem}-{nomination.code}.docx", render_template(part.template, context)
