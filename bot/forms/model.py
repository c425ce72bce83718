"""The form file format (rules/forms/*.yaml), validated when it loads."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rules.expr import ExpressionError, names_in

__all__ = ["CheckDef", "FieldDef", "FormDef", "FormFileError", "load_form", "load_forms"]

FieldTypeName = Literal[
    "text",
    "person_name",
    "integer",
    "decimal",
    "money",
    "choice",
    "multi_choice",
    "yes_no",
    "date",
    "phone",
    "cccd",
    "org_unit",
    "attachment",
]
CHOICE_TYPES = {"choice", "multi_choice"}
_BUILTIN_NAMES = {"today", "len", "min", "max", "abs", "round", "sum", "True", "False", "None"}
# Given by the caller when it has them (a data set's last period, its history); a rule that
# reads one the caller did not give is a warning not raised, never an error.
CONTEXT_NAMES = {"prev", "hist"}


class FormFileError(ValueError):
    """A broken form file; the message names the file and the field."""


class FieldDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,30}$")
    type: FieldTypeName
    prompt: str
    label: str | None = None
    hint: str | None = None
    required: bool = True
    min: int | float | str | None = None
    max: int | float | str | None = None
    min_length: int = 1
    max_length: int = 500
    choices: tuple[str, ...] = ()
    relevant: str | None = None
    # None means the safe default for the type: an ID number is encrypted unless a form says so.
    store: Literal["plain", "encrypted", "hashed"] | None = None
    personal: bool = False
    grouping: bool = True
    accept: tuple[Literal["photo", "document"], ...] = ("photo", "document")

    @model_validator(mode="after")
    def _consistent(self) -> FieldDef:
        if self.type in CHOICE_TYPES and not self.choices:
            raise ValueError("a choice field needs 'choices'")
        if self.type not in CHOICE_TYPES and self.choices:
            raise ValueError(f"'choices' makes no sense for type {self.type}")
        if self.store not in (None, "plain") and self.type != "cccd":
            raise ValueError("only cccd fields can be stored encrypted or hashed")
        numeric = isinstance(self.min, int | float) and isinstance(self.max, int | float)
        if numeric and self.min > self.max:  # type: ignore[operator]
            raise ValueError("min is greater than max")
        if self.min_length > self.max_length:
            raise ValueError("min_length is greater than max_length")
        return self

    @property
    def storage(self) -> str:
        return self.store or ("encrypted" if self.type == "cccd" else "plain")

    @property
    def label_key(self) -> str:
        return self.label or f"{self.prompt}.label"


class CheckDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str
    message: str
    fields: tuple[str, ...] = ()
    # An error re-asks the first of ``fields``; a warning lets the person keep the answers
    # with a short comment (stored under answers["_comments"][key]).
    level: Literal["error", "warning"] = "error"
    id: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,40}$")

    @property
    def key(self) -> str:
        return self.id or self.message


class FormDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    version: int = Field(ge=1)
    title: str
    intro: str | None = None
    summary: bool = True
    fields: tuple[FieldDef, ...] = Field(min_length=1)
    checks: tuple[CheckDef, ...] = ()
    on_submit: str | None = None

    @model_validator(mode="after")
    def _references(self) -> FormDef:
        seen: set[str] = set()
        for field in self.fields:
            if field.id in seen:
                raise ValueError(f"field '{field.id}': duplicate id")
            seen.add(field.id)
        for field in self.fields:
            for expression in (field.relevant, field.min, field.max):
                if isinstance(expression, str):
                    _check_names(expression, seen, f"field '{field.id}'")
        keys: set[str] = set()
        for check in self.checks:
            if check.level == "warning" and check.key in keys:
                raise ValueError(f"check {check.rule!r}: two warnings share the key {check.key!r}")
            keys.add(check.key)
            _check_names(check.rule, seen | CONTEXT_NAMES, f"check {check.rule!r}")
            for name in check.fields:
                if name not in seen:
                    raise ValueError(f"check {check.rule!r}: unknown field '{name}'")
        return self

    def field(self, field_id: str) -> FieldDef:
        for field in self.fields:
            if field.id == field_id:
                return field
        raise KeyError(field_id)

    def index(self, field_id: str) -> int:
        return [f.id for f in self.fields].index(field_id)


def _check_names(expression: str, known: set[str], where: str) -> None:
    try:
        unknown = names_in(expression) - known - _BUILTIN_NAMES
    except ExpressionError as error:
        raise ValueError(f"{where}: {error}") from None
    if unknown:
        raise ValueError(f"{where}: unknown name(s) {', '.join(sorted(unknown))}")


def load_form(path: Path) -> FormDef:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return FormDef.model_validate(raw)
    except yaml.YAMLError as error:
        raise FormFileError(f"{path}: not valid YAML: {error}") from None
    except UnicodeDecodeError as error:
        raise FormFileError(f"{path}: not UTF-8 text: {error}") from None
    except ValidationError as error:
        first = error.errors()[0]
        location = _describe_location(raw, first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise FormFileError(f"{path}: {location}{message}") from None


def _describe_location(raw: object, loc: tuple[int | str, ...]) -> str:
    """Turn ('fields', 3, 'type') into "field 'exit_year', 'type': " for a human."""
    if len(loc) >= 2 and loc[0] == "fields" and isinstance(loc[1], int) and isinstance(raw, dict):
        fields = raw.get("fields") or []
        item = fields[loc[1]] if loc[1] < len(fields) else None
        name = item.get("id", f"#{loc[1] + 1}") if isinstance(item, dict) else f"#{loc[1] + 1}"
        rest = ", ".join(repr(part) for part in loc[2:])
        return f"field '{name}'" + (f", {rest}: " if rest else ": ")
    return (".".join(str(part) for part in loc) + ": ") if loc else ""


def load_forms(directory: Path) -> dict[str, FormDef]:
    forms: dict[str, FormDef] = {}
    for path in sorted(directory.glob("*.yaml")):
        form = load_form(path)
        if form.id in forms:
            raise FormFileError(f"{path}: form id '{form.id}' is used twice")
        forms[form.id] = form
    return forms
