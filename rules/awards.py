"""The movement's awards (rules/awards.yaml): who, quotas, prerequisites, dossier, deadline.

Pure: load and validate the file, then decide from plain values. Whether a nominee may be
proposed for an award (`check_eligibility`), how a province stands against the quotas
(`quota_lines`), whether a household meets its group's criteria (`household_criteria`),
which year a nomination belongs to and whether a dossier is on time. Reasons come back as
message keys with their values; the bot renders them (Vietnamese first) through the catalogs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Literal

import yaml

from rules.qa.text import fold

__all__ = [
    "AWARDS_FILE",
    "Alternative",
    "AwardInput",
    "AwardInputError",
    "AwardRules",
    "AwardType",
    "AwardsFileError",
    "Eligibility",
    "Group",
    "HistoryItem",
    "HouseholdFacts",
    "Part",
    "Quota",
    "QuotaLine",
    "Reason",
    "area_of",
    "check_eligibility",
    "combine",
    "default_awards",
    "extract_keys",
    "household_criteria",
    "load_awards",
    "parse_input",
    "quota_lines",
    "quota_room",
]

AWARDS_FILE = Path(__file__).resolve().parent / "awards.yaml"
Round = Literal["annual", "final"]
Kind = Literal["collective", "individual"]
Stage = Literal["propose", "submit"]


class AwardsFileError(ValueError):
    """A broken awards file; the message names the file and the entry."""


# --- the rules ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    kind: Kind
    source: str
    unit_level: str | None = None  # the nominee is an org unit of this level


@dataclass(frozen=True, slots=True)
class Quota:
    """At most ``max`` (and, where the plan says "2 to 3", at least ``min``) per province."""

    id: str
    groups: tuple[str, ...]
    max: int
    min: int = 0


@dataclass(frozen=True, slots=True)
class Alternative:
    """``at_least`` earlier awards of one of ``awards`` for this movement."""

    id: str
    awards: tuple[str, ...]
    at_least: int


@dataclass(frozen=True, slots=True)
class AwardType:
    id: str
    round: Round
    source: str
    groups: tuple[str, ...]
    quotas: tuple[Quota, ...]
    requires: tuple[Alternative, ...] = ()  # any one is enough; empty: nothing required
    better_off: tuple[str, ...] = ()  # groups that must have become better-off ("khá")
    reviewers: tuple[str, ...] = ()  # empty: the file's reviewers

    def quota_of(self, group: str) -> Quota | None:
        return next((q for q in self.quotas if group in q.groups), None)


@dataclass(frozen=True, slots=True)
class Part:
    id: str
    needed_for: Stage
    template: str | None = None


@dataclass(frozen=True, slots=True)
class AwardRules:
    movement: str
    first_year: int
    final_year: int
    source: str
    deadline_month: int
    deadline_day: int  # "before" this day: the day before it is the last one on time
    groups: dict[str, Group]
    nominators: dict[str, tuple[str, ...]]
    submitting_levels: tuple[str, ...]
    reviewers: tuple[str, ...]
    urban_places: tuple[str, ...]
    awards: dict[str, AwardType]
    dossier: tuple[Part, ...]
    documents: dict[str, Any] = field(default_factory=dict)

    def award(self, award_id: str) -> AwardType:
        return self.awards[award_id]

    def part(self, part_id: str) -> Part:
        return next(p for p in self.dossier if p.id == part_id)

    def groups_for(self, roles: Iterable[str]) -> tuple[str, ...]:
        """The groups someone holding ``roles`` may nominate, in the file's order."""
        allowed = {g for role in roles for g in self.nominators.get(role, ())}
        return tuple(g for g in self.groups if g in allowed)

    def roles_for(self, group: str) -> frozenset[str]:
        return frozenset(role for role, groups in self.nominators.items() if group in groups)

    def awards_for(self, group: str) -> tuple[AwardType, ...]:
        return tuple(a for a in self.awards.values() if group in a.groups)

    def reviewers_for(self, award_id: str) -> tuple[str, ...]:
        return self.awards[award_id].reviewers or self.reviewers

    def parts_for(self, stage: Stage) -> tuple[Part, ...]:
        """The parts a dossier needs to be proposed (a subset) or submitted (all)."""
        if stage == "submit":
            return self.dossier
        return tuple(p for p in self.dossier if p.needed_for == "propose")

    def last_day(self, year: int) -> date:
        """The last day a dossier of ``year`` is on time ("trước 30/12": 29/12)."""
        return date(year, self.deadline_month, self.deadline_day) - timedelta(days=1)

    def on_time(self, year: int, day: date) -> bool:
        return day <= self.last_day(year)

    def round_year(self, award_id: str, today: date) -> int:
        """The year a new nomination belongs to: the final review's, or this year's round
        until its deadline and next year's after it (a new dossier on 31/12 is for next year;
        a draft begun before the deadline keeps its year and is late)."""
        if self.awards[award_id].round == "final":
            return self.final_year
        return today.year if self.on_time(today.year, today) else today.year + 1


