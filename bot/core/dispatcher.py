"""One update in, one transaction: record it, load the account, route it, queue the replies."""

from __future__ import annotations

import dataclasses
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Context
from bot.core.messages import Incoming
from bot.core.recording import Handoff, Recording
from bot.core.router import Route, Router
from bot.core.services import Services
from bot.forms import engine
from bot.logs import log_failure
from bot.orgtree import OrgTree
from bot.outbox import announce_queued
from bot.storage.models import (
    ProcessedUpdate,
)
from bot.text import clean_input, fold

__all__ = ["DispatchResult", "Dispatcher", "parse_command"]

log = logging.getLogger(__name__)

# Updates per transaction in a batch: a whole getUpdates batch (Telegram gives at most 100).
# One transaction shares its commit, its id reservation and its hand-over to the sender among
# all of them. In benchmarks/telegram_updates.py (800 at once) 100 per transaction answered a
# fifth to a third more updates per second than 20, and replies waited no longer: in such a
# burst the wait is the backlog's, not the transaction's.
BATCH_CHUNK = 100

# Letters with or without diacritics: "/đăngký" is "/dangky", as people type it on a phone.
_COMMAND = re.compile(r"^/([^\W\d]\w{0,31})(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)
# Plain words people type instead of a command.
_WORD_COMMANDS = {
    "menu": "menu",
    "tro giup": "help",
    "giup": "help",
    "help": "help",
    "bat dau": "start",
    "start": "start",
}


# Typed ways to say /stop, matched WITH their diacritics: "dung" alone could be "đúng".
_STOP_WORDS = frozenset(
    {
        "dừng",
        "huỷ nhận tin",
        "hủy nhận tin",
        "huy nhan tin",
        "dừng nhận tin",
        "dung nhan tin",
        "ngừng nhận tin",
        "ngung nhan tin",
        "stop",
    }
)


def parse_command(text: str | None) -> tuple[str | None, str]:
    if not text:
        return None, ""
    if unicodedata.normalize("NFC", text).strip(" .!?").lower() in _STOP_WORDS:
        return "stop", ""
    match = _COMMAND.match(unicodedata.normalize("NFC", text.strip()))
    if match:
        return fold(match.group(1)), (match.group(2) or "").strip()
    word = _WORD_COMMANDS.get(fold(text).strip(" .!?"))
    return (word, "") if word else (None, "")


@dataclass(slots=True)
class DispatchResult:
    update_id: int
    duplicate: bool
    outbox_ids: list[int] = field(default_factory=list)


class Dispatcher:
    def __init__(self, services: Services, router: Router) -> None:
        self.services = services
        self.router = router
        # Channels register a callback so the sender wakes up as soon as replies are queued.
        self.on_queued: list[Callable[[], None]] = []
        # The sender of this process, given the replies it can send without reading them back.
        self.handoff: Handoff | None = None
        # Senders in other processes, told at commit that replies were queued (PostgreSQL).
        self.announce = False
        self.chunk = BATCH_CHUNK

    async def handle(self, incoming: Incoming) -> DispatchResult:
        incoming = self._clean(incoming)
        try:
            result = await self._record(incoming, failed=False)
        except (OperationalError, InterfaceError):
            # The database is away: nothing was recorded, so the channel must deliver the
            # update again later rather than spend it on an apology.
            raise
        except Exception as error:
            log_failure(log, f"handler failed for an update on {incoming.channel}", error)
            result = await self._record(incoming, failed=True)
        outcome = "duplicate" if result.duplicate else "processed"
        self.services.metrics.updates.labels(incoming.channel, outcome).inc()
        for wake in self.on_queued:
            wake()
        return result

    async def _record(self, incoming: Incoming, *, failed: bool) -> DispatchResult:
        """One transaction for the update, and one more after a write conflict that was not
        its re-delivery (another process took a row id first: bot/storage/ids.py)."""
        for attempt in (1, 2):
            try:
                return await self._handle_once(incoming, failed=failed)
            except IntegrityError:
                # Another worker recorded the same update first: a re-delivery does nothing.
                existing = await self._existing(incoming)
                if existing is not None:
                    return existing
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _clean(self, incoming: Incoming) -> Incoming:
        if incoming.text is None:
            return incoming
        text = clean_input(incoming.text, self.services.settings.max_text_length) or None
        if text == incoming.text:
            return incoming  # most text is clean already, and a copy costs a few µs
        return dataclasses.replace(incoming, text=text)

    async def _existing(self, incoming: Incoming) -> DispatchResult | None:
        async with self.services.db.session() as session:
            found = await self._find_processed(session, incoming)
            return None if found is None else DispatchResult(found.id, duplicate=True)

    @staticmethod
    async def _find_processed(session: AsyncSession, incoming: Incoming) -> ProcessedUpdate | None:
        query = select(ProcessedUpdate).where(
            ProcessedUpdate.channel == incoming.channel,
            ProcessedUpdate.update_key == incoming.update_key,
        )
        return (await session.execute(query)).scalar_one_or_none()

    async def handle_batch(self, incomings: Sequence[Incoming]) -> list[DispatchResult]:
        """Several updates, in order, a few per transaction: one commit for many updates.

        A polled batch is mostly many people writing once each; sharing a commit is what
        keeps up with a morning rush on SQLite. If anything in a chunk fails (a handler, a
        duplicate raced in by another worker), that chunk is rolled back and each of its
        updates is taken on its own, exactly as :meth:`handle` does. A database outage is
        raised: what was not recorded is delivered again by the channel.
        """
        cleaned = [self._clean(incoming) for incoming in incomings]
        results: list[DispatchResult] = []
        # Chunks bound how long one transaction holds SQLite's writer and the replies.
        for start in range(0, len(cleaned), self.chunk):
            chunk = cleaned[start : start + self.chunk]
            try:
                done = await self._batch_once(chunk)
            except (OperationalError, InterfaceError):
                raise
            except Exception as error:
                log_failure(log, f"{len(chunk)} updates are taken one at a time", error)
                results += [await self.handle(incoming) for incoming in chunk]
                continue
            for incoming, result in zip(chunk, done, strict=True):
                outcome = "duplicate" if result.duplicate else "processed"
                self.services.metrics.updates.labels(incoming.channel, outcome).inc()
            results += done
            for wake in self.on_queued:
                wake()
        return results

    async def _batch_once(
        self, incomings: list[Incoming], *, failed: bool = False
    ) -> list[DispatchResult]:
        """Record and route these updates in one transaction (see bot/core/recording.py)."""
        db = self.services.db
        async with db.write_turn(), db.session() as session, session.begin():
            now = self.services.clock()
            recording = Recording(session, now)
            fresh = await recording.prepare(incomings)
            tree = await self.services.tree(session) if fresh else None
            for incoming in fresh:
                assert tree is not None
                await self._process(recording, incoming, tree, failed=failed)
            handed = await recording.finish(self.handoff)
            if self.announce and recording.queued:
                await announce_queued(session)
        if handed:
            assert self.handoff is not None
            self.handoff.take(handed)  # committed: theirs to send
        results: list[DispatchResult] = []
        for incoming in incomings:
            key = (incoming.channel, incoming.update_key)
            if key in recording.seen:
                results.append(DispatchResult(recording.seen[key], duplicate=True))
            else:
                ids = recording.outbox_ids(incoming)
                results.append(DispatchResult(recording.processed[key], False, outbox_ids=ids))
        return results

    async def _handle_once(self, incoming: Incoming, *, failed: bool) -> DispatchResult:
        return (await self._batch_once([incoming], failed=failed))[0]

    async def _process(
        self, recording: Recording, incoming: Incoming, tree: OrgTree, *, failed: bool
    ) -> None:
        """Route one update not recorded before and queue what it causes."""
        account, identity = recording.person(incoming)
        ctx = Context(
            services=self.services,
            router=self.router,
            session=recording.session,
            incoming=incoming,
            account=account,
            identity=identity,
            state=recording.state(account),
            tree=tree,
            now=recording.now,
        )
        if failed:
            # The handler crashed: keep the conversation as it was and say so kindly.
            ctx.say("error.internal")
        else:
            await self.route(ctx)
        recording.save_state(account, ctx.state)
        await recording.queue(ctx)

    # --- routing -------------------------------------------------------------------------

    async def route(self, ctx: Context) -> None:
        incoming = ctx.incoming
        command, argument = parse_command(incoming.text)
        onboarded = ctx.account.onboarded_at is not None
        if command is not None:
            await self._command(ctx, command, argument, onboarded)
        elif not (incoming.text or incoming.payload or incoming.attachment or incoming.contact):
            ctx.say("error.empty")
            await ctx.resume()
        elif incoming.payload and self.router.find_payload(incoming.payload) is not None:
            # A registered button (a menu, "continue") is answered without losing the form.
            await self._payload(ctx, incoming.payload)
        elif ctx.state.get("form"):
            question = self.router.form_question
            if question is not None and incoming.text and await question(ctx):
                await ctx.resume()
            else:
                await self._form_step(ctx)
        elif not onboarded:
            assert self.router.onboarding is not None
            await self.router.onboarding(ctx)
        elif ctx.state.get("flow") in self.router.flows and not incoming.payload:
            await self.router.flows[ctx.state["flow"]](ctx)
        elif incoming.payload:
            await self._payload(ctx, incoming.payload)
        elif (payload := await self._typed_payload(ctx)) is not None:
            # As if the button were pressed: handlers read their arguments from the payload.
            ctx.incoming = dataclasses.replace(incoming, text=None, payload=payload)
            await self._payload(ctx, payload)
        else:
            assert self.router.fallback is not None
            await self.router.fallback(ctx)

    async def _typed_payload(self, ctx: Context) -> str | None:
        typed = self.router.typed_payload
        return await typed(ctx) if typed is not None else None

    async def _command(self, ctx: Context, command: str, argument: str, onboarded: bool) -> None:
        route = self.router.commands.get(command)
        if route is None:
            ctx.say("error.unknown_command", command=command)
            await ctx.resume()
            return
        ctx.state["command_arg"] = argument
        had_form = ctx.state.get("form")
        try:
            if route.onboarded and not onboarded:
                assert self.router.onboarding is not None
                await self.router.onboarding(ctx)
            elif await self._allowed(ctx, route):
                await route.handler(ctx)
                if route.resumes:
                    await self._ask_again(ctx, had_form)
        finally:
            ctx.state.pop("command_arg", None)

    async def _payload(self, ctx: Context, payload: str) -> None:
        route = self.router.find_payload(payload)
        if route is None:
            ctx.say("error.stale_button")
            await ctx.resume()
            return
        had_form = ctx.state.get("form")
        if route.onboarded and ctx.account.onboarded_at is None:
            assert self.router.onboarding is not None
            await self.router.onboarding(ctx)
        elif await self._allowed(ctx, route):
            await route.handler(ctx)
        await self._ask_again(ctx, had_form)

    @staticmethod
    async def _ask_again(ctx: Context, had_form: object) -> None:
        """The form that was waiting before a button or a command still waits: ask its
        question again, so the person sees what to answer next."""
        if had_form is not None and ctx.state.get("form") is had_form:
            await ctx.resume()

    async def _allowed(self, ctx: Context, route: Route) -> bool:
        if not route.roles or await ctx.has_role(route.roles):
            return True
        ctx.say("error.not_allowed")
        return False

    async def _form_step(self, ctx: Context) -> None:
        state = ctx.state["form"]
        form = self.services.forms.get(state["form"])
        if form is None or form.version != state.get("version"):
            ctx.state.pop("form")
            ctx.say("form.outdated")
            return
        step = engine.handle(form, state, ctx.incoming, ctx.form_context())
        ctx.replies.extend(step.replies)
        if step.state is not None:
            ctx.state["form"] = step.state
            return
        ctx.state.pop("form")
        if step.cancelled:
            await ctx.resume()
        if step.submitted is not None:
            submit = self.router.submits.get(form.id)
            if submit is None:
                raise LookupError(f"no submit handler for form {form.id}")
            await submit(ctx, step.submitted)
