"""The multidimensional poverty standard (rules/poverty_standard.yaml) and the self-check.

Pure and small: load and validate the file, pick the standard in force on a date, and place a
household by its income per person and the indicators it lacks. Nothing here decides anything
about a real household; the commune's review does.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Literal, get_args

import yaml

__all__ = [
    "AREAS",
    "STANDARD_FILE",
    "STATUSES",
    "Answers",
    "Area",
    "IncomeLine",
    "Indicator",
    "NoStandardError",
    "PovertyInputError",
    "Result",
    "Standard",
    "StandardFileError",
    "Standards",
    "Status",
    "default_standards",
    "evaluate",
    "extract_keys",
    "load_standards",
    "parse_answers",
    "self_check",
]

Area = Literal["rural", "urban"]
Status = Literal["poor", "near_poor", "average", "above"]
AREAS: tuple[Area, ...] = get_args(Area)
STATUSES: tuple[Status, ...] = get_args(Status)
STANDARD_FILE = Path(__file__).resolve().parent / "poverty_standard.yaml"

_ID = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_PARTS = ("income", "indicators", "average_max")
_INPUT_FIELDS = ("area", "household_size", "monthly_income_vnd", "lacking", "on")


class StandardFileError(ValueError):
    """A broken standard file; the message names the file, the standard and the field."""


class PovertyInputError(ValueError):
    """Answers that cannot be evaluated; ``field`` names the answer at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NoStandardError(PovertyInputError):
    """No standard in the file is in force on the date asked about."""


@dataclass(frozen=True, slots=True)
class Indicator:
    id: str
    dimension: str
    label: str  # message keys
    question: str
    support: str


@dataclass(frozen=True, slots=True)
class IncomeLine:
    poor: int  # VND per person per month: at or below it, poor or near-poor
    average_max: int  # the top (inclusive) of the "average living standard" band


@dataclass(frozen=True, slots=True)
class Standard:
    id: str
    decree: str
    citation: str
    valid_from: date
    valid_to: date
    verified: bool
    unverified: tuple[str, ...]
    form: str | None
    rural: IncomeLine
    urban: IncomeLine
    min_lacking: int
    dimensions: tuple[str, ...]
    indicators: tuple[Indicator, ...]

    @property
    def indicator_ids(self) -> tuple[str, ...]:
        return tuple(indicator.id for indicator in self.indicators)

    def indicator(self, indicator_id: str) -> Indicator:
        for indicator in self.indicators:
            if indicator.id == indicator_id:
                return indicator
        raise KeyError(indicator_id)

    def line(self, area: Area) -> IncomeLine:
        return self.rural if area == "rural" else self.urban

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_to

    def message_keys(self) -> Iterator[str]:
        for indicator in self.indicators:
            yield indicator.label
            yield indicator.question
            yield indicator.support


@dataclass(frozen=True, slots=True)
class Standards:
    """Every period of the standard, in date order, none overlapping another."""

    items: tuple[Standard, ...]

    def __iter__(self) -> Iterator[Standard]:
        return iter(self.items)

    def get(self, standard_id: str) -> Standard:
        for standard in self.items:
            if standard.id == standard_id:
                return standard
        raise KeyError(standard_id)

    def on(self, day: date) -> Standard:
        for standard in self.items:
            if standard.in_force(day):
                return standard
        periods = ", ".join(f"{s.valid_from}..{s.valid_to}" for s in self.items)
        raise NoStandardError("on", f"no poverty standard is in force on {day} (known: {periods})")


@dataclass(frozen=True, slots=True)
class Result:
    status: Status
    income_per_person: int  # rounded half up to the dong; the lines are compared with it
    lacking: tuple[str, ...]  # indicator ids, in the standard's order
    standard: str
    decree: str
    citation: str
    area: Area
    poverty_line: int
    average_max: int
    min_lacking: int
    verified: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "income_per_person": self.income_per_person,
            "lacking": list(self.lacking),
            "standard": self.standard,
            "decree": self.decree,
            "citation": self.citation,
            "area": self.area,
            "poverty_line": self.poverty_line,
            "average_max": self.average_max,
            "verified": self.verified,
        }