# --- eligibility -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reason:
    """One line of a verdict: a message key, whether it is met (None: not judged), values."""

    key: str
    ok: bool | None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Eligibility:
    eligible: bool | None  # None: the group's criteria are not judged yet (the council will)
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class HistoryItem:
    award: str
    year: int | None = None
    movement: str | None = None  # None: this movement


def combine(oks: Iterable[bool | None]) -> bool | None:
    """False if anything fails, else None if anything is not judged, else True."""
    seen = list(oks)
    if any(ok is False for ok in seen):
        return False
    if any(ok is None for ok in seen):
        return None
    return True


def _counted(
    rules: AwardRules, history: Iterable[HistoryItem], year: int | None
) -> tuple[list[HistoryItem], int]:
    """This movement's awards up to ``year``; and how many of another movement were left out."""
    mine: list[HistoryItem] = []
    other = 0
    for item in history:
        if item.movement not in (None, rules.movement):
            other += 1
        elif year is None or item.year is None or item.year <= year:
            mine.append(item)
    return mine, other


def check_eligibility(
    rules: AwardRules,
    award_id: str,
    group: str,
    meets_criteria: bool | None,
    history: Iterable[HistoryItem],
    year: int | None = None,
) -> Eligibility:
    """May this nominee be proposed for the award? Group, criteria and earlier awards."""
    award = rules.award(award_id)
    reasons: list[Reason] = []
    allowed = group in award.groups
    if not allowed:
        reasons.append(
            Reason(
                "award.reason.group_not_allowed",
                False,
                {"group": group, "award": award_id, "groups": award.groups},
            )
        )
    if meets_criteria is True:
        reasons.append(Reason("award.reason.criteria_met", True, {"group": group}))
    elif meets_criteria is False:
        reasons.append(Reason("award.reason.criteria_not_met", False, {"group": group}))
    else:
        reasons.append(Reason("award.reason.criteria_unknown", None, {"group": group}))
    counted, other = _counted(rules, history, year)
    prerequisites: bool = True
    if not award.requires:
        reasons.append(Reason("award.reason.no_prerequisite", True, {"award": award_id}))
    else:
        have = []
        for alternative in award.requires:
            found = sorted(item.year or 0 for item in counted if item.award in alternative.awards)
            have.append((alternative.id, len(found), tuple(y for y in found if y)))
        prerequisites = any(
            count >= alt.at_least for alt, (_, count, _) in zip(award.requires, have, strict=True)
        )
        params = {"award": award_id, "need": tuple((a.id, a.at_least) for a in award.requires)}
        if prerequisites:
            reasons.append(Reason("award.reason.prerequisite_met", True, {**params, "have": have}))
        else:
            reasons.append(
                Reason("award.reason.prerequisite_missing", False, {**params, "have": have})
            )
    if other:
        reasons.append(Reason("award.reason.other_movement", None, {"count": other}))
    if not allowed or meets_criteria is False or not prerequisites:
        return Eligibility(False, tuple(reasons))
    return Eligibility(True if meets_criteria else None, tuple(reasons))


# --- quotas ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuotaLine:
    quota: Quota
    count: int

    @property
    def over(self) -> bool:
        return self.count > self.quota.max

    @property
    def under(self) -> bool:
        return self.count < self.quota.min


def quota_lines(award: AwardType, counts: Mapping[str, int]) -> tuple[QuotaLine, ...]:
    """Nominations per quota of the award, from counts per group (one province, one year)."""
    return tuple(
        QuotaLine(quota, sum(counts.get(group, 0) for group in quota.groups))
        for quota in award.quotas
    )


def quota_room(award: AwardType, counts: Mapping[str, int], group: str) -> bool:
    """Whether one more nominee of ``group`` stays within the award's quota."""
    quota = award.quota_of(group)
    if quota is None:
        return not award.quotas  # an award without quotas has room; else the group is not in it
    return sum(counts.get(g, 0) for g in quota.groups) + 1 <= quota.max


