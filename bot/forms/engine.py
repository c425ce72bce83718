"""The pure form engine: given a form, its state and an input, the next state and what to say.

State is a JSON-safe dict so it can be stored as is and resumed after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.core.messages import Button, Incoming, Reply
from bot.forms.context import FormContext
from bot.forms.model import FieldDef, FormDef
from bot.forms.parsing import ParseError
from bot.forms.types import Answer, field_type
from bot.text import fold
from rules.expr import ExpressionError, evaluate

__all__ = ["Step", "handle", "resume", "start"]

_CONFIRM_WORDS = {"ok", "xac nhan", "dong y", "gui", "dung", "co", "yes", "confirm", "send"}
_CANCEL_WORDS = {"huy", "cancel", "thoi", "dung lai"}
_SKIP_WORDS = {"bo qua", "skip", "-"}
_NONE_WORDS = {"khong co", "ko co"}  # "there is none": a skip, but a plain "no" to a yes/no
_BACK_WORDS = {"quay lai", "back", "tro lai"}


@dataclass(slots=True)
class Step:
    """The result of one input: the new state (None when the form ended) and the replies."""

    state: dict[str, Any] | None
    replies: list[Reply] = field(default_factory=list)
    submitted: dict[str, Any] | None = None
    cancelled: bool = False


class _Today:
    """``today`` inside expressions: today.year, today.month, today.day, today.date."""

    def __init__(self, value: date) -> None:
        self.year, self.month, self.day, self.date = value.year, value.month, value.day, value


def _names(form: FormDef, answers: dict[str, Any], ctx: FormContext) -> dict[str, Any]:
    names: dict[str, Any] = {f.id: None for f in form.fields}
    names.update(answers)
    # State keeps decimals and dates as JSON text; expressions compare them as values.
    for fdef in form.fields:
        value = answers.get(fdef.id)
        if isinstance(value, str) and fdef.type == "decimal":
            names[fdef.id] = float(value)
        elif isinstance(value, str) and fdef.type == "date":
            names[fdef.id] = date.fromisoformat(value)
    names["today"] = _Today(ctx.today)
    return names


def _relevant(form: FormDef, fdef: FieldDef, answers: dict[str, Any], ctx: FormContext) -> bool:
    if not fdef.relevant:
        return True
    try:
        return bool(evaluate(fdef.relevant, _names(form, answers, ctx)))
    except ExpressionError:
        return False  # depends on an answer not given yet


def _bound(form: FormDef, value: Any, answers: dict[str, Any], ctx: FormContext) -> Any:
    if isinstance(value, str):
        try:
            return evaluate(value, _names(form, answers, ctx))
        except ExpressionError:
            return None  # reads an answer that was skipped or not asked: no bound
    return value


def _next_field(form: FormDef, answers: dict[str, Any], ctx: FormContext) -> FieldDef | None:
    for fdef in form.fields:
        if fdef.id not in answers and _relevant(form, fdef, answers, ctx):
            return fdef
    return None


def _prune(form: FormDef, answers: dict[str, Any], ctx: FormContext) -> dict[str, Any]:
    """Drop answers whose question is no longer asked (a changed answer made it irrelevant)."""
    while True:  # until nothing changes: a dropped answer may make a later question irrelevant
        kept = {k: v for k, v in answers.items() if _relevant(form, form.field(k), answers, ctx)}
        if len(kept) == len(answers):
            return kept
        answers = kept


def _ask(form: FormDef, state: dict[str, Any], ctx: FormContext) -> Step:
    answers = state["answers"]
    pending = form.field(state["pending"]) if state.get("pending") else None
    if pending is None:
        pending = _next_field(form, answers, ctx)
    if pending is None:
        return _finish_answers(form, state, ctx)
    state = {**state, "pending": pending.id, "phase": "ask"}
    reply = field_type(pending).prompt(pending, ctx, state.get("cursor") or {})
    controls = []
    if not pending.required:
        controls.append(Button(ctx.t("form.skip"), "f!skip"))
    if any(f.id in answers for f in form.fields[: form.index(pending.id)]):
        controls.append(Button(ctx.t("form.back"), "f!back"))
    if controls:
        reply = Reply(reply.text, (*reply.buttons, *controls), reply.attachment, reply.extra)
    return Step(state, [reply])


def _finish_answers(form: FormDef, state: dict[str, Any], ctx: FormContext) -> Step:
    answers = state["answers"]
    for check in form.checks:
        try:
            passed = bool(evaluate(check.rule, _names(form, answers, ctx)))
        except ExpressionError:
            # It reads an answer that was skipped: nothing to check, and re-asking a question
            # the person may skip would trap them in a loop.
            passed = True
        if not passed:
            redo = check.fields[0] if check.fields else form.fields[-1].id
            reset = {k: v for k, v in answers.items() if k != redo}
            step = _ask(form, {**state, "answers": reset, "pending": redo, "cursor": {}}, ctx)
            return Step(step.state, [Reply(ctx.t(check.message)), *step.replies])
    if not form.summary:
        return Step(None, submitted=dict(answers))
    return _summary(form, {**state, "pending": None, "phase": "summary", "cursor": {}}, ctx)


def _summary(form: FormDef, state: dict[str, Any], ctx: FormContext) -> Step:
    lines = [ctx.t("form.summary.title", title=ctx.t(form.title))]
    for number, fdef in enumerate(_answered(form, state["answers"]), 1):
        value = field_type(fdef).display(fdef, state["answers"][fdef.id], ctx)
        lines.append(f"{number}. {ctx.t(fdef.label_key)}: {value}")
    lines.append(ctx.t("form.summary.help"))
    buttons = (
        Button(ctx.t("form.confirm"), "f!ok"),
        Button(ctx.t("form.fix"), "f!fix"),
        Button(ctx.t("form.cancel"), "f!cancel"),
    )
    return Step({**state, "phase": "summary"}, [Reply("\n".join(lines), buttons)])


def _answered(form: FormDef, answers: dict[str, Any]) -> list[FieldDef]:
    return [f for f in form.fields if f.id in answers and answers[f.id] is not None]


def start(form: FormDef, ctx: FormContext, prefill: dict[str, Any] | None = None) -> Step:
    state = {
        "form": form.id,
        "version": form.version,
        "answers": dict(prefill or {}),
        "pending": None,
        "phase": "ask",
        "cursor": {},
    }
    step = _ask(form, state, ctx)
    if form.intro:
        step.replies.insert(0, Reply(ctx.t(form.intro)))
    return step


def resume(form: FormDef, state: dict[str, Any], ctx: FormContext) -> Step:
    """Say again what the form is waiting for (after a restart, a question or /menu)."""
    if state.get("phase") == "summary":
        return _summary(form, state, ctx)
    if state.get("phase") == "fix":
        return _fix_menu(form, state, ctx)
    if state.get("phase") == "cancel":
        return _cancel_prompt(state, ctx)
    return _ask(form, state, ctx)


def cancel(state: dict[str, Any], ctx: FormContext) -> Step:
    return _cancel_prompt(state, ctx)


def _cancel_prompt(state: dict[str, Any], ctx: FormContext) -> Step:
    buttons = (
        Button(ctx.t("form.cancel.yes"), "f!cancel:yes"),
        Button(ctx.t("form.cancel.no"), "f!cancel:no"),
    )
    back_to = state.get("back_to") or state.get("phase", "ask")
    state = {**state, "phase": "cancel", "back_to": back_to if back_to != "cancel" else "ask"}
    return Step(state, [Reply(ctx.t("form.cancel.confirm"), buttons)])


def _fix_menu(form: FormDef, state: dict[str, Any], ctx: FormContext) -> Step:
    answered = _answered(form, state["answers"])
    buttons = tuple(
        Button(f"{n}. {ctx.t(f.label_key)}", f"f!fix:{f.id}") for n, f in enumerate(answered, 1)
    )
    return Step({**state, "phase": "fix"}, [Reply(ctx.t("form.fix.which"), buttons)])


def _start_fix(form: FormDef, state: dict[str, Any], field_id: str, ctx: FormContext) -> Step:
    state = {**state, "pending": field_id, "phase": "ask", "cursor": {}, "fixing": True}
    return _ask(form, state, ctx)


def handle(form: FormDef, state: dict[str, Any], incoming: Incoming, ctx: FormContext) -> Step:
    payload = incoming.payload or ""
    typed = fold(incoming.text or "")
    phase = state.get("phase", "ask")
    if payload == "f!cancel" or (phase != "cancel" and typed in _CANCEL_WORDS):
        return _cancel_prompt(state, ctx)
    if phase == "cancel":
        return _handle_cancel(form, state, payload, typed, ctx)
    if phase == "summary":
        return _handle_summary(form, state, payload, typed, ctx)
    if phase == "fix":
        return _handle_fix(form, state, payload, typed, ctx)
    return _handle_answer(form, state, incoming, ctx)


def _handle_cancel(
    form: FormDef, state: dict[str, Any], payload: str, typed: str, ctx: FormContext
) -> Step:
    # The buttons' labels typed out ("Tiếp tục điền") count as pressing them.
    if payload == "f!cancel:yes" or typed in {"co", "c", "yes", "huy", "dong y"} | {
        fold(ctx.t("form.cancel.yes"))
    }:
        return Step(None, [Reply(ctx.t("form.cancelled"))], cancelled=True)
    if payload == "f!cancel:no" or typed in {"khong", "ko", "k", "no", "tiep tuc"} | {
        fold(ctx.t("form.cancel.no"))
    }:
        restored = {**state, "phase": state.get("back_to", "ask")}
        restored.pop("back_to", None)
        return resume(form, restored, ctx)
    step = _cancel_prompt(state, ctx)
    return Step(step.state, [Reply(ctx.t("form.cancel.unclear")), *step.replies])


def _handle_summary(
    form: FormDef, state: dict[str, Any], payload: str, typed: str, ctx: FormContext
) -> Step:
    if payload == "f!ok" or typed in _CONFIRM_WORDS:
        return Step(None, submitted=dict(state["answers"]))
    if payload == "f!fix" or typed in {"sua", "fix"}:
        return _fix_menu(form, state, ctx)
    if payload.startswith("f!fix:") or typed.removeprefix("sua ").isdigit():
        return _handle_fix(form, {**state, "phase": "fix"}, payload, typed, ctx)
    step = _summary(form, state, ctx)
    return Step(step.state, [Reply(ctx.t("form.summary.unclear")), *step.replies])


def _handle_fix(
    form: FormDef, state: dict[str, Any], payload: str, typed: str, ctx: FormContext
) -> Step:
    answered = _answered(form, state["answers"])
    if payload.startswith("f!fix:"):
        field_id = payload.removeprefix("f!fix:")
        if field_id in {f.id for f in answered}:
            return _start_fix(form, state, field_id, ctx)
    number = typed.removeprefix("sua ").strip()
    if number.isdigit() and 1 <= int(number) <= len(answered):
        return _start_fix(form, state, answered[int(number) - 1].id, ctx)
    step = _fix_menu(form, state, ctx)
    reason = ctx.t("form.fix.unclear", max=len(answered))
    return Step(step.state, [Reply(reason), *step.replies])


def _handle_answer(
    form: FormDef, state: dict[str, Any], incoming: Incoming, ctx: FormContext
) -> Step:
    pending_id = state.get("pending")
    if pending_id is None:
        return _ask(form, state, ctx)
    fdef = form.field(pending_id)
    payload = incoming.payload or ""
    typed = fold(incoming.text or "")
    if payload == "f!back" or typed in _BACK_WORDS:
        return _go_back(form, state, fdef, ctx)
    skip_words = _SKIP_WORDS if fdef.type == "yes_no" else _SKIP_WORDS | _NONE_WORDS
    if not fdef.required and (payload == "f!skip" or typed in skip_words):
        return _store(form, state, fdef, None, ctx)
    if payload.startswith("f") and not payload.startswith(
        (f"f:{fdef.id}=", f"f:{fdef.id}@", f"f:{fdef.id}+")
    ):
        step = _ask(form, state, ctx)
        return Step(step.state, [Reply(ctx.t("error.stale_button")), *step.replies])
    cursor = state.get("cursor") or {}
    try:
        bounds = (
            _bound(form, fdef.min, state["answers"], ctx),
            _bound(form, fdef.max, state["answers"], ctx),
        )
        outcome = field_type(fdef).parse(fdef, incoming, ctx, cursor, bounds)
    except ParseError as error:
        step = _ask(form, state, ctx)
        return Step(step.state, [Reply(ctx.t(error.key, **error.params)), *step.replies])
    if isinstance(outcome, Answer):
        return _store(form, state, fdef, outcome.value, ctx)
    return _ask(form, {**state, "cursor": outcome.cursor}, ctx)


def _store(
    form: FormDef, state: dict[str, Any], fdef: FieldDef, value: Any, ctx: FormContext
) -> Step:
    answers = _prune(form, {**state["answers"], fdef.id: value}, ctx)
    fixing = state.get("fixing", False)
    state = {**state, "answers": answers, "pending": None, "cursor": {}}
    if fixing and _next_field(form, answers, ctx) is None:
        state.pop("fixing")
        return _finish_answers(form, state, ctx)
    return _ask(form, state, ctx)


def _go_back(form: FormDef, state: dict[str, Any], fdef: FieldDef, ctx: FormContext) -> Step:
    earlier = [f for f in form.fields[: form.index(fdef.id)] if f.id in state["answers"]]
    if not earlier:
        return _ask(form, state, ctx)
    # The earlier answer stays until a new one replaces it: going back loses nothing.
    return _ask(form, {**state, "pending": earlier[-1].id, "cursor": {}}, ctx)
