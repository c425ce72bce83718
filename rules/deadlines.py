"""Deadlines as data: due-date rules and lead times turned into dated occurrences and slots.

Pure: no database, no bot. `load_deadlines` reads and validates ``rules/deadlines.yaml``;
`occurrences` lists the dated instances of a deadline (a month's village report, a year's
annual report, a one-off review); `slots` lists when reminders about one are due, in the
local time zone, moved out of quiet hours; `due_slots` says which slots should be acted on at
a given moment (each slot stays valid until the next one of its occurrence, or for the
catch-up time, so a stopped bot sends the latest reminder late instead of every one at once).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml

__all__ = [
    "DEADLINES_FILE",
    "Audience",
    "Deadline",
    "DeadlineFileError",
    "Deadlines",
    "DueRule",
    "Lead",
    "Occurrence",
    "QuietHours",
    "Slot",
    "due_slots",
    "load_deadlines",
    "next_snooze",
    "occurrence",
    "occurrences",
    "parse_clock",
    "slots",
    "upcoming",
]

DEADLINES_FILE = Path(__file__).resolve().parent / "deadlines.yaml"
ESCALATION = "esc"
_LEAD = re.compile(r"^(?:(start)([+-]\d+d)?|([+-]?\d+)d)(?:\s+(\d{1,2}):(\d{2}))?$")
_ID = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")
LeadKind = Literal["open", "before", "today", "overdue", "escalation"]


class DeadlineFileError(ValueError):
    """The deadlines file is wrong; the message names the file, the deadline and the field."""


def parse_clock(text: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"not a time of day HH:MM: {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local hours when no push goes out; start == end means none."""

    start: time = time(21, 0)
    end: time = time(7, 0)

    def contains(self, moment: time) -> bool:
        moment = moment.replace(second=0, microsecond=0, tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def is_quiet(self, when: datetime, tz: ZoneInfo) -> bool:
        return self.contains(when.astimezone(tz).time())

    def next_open(self, when: datetime, tz: ZoneInfo) -> datetime:
        """``when`` itself if it is outside quiet hours, else the moment they end."""
        local = when.astimezone(tz)
        if not self.contains(local.time()):
            return when
        day = local.date()
        if local.time() >= self.end:
            day += timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=tz)


@dataclass(frozen=True, slots=True)
class Lead:
    """An offset in days from the due date (or from the start of a window) and a local hour."""

    step: str
    days: int
    at: time
    anchor: Literal["due", "start"] = "due"

    @property
    def kind(self) -> LeadKind:
        if self.step == ESCALATION:
            return "escalation"
        if self.anchor == "start":
            return "open"
        if self.days < 0:
            return "before"
        return "today" if self.days == 0 else "overdue"


def parse_lead(text: str, *, step: str | None = None) -> Lead:
    match = _LEAD.match(str(text).strip())
    if not match:
        raise ValueError(
            f"a lead is like '-7d 08:00', '0d 08:00', '+1d 08:00' or 'start 08:00': {text!r}"
        )
    hour = int(match.group(4) or 8)
    minute = int(match.group(5) or 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"not a time of day: {text!r}")
    at = time(hour, minute)
    if match.group(1):
        offset = int(match.group(2)[:-1]) if match.group(2) else 0
        name = f"start{match.group(2) or ''}"
        return Lead(step or name, offset, at, "start")
    days = int(match.group(3))
    name = f"{days:+d}d" if days else "0d"
    return Lead(step or name, days, at, "due")


@dataclass(frozen=True, slots=True)
class DueRule:
    kind: Literal["monthly", "yearly", "window", "once"]
    day: int = 0  # monthly: day of the next month
    month_day: tuple[int, int] = (0, 0)  # yearly / window end: the last day
    start: tuple[int, int] = (0, 0)  # window start
    on: date | None = None  # once: the last day
    first_year: int | None = None
    last_year: int | None = None


@dataclass(frozen=True, slots=True)
class Audience:
    levels: tuple[str, ...]
    roles: tuple[str, ...]
    fallback: Audience | None = None
    # Instead of units: households themselves, those whose own submission is unfinished
    # (a form left half-way, or one returned to them for correction).
    households: str | None = None


