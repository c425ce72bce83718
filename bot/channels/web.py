"""The local web chat: a JSON API answering each message with its replies from the outbox."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError

from bot.core.dispatcher import Dispatcher
from bot.core.messages import Attachment, Incoming
from bot.core.services import Services
from bot.i18n import translator
from bot.storage.models import OutboxMessage
from bot.uploads import Uploads

__all__ = ["CHANNEL", "WebChannel"]

CHANNEL = "web"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# Bounded so "sender:message_id" fits the update key column (120) on every database.
_SENDER = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,48}$")


class BadRequest(Exception):
    """The request cannot be read; ``key`` explains it to the person."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class WebChannel:
    def __init__(self, services: Services, dispatcher: Dispatcher) -> None:
        self.services = services
        self.dispatcher = dispatcher
        self.uploads = Uploads.under(services.settings.data_dir)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/chat", self.chat)
        app.router.add_get("/api/chat/poll", self.poll)

    async def chat(self, request: web.Request) -> web.Response:
        try:
            incoming = await self._incoming(request)
        except BadRequest as error:
            message = translator(self.services.settings.default_locale)(error.key)
            return web.json_response({"error": message}, status=400)
        try:
            result = await self.dispatcher.handle(incoming)
        except (OperationalError, InterfaceError):
            # Nothing was recorded; the page keeps the text and the same message id to retry.
            t = translator(self.services.settings.default_locale)
            return web.json_response({"error": t("web.busy")}, status=503)
        if result.duplicate:
            # A retry after a lost response: answer again with what the first one said.
            replies = await self._replies_of(result.update_id)
        else:
            replies = await self._collect(OutboxMessage.update_id == result.update_id)
        return web.json_response({"replies": replies})

    async def _replies_of(self, update_id: int) -> list[dict[str, Any]]:
        """Everything answered to that update; what was still pending is now delivered."""
        async with self.services.db.session() as session, session.begin():
            query = (
                select(OutboxMessage)
                .where(OutboxMessage.update_id == update_id, OutboxMessage.channel == CHANNEL)
                .order_by(OutboxMessage.id)
            )
            rows = (await session.execute(query)).scalars().all()
            now = self.services.clock()
            for row in rows:
                if row.status == "pending":
                    row.status, row.sent_at = "sent", now
            return [row.payload for row in rows]

    async def poll(self, request: web.Request) -> web.Response:
        sender = request.query.get("sender", "")
        if not _SENDER.match(sender):
            message = translator(self.services.settings.default_locale)("web.bad_sender")
            return web.json_response({"error": message}, status=400)
        replies = await self._collect(OutboxMessage.chat_id == sender)
        return web.json_response({"replies": replies})

    async def _collect(self, condition: Any) -> list[dict[str, Any]]:
        """Hand over pending web messages and mark them sent, in one transaction."""
        async with self.services.db.session() as session, session.begin():
            query = (
                select(OutboxMessage)
                .where(
                    condition,
                    OutboxMessage.channel == CHANNEL,
                    OutboxMessage.status == "pending",
                )
                .order_by(OutboxMessage.id)
                .with_for_update(skip_locked=True)
            )
            rows = (await session.execute(query)).scalars().all()
            now = self.services.clock()
            for row in rows:
                row.status = "sent"
                row.sent_at = now
                row.attempts += 1
            return [row.payload for row in rows]

    async def _incoming(self, request: web.Request) -> Incoming:
        try:
            body = await request.json()
        except web.HTTPRequestEntityTooLarge:
            raise BadRequest("web.too_large") from None
        except ValueError:
            raise BadRequest("web.bad_json") from None
        if not isinstance(body, dict):
            raise BadRequest("web.bad_json")
        sender = body.get("sender")
        if not isinstance(sender, str) or not _SENDER.match(sender):
            raise BadRequest("web.bad_sender")
        message_id = body.get("message_id")
        if message_id is None:
            message_id = uuid.uuid4().hex
        elif not isinstance(message_id, str) or not _MESSAGE_ID.match(message_id):
            raise BadRequest("web.bad_json")
        text, payload = body.get("text"), body.get("payload")
        if (text is not None and not isinstance(text, str)) or (
            payload is not None and not isinstance(payload, str)
        ):
            raise BadRequest("web.bad_json")
        attachment = self._attachment(body.get("attachment"), sender)
        return Incoming(
            channel=CHANNEL,
            sender_id=sender,
            # The sender is part of the key: message ids come from the browser.
            update_key=f"{sender}:{message_id}",
            text=text,
            payload=payload[:200] if payload else None,
            attachment=attachment,
        )

    def _attachment(self, raw: object, sender: str) -> Attachment | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise BadRequest("web.bad_json")
        try:
            content = base64.b64decode(str(raw.get("content_b64", "")), validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("web.bad_attachment") from None
        if not content or len(content) > MAX_UPLOAD_BYTES:
            raise BadRequest("web.bad_attachment")
        mime = str(raw.get("mime_type") or "application/octet-stream")[:100]
        filename = Path(str(raw.get("filename") or "file")).name[:120]
        kind = "photo" if mime.startswith("image/") else "document"
        return Attachment(filename, mime, file_ref=self.uploads.save(sender, content), kind=kind)
