"""Zalo's idiom for a `Reply`: choices as numbered text menus, files as expiring links.

Neither the Zalo Bot Platform nor a customer-service message of an Official Account has
buttons a bot could rely on, so a reply's buttons become a menu under its text::

    Bạn là ai?

    1. Hộ gia đình
    2. Cán bộ
    👉 Gõ 1 hoặc 2 để chọn.

and what the person types is read back: "2" is the second choice, "cán bộ" (with or
without diacritics) chooses it by name. A message whose only buttons are form controls
(back, skip, keep the answer...) asks for a value, often a number, so it lists its choices
by name only; and while a form waits for a value (a number, a date, a text), typed digits
are that value, never a menu choice. Several messages in one answer number on (4, 5 ...)
so every number on the screen means one thing; the next answer starts again at 1.

What was shown is kept per chat in the database (`ZaloChatMenu`), written once the message
is sent, so a restart or another worker reads "2" the same way. Typed text that looks like
a button payload ("qa:ask") is passed on as one: it is what a tapped button would carry,
and the core treats every payload as untrusted.

Files: Zalo bots cannot upload one, so a file is stored (`ZaloFile`) and offered as a link
to this server that expires; without ZALO_FILES_BASE_URL the message only names the file.
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.messages import Attachment, Button, Incoming, Reply
from bot.forms.model import FormDef
from bot.i18n import Translator
from bot.storage.db import Database
from bot.storage.models import (
    Account,
    ConversationState,
    Identity,
    ZaloChatMenu,
    ZaloFile,
    utcnow,
)
from bot.text import fold, split_long_text

__all__ = [
    "CONTROL_PREFIX",
    "HINT_MARK",
    "FileLinks",
    "Menu",
    "MenuStore",
    "Option",
    "Piece",
    "Turn",
    "file_message",
    "looks_like_payload",
    "parse_menu",
    "plan",
    "render",
    "reply_parts",
]

log = logging.getLogger(__name__)

# Form controls: back, skip, keep, confirm, fix, cancel. Never numbered on their own.
CONTROL_PREFIX = "f!"
HINT_MARK = "👉"
# Field types answered by choosing; the others wait for a typed value.
CHOICE_TYPES = frozenset({"choice", "multi_choice", "yes_no", "org_unit"})
# At most this many numbers are spelled out ("1, 2 hoặc 3"); more become a range.
_SPELLED = 3
# "qa:ask", "f:home_unit=42", "f!skip": what a button carries. No spaces, no "://".
_PAYLOAD = re.compile(r"^[a-z][a-z0-9_]{0,15}[:!]\S*$")
_NUMBERED_TITLE = re.compile(r"^\d+\.\s*")
_OPTION_LINE = re.compile(r"^(\d+)\. (.+)$")
_QUOTED = re.compile(r"“([^”]+)”")


@dataclass(frozen=True, slots=True)
class Option:
    number: int | None  # None: chosen by name only
    title: str
    payload: str

    def to_json(self) -> dict[str, Any]:
        return {"n": self.number, "title": self.title, "payload": self.payload}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Option:
        number = data.get("n")
        return cls(int(number) if number is not None else None, data["title"], data["payload"])


@dataclass(frozen=True, slots=True)
class Menu:
    """The text to send (body and menu) and the choices it offered."""

    text: str
    options: tuple[Option, ...] = ()
    numbered: bool = False


@dataclass(frozen=True, slots=True)
class Turn:
    """What a chat's next message continues: the first free number, and its language."""

    start: int = 1
    fresh: bool = True
    locale: str = "vi"


def looks_like_payload(text: str) -> bool:
    return bool(_PAYLOAD.match(text)) and "://" not in text


def _key(text: str) -> str:
    """How a title and a typed choice compare: folded, without numbering, marks or emoji."""
    folded = fold(_NUMBERED_TITLE.sub("", text.strip().lstrip("✓").strip()))
    kept = "".join(ch if ch.isalnum() or ch == " " else " " for ch in folded)
    return " ".join(kept.split())


def _spell(numbers: Sequence[int], t: Translator) -> str:
    if len(numbers) == 1:
        return str(numbers[0])
    if len(numbers) > _SPELLED:
        return t("zalo.menu.range", first=numbers[0], last=numbers[-1])
    head = ", ".join(str(n) for n in numbers[:-1])
    return f"{head} {t('zalo.menu.or')} {numbers[-1]}"


def _names(titles: Sequence[str], t: Translator) -> str:
    quoted = [f"“{title}”" for title in titles]
    if len(quoted) == 1:
        return quoted[0]
    return f"{', '.join(quoted[:-1])} {t('zalo.menu.or')} {quoted[-1]}"