@dataclass(frozen=True, slots=True)
class Deadline:
    id: str
    kind: str
    name: str
    source: str
    rule: DueRule
    audience: tuple[Audience, ...]
    leads: tuple[Lead, ...]
    submission_forms: tuple[str, ...] = ()
    self_declared: bool = False
    form: str | None = None
    # A button payload that opens the right form for the unit and period, e.g.
    # "vr:start:{unit}:{occurrence}" ({unit} is the unit's code).
    open_payload: str | None = None
    escalation: Lead | None = None
    escalation_roles: tuple[str, ...] = ()
    remind: bool = True
    public: bool = False

    @property
    def roles(self) -> frozenset[str]:
        found: set[str] = set()
        for audience in self.audience:
            found.update(audience.roles)
            if audience.fallback:
                found.update(audience.fallback.roles)
        return frozenset(found)

    @property
    def for_households(self) -> bool:
        return any(entry.households for entry in self.audience)

    def span(self) -> timedelta:
        """How far from its due date a slot of this deadline can fall (for range queries)."""
        window = 0
        if self.rule.kind == "window":
            window = 366
        days = [abs(lead.days) for lead in self.leads]
        if self.escalation is not None:
            days.append(abs(self.escalation.days))
        return timedelta(days=max(days or [0]) + window + 2)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One dated instance: the village report for 2026-10, the annual report of 2026..."""

    deadline: Deadline
    key: str
    due: date  # the last day on which it is on time
    start: date | None = None  # a window's first day
    label_before: date | None = None  # "before 10/11": the date the plan prints

    @property
    def period_kind(self) -> Literal["month", "year", "event"]:
        if self.deadline.rule.kind == "monthly":
            return "month"
        return "event" if self.deadline.rule.kind == "once" else "year"

    def anchor(self, lead: Lead) -> date:
        base = self.start if lead.anchor == "start" and self.start else self.due
        return base + timedelta(days=lead.days)

    def to_json(self) -> dict[str, Any]:
        return {
            "deadline": self.deadline.id,
            "kind": self.deadline.kind,
            "name": self.deadline.name,
            "source": self.deadline.source,
            "occurrence": self.key,
            "start": self.start.isoformat() if self.start else None,
            "due": self.due.isoformat(),
            "before": self.label_before.isoformat() if self.label_before else None,
            "remind": self.deadline.remind,
        }


@dataclass(frozen=True, slots=True)
class Slot:
    """When one reminder step of one occurrence goes out, and until when it still may."""

    occurrence: Occurrence
    lead: Lead
    fire_at: datetime
    valid_until: datetime

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.occurrence.deadline.id, self.occurrence.key, self.lead.step)


@dataclass(frozen=True)
class Deadlines:
    items: tuple[Deadline, ...]
    catch_up: timedelta = timedelta(days=2)
    snooze_hours: tuple[time, ...] = (time(8, 0), time(14, 0))
    by_id: dict[str, Deadline] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id.update({d.id: d for d in self.items})

    def __iter__(self) -> Any:
        return iter(self.items)

    def get(self, deadline_id: str) -> Deadline | None:
        return self.by_id.get(deadline_id)

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys(d.kind for d in self.items))


# --------------------------------------------------------------------------- loading


def _fail(path: Path, where: str, message: str) -> DeadlineFileError:
    return DeadlineFileError(f"{path.name}: {where}: {message}")


def _month_day(value: object) -> tuple[int, int]:
    match = _MONTH_DAY.match(str(value))
    if not match:
        raise ValueError(f"expected MM-DD, got {value!r}")
    month, day = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(2024, month)[1]:
        raise ValueError(f"no such day: {value!r}")
    return month, day


def _strings(value: object, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{name} must be a list of names")
    return tuple(value)


def _rule(raw: object, params: Mapping[str, object]) -> DueRule:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ValueError("due needs exactly one of monthly, yearly, window, once")
    ((kind, spec),) = raw.items()
    if not isinstance(spec, dict):
        raise ValueError(f"due.{kind} must be a mapping")
    if kind == "monthly":
        day = spec.get("day")
        if isinstance(day, str):
            if day not in params:
                raise ValueError(f"due.monthly.day names an unknown setting {day!r}")
            day = params[day]
        if not isinstance(day, int) or not 0 <= day <= 28:
            raise ValueError(
                "due.monthly.day must be a day 1–28, or 0 for the period's last day "
                "(or a setting giving one)"
            )
        return DueRule("monthly", day=day)
    first = spec.get("from")
    last = spec.get("until")
    for name, year in (("from", first), ("until", last)):
        if year is not None and not isinstance(year, int):
            raise ValueError(f"due.{kind}.{name} must be a year")
    if kind == "yearly":
        if ("before" in spec) == ("on" in spec):
            raise ValueError("due.yearly needs one of before: MM-DD or on: MM-DD")
        month, day = _month_day(spec.get("before") or spec.get("on"))
        shift = "before" in spec
        return DueRule(
            "yearly",
            month_day=(month, day),
            day=1 if shift else 0,
            first_year=first,
            last_year=last,
        )
    if kind == "window":
        return DueRule(
            "window",
            start=_month_day(spec.get("start")),
            month_day=_month_day(spec.get("end")),
            first_year=first,
            last_year=last,
        )
    if kind == "once":
        if ("before" in spec) == ("on" in spec):
            raise ValueError("due.once needs one of before: YYYY-MM-DD or on: YYYY-MM-DD")
        raw_day = spec.get("before") or spec.get("on")
        try:
            day_value = raw_day if isinstance(raw_day, date) else date.fromisoformat(str(raw_day))
        except ValueError:
            raise ValueError(f"due.once: not a date YYYY-MM-DD: {raw_day!r}") from None
        return DueRule("once", on=day_value, day=1 if "before" in spec else 0)
    raise ValueError(f"unknown due rule {kind!r} (monthly, yearly, window, once)")


HOUSEHOLD_AUDIENCES = ("unfinished",)


def _audience(raw: object) -> Audience:
    if not isinstance(raw, dict):
        raise ValueError("each audience entry is a mapping with levels and roles")
    if "households" in raw:
        which = raw["households"]
        if which not in HOUSEHOLD_AUDIENCES or set(raw) != {"households"}:
            raise ValueError(f"households: one of {', '.join(HOUSEHOLD_AUDIENCES)}, alone")
        return Audience((), (), None, households=str(which))
    fallback = _audience(raw["else"]) if raw.get("else") is not None else None
    return Audience(
        _strings(raw.get("levels"), "audience.levels"),
        _strings(raw.get("roles"), "audience.roles"),
        fallback,
    )


def _deadline(raw: dict[str, Any], params: Mapping[str, object], path: Path) -> Deadline:
    ident = str(raw.get("id", ""))
    where = f"deadline {ident or '?'}"
    if not _ID.match(ident):
        raise _fail(path, where, "field id: lower-case letters, digits and _ (2–31)")
    current = "id"
    try:
        current = "name"
        name = str(raw.get("name", ""))
        if not _KEY.match(name):
            raise ValueError(f"a message key like deadline.{ident} is needed")
        current = "kind"
        kind = str(raw.get("kind") or ident)
        if not _ID.match(kind):
            raise ValueError("lower-case letters, digits and _")
        current = "due"
        rule = _rule(raw.get("due"), params)
        current = "audience"
        audiences = raw.get("audience")
        if not isinstance(audiences, list) or not audiences:
            raise ValueError("at least one audience entry is needed")
        audience = tuple(_audience(a) for a in audiences)
        current = "done"
        done = raw.get("done") or {}
        if not isinstance(done, dict):
            raise ValueError("a mapping with submission and/or self_declared")
        forms = _strings(done["submission"], "done.submission") if done.get("submission") else ()
        self_declared = bool(done.get("self_declared", False))
        if not forms and not self_declared:
            raise ValueError("say what counts as done: submission: [form] or self_declared: true")
        current = "leads"
        leads_raw = raw.get("leads")
        if not isinstance(leads_raw, list) or not leads_raw:
            raise ValueError("at least one lead time is needed")
        leads = tuple(parse_lead(str(text)) for text in leads_raw)
        if len({lead.step for lead in leads}) != len(leads):
            raise ValueError("the same lead twice")
        if any(lead.anchor == "start" for lead in leads) and rule.kind != "window":
            raise ValueError("'start' leads only make sense for a window")
        current = "escalate"
        escalation = None
        escalation_roles: tuple[str, ...] = ()
        if raw.get("escalate") is not None:
            spec = raw["escalate"]
            if not isinstance(spec, dict):
                raise ValueError("a mapping with at and roles")
            escalation = parse_lead(str(spec.get("at", "")), step=ESCALATION)
            escalation_roles = _strings(spec.get("roles"), "escalate.roles")
            last = max(leads, key=lambda lead: _order(lead))
            if _order(escalation) <= _order(last):
                raise ValueError("the escalation must come after the last lead")
        if any(entry.households for entry in audience):
            current = "audience"
            if not forms or self_declared or escalation is not None:
                raise ValueError(
                    "households: done is the submission of their form; no self_declared, "
                    "no escalation"
                )
        current = "form"
        form = raw.get("form")
        if form is not None and not isinstance(form, str):
            raise ValueError("a form id")
        current = "open"
        open_payload = raw.get("open")
        if open_payload is not None:
            names = set(re.findall(r"\{([^}]*)\}", str(open_payload)))
            if not isinstance(open_payload, str) or not names <= {"unit", "occurrence"}:
                raise ValueError("a button payload with {unit} and/or {occurrence}")
    except (ValueError, KeyError, TypeError) as error:
        raise _fail(path, where, f"field {current}: {error}") from None
    return Deadline(
        id=ident,
        kind=kind,
        name=name,
        source=str(raw.get("source", "")),
        rule=rule,
        audience=audience,
        leads=leads,
        submission_forms=forms,
        self_declared=self_declared,
        form=form,
        open_payload=open_payload,
        escalation=escalation,
        escalation_roles=escalation_roles,
        remind=bool(raw.get("remind", True)),
        public=bool(raw.get("public", False)),
    )


def _order(lead: Lead) -> tuple[int, time]:
    """Leads anchored on a window's start all come before those anchored on its end."""
    return (lead.days - 100_000 if lead.anchor == "start" else lead.days, lead.at)


