"""Reminders about deadlines: who is still missing at send time, to whom, in which words.

The schedule comes from ``rules/deadlines.yaml`` (rules/deadlines.py). At every scheduler
tick, `Reminders.tick` acts on the slots that are due (deadline, occurrence, step):

* the slot row is inserted first, in the same transaction as everything the step sends, so a
  restart, a second worker (PostgreSQL) or a clock jump that reaches the slot again hits its
  unique key and sends nothing twice; a slot that could not run at its hour (bot stopped,
  quiet hours) runs late until the next step of its occurrence is due;
* who is missing is decided inside that transaction, at send time: a unit that submitted at
  07:59 is done at 08:00;
* each person gets ONE message per step listing their missing units (a row in
  ``reminder_occurrences``, unique by deadline, occurrence, step and person), through the
  outbox as ``push``; nobody who said /stop, muted that kind, or has no reachable chat;
* the escalation step sends the officials of each missing unit's parent (the nearest
  ancestor holding one of the escalation roles) one summary listing their missing units;
* "Nhắc lại sau" writes a pending reminder for the next delivery hour, decided again when
  it comes due (still missing? stopped? already reminded since?).

Nothing is written in quiet hours: the scheduler waits for them to end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.messages import Button, Reply
from bot.i18n import Translator, translator
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import (
    Account,
    ConversationState,
    DeadlineDone,
    Identity,
    OrgUnit,
    OutboxMessage,
    ReminderMute,
    ReminderOccurrence,
    ReminderSlot,
    RoleAssignment,
    Submission,
    SubmissionRevision,
)
from rules.deadlines import (
    Audience,
    Deadline,
    Deadlines,
    Occurrence,
    QuietHours,
    Slot,
    due_slots,
    load_deadlines,
    next_snooze,
    occurrence,
    parse_clock,
    slots,
    upcoming,
)

__all__ = [
    "MAX_UNITS_LISTED",
    "Directory",
    "Planned",
    "ReminderConfig",
    "Reminders",
    "UnitRow",
    "audience_units",
    "done_units",
    "period_label",
    "preview",
    "reminder_config",
    "slots_of",
    "snooze",
    "stop_pushes",
    "village_report_done",
]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
MAX_UNITS_LISTED = 15
# Submissions that do not count as done.
_NOT_DONE = ("draft", "cancelled", "deleted", "withdrawn")
VILLAGE_REPORT_FORM = "village_monthly"


@dataclass(frozen=True)
class ReminderConfig:
    deadlines: Deadlines
    tz: ZoneInfo
    quiet: QuietHours
    default_locale: str


@lru_cache(maxsize=8)
def _config(
    path: str, due_day: int, tz: str, quiet: tuple[str, str], locale: str
) -> ReminderConfig:
    file = Path(path) if Path(path).is_absolute() else ROOT / path
    deadlines = load_deadlines(file, {"village_report_due_day": due_day})
    return ReminderConfig(
        deadlines, ZoneInfo(tz), QuietHours(parse_clock(quiet[0]), parse_clock(quiet[1])), locale
    )


def reminder_config(settings: Settings) -> ReminderConfig:
    """The deadlines file read with these settings (cached); raises DeadlineFileError."""
    return _config(
        settings.deadlines_file,
        settings.village_report_due_day,
        settings.timezone,
        (settings.quiet_hours_start, settings.quiet_hours_end),
        settings.default_locale,
    )


# --------------------------------------------------------------------------- who is who


@dataclass(frozen=True, slots=True)
class UnitRow:
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    path: str

    def ancestors(self) -> list[int]:
        """Ids above this unit, nearest first."""
        ids = [int(part) for part in self.path.strip("/").split("/") if part]
        return [i for i in reversed(ids) if i != self.id]


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    locale: str | None
    push_enabled: bool


@dataclass
class Directory:
    """The tree, role holders, reachable chats and mutes, read once per tick."""

    units: dict[int, UnitRow]
    by_level: dict[str, list[UnitRow]]
    # unit id -> role -> account ids (accounts not erased)
    holders: dict[int, dict[str, set[int]]]
    accounts: dict[int, AccountRow]
    # account id -> [(identity id, channel, chat id)] of active identities
    chats: dict[int, list[tuple[int, str, str]]]
    mutes: dict[str, set[int]]

    @classmethod
    async def load(cls, session: AsyncSession, roles: Iterable[str]) -> Directory:
        roles = sorted(set(roles))
        units: dict[int, UnitRow] = {}
        by_level: dict[str, list[UnitRow]] = {}
        query = select(
            OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.level, OrgUnit.parent_id, OrgUnit.path
        ).where(OrgUnit.active.is_(True))
        for row in (await session.execute(query)).all():
            unit = UnitRow(*row)
            units[unit.id] = unit
            by_level.setdefault(unit.level, []).append(unit)
        holders: dict[int, dict[str, set[int]]] = {}
        accounts: dict[int, AccountRow] = {}
        query_roles = (
            select(
                RoleAssignment.org_unit_id,
                RoleAssignment.role,
                Account.id,
                Account.locale,
                Account.push_enabled,
            )
            .join(Account, Account.id == RoleAssignment.account_id)
            .where(RoleAssignment.role.in_(roles), Account.deleted_at.is_(None))
        )
        for unit_id, role, account_id, locale, push in (await session.execute(query_roles)).all():
            holders.setdefault(unit_id, {}).setdefault(role, set()).add(account_id)
            accounts[account_id] = AccountRow(account_id, locale, bool(push))
        chats: dict[int, list[tuple[int, str, str]]] = {}
        query_chats = (
            select(Identity.id, Identity.account_id, Identity.channel, Identity.external_id)
            .where(
                Identity.active.is_(True),
                Identity.account_id.in_(
                    select(RoleAssignment.account_id).where(RoleAssignment.role.in_(roles))
                ),
            )
            .order_by(Identity.id)
        )
        for identity_id, account_id, channel, chat in (await session.execute(query_chats)).all():
            chats.setdefault(account_id, []).append((identity_id, channel, chat))
        mutes: dict[str, set[int]] = {}
        for account_id, kind in (
            await session.execute(select(ReminderMute.account_id, ReminderMute.kind))
        ).all():
            mutes.setdefault(kind, set()).add(account_id)
        return cls(units, by_level, holders, accounts, chats, mutes)

    def holders_at(self, unit_id: int, roles: Iterable[str]) -> set[int]:
        at = self.holders.get(unit_id, {})
        found: set[int] = set()
        for role in roles:
            found |= at.get(role, set())
        return found

    def reachable(self, account_id: int, kind: str) -> bool:
        """May receive a push about this kind: pushes on, not muted, some chat that works."""
        account = self.accounts.get(account_id)
        return (
            account is not None
            and account.push_enabled
            and account_id not in self.mutes.get(kind, set())
            and bool(self.chats.get(account_id))
        )


def audience_units(
    deadline: Deadline, directory: Directory, *, with_holders: bool = True
) -> list[tuple[UnitRow, Audience]]:
    """Units that owe this deadline and the audience entry that made them (tree as it is).

    Only units where someone holds one of the audience's roles (unless ``with_holders`` is
    false): the bot tracks units that use it, and never lists a village nobody there can hear
    about.
    """
    found: list[tuple[UnitRow, Audience]] = []
    for entry in deadline.audience:
        chosen: Audience | None = entry
        while chosen is not None and not any(directory.by_level.get(lv) for lv in chosen.levels):
            chosen = chosen.fallback
        if chosen is None:
            continue
        for level in chosen.levels:
            for unit in directory.by_level.get(level, []):
                if not with_holders or directory.holders_at(unit.id, chosen.roles):
                    found.append((unit, chosen))
    return found


# --------------------------------------------------------------------------- what is done


def _period_start(occ: Occurrence, tz: ZoneInfo) -> datetime:
    if occ.period_kind == "month":
        year, month = (int(part) for part in occ.key.split("-"))
        return datetime(year, month, 1, tzinfo=tz)
    return datetime(int(occ.key), 1, 1, tzinfo=tz)


def _names_period(natural_key: str | None, answers: dict[str, Any], occ: Occurrence) -> bool:
    """Does a submission say it is for this occurrence's period?"""
    if natural_key and occ.key in natural_key:
        return True
    wanted = {occ.key}
    if occ.period_kind == "month":
        year, month = occ.key.split("-")
        wanted |= {f"{month}/{year}", f"{int(month)}/{year}", f"{year}{month}"}
    for name in ("period", "month", "report_period", "thang", "ky"):
        value = answers.get(name)
        if isinstance(value, dict):
            value = value.get("code") or value.get("value")
        if value is not None and str(value).strip() in wanted:
            return True
    return False


