"""Data sets (rules/datasets/*.yaml): periodic figures an org unit reports, DHIS2-style.

A data set declares its period type, the org-unit level that reports it, its fields with
the aliases people type in one-message quick entry, its validation rules (errors and
warnings, over this period's values, last period's ``prev`` and the history's ``hist``) and
its indicators. The form the one engine runs is derived from it: the data set is validated
when it loads, and a broken file stops start-up naming the file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.forms.context import FormContext
from bot.forms.model import CheckDef, FieldDef, FormDef, FormFileError
from bot.forms.parsing import ParseError, parse_month
from bot.forms.types import field_type
from bot.text import fold
from rules.aggregate import Indicator
from rules.expr import ExpressionError, evaluate, names_in
from rules.periods import Month

__all__ = [
    "DATASETS_DIR",
    "DataSet",
    "DataSetError",
    "QuickEntry",
    "check_values",
    "dataset_forms",
    "get_dataset",
    "load_dataset",
    "load_datasets",
    "parse_quick_entry",
]

DATASETS_DIR = Path(__file__).resolve().parent.parent / "rules" / "datasets"
NUMERIC_TYPES = {"integer", "decimal", "money"}
_MONTH_TEXT = re.compile(r"^[0-9]{4}-[0-9]{2}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9]{0,19}$")


class DataSetError(FormFileError):
    """A broken data set file; the message names the file and the field."""


class DataFieldDef(FieldDef):
    """A form field plus what only a data set needs."""

    # Words that name the field in quick entry ("ngheo 12"); folded, one word each.
    aliases: tuple[str, ...] = ()
    # A field quick entry leaves out: last period's value (stocks, such as households), zero
    # (events of the month, such as exits), or asked.
    quick_default: Literal["previous", "zero"] | None = None

    @model_validator(mode="after")
    def _dataset_rules(self) -> DataFieldDef:
        if self.type not in NUMERIC_TYPES | {"text", "yes_no"}:
            raise ValueError(f"a data set field cannot be of type {self.type}")
        for alias in self.aliases:
            if not _ALIAS.match(alias):
                raise ValueError(f"alias {alias!r}: one word of lower-case letters or digits")
        if self.quick_default == "zero" and self.type not in NUMERIC_TYPES:
            raise ValueError("quick_default zero needs a number field")
        return self

    def as_field(self) -> FieldDef:
        return FieldDef(**self.model_dump(exclude={"aliases", "quick_default"}))


class IndicatorDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    label: str
    numerator: str
    denominator: str = "1"
    factor: float = 100.0
    decimals: int = Field(default=1, ge=0, le=4)


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    first: str = Field(alias="from", pattern=_MONTH_TEXT.pattern)
    last: str = Field(alias="to", pattern=_MONTH_TEXT.pattern)

    @property
    def months(self) -> tuple[Month, Month]:
        return Month.parse(self.first), Month.parse(self.last)


class ReductionCriterion(BaseModel):
    """ "Down by more than N % against the start of the period" (strictly more)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    indicator: str
    more_than_percent: float = Field(default=50.0, gt=0, lt=100)