def render(text: str, buttons: Sequence[Button], start: int, t: Translator) -> Menu:
    """The message text with its buttons as a menu, numbered from ``start``."""
    if not buttons:
        return Menu(text)
    numbered = any(not b.payload.startswith(CONTROL_PREFIX) for b in buttons)
    lines: list[str] = []
    options: list[Option] = []
    if numbered:
        for offset, button in enumerate(buttons):
            number = start + offset
            options.append(Option(number, button.title, button.payload))
            lines.append(f"{number}. {button.title}")
        hint = t("zalo.menu.type_number", choices=_spell([o.number or 0 for o in options], t))
    else:
        options = [Option(None, b.title, b.payload) for b in buttons]
        hint = t("zalo.menu.type_words", choices=_names([b.title for b in buttons], t))
    lines.append(f"{HINT_MARK} {hint}")
    block = "\n".join(lines)
    body = text.rstrip()
    return Menu(f"{body}\n\n{block}" if body else block, tuple(options), numbered)


def parse_menu(text: str) -> tuple[str, list[tuple[int | None, str]]]:
    """Undo `render`: the body, and the menu's (number, title) pairs. For tests and tools."""
    body, sep, block = text.rpartition("\n\n")
    if not sep:
        body, block = "", text
    lines = block.split("\n")
    if not lines or not lines[-1].startswith(HINT_MARK):
        return text, []
    numbered = [_OPTION_LINE.match(line) for line in lines[:-1]]
    if numbered and all(numbered):
        return body, [(int(m.group(1)), m.group(2)) for m in numbered if m]
    if len(lines) == 1:
        return body, [(None, title) for title in _QUOTED.findall(lines[0])]
    return text, []


# --------------------------------------------------------------------------- the store


class MenuStore:
    """Per chat, the choices last shown; reads typed numbers and names back into payloads."""

    def __init__(
        self,
        db: Database,
        channel: str,
        default_locale: str = "vi",
        clock: Callable[[], datetime] = utcnow,
        forms: Mapping[str, FormDef] | None = None,
    ) -> None:
        self.db = db
        self.channel = channel
        self.default_locale = default_locale
        self.clock = clock
        self.forms = forms or {}

    async def turn(self, chat_id: str) -> Turn:
        """Where the next message to this chat starts numbering, and the person's language."""
        async with self.db.session() as session:
            row = await session.get(ZaloChatMenu, (self.channel, chat_id))
            locale = await session.scalar(
                select(Account.locale)
                .join(Identity, Identity.account_id == Account.id)
                .where(Identity.channel == self.channel, Identity.external_id == chat_id)
            )
        locale = locale or self.default_locale
        if row is None or row.fresh:
            return Turn(1, True, locale)
        numbers = [o.number for o in _options(row) if o.number is not None]
        return Turn(max(numbers, default=0) + 1, False, locale)

    async def remember(self, chat_id: str, turn: Turn, menu: Menu) -> None:
        """After a message went out: what its menu offered, on top of the turn's earlier ones."""
        for _ in range(2):
            try:
                async with self.db.session() as session, session.begin():
                    row = await session.get(ZaloChatMenu, (self.channel, chat_id))
                    if row is None and not menu.options:
                        # Nothing to read back: no row is the same as an empty one, and a
                        # goodbye after /delete must not leave one behind.
                        return
                    if row is None:
                        row = ZaloChatMenu(channel=self.channel, chat_id=chat_id)
                        session.add(row)
                        earlier: list[Option] = []
                    else:
                        earlier = [] if turn.fresh else _options(row)
                    row.options = {"options": [o.to_json() for o in (*earlier, *menu.options)]}
                    if menu.options:
                        # A message of controls only asks for a value: numbers are answers.
                        row.numbers = menu.numbered
                    elif turn.fresh:
                        row.numbers = False
                    # (A plain message later in the turn, a chart say, leaves the numbers.)
                    row.fresh = False
                    row.updated_at = self.clock()
                return
            except IntegrityError:
                continue  # another worker created the row first: update it instead

    async def read(self, incoming: Incoming) -> Incoming:
        """The person wrote: a typed choice becomes its payload; the next menu starts at 1."""
        chat_id = incoming.sender_id
        payload: str | None = None
        async with self.db.session() as session, session.begin():
            row = await session.get(ZaloChatMenu, (self.channel, chat_id), with_for_update=True)
            if row is not None:
                if incoming.text:
                    numbers = row.numbers and not await self._awaits_value(session, chat_id)
                    payload = _choose(row, incoming.text, numbers)
                row.fresh = True
        if payload is None and incoming.text and looks_like_payload(incoming.text.strip()):
            payload = incoming.text.strip()
        if payload is None:
            return incoming
        return replace(incoming, text=None, payload=payload, start_arg=None)

    async def _awaits_value(self, session: AsyncSession, chat_id: str) -> bool:
        """Whether the person's form waits for a typed value (not a choice) right now."""
        if not self.forms:
            return False
        state = await session.scalar(
            select(ConversationState.state)
            .join(Identity, Identity.account_id == ConversationState.account_id)
            .where(Identity.channel == self.channel, Identity.external_id == chat_id)
        )
        form_state = (state or {}).get("form")
        if not isinstance(form_state, dict) or form_state.get("phase") != "ask":
            return False
        form = self.forms.get(str(form_state.get("form")))
        pending = form_state.get("pending")
        if form is None or not pending:
            return False
        try:
            return form.field(str(pending)).type not in CHOICE_TYPES
        except KeyError:
            return False