async def village_report_done(
    session: AsyncSession, occ: Occurrence, tz: ZoneInfo, forms: tuple[str, ...]
) -> set[int]:
    """Units with a village report for the occurrence's period.

    The village report's natural key is "(village_monthly, <village code>, <YYYY-MM>)"; a
    submission counts when its natural key, or failing that its answers, name the period.
    Kept in one function so the rule can follow the village report as it settles.
    """
    query = select(Submission.id, Submission.org_unit_id, Submission.natural_key).where(
        Submission.form_id.in_(forms),
        Submission.status.not_in(_NOT_DONE),
        Submission.org_unit_id.is_not(None),
        Submission.created_at >= _period_start(occ, tz) - timedelta(days=1),
    )
    done: set[int] = set()
    unsure: dict[int, int] = {}
    for submission_id, unit_id, natural_key in (await session.execute(query)).all():
        if unit_id is None:
            continue
        if natural_key and occ.key in natural_key:
            done.add(unit_id)
        elif unit_id not in done:
            unsure[submission_id] = unit_id
    if unsure:
        latest = (
            select(SubmissionRevision.submission_id, func.max(SubmissionRevision.revision))
            .where(SubmissionRevision.submission_id.in_(list(unsure)[:5000]))
            .group_by(SubmissionRevision.submission_id)
            .subquery()
        )
        revisions = select(SubmissionRevision.submission_id, SubmissionRevision.answers).join(
            latest,
            and_(
                SubmissionRevision.submission_id == latest.c.submission_id,
                SubmissionRevision.revision == latest.c[1],
            ),
        )
        for submission_id, answers in (await session.execute(revisions)).all():
            if _names_period(None, answers or {}, occ):
                done.add(unsure[submission_id])
    return done