# --- households (III.1.đ) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HouseholdFacts:
    """What the bot knows of a household, from its registration and achievement report."""

    registration_code: str | None = None
    report_code: str | None = None
    had_loan: bool | None = None
    repaid_on_time: bool | None = None
    initiatives: bool = False
    helped_others: bool = False
    income_per_person: int | None = None  # VND a month, from the report and household size
    better_off_line: int | None = None  # the standard's top of "average": above it is "khá"


def household_criteria(facts: HouseholdFacts, better_off: bool) -> tuple[bool | None, list[Reason]]:
    """The household criteria of III.1.đ (and, for the PM's certificate, "became khá")."""
    reasons: list[Reason] = []
    if facts.registration_code:
        reasons.append(Reason("award.hh.registered", True, {"code": facts.registration_code}))
    else:
        reasons.append(Reason("award.hh.not_registered", None))
    if not facts.report_code:
        reasons.append(Reason("award.hh.no_report", None))
    else:
        reasons.append(Reason("award.hh.report", True, {"code": facts.report_code}))
        if facts.had_loan and facts.repaid_on_time is False:
            reasons.append(Reason("award.hh.loan_late", False))
        elif facts.had_loan:
            reasons.append(Reason("award.hh.loan_repaid", True))
        else:
            reasons.append(Reason("award.hh.no_loan", True))
        if facts.initiatives or facts.helped_others:
            reasons.append(Reason("award.hh.initiatives", True))
        else:
            reasons.append(Reason("award.hh.no_initiatives", False))
    if better_off:
        if facts.income_per_person is None or facts.better_off_line is None:
            reasons.append(Reason("award.hh.better_off_unknown", None))
        else:
            above = facts.income_per_person > facts.better_off_line
            reasons.append(
                Reason(
                    "award.hh.better_off" if above else "award.hh.not_better_off",
                    above,
                    {"income": facts.income_per_person, "line": facts.better_off_line},
                )
            )
    return combine(r.ok for r in reasons), reasons


def area_of(rules: AwardRules, place_names: Iterable[str]) -> Literal["rural", "urban"]:
    """Urban when the village or the commune is named like a town place (khu phố, phường)."""
    prefixes = tuple(fold(p) for p in rules.urban_places)
    for name in place_names:
        if fold(name).startswith(prefixes):
            return "urban"
    return "rural"


# --- the check command's input -----------------------------------------------------------


class AwardInputError(ValueError):
    """Input that cannot be checked; ``key`` and ``params`` say why (message catalog)."""

    def __init__(self, field: str, key: str, **params: Any) -> None:
        super().__init__(f"{field}: {key}")
        self.field = field
        self.key = key
        self.params = params


@dataclass(frozen=True, slots=True)
class AwardInput:
    award: str
    group: str
    meets_criteria: bool
    history: tuple[HistoryItem, ...]
    year: int | None = None


_INPUT_FIELDS = ("award", "group", "meets_criteria", "history", "year")


