"""The handler registry: commands, button payloads, flows, form submissions and menu items."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from bot.core.context import Context

__all__ = ["Handler", "MenuItem", "Route", "Router", "SubmitHandler"]

T = TypeVar("T")


def _merge(mine: dict[str, T], theirs: dict[str, T]) -> None:
    clash = set(mine) & set(theirs)
    if clash:
        raise ValueError(f"registered twice: {sorted(clash)}")
    mine.update(theirs)


Handler = Callable[["Context"], Awaitable[None]]
SubmitHandler = Callable[["Context", dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    # Empty means anyone; otherwise the account must hold one of these roles somewhere.
    roles: frozenset[str] = frozenset()
    onboarded: bool = True
    # A command that only shows something (/mydata, /help): after it, a form in progress
    # asks its question again, so the person sees what to answer next.
    resumes: bool = False


@dataclass(frozen=True, slots=True)
class MenuItem:
    label: str
    payload: str
    kinds: frozenset[str]
    roles: frozenset[str]
    order: int


@dataclass
class Router:
    commands: dict[str, Route] = field(default_factory=dict)
    payloads: dict[str, Route] = field(default_factory=dict)
    flows: dict[str, Handler] = field(default_factory=dict)
    submits: dict[str, SubmitHandler] = field(default_factory=dict)
    menu_items: list[MenuItem] = field(default_factory=list)
    fallback: Handler | None = None
    onboarding: Handler | None = None
    # Free text during a form that is really a question: answered (True), then the form
    # question is asked again.
    form_question: Callable[[Context], Awaitable[bool]] | None = None
    # Free text that stands for a button this person has ("dang ky thoat ngheo"): its
    # payload, routed as the button's press would be; None lets the fallback answer.
    typed_payload: Callable[[Context], Awaitable[str | None]] | None = None

    def command(
        self,
        *names: str,
        roles: tuple[str, ...] = (),
        onboarded: bool = True,
        resumes: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for name in names:
                self.commands[name] = Route(handler, frozenset(roles), onboarded, resumes)
            return handler

        return register

    def payload(
        self, prefix: str, roles: tuple[str, ...] = (), onboarded: bool = True
    ) -> Callable[[Handler], Handler]:
        """Buttons whose payload is ``prefix`` or starts with ``prefix:``."""

        def register(handler: Handler) -> Handler:
            self.payloads[prefix] = Route(handler, frozenset(roles), onboarded)
            return handler

        return register

    def flow(self, name: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.flows[name] = handler
            return handler

        return register

    def on_submit(self, form_id: str) -> Callable[[SubmitHandler], SubmitHandler]:
        def register(handler: SubmitHandler) -> SubmitHandler:
            self.submits[form_id] = handler
            return handler

        return register

    def menu(
        self,
        label: str,
        payload: str,
        *,
        kinds: tuple[str, ...] = (),
        roles: tuple[str, ...] = (),
        order: int = 100,
    ) -> None:
        self.menu_items.append(MenuItem(label, payload, frozenset(kinds), frozenset(roles), order))

    def find_payload(self, payload: str) -> Route | None:
        prefix = payload.split(":", 1)[0]
        return self.payloads.get(prefix)

    def include(self, other: Router) -> None:
        _merge(self.commands, other.commands)
        _merge(self.payloads, other.payloads)
        _merge(self.flows, other.flows)
        _merge(self.submits, other.submits)
        self.menu_items.extend(other.menu_items)
        self.fallback = other.fallback or self.fallback
        self.onboarding = other.onboarding or self.onboarding
        self.form_question = other.form_question or self.form_question
        self.typed_payload = other.typed_payload or self.typed_payload
