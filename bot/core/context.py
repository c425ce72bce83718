"""Everything one handler call may read and do, inside the update's single transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.messages import Button, Incoming, Reply
from bot.core.router import Router
from bot.core.services import Services
from bot.forms import engine
from bot.forms.context import FormContext
from bot.i18n import Translator, translator
from bot.orgtree import OrgTree
from bot.storage.models import Account, AuditEntry, Identity, OrgUnit, RoleAssignment

__all__ = ["Context", "Notification"]


@dataclass(frozen=True, slots=True)
class Notification:
    """A message for another account, delivered through its identities via the outbox."""

    account_id: int
    reply: Reply
    key: str


@dataclass
class Context:
    services: Services
    router: Router
    session: AsyncSession
    incoming: Incoming
    account: Account
    identity: Identity
    state: dict[str, Any]
    tree: OrgTree
    now: datetime
    replies: list[Reply] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    # True when a flow is asked to repeat its question rather than read an answer.
    resuming: bool = False
    _roles: list[RoleAssignment] | None = None

    @property
    def t(self) -> Translator:
        settings = self.services.settings
        return translator(self.account.locale or settings.default_locale, settings.timezone)

    @property
    def today(self) -> Any:
        return self.now.astimezone(ZoneInfo(self.services.settings.timezone)).date()

    def say(self, key: str, /, *, buttons: tuple[Button, ...] = (), **params: object) -> None:
        self.replies.append(Reply(self.t(key, **params), buttons))

    def send(self, reply: Reply) -> None:
        self.replies.append(reply)

    def notify(self, account_id: int, reply: Reply, key: str) -> None:
        self.notifications.append(Notification(account_id, reply, key))

    async def roles(self) -> list[RoleAssignment]:
        if self._roles is None:
            query = select(RoleAssignment).where(RoleAssignment.account_id == self.account.id)
            self._roles = list((await self.session.execute(query)).scalars())
        return self._roles

    async def has_role(self, roles: frozenset[str] | set[str], unit_id: int | None = None) -> bool:
        """Server-side check: a role held at ``unit_id`` or at one of its ancestors."""
        held = [r for r in await self.roles() if r.role in roles]
        if unit_id is None:
            return bool(held)
        target = await self.session.get(OrgUnit, unit_id)
        if target is None:
            return False
        for assignment in held:
            scope = await self.session.get(OrgUnit, assignment.org_unit_id)
            if scope is not None and target.path.startswith(scope.path):
                return True
        return False

    def audit(
        self, action: str, object_type: str | None = None, object_id: object = None, **details: Any
    ) -> None:
        self.session.add(
            AuditEntry(
                at=self.now,
                actor_account_id=self.account.id,
                action=action,
                object_type=object_type,
                object_id=None if object_id is None else str(object_id),
                details=details,
            )
        )

    def form_context(self) -> FormContext:
        return FormContext(t=self.t, today=self.today, units=self.tree, vault=self.services.vault)

    def start_form(self, form_id: str, prefill: dict[str, Any] | None = None) -> None:
        form = self.services.forms[form_id]
        step = engine.start(form, self.form_context(), prefill)
        self.state.pop("flow", None)
        self.state["form"] = step.state
        self.replies.extend(step.replies)

    def set_flow(self, name: str | None, **data: Any) -> None:
        if name is None:
            self.state.pop("flow", None)
            self.state.pop("flow_data", None)
        else:
            self.state["flow"] = name
            self.state["flow_data"] = data

    @property
    def flow_data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.state.setdefault("flow_data", {})
        return data

    async def resume(self) -> None:
        """Ask again whatever the conversation is waiting for."""
        if form_state := self.state.get("form"):
            form = self.services.forms.get(form_state["form"])
            if form is not None:
                self.replies.extend(engine.resume(form, form_state, self.form_context()).replies)
            return
        flow = self.state.get("flow")
        handler = self.router.flows.get(flow) if flow else None
        if handler is None and self.account.onboarded_at is None:
            handler = self.router.onboarding
        if handler is not None:
            self.resuming = True
            try:
                await handler(self)
            finally:
                self.resuming = False
