"""The pure form engine: given a form, its state and an input, the next state and what to say.

State is a JSON-safe dict so it can be stored as is and resumed after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any

from bot.core.messages import Button, Incoming, Reply
from bot.forms.context import FormContext
from bot.forms.model import CheckDef, FieldDef, FormDef
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
# "Keep last time's value": shown with the question when the caller gave previous values.
_SAME_WORDS = {"=", "nhu cu", "nhu thang truoc", "giu nguyen", "van vay", "same", "nc"}
_FIX_WORDS = {"sua", "fix", "sua lai"}
_MIN_COMMENT = 3
_MAX_COMMENT = 300


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


def _typed(form: FormDef, values: dict[str, Any]) -> dict[str, Any]:
    """State keeps decimals and dates as JSON text; expressions compare them as values."""
    out: dict[str, Any] = {f.id: None for f in form.fields}
    out.update((k, v) for k, v in values.items() if not k.startswith("_"))
    for fdef in form.fields:
        value = values.get(fdef.id)
        if isinstance(value, str) and fdef.type == "decimal":
            out[fdef.id] = float(value)
        elif isinstance(value, str) and fdef.type == "date":
            out[fdef.id] = date.fromisoformat(value)
    return out


def _given(form: FormDef, values: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(**{k: v for k, v in _typed(form, values).items() if v is not None})


def _names(
    form: FormDef, answers: dict[str, Any], ctx: FormContext, state: dict[str, Any] | None = None
) -> dict[str, Any]:
    names = _typed(form, answers)
    names["today"] = _Today(ctx.today)
    # Last period's values and the history's bounds, when the caller gave them: prev.poor,
    # hist.min.total. A rule reading one the caller did not give cannot be evaluated.
    state = state or {}
    history = state.get("history") or {}
    names["prev"] = _given(form, state.get("previous") or {})
    names["hist"] = SimpleNamespace(
        min=_given(form, history.get("min") or {}), max=_given(form, history.get("max") or {})
    )
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
    """Drop answers whose question is no longer asked (a changed answer made it irrelevant).

    Keys that are no field ("_period", "_comments": the caller's and the engine's) stay.
    """
    fields = {f.id for f in form.fields}
    while True:  # until nothing changes: a dropped answer may make a later question irrelevant
        kept = {
            k: v
            for k, v in answers.items()
            if k not in fields or _relevant(form, form.field(k), answers, ctx)
        }
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
    before = (state.get("previous") or {}).get(pending.id)
    if before is not None:
        shown = field_type(pending).display(pending, before, ctx)
        text = f"{reply.text}\n{ctx.t('form.previous', value=shown)}"
        reply = Reply(text, reply.buttons, reply.attachment, reply.extra)
        controls.append(Button(ctx.t("form.same", value=shown), "f!same"))
    if not pending.required:
        controls.append(Button(ctx.t("form.skip"), "f!skip"))
    if any(f.id in answers for f in form.fields[: form.index(pending.id)]):
        controls.append(Button(ctx.t("form.back"), "f!back"))
    if controls:
        reply = Reply(reply.text, (*reply.buttons, *controls), reply.attachment, reply.extra)
    return Step(state, [reply])


def _finish_answers(form: FormDef, state: dict[str, Any], ctx: FormContext) -> Step:
    answers = state["answers"]
    names = _names(form, answers, ctx, state)
    for check in form.checks:
        if check.level != "error":
            continue
        try:
            passed = bool(evaluate(check.rule, names))
        except ExpressionError:
            # It reads an answer that was skipped: nothing to check, and re-asking a question
            # the person may skip would trap them in a loop.
            passed = True
        if not passed:
            redo = check.fields[0] if check.fields else form.fields[-1].id
            reset = {k: v for k, v in answers.items() if k != redo}
            step = _ask(form, {**state, "answers": reset, "pending": redo, "cursor": {}}, ctx)
            reason = _check_text(form, check, state, ctx)
            return Step(step.state, [Reply(reason), *step.replies])
    failing = [c for c in form.checks if c.level == "warning" and not _holds(c, names)]
    # A comment stays only while its warning still stands (a fixed answer may have cleared it).
    standing = {c.key for c in failing}
    comments = {k: v for k, v in (answers.get("_comments") or {}).items() if k in standing}
    answers = {k: v for k, v in answers.items() if k != "_comments"}
    if comments:
        answers["_comments"] = comments
    state = {k: v for k, v in state.items() if k != "warning"}
    state["answers"] = answers
    for check in failing:
        if check.key not in comments:
            return _warn(form, {**state, "warning": check.key}, check, ctx)
    if not form.summary:
        return Step(None, submitted=dict(answers))
    return _summary(form, {**state, "pending": None, "phase": "summary", "cursor": {}}, ctx)


def _holds(check: CheckDef, names: dict[str, Any]) -> bool:
    """A warning that cannot be evaluated (no last period yet, a skipped answer) holds."""
    try:
        return bool(evaluate(check.rule, names))
    except ExpressionError:
        return True


class _Params(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # not a value this form has: left as written


def _check_text(form: FormDef, check: CheckDef, state: dict[str, Any], ctx: FormContext) -> str:
    raw = ctx.t(check.message)
    try:
        return raw.format_map(_Params(_message_params(form, state, ctx)))
    except (ValueError, IndexError, AttributeError):
        return raw


def _message_params(form: FormDef, state: dict[str, Any], ctx: FormContext) -> dict[str, str]:
    """A check's message may show the answers ({poor}) and last period's values ({prev_poor});
    a value not given shows as a dash rather than breaking the message."""
    params: dict[str, str] = {}
    for prefix, values in (
        ("", state.get("answers") or {}),
        ("prev_", state.get("previous") or {}),
    ):
        for fdef in form.fields:
            value = values.get(fdef.id)
            shown = "–" if value is None else field_type(fdef).display(fdef, value, ctx)
            params[f"{prefix}{fdef.id}"] = shown
    return params


def _warn(form: FormDef, state: dict[str, Any], check: CheckDef, ctx: FormContext) -> Step:
    """A warning: the answers may be right; fix one, or keep them with a short comment."""
    text = _check_text(form, check, state, ctx)
    buttons = (
        Button(ctx.t("form.warning.fix"), "f!warn:fix"),
        Button(ctx.t("form.cancel"), "f!cancel"),
    )
    state = {**state, "phase": "warn", "pending": None, "cursor": {}}
    return Step(state, [Reply(f"{text}\n{ctx.t('form.warning.help')}", buttons)])


def _warning_check(form: FormDef, state: dict[str, Any]) -> CheckDef | None:
    key = state.get("warning")
    return next((c for c in form.checks if c.level == "warning" and c.key == key), None)


def _summary(form: FormDef, state: dict[str, Any], ctx: FormContext) -> Step:
    lines = [ctx.t("form.summary.title", title=ctx.t(form.title))]
    for number, fdef in enumerate(_answered(form, state["answers"]), 1):
        value = field_type(fdef).display(fdef, state["answers"][fdef.id], ctx)
        lines.append(f"{number}. {ctx.t(fdef.label_key)}: {value}")
    for comment in (state["answers"].get("_comments") or {}).values():
        lines.append(ctx.t("form.summary.comment", text=comment))
    lines.append(ctx.t("form.summary.help"))
    buttons = (
        Button(ctx.t("form.confirm"), "f!ok"),
        Button(ctx.t("form.fix"), "f!fix"),
        Button(ctx.t("form.cancel"), "f!cancel"),
    )
    return Step({**state, "phase": "summary"}, [Reply("\n".join(lines), buttons)])


def _answered(form: FormDef, answers: dict[str, Any]) -> list[FieldDef]:
    return [f for f in form.fields if f.id in answers and answers[f.id] is not None]


def start(
    form: FormDef,
    ctx: FormContext,
    prefill: dict[str, Any] | None = None,
    *,
    previous: dict[str, Any] | None = None,
    history: dict[str, dict[str, Any]] | None = None,
) -> Step:
    """Begin a form.

    ``previous`` (last period's answers) is shown with each question and kept with "=" or
    "như cũ"; ``previous`` and ``history`` ({"min": {...}, "max": {...}}) are ``prev`` and
    ``hist`` in the form's checks. Keys of ``prefill`` that start with "_" are the caller's:
    carried into the submitted answers, never asked or shown.
    """
    state: dict[str, Any] = {
        "form": form.id,
        "version": form.version,
        "answers": dict(prefill or {}),
        "pending": None,
        "phase": "ask",
        "cursor": {},
    }
    if previous:
        state["previous"] = {f.id: previous[f.id] for f in form.fields if f.id in previous}
    if history:
        state["history"] = history
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
    if state.get("phase") == "warn":
        check = _warning_check(form, state)
        if check is not None:
            return _warn(form, state, check, ctx)
        return _finish_answers(form, state, ctx)
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
    if phase == "warn":
        return _handle_warn(form, state, incoming, ctx)
    return _handle_answer(form, state, incoming, ctx)


def _handle_warn(
    form: FormDef, state: dict[str, Any], incoming: Incoming, ctx: FormContext
) -> Step:
    """A warning stands: fix an answer, or keep the answers and say why in a short comment."""
    check = _warning_check(form, state)
    if check is None:
        return _finish_answers(form, state, ctx)
    payload = incoming.payload or ""
    typed = fold(incoming.text or "")
    if payload == "f!warn:fix" or typed in _FIX_WORDS:
        if check.fields:
            return _start_fix(form, state, check.fields[0], ctx)
        return _fix_menu(form, state, ctx)
    if payload == "f!fix" or payload.startswith("f!fix:") or typed.removeprefix("sua ").isdigit():
        return _handle_fix(form, {**state, "phase": "fix"}, payload, typed, ctx)
    comment = (incoming.text or "").strip()
    if payload or len(comment) < _MIN_COMMENT or not any(ch.isalnum() for ch in comment):
        step = _warn(form, state, check, ctx)
        reason = ctx.t("error.stale_button" if payload else "form.warning.short")
        return Step(step.state, [Reply(reason), *step.replies])
    comments = {**(state["answers"].get("_comments") or {}), check.key: comment[:_MAX_COMMENT]}
    answers = {**state["answers"], "_comments": comments}
    return _finish_answers(form, {**state, "answers": answers, "phase": "ask"}, ctx)


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
    if payload == "f!fix" or typed in _FIX_WORDS:
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
    if "previous" in state and (payload == "f!same" or typed in _SAME_WORDS):
        return _keep_previous(form, state, fdef, ctx)
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


def _keep_previous(form: FormDef, state: dict[str, Any], fdef: FieldDef, ctx: FormContext) -> Step:
    """ "=" / "như cũ": last period's value, checked against today's bounds like a typed one."""
    before = (state.get("previous") or {}).get(fdef.id)
    try:
        if before is None:
            raise ParseError("form.previous.none")
        bounds = (
            _bound(form, fdef.min, state["answers"], ctx),
            _bound(form, fdef.max, state["answers"], ctx),
        )
        value = field_type(fdef).keep(fdef, before, ctx, bounds)
    except ParseError as error:
        step = _ask(form, state, ctx)
        return Step(step.state, [Reply(ctx.t(error.key, **error.params)), *step.replies])
    return _store(form, state, fdef, value, ctx)


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