@dataclass(frozen=True, slots=True)
class Answers:
    area: Area
    household_size: int
    monthly_income_vnd: int  # the whole household's income in a month
    lacking: tuple[str, ...]
    on: date | None = None


# --- evaluating ------------------------------------------------------------------------------


def _whole_number(field: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PovertyInputError(field, f"must be a whole number, got {_shown(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise PovertyInputError(field, f"must be a whole number, got {value}")
        value = int(value)
    if value < minimum:
        raise PovertyInputError(field, f"must be at least {minimum}, got {value}")
    return value


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _lacking(standard: Standard, lacking: Iterable[object]) -> tuple[str, ...]:
    known = standard.indicator_ids
    seen: set[str] = set()
    for item in lacking:
        if not isinstance(item, str):
            raise PovertyInputError("lacking", f"indicator ids are text, got {_shown(item)}")
        if item not in known:
            raise PovertyInputError(
                "lacking",
                f"unknown indicator {item!r} for Decree {standard.decree} "
                f"(known: {', '.join(known)})",
            )
        if item in seen:
            raise PovertyInputError("lacking", f"indicator {item!r} is listed twice")
        seen.add(item)
    return tuple(i for i in known if i in seen)


def evaluate(
    standard: Standard,
    area: str,
    household_size: int,
    monthly_income_vnd: int,
    lacking: Iterable[str],
) -> Result:
    """Place one household under ``standard``.

    Poor: income per person at or below the line and at least ``min_lacking`` indicators
    lacking; near-poor: at or below the line and fewer lacking; average: above the line up to
    and including ``average_max``; above: higher still.
    """
    if area not in AREAS:
        raise PovertyInputError("area", f"must be 'rural' or 'urban', got {_shown(area)}")
    size = _whole_number("household_size", household_size, 1)
    income = _whole_number("monthly_income_vnd", monthly_income_vnd, 0)
    if isinstance(lacking, str):
        raise PovertyInputError("lacking", "must be a list of indicator ids")
    missing = _lacking(standard, lacking)
    checked_area: Area = "rural" if area == "rural" else "urban"
    line = standard.line(checked_area)
    # Whole dong, rounded half up; the status is decided on the figure the person is shown.
    per_person = (2 * income + size) // (2 * size)
    status: Status
    if per_person <= line.poor:
        status = "poor" if len(missing) >= standard.min_lacking else "near_poor"
    elif per_person <= line.average_max:
        status = "average"
    else:
        status = "above"
    return Result(
        status=status,
        income_per_person=per_person,
        lacking=missing,
        standard=standard.id,
        decree=standard.decree,
        citation=standard.citation,
        area=checked_area,
        poverty_line=line.poor,
        average_max=line.average_max,
        min_lacking=standard.min_lacking,
        verified=standard.verified,
    )


def parse_answers(raw: object) -> Answers:
    """Answers as the CLI reads them (a JSON object); the error names the field at fault."""
    if not isinstance(raw, dict):
        raise PovertyInputError("input", "expected a JSON object")
    for key in raw:
        if key not in _INPUT_FIELDS:
            raise PovertyInputError(
                str(key), f"unknown field (expected: {', '.join(_INPUT_FIELDS)})"
            )
    for key in ("area", "household_size", "monthly_income_vnd"):
        if key not in raw:
            raise PovertyInputError(key, "is missing")
    area = raw["area"]
    if area not in AREAS:
        raise PovertyInputError("area", f"must be 'rural' or 'urban', got {_shown(area)}")
    lacking = raw.get("lacking", [])
    if not isinstance(lacking, list):
        raise PovertyInputError(
            "lacking", f"must be a list of indicator ids, got {_shown(lacking)}"
        )
    for item in lacking:
        if not isinstance(item, str):
            raise PovertyInputError("lacking", f"indicator ids are text, got {_shown(item)}")
    on: date | None = None
    if raw.get("on") is not None:
        text = raw["on"]
        if not isinstance(text, str):
            raise PovertyInputError("on", f"must be a date YYYY-MM-DD, got {_shown(text)}")
        try:
            on = date.fromisoformat(text)
        except ValueError:
            raise PovertyInputError(
                "on", f"must be a date YYYY-MM-DD, got {_shown(text)}"
            ) from None
    return Answers(
        area="rural" if area == "rural" else "urban",
        household_size=_whole_number("household_size", raw["household_size"], 1),
        monthly_income_vnd=_whole_number("monthly_income_vnd", raw["monthly_income_vnd"], 0),
        lacking=tuple(lacking),
        on=on,
    )


def self_check(answers: Answers, standards: Standards, today: date) -> Result:
    """Evaluate under the standard in force on ``answers.on``, or ``today`` when not given."""
    standard = standards.on(answers.on or today)
    return evaluate(
        standard, answers.area, answers.household_size, answers.monthly_income_vnd, answers.lacking
    )


# --- loading ---------------------------------------------------------------------------------


class _Entry:
    """Reads one standard's mapping, naming the file, the standard and the field on error."""

    def __init__(self, path: Path, where: str, raw: Mapping[str, Any]) -> None:
        self.path, self.where, self.raw = path, where, raw

    def fail(self, field: str, message: str) -> StandardFileError:
        return StandardFileError(f"{self.path}: {self.where}, '{field}': {message}")

    def text(self, field: str, pattern: re.Pattern[str] | None = None) -> str:
        value = self.raw.get(field)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, "needs a text")
        if pattern is not None and not pattern.match(value):
            raise self.fail(field, f"{value!r} is not a valid name")
        return value

    def day(self, field: str) -> date:
        value = self.raw.get(field)
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(field, "needs a date YYYY-MM-DD")

    def number(self, field: str, value: object, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(field, f"needs a whole number of at least {minimum}")
        return value

    def names(self, field: str, values: object) -> tuple[str, ...]:
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self.fail(field, "needs a list of names")
        for value in values:
            if not _ID.match(value):
                raise self.fail(field, f"{value!r} is not a valid name")
        if len(set(values)) != len(values):
            raise self.fail(field, "lists a name twice")
        return tuple(values)


def _income(entry: _Entry, area: str) -> IncomeLine:
    income = entry.raw.get("income")
    if not isinstance(income, dict) or not isinstance(income.get(area), dict):
        raise entry.fail("income", f"needs '{area}' with 'poor' and 'average_max'")
    line = income[area]
    poor = entry.number(f"income.{area}.poor", line.get("poor"), 1)
    average_max = entry.number(f"income.{area}.average_max", line.get("average_max"), 1)
    if average_max <= poor:
        raise entry.fail(f"income.{area}.average_max", "must be above 'poor'")
    return IncomeLine(poor, average_max)


def _indicators(entry: _Entry, dimensions: tuple[str, ...]) -> tuple[Indicator, ...]:
    raw = entry.raw.get("indicators")
    if not isinstance(raw, list) or not raw:
        raise entry.fail("indicators", "needs a list of indicators")
    found: list[Indicator] = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise entry.fail(f"indicators #{number}", "needs a mapping")
        sub = _Entry(entry.path, f"{entry.where}, indicator #{number}", item)
        indicator_id = sub.text("id", _ID)
        sub.where = f"{entry.where}, indicator '{indicator_id}'"
        unknown = set(item) - {"id", "dimension", "label", "question", "support"}
        if unknown:
            raise sub.fail(sorted(unknown)[0], "unknown field")
        dimension = sub.text("dimension", _ID)
        if dimension not in dimensions:
            raise sub.fail("dimension", f"{dimension!r} is not in the standard's dimensions")
        keys = [sub.text(f, _KEY) for f in ("label", "question", "support")]
        found.append(Indicator(indicator_id, dimension, *keys))
    ids = [i.id for i in found]
    for indicator_id in ids:
        if ids.count(indicator_id) > 1:
            raise entry.fail("indicators", f"indicator id '{indicator_id}' is used twice")
    return tuple(found)


_STANDARD_FIELDS = {
    "id",
    "decree",
    "citation",
    "valid_from",
    "valid_to",
    "verified",
    "unverified",
    "form",
    "income",
    "min_lacking",
    "dimensions",
    "indicators",
}


def _standard(path: Path, number: int, raw: object) -> Standard:
    if not isinstance(raw, dict):
        raise StandardFileError(f"{path}: standard #{number}: needs a mapping")
    entry = _Entry(path, f"standard #{number}", raw)
    standard_id = entry.text("id", _ID)
    entry.where = f"standard '{standard_id}'"
    unknown = set(raw) - _STANDARD_FIELDS
    if unknown:
        raise entry.fail(sorted(unknown)[0], "unknown field")
    valid_from, valid_to = entry.day("valid_from"), entry.day("valid_to")
    if valid_to < valid_from:
        raise entry.fail("valid_to", "is before 'valid_from'")
    verified = raw.get("verified")
    if not isinstance(verified, bool):
        raise entry.fail("verified", "needs true or false")
    unverified = entry.names("unverified", raw.get("unverified", []))
    for part in unverified:
        if part not in _PARTS:
            raise entry.fail("unverified", f"{part!r} is not one of {', '.join(_PARTS)}")
    if verified == bool(unverified):
        raise entry.fail("unverified", "lists the unchecked parts exactly when verified is false")
    form = raw.get("form")
    if form is not None and (not isinstance(form, str) or not _ID.match(form)):
        raise entry.fail("form", "needs a form id or null")
    dimensions = entry.names("dimensions", raw.get("dimensions"))
    if not dimensions:
        raise entry.fail("dimensions", "needs at least one dimension")
    indicators = _indicators(entry, dimensions)
    min_lacking = entry.number("min_lacking", raw.get("min_lacking"), 1)
    if min_lacking > len(indicators):
        raise entry.fail("min_lacking", "is more than the number of indicators")
    return Standard(
        id=standard_id,
        decree=entry.text("decree"),
        citation=entry.text("citation"),
        valid_from=valid_from,
        valid_to=valid_to,
        verified=verified,
        unverified=unverified,
        form=form,
        rural=_income(entry, "rural"),
        urban=_income(entry, "urban"),
        min_lacking=min_lacking,
        dimensions=dimensions,
        indicators=indicators,
    )


def parse_standards(text: str, path: Path = STANDARD_FILE) -> Standards:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise StandardFileError(f"{path}: not valid YAML: {error}") from None
    items = raw.get("standards") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise StandardFileError(f"{path}: needs a non-empty list 'standards'")
    standards = [_standard(path, number, item) for number, item in enumerate(items, 1)]
    seen: set[str] = set()
    for standard in standards:
        if standard.id in seen:
            raise StandardFileError(f"{path}: standard id '{standard.id}' is used twice")
        seen.add(standard.id)
    ordered = sorted(standards, key=lambda s: s.valid_from)
    for earlier, later in itertools.pairwise(ordered):
        if later.valid_from <= earlier.valid_to:
            raise StandardFileError(
                f"{path}: standard '{later.id}' starts on {later.valid_from}, while "
                f"'{earlier.id}' is still in force (until {earlier.valid_to})"
            )
    return Standards(tuple(ordered))


def load_standards(path: Path = STANDARD_FILE) -> Standards:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise StandardFileError(f"{path}: cannot be read: {error}") from None
    return parse_standards(text, path)


@lru_cache(maxsize=1)
def default_standards() -> Standards:
    """rules/poverty_standard.yaml, read once per process."""
    return load_standards()


def extract_keys(
    fileobj: BinaryIO, keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, str, list[str]]]:
    """A Babel extractor for the message keys the standard file names (see babel.cfg)."""
    standards = parse_standards(fileobj.read().decode("utf-8"))
    seen: set[str] = set()
    for standard in standards:
        for key in standard.message_keys():
            if key not in seen:
                seen.add(key)
                yield 1, "", key, []
