"""The registry of field types: how each one is asked, read and shown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from bot.core.messages import Button, Incoming, Reply
from bot.forms.context import FormContext, UnitInfo
from bot.forms.model import FieldDef
from bot.forms.parsing import (
    ParseError,
    mask_cccd,
    parse_cccd,
    parse_date,
    parse_decimal,
    parse_integer,
    parse_money,
    parse_phone,
    parse_yes_no,
)
from bot.text import bare_place_name, fold

__all__ = ["FIELD_TYPES", "Answer", "FieldType", "Navigate", "answer_payload", "field_type"]

UNIT_PAGE = 8


@dataclass(frozen=True, slots=True)
class Answer:
    value: Any


@dataclass(frozen=True, slots=True)
class Navigate:
    """The input moved within a field (a unit menu, a multi-choice toggle) without answering."""

    cursor: dict[str, Any]


Bounds = Callable[[FieldDef], tuple[Any, Any]]


def answer_payload(field: FieldDef, value: str) -> str:
    return f"f:{field.id}={value}"


def _payload_value(field: FieldDef, incoming: Incoming, marker: str = "=") -> str | None:
    prefix = f"f:{field.id}{marker}"
    if incoming.payload and incoming.payload.startswith(prefix):
        return incoming.payload[len(prefix) :]
    return None


class FieldType:
    """Base: a text answer read by ``read``; subclasses override what differs."""

    name = "text"

    def buttons(self, field: FieldDef, ctx: FormContext, cursor: dict[str, Any]) -> list[Button]:
        return []

    def prompt(self, field: FieldDef, ctx: FormContext, cursor: dict[str, Any]) -> Reply:
        text = ctx.t(field.prompt)
        if field.hint:
            text = f"{text}\n{ctx.t(field.hint)}"
        return Reply(text, tuple(self.buttons(field, ctx, cursor)))

    def parse(
        self,
        field: FieldDef,
        incoming: Incoming,
        ctx: FormContext,
        cursor: dict[str, Any],
        bounds: tuple[Any, Any],
    ) -> Answer | Navigate:
        if incoming.text is None:
            raise ParseError("error.expected_text")
        return Answer(self.read(field, incoming.text, ctx, bounds))

    def read(self, field: FieldDef, text: str, ctx: FormContext, bounds: tuple[Any, Any]) -> Any:
        if len(text) < field.min_length:
            raise ParseError("error.text.too_short", min=field.min_length)
        if len(text) > field.max_length:
            raise ParseError("error.text.too_long", max=field.max_length, got=len(text))
        return text

    def display(self, field: FieldDef, value: Any, ctx: FormContext) -> str:
        return str(value)

    def keep(self, field: FieldDef, value: Any, ctx: FormContext, bounds: tuple[Any, Any]) -> Any:
        """An earlier stored value given again ("như cũ"): checked as a typed one would be."""
        return value


class PersonNameType(FieldType):
    """A person's name: words only, capitalised as names are written when typed all in
    small or all in capital letters ("nguyen van an" -> "Nguyen Van An", "k'brếu" ->
    "K'Brếu"); a name typed with its own capitals is kept as it is."""

    name = "person_name"

    def read(self, field: FieldDef, text: str, ctx: FormContext, bounds: tuple[Any, Any]) -> Any:
        if any(ch.isdigit() for ch in text):
            # Most often the phone number, typed a question early.
            raise ParseError("error.person_name.digits")
        words = " ".join(text.split())
        if not any(ch.isalpha() for ch in words):
            raise ParseError("error.person_name.letters")
        if words.islower() or words.isupper():
            words = words.title()
        return super().read(field, words, ctx, bounds)


class NumberType(FieldType):
    name = "integer"
    error = "error.integer.range"

    def convert(self, text: str) -> int | Decimal:
        return parse_integer(text)

    def read(self, field: FieldDef, text: str, ctx: FormContext, bounds: tuple[Any, Any]) -> Any:
        return self.within(field, self.convert(text), ctx, bounds)

    def keep(self, field: FieldDef, value: Any, ctx: FormContext, bounds: tuple[Any, Any]) -> Any:
        return self.within(field, Decimal(value) if isinstance(value, str) else value, ctx, bounds)

    def within(
        self, field: FieldDef, value: int | Decimal, ctx: FormContext, bounds: tuple[Any, Any]
    ) -> Any:
        # A bound written 0.3 is a binary float just above or below 0,3; compare it as typed.
        low, high = (Decimal(str(b)) if isinstance(b, float) else b for b in bounds)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ParseError(
                self.error,
                min=self.show(low, ctx, field) if low is not None else "",
                max=self.show(high, ctx, field) if high is not None else "",
            )
        return value if isinstance(value, int) else str(value)

    def show(self, value: Any, ctx: FormContext, field: FieldDef) -> str:
        # Years and codes are numbers nobody writes with a thousands separator.
        return ctx.t.number(value) if field.grouping else str(value)

    def display(self, field: FieldDef, value: Any, ctx: FormContext) -> str:
        return self.show(Decimal(value) if isinstance(value, str) else value, ctx, field)


class DecimalType(NumberType):
    name = "decimal"
    error = "error.decimal.range"

    def convert(self, text: str) -> int | Decimal:
        return parse_decimal(text)


class MoneyType(NumberType):
    name = "money"
    error = "error.money.range"

    def convert(self, text: str) -> int | Decimal:
        return parse_money(text)

    def show(self, value: Any, ctx: FormContext, field: FieldDef) -> str:
        return ctx.t.money(int(value))


class YesNoType(FieldType):
    name = "yes_no"

    def buttons(self, field: FieldDef, ctx: FormContext, cursor: dict[str, Any]) -> list[Button]:
        return [
            Button(ctx.t("answer.yes"), answer_payload(field, "1")),
            Button(ctx.t("answer.no"), answer_payload(field, "0")),
        ]

    def parse(
        self,
        field: FieldDef,
        incoming: Incoming,
        ctx: FormContext,
        cursor: dict[str, Any],
        bounds: tuple[Any, Any],
    ) -> Answer | Navigate:
        chosen = _payload_value(field, incoming)
        if chosen in ("0", "1"):
            return Answer(chosen == "1")
        return super().parse(field, incoming, ctx, cursor, bounds)

    def read(self, field: FieldDef, text: str, ctx: FormContext, bounds: tuple[Any, Any]) -> Any:
        return parse_yes_no(text)

    def display(self, field: FieldDef, value: Any, ctx: FormContext) -> str:
        return ctx.t("answer.yes" if value else "answer.no")


class ChoiceType(FieldType):
    name = "choice"

    def buttons(self, field: FieldDef, ctx: FormContext, cursor: dict[str, Any]) -> list[Button]:
        return [Button(ctx.t(f"choice.{c}"), answer_payload(field, c)) for c in field.choices]

    def parse(
        self,
        field: FieldDef,
        incoming: Incoming,
        ctx: FormContext,
        cursor: dict[str, Any],
        bounds: tuple[Any, Any],
    ) -> Answer | Navigate:
        chosen = _payload_value(field, incoming)
        if chosen is not None:
            if chosen not in field.choices:
                raise ParseError("error.choice", options=self._options(field, ctx))
            return Answer(chosen)
        return super().parse(field, incoming, ctx, cursor, bounds)

    def read(self, field: FieldDef, text: str, ctx: FormContext, bounds: tuple[Any, Any]) -> Any:
        return match_choice(field, text, ctx)

    def _options(self, field: FieldDef, ctx: FormContext) -> str:
        return ", ".join(f"{i}. {ctx.t(f'choice.{c}')}" for i, c in enumerate(field.choices, 1))

    def display(self, field: FieldDef, value: Any, ctx: FormContext) -> str:
        return ctx.t(f"choice.{value}")


def match_choice(field: FieldDef, text: str, ctx: FormContext) -> str:
    """A choice typed as its number, its label or the start of it, with or without accents."""
    typed = fold(text).strip(" .")
    if typed.isdigit() and 1 <= int(typed) <= len(field.choices):
        return field.choices[int(typed) - 1]
    labels = {c: fold(ctx.t(f"choice.{c}")) for c in field.choices}
    exact = [c for c, label in labels.items() if typed in (label, fold(c))]
    partial = [c for c, label in labels.items() if typed and typed in label]
    for found in (exact, partial):
        if len(found) == 1:
            return found[0]
    options = ", ".join(f"{i}. {ctx.t(f'choice.{c}')}" for i, c in enumerate(field.choices, 1))
    raise ParseError("error.choice", options=options)


class MultiChoiceType(ChoiceType):
    name = "multi_choice"

    def buttons(self, field: FieldDef, ctx: FormContext, cursor: dict[str, Any]) -> list[Button]:
        picked = set(cursor.get("picked", []))
        buttons = [
            Button(("✓ " if c in picked else "") + ctx.t(f"choice.{c}"), f"f:{field.id}+{c}")
            for c in field.choices
        ]
        return [*buttons, Button(ctx.t("form.multi.done"), f"f:{field.id}=!done")]

    def parse(
        self,
        field: FieldDef,
        incoming: Incoming,
        ctx: FormContext,
        cursor: dict[str, Any],
        bounds: tuple[Any, Any],
    ) -> Answer | Navigate:
        picked: list[str] = list(cursor.get("picked", []))
        toggled = _payload_value(field, incoming, "+")
        if toggled is not None:
            if toggled not in field.choices:
                raise ParseError("error.choice", options=self._options(field, ctx))
            picked = (
                [c for c in picked if c != toggled] if toggled in picked else [*picked, toggled]
            )
            return Navigate({"picked": [c for c in field.choices if c in picked]})
        if _payload_value(field, incoming) == "!done":
            if not picked:
                raise ParseError("error.multi.empty")
            return Answer(picked)
        if incoming.text is None:
            raise ParseError("error.expected_text")
        # Folded first, so "1 và 3" splits like "1 va 3".
        parts = fold(incoming.text).replace(";", ",").replace(" va ", ",").split(",")
        if len(parts) == 1 and all(p.isdigit() for p in parts[0].split()):
            parts = parts[0].split()
        chosen = [match_choice(field, part, ctx) for part in parts if part.strip()]
        if not chosen:
            raise ParseError("error.multi.empty")
        return Answer([c for c in field.choices if c in chosen])

    def display(self, field: FieldDef, value: Any, ctx: FormContext) -> str:
        return ", ".join(ctx.t(f"choice.{c}") for c in value)


class DateType(FieldType):
    name = "date"

    def read(self, field: FieldDef, text: str, ctx: FormContext, bounds: tuple[Any, Any]) -> Any:
        value = parse_date(text, ctx.today)
        low, high = bounds
        if (isinstance(low, date) and value < low) or (isinstance(high, date) and value > high):
            raise ParseError(
                "error.date.range",
                min=ctx.t.date(low) if isinstance(low, date) else "",
                max=ctx.t.date(high) if isinstance(high, date) else "",
            )
        return value.isoformat()

    def display(self, field: FieldDef, value: Any, ctx: FormContext) -> str:
        return ctx.t.date(date.fromisoformat(value))


class PhoneType(FieldType):
    name = "phone"

    def parse(
        self,
        field: FieldDef,
        incoming: Incoming,
        ctx: FormContext,
        cursor: dict[str, Any],
        bounds: tuple[Any, Any],
    ) -> Answer | Navigate:
        if incoming.contact is not None:
            return Answer(parse_phone(incoming.contact.phone))
        return super().parse(field, incoming, ctx, cursor, bounds)

    def prompt(self, field: FieldDef, ctx: FormContext, cursor: dict[str, Any]) -> Reply:
        base = super().prompt(field, ctx, cursor)
        return Reply(base.text, base.buttons, extra={"request_contact": ctx.t("form.share_phone")})

    def read(self, field: FieldDef, text: str, ctx: FormContext, bounds: tuple[Any, Any]) -> Any:
        return parse_phone(text)


class CccdType(FieldType):
    name = "cccd"

    def read(self, field: FieldDef, text: str, ctx: FormContext, bounds: tuple[Any, Any]) -> Any:
        number = parse_cccd(text)
        value: dict[str, str] = {"masked": mask_cccd(number)}
        if field.storage != "plain" and ctx.vault is None:
            raise RuntimeError("a cccd field stored protected needs a vault")
        if ctx.vault is not None:
            value["hash"] = ctx.vault.keyed_hash(number)
            if field.storage == "encrypted":
                value["enc"] = ctx.vault.encrypt(number)
        if field.storage == "plain":
            value["plain"] = number
        return value

    def display(self, field: FieldDef, value: Any, ctx: FormContext) -> str:
        return str(value["masked"])


class AttachmentType(FieldType):
    name = "attachment"

    def parse(
        self,
        field: FieldDef,
        incoming: Incoming,
        ctx: FormContext,
        cursor: dict[str, Any],
        bounds: tuple[Any, Any],
    ) -> Answer | Navigate:
        file = incoming.attachment
        if file is None or file.kind not in field.accept:
            raise ParseError(
                "error.attachment", kinds=", ".join(ctx.t(f"attachment.{k}") for k in field.accept)
            )
        return Answer(
            {
                "file_ref": file.file_ref,
                "filename": file.filename,
                "mime_type": file.mime_type,
                "kind": file.kind,
            }
        )

    def display(self, field: FieldDef, value: Any, ctx: FormContext) -> str:
        return ctx.t("attachment.received", filename=value.get("filename") or "")


class OrgUnitType(FieldType):
    """A cascading menu down the tree to a unit without children; or the name typed."""

    name = "org_unit"

    @staticmethod
    def _at(ctx: FormContext, cursor: dict[str, Any]) -> str | None:
        """Where the menu stands; a tree with one root (one province) starts inside it."""
        assert ctx.units is not None
        at: str | None = cursor.get("at")
        if at is None:
            roots = ctx.units.children(None)
            if len(roots) == 1 and roots[0].has_children:
                return roots[0].code
        return at

    def buttons(self, field: FieldDef, ctx: FormContext, cursor: dict[str, Any]) -> list[Button]:
        assert ctx.units is not None
        at = self._at(ctx, cursor)
        page: int = cursor.get("page", 0)
        matches: list[str] | None = cursor.get("matches")
        if matches:
            units = [u for u in (ctx.units.get(code) for code in matches) if u is not None]
        else:
            units = ctx.units.children(at)
        shown = units[page * UNIT_PAGE : (page + 1) * UNIT_PAGE]
        buttons = [
            Button(self._title(u, ctx, bool(matches)), self._payload(field, u)) for u in shown
        ]
        if len(units) > (page + 1) * UNIT_PAGE:
            buttons.append(Button(ctx.t("form.unit.more"), f"f:{field.id}@{at or ''}#{page + 1}"))
        current = ctx.units.get(at) if at else None
        if page > 0:
            buttons.append(Button(ctx.t("form.unit.prev"), f"f:{field.id}@{at or ''}#{page - 1}"))
        if matches:
            buttons.append(Button(ctx.t("form.unit.back"), f"f:{field.id}@{at or ''}"))
        elif current is not None and at != self._at(ctx, {}):
            # Up to the parent; from a top unit of a tree with several, up to the list of them.
            up = current.parent_code or ""
            buttons.append(Button(ctx.t("form.unit.back"), f"f:{field.id}@{up}"))
        return buttons

    def prompt(self, field: FieldDef, ctx: FormContext, cursor: dict[str, Any]) -> Reply:
        assert ctx.units is not None
        at = self._at(ctx, cursor)
        if cursor.get("matches"):
            text = ctx.t("form.unit.matches")
        elif at and cursor.get("at"):
            text = ctx.t("form.unit.pick_in", place=ctx.units.label(at))
        else:
            text = ctx.t(field.prompt)
        hint = ctx.t("form.unit.or_type")
        return Reply(f"{text}\n{hint}", tuple(self.buttons(field, ctx, cursor)))

    @staticmethod
    def _title(unit: UnitInfo, ctx: FormContext, with_parent: bool) -> str:
        if with_parent and unit.parent_code:
            assert ctx.units is not None
            parent = ctx.units.get(unit.parent_code)
            return f"{unit.name} ({parent.name})" if parent else unit.name
        return unit.name

    @staticmethod
    def _payload(field: FieldDef, unit: UnitInfo) -> str:
        return f"f:{field.id}{'@' if unit.has_children else '='}{unit.code}"

    def parse(
        self,
        field: FieldDef,
        incoming: Incoming,
        ctx: FormContext,
        cursor: dict[str, Any],
        bounds: tuple[Any, Any],
    ) -> Answer | Navigate:
        assert ctx.units is not None
        moved = _payload_value(field, incoming, "@")
        if moved is not None:
            code, _, page = moved.partition("#")
            if code and ctx.units.get(code) is None:
                raise ParseError("error.unit.unknown")
            return Navigate({"at": code or None, "page": int(page) if page.isdigit() else 0})
        picked = _payload_value(field, incoming)
        if picked is not None:
            unit = ctx.units.get(picked)
            if unit is None or unit.has_children:
                raise ParseError("error.unit.unknown")
            return Answer({"code": unit.code, "name": ctx.units.label(unit.code)})
        if incoming.text is None:
            raise ParseError("error.expected_text")
        return self._search(field, incoming.text, ctx, cursor)

    def _search(
        self, field: FieldDef, text: str, ctx: FormContext, cursor: dict[str, Any]
    ) -> Answer | Navigate:
        assert ctx.units is not None
        if text.strip().isdigit() and not cursor.get("matches"):
            index = int(text.strip()) - 1
            units = ctx.units.children(self._at(ctx, cursor))
            if 0 <= index < len(units):
                unit = units[index]
                if unit.has_children:
                    return Navigate({"at": unit.code, "page": 0})
                return Answer({"code": unit.code, "name": ctx.units.label(unit.code)})
        found = ctx.units.search(text, self._at(ctx, cursor))
        leaves = [u for u in found if not u.has_children]
        if len(leaves) == 1 and len(found) == 1:
            return Answer({"code": leaves[0].code, "name": ctx.units.label(leaves[0].code)})
        if len(found) == 1:
            return Navigate({"at": found[0].code, "page": 0})
        if not found:
            example = _typable_name(ctx.units.children(self._at(ctx, cursor)))
            if example is None:
                raise ParseError("error.unit.not_found_plain", typed=text[:40])
            raise ParseError("error.unit.not_found", typed=text[:40], example=example)
        return Navigate({"at": cursor.get("at"), "matches": [u.code for u in found[:UNIT_PAGE]]})

    def display(self, field: FieldDef, value: Any, ctx: FormContext) -> str:
        return str(value["name"])


def _typable_name(units: list[UnitInfo]) -> str | None:
    """A place of the list as it may be typed ("Binh An" for "Thôn Bình An"): an example
    the person can see works. A bare number is not one: typed, it picks by position."""
    names = [fold(unit.name) for unit in units]
    for bare in map(bare_place_name, names):
        if any(ch.isalpha() for ch in bare):
            return bare.title()
    return names[0].title() if names else None


FIELD_TYPES: dict[str, FieldType] = {
    t.name: t
    for t in (
        FieldType(),
        PersonNameType(),
        NumberType(),
        DecimalType(),
        MoneyType(),
        YesNoType(),
        ChoiceType(),
        MultiChoiceType(),
        DateType(),
        PhoneType(),
        CccdType(),
        AttachmentType(),
        OrgUnitType(),
    )
}


def field_type(field: FieldDef) -> FieldType:
    return FIELD_TYPES[field.type]