async def _submitted_in_year(
    session: AsyncSession, occ: Occurrence, tz: ZoneInfo, forms: tuple[str, ...]
) -> set[int]:
    """Yearly and one-off deadlines: a submission of the form made in that year."""
    start = _period_start(occ, tz)
    end = datetime.combine(occ.due + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    end = max(end, start.replace(year=start.year + 1))
    query = select(Submission.org_unit_id, Submission.natural_key, Submission.created_at).where(
        Submission.form_id.in_(forms),
        Submission.status.not_in(_NOT_DONE),
        Submission.org_unit_id.is_not(None),
        Submission.created_at >= start,
        Submission.created_at < end,
    )
    return {unit_id for unit_id, _, _ in (await session.execute(query)).all() if unit_id}


async def done_units(
    session: AsyncSession, occ: Occurrence, tz: ZoneInfo, unit_ids: set[int] | None = None
) -> set[int]:
    """Units for which this occurrence is done, as the database says right now."""
    deadline = occ.deadline
    done: set[int] = set()
    if deadline.self_declared:
        query = select(DeadlineDone.org_unit_id).where(
            DeadlineDone.deadline_id == deadline.id, DeadlineDone.occurrence == occ.key
        )
        done |= set((await session.execute(query)).scalars())
    if deadline.submission_forms:
        if occ.period_kind == "month":
            done |= await village_report_done(session, occ, tz, deadline.submission_forms)
        else:
            done |= await _submitted_in_year(session, occ, tz, deadline.submission_forms)
    return done if unit_ids is None else done & unit_ids


# --------------------------------------------------------------------------- words


def period_label(t: Translator, occ: Occurrence) -> str:
    if occ.period_kind == "month":
        year, month = occ.key.split("-")
        return t("deadline.period.month", month=f"{month}/{year}")
    return t("deadline.period.year", year=occ.key)


def _unit_list(t: Translator, names: list[str]) -> str:
    shown = names[:MAX_UNITS_LISTED]
    text = ", ".join(shown)
    if len(names) > len(shown):
        text = f"{text} {t('reminder.more', count=t.number(len(names) - len(shown)))}"
    return text


def _unit_lines(t: Translator, names: list[str]) -> str:
    shown = [f"• {name}" for name in names[:MAX_UNITS_LISTED]]
    if len(names) > MAX_UNITS_LISTED:
        shown.append(t("reminder.more", count=t.number(len(names) - MAX_UNITS_LISTED)))
    return "\n".join(shown)


def compose(
    t: Translator,
    occ: Occurrence,
    kind: str,
    units: list[UnitRow],
    today: date,
    *,
    open_form: bool,
) -> Reply:
    """The reminder one person gets for one step, in their language, with its buttons."""
    deadline = occ.deadline
    params: dict[str, object] = {
        "name": t(deadline.name),
        "period": period_label(t, occ),
        "due": t.date(occ.due),
        "source": deadline.source,
    }
    if kind == "escalation":
        text = t(
            "reminder.escalation",
            count=t.number(len(units)),
            units=_unit_lines(t, [u.name for u in units]),
            **params,
        )
        return Reply(text)
    names = _unit_list(t, [u.name for u in units])
    days = abs((occ.due - today).days)
    if kind == "open":
        text = t("reminder.open", start=t.date(occ.start or occ.due), units=names, **params)
    elif kind == "before" or (kind == "later" and today < occ.due):
        text = t("reminder.before", days=t.number(days), units=names, **params)
    elif kind == "today" or (kind == "later" and today == occ.due):
        text = t("reminder.today", units=names, **params)
    else:
        text = t("reminder.overdue", days=t.number(days), units=names, **params)
    text = f"{text}\n{t('reminder.footer')}"
    buttons: list[Button] = []
    ref = f"{deadline.id}:{occ.key}"
    if deadline.open_payload and units:
        payload = deadline.open_payload.format(unit=units[0].code, occurrence=occ.key)
        buttons.append(Button(t("reminder.button.open"), payload))
    elif open_form and units:
        buttons.append(Button(t("reminder.button.open"), f"rem:open:{ref}:{units[0].id}"))
    if deadline.self_declared:
        for unit in units[:3]:
            title = (
                t("reminder.button.done")
                if len(units) == 1
                else t("reminder.button.done_unit", unit=unit.name)
            )
            buttons.append(Button(title[:60], f"rem:done:{ref}:{unit.id}"))
    buttons.append(Button(t("reminder.button.later"), f"rem:later:{ref}"))
    return Reply(text, tuple(buttons))


# --------------------------------------------------------------------------- planning


@dataclass
class Planned:
    """One person's message for one step (what preview shows and send writes)."""

    account_id: int
    step: str
    units: list[UnitRow]
    reply: Reply
    chats: list[tuple[int, str, str]]


@dataclass
class SlotPlan:
    slot: Slot
    missing: list[UnitRow]
    messages: list[Planned] = field(default_factory=list)


class Reminders:
    """Acts on due slots and snoozes; `plan` is the same decision without writing."""

    def __init__(
        self,
        db: Database,
        config: ReminderConfig,
        forms: Iterable[str] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.forms = set(forms)
        self.clock = clock
        self.on_queued: list[Callable[[], None]] = []

    def _t(self, account: AccountRow | None) -> Translator:
        locale = (account.locale if account else None) or self.config.default_locale
        return translator(locale, str(self.config.tz))

    def _roles(self) -> set[str]:
        roles: set[str] = set()
        for deadline in self.config.deadlines:
            roles |= deadline.roles | set(deadline.escalation_roles)
        return roles

    async def plan(self, session: AsyncSession, slot: Slot, directory: Directory) -> SlotPlan:
        occ = slot.occurrence
        deadline = occ.deadline
        if deadline.for_households:
            return await self._plan_households(session, slot, directory)
        owing = audience_units(deadline, directory)
        done = await done_units(session, occ, self.config.tz, {u.id for u, _ in owing})
        missing = [(unit, entry) for unit, entry in owing if unit.id not in done]
        plan = SlotPlan(slot, [unit for unit, _ in missing])
        today = slot.fire_at.astimezone(self.config.tz).date()
        per_account: dict[int, list[UnitRow]] = {}
        if slot.lead.kind == "escalation":
            for unit, _ in missing:
                for ancestor in unit.ancestors():
                    officials = directory.holders_at(ancestor, deadline.escalation_roles)
                    if officials:
                        for account_id in officials:
                            per_account.setdefault(account_id, []).append(unit)
                        break
        else:
            for unit, entry in missing:
                for account_id in directory.holders_at(unit.id, entry.roles):
                    per_account.setdefault(account_id, []).append(unit)
        open_form = bool(deadline.form and deadline.form in self.forms)
        for account_id, units in sorted(per_account.items()):
            if not directory.reachable(account_id, deadline.kind):
                continue
            t = self._t(directory.accounts.get(account_id))
            units = sorted(units, key=lambda u: u.path)
            reply = compose(t, occ, slot.lead.kind, units, today, open_form=open_form)
            plan.messages.append(
                Planned(account_id, slot.lead.step, units, reply, directory.chats[account_id])
            )
        return plan

    async def _plan_households(
        self, session: AsyncSession, slot: Slot, directory: Directory
    ) -> SlotPlan:
        """Households whose own form is unfinished, decided now: one message each."""
        occ = slot.occurrence
        plan = SlotPlan(slot, [])
        today = slot.fire_at.astimezone(self.config.tz).date()
        owing = await households_owing(session, occ, self.config.tz)
        people = await _household_directory(session, set(owing))
        for account_id, (unit_id, reason) in sorted(owing.items()):
            account, chats = people.get(account_id, (None, []))
            if (
                account is None
                or not account.push_enabled
                or account_id in directory.mutes.get(occ.deadline.kind, set())
                or not chats
            ):
                continue
            unit = directory.units.get(unit_id)
            units = [unit] if unit else []
            reply = compose_household(self._t(account), occ, reason, today)
            plan.messages.append(Planned(account_id, slot.lead.step, units, reply, chats))
        return plan

    async def tick(self, now: datetime | None = None) -> int:
        """Act on every due slot and snooze; returns the number of messages queued."""
        now = now or (self.clock() if self.clock else datetime.now(self.config.tz))
        if self.config.quiet.is_quiet(now, self.config.tz):
            return 0
        queued = 0
        slots = due_slots(self.config.deadlines, now, self.config.tz, self.config.quiet)
        if slots:
            async with self.db.session() as session:
                taken = {
                    tuple(row)
                    for row in (
                        await session.execute(
                            select(
                                ReminderSlot.deadline_id, ReminderSlot.occurrence, ReminderSlot.step
                            ).where(ReminderSlot.fire_at >= min(s.fire_at for s in slots))
                        )
                    ).all()
                }
            for slot in slots:
                if slot.key not in taken:
                    queued += await self.run_slot(slot, now)
        queued += await self.run_snoozes(now)
        if queued:
            for wake in self.on_queued:
                wake()
        return queued

    async def run_slot(self, slot: Slot, now: datetime) -> int:
        """Send one slot's reminders, once across restarts and workers. Returns messages."""
        deadline_id, occurrence, step = slot.key
        try:
            async with self.db.session() as session, session.begin():
                row = ReminderSlot(
                    deadline_id=deadline_id,
                    occurrence=occurrence,
                    step=step,
                    fire_at=slot.fire_at,
                    processed_at=now,
                )
                session.add(row)
                await session.flush()  # the unique key: a second worker stops here
                directory = await Directory.load(session, self._roles())
                plan = await self.plan(session, slot, directory)
                count = self._write(session, plan.messages, slot, now)
                row.units_missing = len(plan.missing)
                row.recipients = len(plan.messages)
        except IntegrityError:
            return 0  # another worker (or an earlier run) did this slot
        log.info(
            "reminders %s/%s/%s: %d units missing, %d people",
            deadline_id,
            occurrence,
            step,
            len(plan.missing),
            len(plan.messages),
        )
        return count

    def _write(
        self, session: AsyncSession, messages: list[Planned], slot: Slot, now: datetime
    ) -> int:
        deadline_id, occurrence, _ = slot.key
        rows: list[Any] = []
        for message in messages:
            rows.append(
                ReminderOccurrence(
                    deadline_id=deadline_id,
                    occurrence=occurrence,
                    step=message.step,
                    account_id=message.account_id,
                    status="sent",
                    units={"ids": [u.id for u in message.units]},
                    due_at=slot.fire_at,
                    created_at=now,
                    sent_at=now,
                )
            )
            rows.extend(
                _outbox_rows(
                    f"rem:{deadline_id}:{occurrence}:{message.step}:{message.account_id}",
                    message,
                    now,
                )
            )
        session.add_all(rows)
        return sum(len(m.chats) for m in messages)

    async def run_snoozes(self, now: datetime) -> int:
        """Snoozed reminders that came due: decided again now, each at most once."""
        async with self.db.session() as session:
            due = list(
                (
                    await session.execute(
                        select(ReminderOccurrence.id)
                        .where(
                            ReminderOccurrence.status == "pending",
                            ReminderOccurrence.due_at <= now,
                        )
                        .order_by(ReminderOccurrence.due_at, ReminderOccurrence.id)
                        .limit(500)
                    )
                ).scalars()
            )
        queued = 0
        for snooze_id in due:
            queued += await self._run_snooze(snooze_id, now)
        return queued

    async def _run_snooze(self, snooze_id: int, now: datetime) -> int:
        async with self.db.session() as session, session.begin():
            snooze = await session.get(ReminderOccurrence, snooze_id)
            if snooze is None or snooze.status != "pending":
                return 0
            deadline = self.config.deadlines.get(snooze.deadline_id)
            occ = _find_occurrence(deadline, snooze.occurrence) if deadline else None
            outcome, planned = "skipped", None
            if deadline is not None and occ is not None:
                outcome, planned = await self._decide_snooze(session, snooze, occ, now)
            # Conditional: another worker that got here first leaves nothing to do.
            result = await session.execute(
                update(ReminderOccurrence)
                .where(ReminderOccurrence.id == snooze_id, ReminderOccurrence.status == "pending")
                .values(status=outcome, sent_at=now if outcome == "sent" else None)
            )
            if not getattr(result, "rowcount", 0) or planned is None:
                return 0
            session.add_all(
                _outbox_rows(
                    f"rem:{snooze.deadline_id}:{snooze.occurrence}:{snooze.step}:{snooze.account_id}",
                    planned,
                    now,
                )
            )
            return len(planned.chats)

    async def _decide_snooze(
        self, session: AsyncSession, snooze: ReminderOccurrence, occ: Occurrence, now: datetime
    ) -> tuple[str, Planned | None]:
        reminded_since = await session.scalar(
            select(func.count(ReminderOccurrence.id)).where(
                ReminderOccurrence.deadline_id == snooze.deadline_id,
                ReminderOccurrence.occurrence == snooze.occurrence,
                ReminderOccurrence.account_id == snooze.account_id,
                ReminderOccurrence.id != snooze.id,
                ReminderOccurrence.status == "sent",
                ReminderOccurrence.sent_at >= snooze.created_at,
            )
        )
        if reminded_since:
            return "superseded", None
        if occ.deadline.for_households:
            return await self._decide_household_snooze(session, snooze, occ, now)
        directory = await Directory.load(session, occ.deadline.roles)
        if not directory.reachable(snooze.account_id, occ.deadline.kind):
            return "skipped", None
        owing = audience_units(occ.deadline, directory)
        mine = [
            unit
            for unit, entry in owing
            if snooze.account_id in directory.holders_at(unit.id, entry.roles)
        ]
        done = await done_units(session, occ, self.config.tz, {u.id for u in mine})
        missing = sorted((u for u in mine if u.id not in done), key=lambda u: u.path)
        if not missing:
            return "skipped", None
        t = self._t(directory.accounts.get(snooze.account_id))
        today = now.astimezone(self.config.tz).date()
        open_form = bool(occ.deadline.form and occ.deadline.form in self.forms)
        reply = compose(t, occ, "later", missing, today, open_form=open_form)
        return "sent", Planned(
            snooze.account_id, snooze.step, missing, reply, directory.chats[snooze.account_id]
        )

    async def _decide_household_snooze(
        self, session: AsyncSession, snooze: ReminderOccurrence, occ: Occurrence, now: datetime
    ) -> tuple[str, Planned | None]:
        """A household's "Nhắc lại sau": only if its registration is still unfinished now."""
        owing = await households_owing(session, occ, self.config.tz)
        if snooze.account_id not in owing:
            return "skipped", None
        _unit_id, reason = owing[snooze.account_id]
        account, chats = (await _household_directory(session, {snooze.account_id})).get(
            snooze.account_id, (None, [])
        )
        muted = await session.scalar(
            select(func.count(ReminderMute.account_id)).where(
                ReminderMute.account_id == snooze.account_id,
                ReminderMute.kind == occ.deadline.kind,
            )
        )
        if account is None or not account.push_enabled or muted or not chats:
            return "skipped", None
        today = now.astimezone(self.config.tz).date()
        reply = compose_household(self._t(account), occ, reason, today)
        return "sent", Planned(snooze.account_id, snooze.step, [], reply, chats)


# --------------------------------------------------------------------------- households

# A registration in these states is with the village or the commune: the household is done.
_WITH_OFFICIALS = ("submitted", "village_confirmed", "approved", "rejected")


async def households_owing(
    session: AsyncSession, occ: Occurrence, tz: ZoneInfo
) -> dict[int, tuple[int, str]]:
    """Household accounts with the deadline's form unfinished: id -> (home unit, why).

    "returned": the village head sent it back for correction; "draft": they started the
    form in the chat and stopped. Decided from the database at the moment of sending.
    """
    forms = occ.deadline.submission_forms
    start = _period_start(occ, tz)
    owing: dict[int, tuple[int, str]] = {}
    returned = select(Submission.account_id, Submission.org_unit_id).where(
        Submission.form_id.in_(forms),
        Submission.status == "returned",
        Submission.account_id.is_not(None),
    )
    for account_id, unit_id in (await session.execute(returned)).all():
        if account_id is not None:
            owing[account_id] = (unit_id or 0, "returned")
    drafts = (
        select(ConversationState.account_id, ConversationState.state, Account.home_unit_id)
        .join(Account, Account.id == ConversationState.account_id)
        .where(Account.kind == "household", Account.deleted_at.is_(None))
    )
    for account_id, state, unit_id in (await session.execute(drafts)).all():
        form = (state or {}).get("form") or {}
        if form.get("form") in forms and account_id not in owing:
            owing[account_id] = (unit_id or 0, "draft")
    if owing:
        submitted = select(Submission.account_id).where(
            Submission.form_id.in_(forms),
            Submission.status.in_(_WITH_OFFICIALS),
            Submission.account_id.in_(list(owing)),
            Submission.updated_at >= start,
        )
        for account_id in (await session.execute(submitted)).scalars():
            if account_id is not None and owing[account_id][1] == "draft":
                del owing[account_id]
    return owing


async def _household_directory(
    session: AsyncSession, account_ids: set[int]
) -> dict[int, tuple[AccountRow, list[tuple[int, str, str]]]]:
    """Language, pushes on or off and active chats of these households."""
    if not account_ids:
        return {}
    found: dict[int, tuple[AccountRow, list[tuple[int, str, str]]]] = {}
    query = select(Account.id, Account.locale, Account.push_enabled).where(
        Account.id.in_(account_ids), Account.deleted_at.is_(None)
    )
    for account_id, locale, push in (await session.execute(query)).all():
        found[account_id] = (AccountRow(account_id, locale, bool(push)), [])
    chats = (
        select(Identity.id, Identity.account_id, Identity.channel, Identity.external_id)
        .where(Identity.active.is_(True), Identity.account_id.in_(list(found)))
        .order_by(Identity.id)
    )
    for identity_id, account_id, channel, chat in (await session.execute(chats)).all():
        found[account_id][1].append((identity_id, channel, chat))
    return found


def compose_household(t: Translator, occ: Occurrence, reason: str, today: date) -> Reply:
    """A household's reminder: what is unfinished, until when, and one button to go on."""
    days = max((occ.due - today).days, 0)
    text = t(
        f"reminder.household.{reason}",
        name=t(occ.deadline.name),
        due=t.date(occ.due),
        days=t.number(days),
        source=occ.deadline.source,
    )
    text = f"{text}\n{t('reminder.household.footer')}"
    later = f"rem:later:{occ.deadline.id}:{occ.key}"
    return Reply(
        text,
        (
            Button(t("reminder.household.continue"), "hh:continue"),
            Button(t("reminder.button.later"), later),
        ),
    )


def _find_occurrence(deadline: Deadline, key: str) -> Occurrence | None:
    return occurrence(deadline, key)


def _outbox_rows(key: str, message: Planned, now: datetime) -> list[OutboxMessage]:
    return [
        OutboxMessage(
            idempotency_key=f"{key}:{identity_id}"[:160],
            channel=channel,
            chat_id=chat,
            account_id=message.account_id,
            kind="push",
            payload=message.reply.to_json(),
            created_at=now,
            next_attempt_at=now,
        )
        for identity_id, channel, chat in message.chats
    ]


async def snooze(
    session: AsyncSession,
    config: ReminderConfig,
    account_id: int,
    occ: Occurrence,
    now: datetime,
) -> datetime:
    """ "Nhắc lại sau": a pending reminder at the next delivery hour (idempotent per hour)."""
    until = next_snooze(now, config.deadlines.snooze_hours, config.tz, config.quiet)
    step = f"later@{until.astimezone(config.tz):%Y%m%d%H%M}"
    exists = await session.scalar(
        select(ReminderOccurrence.id).where(
            ReminderOccurrence.deadline_id == occ.deadline.id,
            ReminderOccurrence.occurrence == occ.key,
            ReminderOccurrence.step == step,
            ReminderOccurrence.account_id == account_id,
        )
    )
    if exists is None:
        try:
            async with session.begin_nested():
                session.add(
                    ReminderOccurrence(
                        deadline_id=occ.deadline.id,
                        occurrence=occ.key,
                        step=step,
                        account_id=account_id,
                        status="pending",
                        due_at=until,
                        created_at=now,
                    )
                )
                await session.flush()
        except IntegrityError:
            pass  # pressed twice at once: one snooze
    return until


async def stop_pushes(session: AsyncSession, account: Account, now: datetime) -> int:
    """/stop: pushes off at once, and those already queued for the person are withdrawn."""
    account.push_enabled = False
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.account_id == account.id,
            OutboxMessage.status.in_(("pending", "waiting")),
            OutboxMessage.kind.in_(("push", "bulk")),
        )
        .values(status="cancelled", last_error="recipient said /stop")
    )
    await session.execute(
        update(ReminderOccurrence)
        .where(ReminderOccurrence.account_id == account.id, ReminderOccurrence.status == "pending")
        .values(status="skipped")
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def occurrence_due_for(
    session: AsyncSession, config: ReminderConfig, today: date, account_id: int
) -> list[tuple[Occurrence, list[UnitRow], set[int]]]:
    """For /lich: upcoming occurrences that concern this person, their units, done ones."""
    roles: set[str] = set()
    for deadline in config.deadlines:
        roles |= deadline.roles
    directory = await Directory.load(session, roles)
    kind = await session.scalar(select(Account.kind).where(Account.id == account_id))
    found: list[tuple[Occurrence, list[UnitRow], set[int]]] = []
    for occ in upcoming(config.deadlines, today, days=200):
        if occ.deadline.for_households:
            # The households' own deadline: theirs to see, nobody else's.
            if kind == "household":
                found.append((occ, [], set()))
            continue
        owing = audience_units(occ.deadline, directory)
        mine = [
            unit
            for unit, entry in owing
            if account_id in directory.holders_at(unit.id, entry.roles)
        ]
        if not mine and not occ.deadline.public:
            continue
        done = await done_units(session, occ, config.tz, {u.id for u in mine}) if mine else set()
        found.append((occ, sorted(mine, key=lambda u: u.path), done))
    return found


def slots_of(config: ReminderConfig, occ: Occurrence) -> list[Slot]:
    """The reminder steps of one occurrence with this configuration's zone and quiet hours."""
    return slots(occ, config.tz, config.quiet, config.deadlines.catch_up)


async def preview(settings: Settings, config: ReminderConfig, at: datetime) -> dict[str, Any]:
    """What `tick` would send at ``at`` and to whom (chats masked); writes nothing."""
    from bot.outbox_admin import mask_chat

    db = Database(settings.database_url)
    reminders = Reminders(db, config)
    quiet = config.quiet.is_quiet(at, config.tz)
    report: dict[str, Any] = {"at": at.isoformat(), "quiet": quiet, "slots": [], "snoozed": []}
    try:
        async with db.session() as session:
            directory = await Directory.load(session, reminders._roles())
            processed = {
                (d, o, s): when
                for d, o, s, when in (
                    await session.execute(
                        select(
                            ReminderSlot.deadline_id,
                            ReminderSlot.occurrence,
                            ReminderSlot.step,
                            ReminderSlot.processed_at,
                        )
                    )
                ).all()
            }
            for slot in due_slots(config.deadlines, at, config.tz, config.quiet):
                plan = await reminders.plan(session, slot, directory)
                when = processed.get(slot.key)
                report["slots"].append(
                    {
                        "deadline": slot.key[0],
                        "occurrence": slot.key[1],
                        "step": slot.key[2],
                        "kind": slot.lead.kind,
                        "fire_at": slot.fire_at.astimezone(config.tz).isoformat(),
                        "processed_at": when.astimezone(config.tz).isoformat() if when else None,
                        "units_missing": len(plan.missing),
                        "messages": [
                            {
                                "to": f"account #{m.account_id}",
                                "chats": [f"{ch}:{mask_chat(chat)}" for _, ch, chat in m.chats],
                                "units": [u.name for u in m.units],
                                "text": m.reply.text,
                                "buttons": [b.title for b in m.reply.buttons],
                            }
                            for m in plan.messages
                        ],
                    }
                )
            if not quiet:
                pending = select(ReminderOccurrence).where(
                    ReminderOccurrence.status == "pending", ReminderOccurrence.due_at <= at
                )
                for row in (await session.execute(pending)).scalars():
                    report["snoozed"].append(
                        {
                            "deadline": row.deadline_id,
                            "occurrence": row.occurrence,
                            "to": f"account #{row.account_id}",
                            "due_at": row.due_at.astimezone(config.tz).isoformat(),
                        }
                    )
    finally:
        await db.close()
    return report