def _year(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1990 <= value <= 2100:
        raise AwardInputError(field, "award.input.year", value=_shown(value))
    return value


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_input(rules: AwardRules, raw: object) -> AwardInput:
    """The nominee as `python -m bot awards check --json` reads it."""
    if not isinstance(raw, dict):
        raise AwardInputError("input", "award.input.object")
    for name in raw:
        if name not in _INPUT_FIELDS:
            raise AwardInputError(
                str(name), "award.input.unknown_field", fields=", ".join(_INPUT_FIELDS)
            )
    for name in ("award", "group", "meets_criteria"):
        if name not in raw:
            raise AwardInputError(name, "award.input.missing")
    if raw["award"] not in rules.awards:
        raise AwardInputError(
            "award", "award.input.award", value=_shown(raw["award"]), known=", ".join(rules.awards)
        )
    if raw["group"] not in rules.groups:
        raise AwardInputError(
            "group", "award.input.group", value=_shown(raw["group"]), known=", ".join(rules.groups)
        )
    if not isinstance(raw["meets_criteria"], bool):
        raise AwardInputError(
            "meets_criteria", "award.input.boolean", value=_shown(raw["meets_criteria"])
        )
    history_raw = raw.get("history", [])
    if not isinstance(history_raw, list):
        raise AwardInputError("history", "award.input.history")
    history: list[HistoryItem] = []
    for number, item in enumerate(history_raw, 1):
        where = f"history[{number}]"
        if not isinstance(item, dict) or "award" not in item:
            raise AwardInputError(where, "award.input.history")
        extra = set(item) - {"award", "year", "movement"}
        if extra:
            raise AwardInputError(
                f"{where}.{sorted(extra)[0]}",
                "award.input.unknown_field",
                fields="award, year, movement",
            )
        if item["award"] not in rules.awards:
            raise AwardInputError(
                f"{where}.award",
                "award.input.award",
                value=_shown(item["award"]),
                known=", ".join(rules.awards),
            )
        year = _year(item["year"], f"{where}.year") if item.get("year") is not None else None
        movement = item.get("movement")
        if movement is not None and not isinstance(movement, str):
            raise AwardInputError(f"{where}.movement", "award.input.movement")
        history.append(HistoryItem(item["award"], year, movement or None))
    year = _year(raw["year"], "year") if raw.get("year") is not None else None
    return AwardInput(raw["award"], raw["group"], raw["meets_criteria"], tuple(history), year)


# --- loading -----------------------------------------------------------------------------


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> AwardsFileError:
        return AwardsFileError(f"{self.path}: {where}: {message}")

    def names(
        self, where: str, value: object, known: Iterable[str] | None = None
    ) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, "expected a list of names")
        if known is not None:
            unknown = [v for v in value if v not in set(known)]
            if unknown:
                raise self.fail(where, f"unknown name(s) {', '.join(unknown)}")
        if len(set(value)) != len(value):
            raise self.fail(where, "a name is listed twice")
        return tuple(value)

    def count(self, where: str, value: object, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(where, f"expected a whole number of at least {minimum}")
        return value


_AWARD_KEYS = {"round", "source", "groups", "quotas", "requires", "better_off", "reviewers"}
_DOCUMENT_TEXTS = ("body", "body_upper", "signer", "number", "blank_date")
# The lines the drafted documents are made of (documents.lines).
_DOCUMENT_LINES = (
    "household_head",
    "residence",
    "household_size",
    "status_at_registration",
    "registered",
    "loan_repaid",
    "loan_late",
    "loan_purpose",
    "initiatives",
    "helped_others",
    "income",
    "income_per_person",
    "collective_name",
    "person_name",
    "area",
    "households",
    "rates",
    "work_done",
    "figures",
    "typed_initiatives",
    "history_item",
    "history_decision",
    "no_history",
    "no_achievements",
)
# What the drafted documents print for every award and group: a gap would print a blank.
_DOCUMENT_MAPS = {"award_names": "awards", "deciders": "awards", "group_names": "groups"}


def _award(read: _Reader, award_id: str, raw: object, groups: dict[str, Group]) -> AwardType:
    where = f"awards.{award_id}"
    if not isinstance(raw, dict):
        raise read.fail(where, "expected a mapping")
    unknown = set(raw) - _AWARD_KEYS
    if unknown:
        raise read.fail(where, f"unknown key(s) {', '.join(sorted(unknown))}")
    if raw.get("round") not in ("annual", "final"):
        raise read.fail(f"{where}.round", "expected annual or final")
    award_groups = read.names(f"{where}.groups", raw.get("groups"), groups)
    quotas: list[Quota] = []
    covered: set[str] = set()
    for number, item in enumerate(raw.get("quotas") or [], 1):
        at = f"{where}.quotas[{number}]"
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise read.fail(at, "expected {id, groups, max[, min]}")
        quota_groups = read.names(f"{at}.groups", item.get("groups"), award_groups)
        if covered & set(quota_groups):
            raise read.fail(at, "a group is in two quotas")
        covered |= set(quota_groups)
        low = read.count(f"{at}.min", item.get("min", 0))
        high = read.count(f"{at}.max", item.get("max"), max(1, low))
        quotas.append(Quota(item["id"], quota_groups, high, low))
    if quotas and covered != set(award_groups):
        missing = ", ".join(sorted(set(award_groups) - covered))
        raise read.fail(f"{where}.quotas", f"no quota for group(s) {missing}")
    requires: list[Alternative] = []
    for number, item in enumerate(raw.get("requires") or [], 1):
        at = f"{where}.requires[{number}]"
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise read.fail(at, "expected {id, awards, at_least}")
        requires.append(
            Alternative(
                item["id"],
                read.names(f"{at}.awards", item.get("awards")),
                read.count(f"{at}.at_least", item.get("at_least"), 1),
            )
        )
    return AwardType(
        id=award_id,
        round=raw["round"],
        source=str(raw.get("source") or ""),
        groups=award_groups,
        quotas=tuple(quotas),
        requires=tuple(requires),
        better_off=read.names(f"{where}.better_off", raw.get("better_off", []), award_groups),
        reviewers=read.names(f"{where}.reviewers", raw.get("reviewers", [])),
    )


def parse_awards(text: str, path: Path = AWARDS_FILE) -> AwardRules:
    read = _Reader(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise AwardsFileError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise read.fail("top", "expected a mapping")
    groups: dict[str, Group] = {}
    for group_id, spec in (raw.get("groups") or {}).items():
        if not isinstance(spec, dict) or spec.get("kind") not in ("collective", "individual"):
            raise read.fail(f"groups.{group_id}", "expected {kind: collective | individual}")
        level = spec.get("unit_level")
        groups[group_id] = Group(group_id, spec["kind"], str(spec.get("source") or ""), level)
    if not groups:
        raise read.fail("groups", "no groups")
    nominators = {
        str(role): read.names(f"nominators.{role}", names, groups)
        for role, names in (raw.get("nominators") or {}).items()
    }
    awards = {
        str(award_id): _award(read, str(award_id), spec, groups)
        for award_id, spec in (raw.get("awards") or {}).items()
    }
    for award in awards.values():
        for alternative in award.requires:
            read.names(
                f"awards.{award.id}.requires.{alternative.id}", list(alternative.awards), awards
            )
    documents = raw.get("documents") or {}
    if not isinstance(documents, dict):
        raise read.fail("documents", "expected a mapping")
    for name, covers in _DOCUMENT_MAPS.items():
        wanted = set(awards if covers == "awards" else groups)
        given = documents.get(name)
        if not isinstance(given, dict) or wanted - set(given):
            absent = ", ".join(sorted(wanted - set(given or {})))
            raise read.fail(f"documents.{name}", f"missing {absent or 'the mapping'}")
    for name in ("plan", "movement", "standing_agency", *_DOCUMENT_TEXTS):
        if not isinstance(documents.get(name), str):
            raise read.fail(f"documents.{name}", "expected a text")
    read.names("documents.place_prefixes", documents.get("place_prefixes"))
    if not isinstance(documents.get("reporters"), dict) or "default" not in documents["reporters"]:
        raise read.fail("documents.reporters", "expected a mapping with a default")
    lines = documents.get("lines")
    missing_lines = sorted(set(_DOCUMENT_LINES) - set(lines if isinstance(lines, dict) else {}))
    if missing_lines:
        raise read.fail("documents.lines", f"missing {', '.join(missing_lines)}")
    dossier: list[Part] = []
    for number, item in enumerate(raw.get("dossier") or [], 1):
        at = f"dossier[{number}]"
        if not isinstance(item, dict) or item.get("needed_for") not in ("propose", "submit"):
            raise read.fail(at, "expected {id, needed_for: propose | submit[, template]}")
        dossier.append(Part(str(item["id"]), item["needed_for"], item.get("template")))
    if not dossier:
        raise read.fail("dossier", "no parts")
    period = raw.get("period") or {}
    first = read.count("period.first_year", period.get("first_year"), 1990)
    final = read.count("period.final_year", period.get("final_year"), first)
    before = str((raw.get("deadline") or {}).get("before") or "")
    try:
        month, day = (int(part) for part in before.split("-"))
        date(2000, month, day)
    except ValueError:
        raise read.fail("deadline.before", "expected MM-DD, e.g. 12-30") from None
    return AwardRules(
        movement=str(raw.get("movement") or ""),
        first_year=first,
        final_year=final,
        source=str(raw.get("source") or ""),
        deadline_month=month,
        deadline_day=day,
        groups=groups,
        nominators=nominators,
        submitting_levels=read.names("submitting_levels", raw.get("submitting_levels")),
        reviewers=read.names("reviewers", raw.get("reviewers")),
        urban_places=read.names("urban_places", raw.get("urban_places", [])),
        awards=awards,
        dossier=tuple(dossier),
        documents=dict(documents),
    )


def load_awards(path: Path = AWARDS_FILE) -> AwardRules:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise AwardsFileError(f"{path}: cannot read: {error}") from None
    return parse_awards(text, path)


@lru_cache(maxsize=1)
def default_awards() -> AwardRules:
    return load_awards()


# --- message keys (babel.cfg) ------------------------------------------------------------


def message_keys(rules: AwardRules) -> Iterator[str]:
    """The keys built from the file's ids: names of awards, groups, parts, quotas."""
    for award in rules.awards.values():
        yield f"award.type.{award.id}"
        for quota in award.quotas:
            yield f"award.quota.{quota.id}"
        for alternative in award.requires:
            yield f"award.requires.{alternative.id}"
    for group in rules.groups:
        yield f"award.group.{group}"
    for part in rules.dossier:
        yield f"award.part.{part.id}"


def extract_keys(
    fileobj: BinaryIO, keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, str, list[str]]]:
    rules = parse_awards(fileobj.read().decode("utf-8"))
    for key in dict.fromkeys(message_keys(rules)):
        yield 1, "", key, []