class RateDropCriterion(BaseModel):
    """ "Rate down at least N points a year for Y consecutive years"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    indicator: str
    points: float = Field(default=4.0, gt=0)
    years: int = Field(default=3, ge=1, le=10)


class Criteria(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reduction: ReductionCriterion | None = None
    rate_drop: RateDropCriterion | None = None


class DataSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    version: int = Field(ge=1)
    title: str
    intro: str | None = None
    period_type: Literal["monthly"] = "monthly"
    org_unit_level: str = Field(min_length=1, max_length=40)
    receipt_prefix: str = Field(default="BC", pattern=r"^[A-Z]{2,4}$")
    baseline: Window
    history_months: int = Field(default=12, ge=1, le=60)
    chart_field: str | None = None
    fields: tuple[DataFieldDef, ...] = Field(min_length=1)
    checks: tuple[CheckDef, ...] = ()
    indicators: tuple[IndicatorDef, ...] = ()
    criteria: Criteria = Criteria()

    @model_validator(mode="after")
    def _consistent(self) -> DataSet:
        seen: dict[str, str] = {}
        for fdef in self.fields:
            for alias in (fdef.id.replace("_", ""), *fdef.aliases):
                if alias in seen and seen[alias] != fdef.id:
                    raise ValueError(
                        f"field '{fdef.id}': alias {alias!r} already names '{seen[alias]}'"
                    )
                seen[alias] = fdef.id
        numeric = set(self.numeric_fields)
        indicator_ids: set[str] = set()
        for indicator in self.indicators:
            if indicator.id in indicator_ids:
                raise ValueError(f"indicator '{indicator.id}': duplicate id")
            indicator_ids.add(indicator.id)
            for expression in (indicator.numerator, indicator.denominator):
                try:
                    unknown = names_in(expression) - numeric
                except ExpressionError as error:
                    raise ValueError(f"indicator '{indicator.id}': {error}") from None
                if unknown:
                    names = ", ".join(sorted(unknown))
                    raise ValueError(f"indicator '{indicator.id}': not a number field: {names}")
        for name, criterion in (
            ("reduction", self.criteria.reduction),
            ("rate_drop", self.criteria.rate_drop),
        ):
            if criterion is not None and criterion.indicator not in indicator_ids:
                raise ValueError(f"criteria.{name}: unknown indicator '{criterion.indicator}'")
        if self.chart_field is not None and self.chart_field not in numeric:
            raise ValueError(f"chart_field: '{self.chart_field}' is not a number field")
        first, last = self.baseline.months
        if first > last:
            raise ValueError("baseline: 'from' is after 'to'")
        self.form  # noqa: B018 - derive the form now, so a broken rule stops the load
        return self

    @cached_property
    def form(self) -> FormDef:
        """The form the engine runs: the same fields and checks, no submit target of its own."""
        return FormDef(
            id=self.id,
            version=self.version,
            title=self.title,
            intro=self.intro,
            fields=tuple(f.as_field() for f in self.fields),
            checks=self.checks,
        )

    @property
    def numeric_fields(self) -> list[str]:
        return [f.id for f in self.fields if f.type in NUMERIC_TYPES]

    def field(self, field_id: str) -> DataFieldDef:
        for fdef in self.fields:
            if fdef.id == field_id:
                return fdef
        raise KeyError(field_id)

    @cached_property
    def aliases(self) -> dict[str, str]:
        """Every word that names a field in quick entry, folded: the id (without "_") too."""
        found: dict[str, str] = {}
        for fdef in self.fields:
            found[fdef.id.replace("_", "")] = fdef.id
            found.update((alias, fdef.id) for alias in fdef.aliases)
        return found

    def indicator_defs(self) -> list[Indicator]:
        return [Indicator(i.id, i.numerator, i.denominator, i.factor) for i in self.indicators]

    def indicator(self, indicator_id: str) -> IndicatorDef:
        return next(i for i in self.indicators if i.id == indicator_id)

    # --- the natural key: (data set, period, unit), period first so ranges are one scan ---

    def natural_key(self, unit_code: str, period: Month) -> str:
        return f"{self.id}/{period.iso()}/{unit_code}"

    def key_range(self, first: Month, last: Month) -> tuple[str, str]:
        """[low, high) of the natural keys of the periods first..last, every unit."""
        return f"{self.id}/{first.iso()}/", f"{self.id}/{(last + 1).iso()}/"

    @staticmethod
    def split_key(key: str) -> tuple[Month, str]:
        _, period, unit_code = key.split("/", 2)
        return Month.parse(period), unit_code


# --- loading -------------------------------------------------------------------------------------


def load_dataset(path: Path) -> DataSet:
    raw: Any = None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return DataSet.model_validate(raw)
    except yaml.YAMLError as error:
        raise DataSetError(f"{path}: not valid YAML: {error}") from None
    except UnicodeDecodeError as error:
        raise DataSetError(f"{path}: not UTF-8 text: {error}") from None
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        raise DataSetError(f"{path}: {_where(raw, first['loc'])}{message}") from None
    except FormFileError as error:
        raise DataSetError(f"{path}: {error}") from None


def _where(raw: object, loc: tuple[int | str, ...]) -> str:
    """('fields', 3, 'max') as "field 'ethnic_poor', 'max': " for a human."""
    if len(loc) >= 2 and loc[0] == "fields" and isinstance(loc[1], int) and isinstance(raw, dict):
        items = raw.get("fields") or []
        item = items[loc[1]] if loc[1] < len(items) else None
        name = item.get("id", f"#{loc[1] + 1}") if isinstance(item, dict) else f"#{loc[1] + 1}"
        rest = ", ".join(repr(part) for part in loc[2:])
        return f"field '{name}'" + (f", {rest}: " if rest else ": ")
    return (".".join(str(part) for part in loc) + ": ") if loc else ""


@lru_cache(maxsize=8)
def get_dataset(dataset_id: str) -> DataSet:
    """A data set of rules/datasets/ by id, read once per process."""
    return load_dataset(DATASETS_DIR / f"{dataset_id}.yaml")


def load_datasets(directory: Path = DATASETS_DIR) -> dict[str, DataSet]:
    found: dict[str, DataSet] = {}
    for path in sorted(directory.glob("*.yaml")):
        dataset = load_dataset(path)
        if dataset.id in found:
            raise DataSetError(f"{path}: data set id '{dataset.id}' is used twice")
        found[dataset.id] = dataset
    return found


def dataset_forms(directory: Path = DATASETS_DIR) -> dict[str, FormDef]:
    """The forms derived from the data sets, for the registry the dispatcher runs forms from."""
    return {dataset.id: dataset.form for dataset in load_datasets(directory).values()}


# --- quick entry: "bc 10/2026 tong 412 ngheo 12 can 9 thoat 2" -----------------------------------

_GLUED = re.compile(r"(?<=[^\W\d_])[:=]")  # "tong=412", "ngheo: 12"
_SEPARATOR = re.compile(r"[,;](?=\s|$)")


@dataclass
class QuickProblem:
    field_id: str | None
    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class QuickEntry:
    period: tuple[int, int] | None = None
    period_text: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    # Fields typed as "=" / "nhu cu": last period's value.
    same: list[str] = field(default_factory=list)
    problems: list[QuickProblem] = field(default_factory=list)


_SAME = {"=", "nhu cu", "nc", "giu nguyen"}


def parse_quick_entry(dataset: DataSet, text: str, ctx: FormContext) -> QuickEntry:
    """A period, then pairs of a field's alias and its value typed as people type it."""
    tokens = _SEPARATOR.sub(" ", _GLUED.sub(" ", text)).split()
    entry = QuickEntry()
    i = 0
    head: list[str] = []
    while i < len(tokens) and fold(tokens[i]) not in dataset.aliases:
        head.append(tokens[i])
        i += 1
    if head:
        entry.period_text = " ".join(head)
        try:
            entry.period = parse_month(entry.period_text, ctx.today)
        except ParseError:
            entry.problems.append(
                QuickProblem(None, "village.quick.unknown", {"typed": entry.period_text[:40]})
            )
    while i < len(tokens):
        field_id = dataset.aliases[fold(tokens[i])]
        i += 1
        start = i
        while i < len(tokens) and fold(tokens[i]) not in dataset.aliases:
            i += 1
        typed = " ".join(tokens[start:i])
        fdef = dataset.form.field(field_id)
        if not typed:
            entry.problems.append(QuickProblem(field_id, "village.quick.no_value"))
            continue
        if fold(typed) in _SAME:
            entry.same.append(field_id)
            entry.values.pop(field_id, None)
            continue
        try:
            entry.values[field_id] = field_type(fdef).read(fdef, typed, ctx, (None, None))
        except ParseError as error:
            entry.problems.append(QuickProblem(field_id, error.key, dict(error.params)))
    return entry