def _duration(text: object) -> timedelta:
    match = re.fullmatch(r"(\d+)([dh])", str(text).strip())
    if not match:
        raise ValueError(f"a duration like 2d or 12h: {text!r}")
    amount = int(match.group(1))
    return timedelta(days=amount) if match.group(2) == "d" else timedelta(hours=amount)


def load_deadlines(
    path: Path = DEADLINES_FILE, params: Mapping[str, object] | None = None
) -> Deadlines:
    """Read and validate the deadlines file; ``params`` gives settings a rule may name."""
    params = params or {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DeadlineFileError(f"{path.name}: cannot read: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("deadlines"), list):
        raise DeadlineFileError(f"{path.name}: needs a list under 'deadlines'")
    defaults = raw.get("defaults") or {}
    try:
        catch_up = _duration(defaults.get("catch_up", "2d"))
        hours = tuple(parse_clock(h) for h in defaults.get("snooze_hours", ["08:00", "14:00"]))
    except (ValueError, TypeError) as error:
        raise DeadlineFileError(f"{path.name}: defaults: {error}") from None
    if not hours:
        raise DeadlineFileError(f"{path.name}: defaults: snooze_hours is empty")
    items = []
    for entry in raw["deadlines"]:
        if not isinstance(entry, dict):
            raise DeadlineFileError(f"{path.name}: each deadline is a mapping")
        items.append(_deadline(entry, params, path))
    ids = [d.id for d in items]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise DeadlineFileError(f"{path.name}: deadline ids used twice: {twice}")
    return Deadlines(tuple(items), catch_up, tuple(sorted(hours)))


# --------------------------------------------------------------------------- occurrences


def _safe_date(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _years(rule: DueRule, first: int, last: int) -> range:
    low = max(first, rule.first_year) if rule.first_year else first
    high = min(last, rule.last_year) if rule.last_year else last
    return range(low, high + 1)


def occurrences(deadline: Deadline, start: date, end: date) -> list[Occurrence]:
    """Occurrences whose due date (last day) falls in [start, end], in date order."""
    rule = deadline.rule
    found: list[Occurrence] = []
    if rule.kind == "monthly":
        year, month = start.year, start.month
        # The period is the month before the one the due date falls in.
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        while True:
            due_year, due_month = (year + 1, 1) if month == 12 else (year, month + 1)
            if rule.day:
                due = _safe_date(due_year, due_month, rule.day)
            else:  # day 0: the last day of the period itself
                due = date(due_year, due_month, 1) - timedelta(days=1)
            if due > end:
                break
            if due >= start:
                found.append(Occurrence(deadline, f"{year:04d}-{month:02d}", due))
            year, month = due_year, due_month
    elif rule.kind in ("yearly", "window"):
        for year in _years(rule, start.year - 1, end.year + 1):
            month, day = rule.month_day
            printed = _safe_date(year, month, day)
            due = printed - timedelta(days=rule.day)
            opens = _safe_date(year, *rule.start) if rule.kind == "window" else None
            if start <= due <= end:
                before = printed if rule.day else None
                found.append(Occurrence(deadline, f"{year:04d}", due, opens, before))
    else:
        assert rule.on is not None
        due = rule.on - timedelta(days=rule.day)
        if start <= due <= end:
            found.append(
                Occurrence(
                    deadline, f"{rule.on.year:04d}", due, None, rule.on if rule.day else None
                )
            )
    return found


def occurrence(deadline: Deadline, key: str) -> Occurrence | None:
    """The occurrence named ``key`` ("2026-10", "2026"), if the rule has one."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", key)
    if not match:
        return None
    year = int(match.group(1))
    found = occurrences(deadline, date(year - 1, 1, 1), date(year + 1, 12, 31))
    return next((o for o in found if o.key == key), None)


def slots(
    occurrence: Occurrence, tz: ZoneInfo, quiet: QuietHours, catch_up: timedelta
) -> list[Slot]:
    """The reminder steps of one occurrence, with effective times and how long each is valid."""
    leads = list(occurrence.deadline.leads)
    if occurrence.deadline.escalation is not None:
        leads.append(occurrence.deadline.escalation)
    timed = sorted(
        (
            (
                quiet.next_open(datetime.combine(occurrence.anchor(lead), lead.at, tzinfo=tz), tz),
                lead,
            )
            for lead in leads
        ),
        key=lambda pair: (pair[0], _order(pair[1])),
    )
    found: list[Slot] = []
    for index, (fire_at, lead) in enumerate(timed):
        until = fire_at + catch_up
        if index + 1 < len(timed):
            until = min(until, max(timed[index + 1][0], fire_at + timedelta(minutes=1)))
        found.append(Slot(occurrence, lead, fire_at, until))
    return found


def _candidate_occurrences(
    deadlines: Iterable[Deadline], around: date, before: timedelta, after: timedelta
) -> Iterable[Occurrence]:
    for deadline in deadlines:
        span = deadline.span()
        yield from occurrences(deadline, around - before - span, around + after + span)


def due_slots(deadlines: Deadlines, now: datetime, tz: ZoneInfo, quiet: QuietHours) -> list[Slot]:
    """Slots to act on at ``now``: their time has come and they are still valid.

    Nothing is due in quiet hours. A slot whose time passed while nothing ran is still due
    until its occurrence's next slot (or the catch-up time) — then it has been replaced.
    """
    if quiet.is_quiet(now, tz):
        return []
    today = now.astimezone(tz).date()
    found = []
    reminding = [d for d in deadlines if d.remind]
    for occ in _candidate_occurrences(reminding, today, deadlines.catch_up, timedelta(days=1)):
        for slot in slots(occ, tz, quiet, deadlines.catch_up):
            if slot.fire_at <= now < slot.valid_until:
                found.append(slot)
    return sorted(found, key=lambda s: (s.fire_at, s.key))


def slots_between(
    deadlines: Deadlines, since: datetime, until: datetime, tz: ZoneInfo, quiet: QuietHours
) -> list[Slot]:
    """Every slot whose effective time is in (since, until]: the schedule over a period."""
    found = []
    middle = since.astimezone(tz).date()
    length = until - since
    reminding = [d for d in deadlines if d.remind]
    for occ in _candidate_occurrences(reminding, middle, timedelta(days=1), length):
        for slot in slots(occ, tz, quiet, deadlines.catch_up):
            if since < slot.fire_at <= until:
                found.append(slot)
    return sorted(found, key=lambda s: (s.fire_at, s.key))


def upcoming(deadlines: Iterable[Deadline], today: date, days: int = 366) -> list[Occurrence]:
    """Occurrences not over yet (due today or later, or a window under way), by due date."""
    found = [
        occ
        for deadline in deadlines
        for occ in occurrences(deadline, today, today + timedelta(days=days))
    ]
    return sorted(found, key=lambda o: (o.due, o.deadline.id))


def next_snooze(now: datetime, hours: Iterable[time], tz: ZoneInfo, quiet: QuietHours) -> datetime:
    """The next delivery hour after ``now`` (at least a few minutes away), outside quiet hours."""
    local = now.astimezone(tz)
    earliest = now + timedelta(minutes=5)
    ordered = sorted(hours)
    for offset in range(3):
        day = local.date() + timedelta(days=offset)
        for hour in ordered:
            moment = datetime.combine(day, hour, tzinfo=tz)
            if moment >= earliest and not quiet.is_quiet(moment, tz):
                return moment
    return quiet.next_open(now + timedelta(hours=1), tz)