def _options(row: ZaloChatMenu) -> list[Option]:
    return [Option.from_json(item) for item in (row.options or {}).get("options", [])]


def _choose(row: ZaloChatMenu, text: str, numbers: bool) -> str | None:
    options = _options(row)
    typed = text.strip().rstrip(".")
    if typed.isascii() and typed.isdigit():
        if not numbers:
            return None
        for option in options:
            if option.number == int(typed):
                return option.payload
        return None
    key = _key(text)
    if not key:
        return None
    for option in reversed(options):  # the latest of two alike ("Quay lại") wins
        if _key(option.title) == key:
            return option.payload
    return None


# --------------------------------------------------------------------------- file links


class FileLinks:
    """Files offered on Zalo as links to this server, valid for a few hours."""

    ROUTE = "/zalo/files/{token}/{name}"

    def __init__(
        self,
        db: Database,
        base_url: str | None,
        hours: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.base_url = base_url.rstrip("/") if base_url else None
        self.hours = hours
        self.clock = clock

    async def link(self, attachment: Attachment, channel: str, chat_id: str) -> str | None:
        """A download link for the file made for that chat; None when this server has no
        public address. The chat is kept with the file so that erasing the person finds it."""
        if self.base_url is None or attachment.content is None:
            return None
        now = self.clock()
        token = secrets.token_urlsafe(24)
        async with self.db.session() as session, session.begin():
            await session.execute(delete(ZaloFile).where(ZaloFile.expires_at < now))
            session.add(
                ZaloFile(
                    token=token,
                    filename=attachment.filename[:200],
                    mime_type=attachment.mime_type[:100],
                    content_b64=base64.b64encode(attachment.content).decode(),
                    created_at=now,
                    expires_at=now + timedelta(hours=self.hours),
                    channel=channel,
                    chat_id=chat_id,
                )
            )
        return f"{self.base_url}/zalo/files/{token}/{quote(attachment.filename)}"

    async def serve(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        async with self.db.session() as session:
            found = await session.scalar(select(ZaloFile).where(ZaloFile.token == token))
        if found is None or found.expires_at < self.clock():
            raise web.HTTPNotFound()
        headers = {
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.filename)}",
            "Cache-Control": "private, no-store",
        }
        return web.Response(
            body=base64.b64decode(found.content_b64),
            content_type=found.mime_type,
            headers=headers,
        )

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(self.ROUTE, self.serve)


def file_message(name: str, url: str | None, t: Translator, hours: int) -> str:
    """The line that stands for a file on Zalo."""
    if url is None:
        return t("zalo.file.unavailable", name=name)
    return t("zalo.file.link", name=name, url=url, hours=hours)


def reply_parts(reply: Reply) -> tuple[str, Attachment | None]:
    """The text to render and the file (if any) to offer after it."""
    attachment = reply.attachment if reply.attachment and reply.attachment.content else None
    return reply.text or "", attachment


# --------------------------------------------------------------------------- a reply's parts


@dataclass(frozen=True, slots=True)
class Piece:
    """One API call of a reply: a text, or a photo given by its URL."""

    kind: str  # text | photo
    value: str


async def plan(
    reply: Reply,
    chat_id: str,
    menus: MenuStore,
    files: FileLinks,
    limit: int,
    translate: Callable[[str], Translator],
    *,
    photos: bool,
) -> tuple[Turn, Menu, list[Piece]]:
    """What to send for a reply, in order: its text with the menu (split at ``limit``
    characters on paragraph and word boundaries), then its file as a photo or a link."""
    turn = await menus.turn(chat_id)
    t = translate(turn.locale)
    text, attachment = reply_parts(reply)
    menu = render(text, reply.buttons, turn.start, t)
    pieces = [Piece("text", part) for part in split_long_text(menu.text, limit) if part.strip()]
    if attachment is not None:
        url = await files.link(attachment, menus.channel, chat_id)
        if photos and url is not None and attachment.kind == "photo":
            pieces.append(Piece("photo", url))
        else:
            line = file_message(attachment.filename, url, t, files.hours)
            pieces.append(Piece("text", line[:limit]))
    return turn, menu, pieces