def check_values(
    dataset: DataSet, values: dict[str, Any], ctx: FormContext
) -> tuple[dict[str, Any], list[QuickProblem]]:
    """Values given outside the engine (quick entry, defaults) checked against each field's
    bounds as the engine would check them typed; a value out of bounds is dropped and said.
    A value for a question that is not asked (loan amount with no loans) is dropped too."""
    kept: dict[str, Any] = {}
    problems: list[QuickProblem] = []
    form = dataset.form
    for fdef in form.fields:
        if fdef.id not in values:
            continue
        names = {f.id: _number(kept.get(f.id)) for f in form.fields}
        if fdef.relevant and not _truthy(fdef.relevant, names):
            continue
        if values[fdef.id] is None:
            if not fdef.required:
                kept[fdef.id] = None  # skipped, as "bỏ qua" would
            continue
        bounds = (_bound(fdef.min, names), _bound(fdef.max, names))
        try:
            kept[fdef.id] = field_type(fdef).keep(fdef, values[fdef.id], ctx, bounds)
        except ParseError as error:
            problems.append(QuickProblem(fdef.id, error.key, dict(error.params)))
    return kept, problems


def _number(value: Any) -> Any:
    return Decimal(value) if isinstance(value, str) and value[:1].isdigit() else value


def _truthy(expression: str, names: dict[str, Any]) -> bool:
    try:
        return bool(evaluate(expression, names))
    except ExpressionError:
        return False


def _bound(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, str):
        try:
            return evaluate(value, names)
        except ExpressionError:
            return None
    return value
