"""Zalo Official Accounts (OA API v3): webhook events in, customer-service messages out.

In (https://developers.zalo.me, "Webhook"): Zalo POSTs each event as JSON with the header
``X-ZEvent-Signature: mac=<hex sha256(app_id + body + timestamp + OA secret key)>``, where
``app_id`` and ``timestamp`` are the event's own fields and ``body`` the raw JSON text. An
event that fails the check is answered 401 and nothing of it is kept. Zalo wants an answer
within seconds, so the event is only stored (`ZaloOAInboxEvent`, unique by message id) and
answered; a background loop hands stored events to `Dispatcher.handle` in order per person,
retrying failures, and erases their content once done.

Out: ``POST <api>/v3.0/oa/message/cs`` with the ``access_token`` header. Customer-service
messages are free for a few messages within 48 hours of the person's last message (the
reply window, from settings); outside it a message is not sent as one: the outbox row
fails with the reason "outside Zalo OA reply window", which ``python -m bot outbox failed``
shows, and the person's other channels still get their own copy of a push.

Tokens: the access token lasts about 25 hours; ``POST <oauth>/v4/oa/access_token``
(header ``secret_key`` = the app's secret key, form ``refresh_token``, ``app_id``,
``grant_type=refresh_token``) gives a new pair, and a refresh token works once. So one
worker at a time refreshes (a lease in `ZaloOAToken`), stores the new pair before using
it, and a refusal is recorded, logged and given as the failed message's reason, never
retried with the spent token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import mimetypes
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.channels.linked_files import LinkedFiles
from bot.channels.membership import record_reachability
from bot.channels.parts import PartProgress
from bot.channels.zalo_render import FileLinks, MenuStore, plan
from bot.core.dispatcher import Dispatcher
from bot.core.messages import Attachment, Incoming, Reply
from bot.core.services import Services
from bot.crypto import SecretVault
from bot.i18n import translator
from bot.logs import log_failure
from bot.outbox import (
    Blocked,
    Rejected,
    RetryAfter,
    SlidingWindow,
    Transient,
    Waiting,
    wake_waiting,
)
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import (
    Identity,
    ZaloOAInboxEvent,
    ZaloOAToken,
    ZaloOAUser,
    utcnow,
)

__all__ = [
    "CHANNEL",
    "MAX_TEXT",
    "OUTSIDE_WINDOW",
    "SIGNATURE_HEADER",
    "RefreshFailed",
    "ReplyWindow",
    "TokenPair",
    "ZaloOAChannel",
    "ZaloOAClient",
    "ZaloOADelivery",
    "ZaloOAError",
    "ZaloOATokens",
    "ZaloOAuthError",
    "event_key",
    "signature",
    "to_incoming",
    "verify_signature",
]

log = logging.getLogger(__name__)

CHANNEL = "zalo_oa"
SIGNATURE_HEADER = "X-ZEvent-Signature"
MAX_TEXT = 2000
OUTSIDE_WINDOW = "outside Zalo OA reply window"
NO_OTHER_CHANNEL = "the person has no other channel"
# Error codes of the OA API: the access token is not (or no longer) valid ...
TOKEN_ERRORS = frozenset({-216, -124, -155})
# ... too many requests ...
RATE_LIMITED = frozenset({-32})
# ... the person does not follow the OA (any more) ...
NOT_FOLLOWING = frozenset({-213})
# ... the person has not written recently enough for a customer-service message.
WINDOW_CLOSED = frozenset({-230})
MESSAGE_EVENTS = frozenset(
    {
        "user_send_text",
        "user_send_image",
        "user_send_link",
        "user_send_audio",
        "user_send_video",
        "user_send_sticker",
        "user_send_location",
        "user_send_business_card",
        "user_send_file",
        "user_send_gif",
    }
)
FOLLOW_EVENTS = frozenset({"follow", "unfollow"})
_REQUEST_TIMEOUT = 15.0
_LEASE_SECONDS = 60.0  # longer than a refresh call can take
_EARLY_REFRESH = timedelta(minutes=10)
_INBOX_LEASE = timedelta(seconds=60)
_INBOX_BATCH = 50
_BACKOFF_MAX = 60.0


# --------------------------------------------------------------------------- the client


class ZaloOAError(Exception):
    """The OA API refused (``error`` != 0) or answered with an HTTP error."""

    def __init__(self, what: str, status: int, error: int, message: str) -> None:
        super().__init__(f"{what}: {error or status} {message}"[:300])
        self.what = what
        self.status = status
        self.error = error
        self.message = message


class ZaloOAuthError(Exception):
    """The token endpoint refused the refresh token: it will not work again."""

    def __init__(self, error: int, name: str) -> None:
        super().__init__(f"{error} {name}"[:200])
        self.error = error
        self.name = name


class ZaloOANetworkError(Exception):
    """No usable answer: connection trouble, a timeout, or not JSON."""


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds


class ZaloOAClient:
    """Typed calls of the OA API v3 and the OA token endpoint. Tokens are never logged."""

    def __init__(
        self,
        api_base: str,
        oauth_base: str,
        app_id: str,
        app_secret: str | None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.oauth_base = oauth_base.rstrip("/")
        self.app_id = app_id
        self.app_secret = app_secret
        self._session = session
        self._own_session = session is None

    def http(self) -> aiohttp.ClientSession:
        """The client's HTTP session, also for fetching the files people send as links."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def _post(self, what: str, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        budget = aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT)
        try:
            async with self.http().post(url, timeout=budget, **kwargs) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ZaloOANetworkError(f"{what}: {type(error).__name__}") from None
        if not isinstance(body, dict):
            if status >= 400:
                raise ZaloOAError(what, status, 0, f"HTTP {status}")
            raise ZaloOANetworkError(f"{what}: an answer that is not JSON")
        return status, body

    async def send_text(self, access_token: str, user_id: str, text: str) -> dict[str, Any]:
        """A customer-service text message; returns Zalo's ``data`` (message id, quota)."""
        status, body = await self._post(
            "message/cs",
            f"{self.api_base}/v3.0/oa/message/cs",
            json={"recipient": {"user_id": user_id}, "message": {"text": text}},
            headers={"access_token": access_token},
        )
        error = _int(body.get("error"))
        if status >= 400 or error != 0:
            raise ZaloOAError("message/cs", status, error, str(body.get("message") or ""))
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    async def refresh(self, refresh_token: str) -> TokenPair:
        """A new token pair for a (single-use) refresh token."""
        assert self.app_secret, "ZALO_OA_APP_SECRET is not set"
        status, body = await self._post(
            "oa/access_token",
            f"{self.oauth_base}/v4/oa/access_token",
            data={
                "refresh_token": refresh_token,
                "app_id": self.app_id,
                "grant_type": "refresh_token",
            },
            headers={"secret_key": self.app_secret},
        )
        access, new_refresh = body.get("access_token"), body.get("refresh_token")
        if isinstance(access, str) and access and isinstance(new_refresh, str) and new_refresh:
            return TokenPair(access, new_refresh, _int(body.get("expires_in")) or 90000)
        if status >= 500:
            raise ZaloOANetworkError(f"oa/access_token: HTTP {status}")
        name = str(body.get("error_name") or body.get("message") or "refused")
        raise ZaloOAuthError(_int(body.get("error")), name)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# --------------------------------------------------------------------------- tokens


class RefreshFailed(Exception):
    """The token endpoint refused: an admin must provide a new token pair."""


def _fingerprint(settings: Settings) -> str:
    pair = f"{settings.zalo_oa_access_token or ''}\n{settings.zalo_oa_refresh_token or ''}"
    return hashlib.sha256(pair.encode()).hexdigest()


class ZaloOATokens:
    """The OA's token pair in the database, refreshed by one worker at a time."""

    def __init__(
        self,
        db: Database,
        vault: SecretVault,
        client: ZaloOAClient,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        assert settings.zalo_oa_app_id
        self.db = db
        self.vault = vault
        self.client = client
        self.settings = settings
        self.app_id = settings.zalo_oa_app_id
        self.clock = clock
        self.worker = uuid.uuid4().hex[:12]
        self._lock = asyncio.Lock()

    async def seed(self) -> None:
        """The pair from settings, the first time or when an admin set a new one."""
        fingerprint = _fingerprint(self.settings)
        access = self.vault.encrypt(self.settings.zalo_oa_access_token or "")
        refresh = self.vault.encrypt(self.settings.zalo_oa_refresh_token or "")
        try:
            async with self.db.session() as session, session.begin():
                row = await session.get(ZaloOAToken, self.app_id, with_for_update=True)
                if row is None:
                    session.add(
                        ZaloOAToken(
                            app_id=self.app_id,
                            access_token_enc=access,
                            refresh_token_enc=refresh,
                            version=1,
                            seed_fingerprint=fingerprint,
                        )
                    )
                elif row.seed_fingerprint != fingerprint:
                    row.access_token_enc, row.refresh_token_enc = access, refresh
                    row.seed_fingerprint = fingerprint
                    row.version += 1
                    row.expires_at = row.failed_at = row.last_error = None
                    row.lease_owner = row.lease_until = None
                    log.info("zalo oa: a new token pair from settings replaces the stored one")
        except IntegrityError:
            pass  # another worker seeded it at the same moment

    async def _row(self) -> ZaloOAToken:
        async with self.db.session() as session:
            row = await session.get(ZaloOAToken, self.app_id)
        if row is None:
            await self.seed()
            async with self.db.session() as session:
                row = await session.get(ZaloOAToken, self.app_id)
        assert row is not None
        return row

    async def current(self) -> tuple[str, int]:
        """The access token to use and its version; refreshed first when about to expire."""
        row = await self._row()
        expiring = row.expires_at is not None and row.expires_at - self.clock() < _EARLY_REFRESH
        if expiring and row.failed_at is None:
            try:
                return await self.refresh(row.version)
            except (RefreshFailed, Transient):
                pass  # the current token may still work: try it
        return self.vault.decrypt(row.access_token_enc), row.version

    async def status(self) -> ZaloOAToken:
        return await self._row()

    async def refresh(self, seen_version: int) -> tuple[str, int]:
        """A fresh access token after ``seen_version`` failed: ours, or another worker's."""
        async with self._lock:
            deadline = time.monotonic() + _LEASE_SECONDS + 5
            while True:
                row = await self._row()
                if row.version != seen_version:
                    return self.vault.decrypt(row.access_token_enc), row.version
                if row.failed_at is not None:
                    raise RefreshFailed(row.last_error or "Zalo OA token refresh failed")
                if await self._take_lease(seen_version):
                    break
                if time.monotonic() > deadline:
                    raise Transient("zalo oa: another worker is still refreshing the token")
                await asyncio.sleep(0.1)
            return await self._refresh_leased(row)

    async def _take_lease(self, version: int) -> bool:
        now = self.clock()
        async with self.db.session() as session, session.begin():
            result = await session.execute(
                update(ZaloOAToken)
                .where(
                    ZaloOAToken.app_id == self.app_id,
                    ZaloOAToken.version == version,
                    ZaloOAToken.failed_at.is_(None),
                    (ZaloOAToken.lease_until.is_(None)) | (ZaloOAToken.lease_until < now),
                )
                .values(
                    lease_owner=self.worker,
                    lease_until=now + timedelta(seconds=_LEASE_SECONDS),
                )
            )
        return bool(getattr(result, "rowcount", 0))

    async def _settle(self, seen: int, **values: Any) -> int:
        async with self.db.session() as session, session.begin():
            result = await session.execute(
                update(ZaloOAToken)
                .where(
                    ZaloOAToken.app_id == self.app_id,
                    ZaloOAToken.version == seen,
                    ZaloOAToken.lease_owner == self.worker,
                )
                .values(lease_owner=None, lease_until=None, **values)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def _refresh_leased(self, row: ZaloOAToken) -> tuple[str, int]:
        refresh_token = self.vault.decrypt(row.refresh_token_enc)
        if not refresh_token:
            reason = "Zalo OA token refresh failed: no refresh token; set ZALO_OA_REFRESH_TOKEN"
            await self._settle(row.version, failed_at=self.clock(), last_error=reason)
            log.error(reason)
            raise RefreshFailed(reason)
        try:
            pair = await self.client.refresh(refresh_token)
        except ZaloOAuthError as error:
            reason = (
                f"Zalo OA token refresh failed ({error.error} {error.name}); "
                "set a new ZALO_OA_ACCESS_TOKEN and ZALO_OA_REFRESH_TOKEN"
            )[:300]
            await self._settle(row.version, failed_at=self.clock(), last_error=reason)
            log.error(reason)
            raise RefreshFailed(reason) from None
        except (ZaloOANetworkError, ZaloOAError) as error:
            await self._settle(row.version)
            raise Transient(f"zalo oa token refresh unavailable: {error}") from None
        now = self.clock()
        version = row.version + 1
        stored = await self._settle(
            row.version,
            access_token_enc=self.vault.encrypt(pair.access_token),
            refresh_token_enc=self.vault.encrypt(pair.refresh_token),
            expires_at=now + timedelta(seconds=pair.expires_in),
            version=version,
            refreshed_at=now,
            failed_at=None,
            last_error=None,
        )
        if stored != 1:
            # Cannot happen while the lease outlasts the call; say it loudly if it does.
            log.error("zalo oa: the refreshed token pair could not be stored (lease lost)")
            raise Transient("zalo oa: the refreshed token pair could not be stored")
        log.info("zalo oa: access token refreshed (version %d)", version)
        return pair.access_token, version


# --------------------------------------------------------------------------- reply window


class ReplyWindow:
    """Whether a customer-service message may go to a person now, and counting them."""

    def __init__(
        self, db: Database, hours: float, messages: int, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.hours = hours
        self.messages = messages
        self.clock = clock

    async def closed(self, user_id: str) -> str | None:
        """Why a message cannot go now, or None when it can.

        The reason also names the person's other channels: a push is queued for each of
        them, so admins see whether it reached the person some other way.
        """
        async with self.db.session() as session:
            row = await session.get(ZaloOAUser, user_id)
            if row is None:
                last = await self._last_event(session, user_id)
                if last is not None and self.clock() - last <= timedelta(hours=self.hours):
                    # The person's data was just erased (the goodbye still goes out).
                    return None
            why = self._why(row)
            if why is None:
                return None
            return f"{OUTSIDE_WINDOW}: {why}; {await self._elsewhere(session, user_id)}"

    def _why(self, row: ZaloOAUser | None) -> str | None:
        if row is None:
            return "no message from the person yet"
        age = self.clock() - row.last_message_at
        if age > timedelta(hours=self.hours):
            return (
                f"last message from the person {age.total_seconds() / 3600:.0f} h ago "
                f"(window {self.hours:g} h)"
            )
        if row.replies_since >= self.messages:
            return (
                f"{row.replies_since} messages already sent since the person's last "
                f"message (limit {self.messages})"
            )
        return None

    @staticmethod
    async def _last_event(session: AsyncSession, user_id: str) -> datetime | None:
        """When the person last wrote, from the inbox: /delete takes the window row away."""
        last: datetime | None = await session.scalar(
            select(func.max(ZaloOAInboxEvent.received_at)).where(
                ZaloOAInboxEvent.user_id == user_id,
                ZaloOAInboxEvent.event_name.in_(MESSAGE_EVENTS),
            )
        )
        return last

    @staticmethod
    async def _elsewhere(session: AsyncSession, user_id: str) -> str:
        mine = select(Identity.account_id).where(
            Identity.channel == CHANNEL, Identity.external_id == user_id
        )
        others = (
            await session.execute(
                select(Identity.channel)
                .where(
                    Identity.account_id.in_(mine.scalar_subquery()),
                    Identity.active.is_(True),
                    Identity.channel != CHANNEL,
                )
                .distinct()
                .order_by(Identity.channel)
            )
        ).scalars()
        names = ", ".join(others)
        if not names:
            return NO_OTHER_CHANNEL
        return f"other channels of the person: {names} (each gets its own copy of a push)"

    async def count(self, user_id: str) -> None:
        async with self.db.session() as session, session.begin():
            await session.execute(
                update(ZaloOAUser)
                .where(ZaloOAUser.user_id == user_id)
                .values(replies_since=ZaloOAUser.replies_since + 1)
            )


# --------------------------------------------------------------------------- events in


def signature(app_id: str, body: str, timestamp: str, oa_secret_key: str) -> str:
    """The documented ``X-ZEvent-Signature`` value."""
    digest = hashlib.sha256(f"{app_id}{body}{timestamp}{oa_secret_key}".encode()).hexdigest()
    return f"mac={digest}"


def verify_signature(
    header: str, raw: bytes, data: dict[str, Any], app_id: str, oa_secret_key: str
) -> bool:
    if str(data.get("app_id") or "") != app_id or not oa_secret_key:
        return False
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    expected = signature(app_id, body, str(data.get("timestamp") or ""), oa_secret_key)
    given = header.strip()
    if not given.lower().startswith("mac="):
        given = f"mac={given}"
    return hmac.compare_digest(given.lower().encode(), expected.encode())


def _user_of(data: dict[str, Any]) -> str:
    event = str(data.get("event_name") or "")
    for part in ("follower", "sender") if event in FOLLOW_EVENTS else ("sender",):
        holder = data.get(part)
        if isinstance(holder, dict) and holder.get("id"):
            return str(holder["id"])
    return ""


def event_key(data: dict[str, Any]) -> str:
    """What makes an event unique: the message id, else who, what and when."""
    event = str(data.get("event_name") or "")
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    assert isinstance(message, dict)
    msg_id = message.get("msg_id")
    app = str(data.get("app_id") or "")
    if msg_id:
        return f"{app}:{msg_id}"[:120]
    return f"{app}:{event}:{_user_of(data)}:{data.get('timestamp')}"[:120]


def _attachment(event: str, message: dict[str, Any]) -> Attachment | None:
    """A photo, or a document (a scan, a PDF) with its own name; its link is fetched later."""
    items = message.get("attachments") if isinstance(message.get("attachments"), list) else []
    assert isinstance(items, list)
    for item in items:
        payload = item.get("payload") if isinstance(item, dict) else None
        if not isinstance(payload, dict) or not isinstance(payload.get("url"), str):
            continue
        if event == "user_send_image":
            name = f"{message.get('msg_id') or 'image'}.jpg"
            return Attachment(name, "image/jpeg", file_ref=payload["url"], kind="photo")
        name = str(payload.get("name") or f"{message.get('msg_id') or 'file'}.pdf")[:120]
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Attachment(name, mime, file_ref=payload["url"], kind="document")
    return None


def to_incoming(data: dict[str, Any], key: str) -> Incoming | None:
    """A person's message as the core sees it; None for anything else."""
    event = str(data.get("event_name") or "")
    if event not in MESSAGE_EVENTS:
        return None
    user = _user_of(data)
    if not user:
        return None
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    assert isinstance(message, dict)
    text: str | None = None
    attachment: Attachment | None = None
    if event == "user_send_text" and isinstance(message.get("text"), str):
        text = message["text"]
    elif event in ("user_send_image", "user_send_file"):
        attachment = _attachment(event, message)
    start_arg = None
    if text and text.strip().lower().startswith("/start "):
        start_arg = text.strip()[7:].strip() or None
    return Incoming(
        channel=CHANNEL,
        sender_id=user,
        update_key=key,
        text=text,
        attachment=attachment,
        start_arg=start_arg,
    )


# --------------------------------------------------------------------------- replies out


class ZaloOADelivery:
    """Customer-service messages within the reply window, with one token refresh on expiry."""

    channel = CHANNEL

    def __init__(
        self,
        client: ZaloOAClient,
        tokens: ZaloOATokens,
        window: ReplyWindow,
        menus: MenuStore,
        files: FileLinks,
        per_second: float,
        timezone: str = "Asia/Ho_Chi_Minh",
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.window = window
        self.menus = menus
        self.files = files
        self.timezone = timezone
        self._pace = SlidingWindow(per_second)
        self._progress = PartProgress()

    async def deliver(self, chat_id: str, reply: Reply) -> None:
        try:
            await self._deliver(chat_id, reply)
        except RefreshFailed as error:
            raise Rejected(str(error)) from None
        except ZaloOAError as error:
            raise self._outcome(error) from None
        except (ZaloOANetworkError, TimeoutError) as error:
            raise Transient(str(error) or type(error).__name__) from None

    def _outcome(self, error: ZaloOAError) -> Exception:
        reason = f"zalo oa {error.what} {error.error or error.status}: {error.message}"[:200]
        if error.error in RATE_LIMITED or error.status == 429:
            self._pace.pause(10.0)
            return RetryAfter(10.0)
        if error.error in NOT_FOLLOWING:
            return Blocked(reason)
        if error.error in WINDOW_CLOSED:
            return Rejected(f"{OUTSIDE_WINDOW} (Zalo {error.error})")
        if error.error in TOKEN_ERRORS:
            return Transient(f"unauthorized after a token refresh: {reason}")
        if error.status >= 500 or error.error == 0:
            return Transient(reason)
        return Rejected(reason)

    async def _deliver(self, chat_id: str, reply: Reply) -> None:
        closed = await self.window.closed(chat_id)
        if closed is not None:
            if NO_OTHER_CHANNEL in closed:
                # Nowhere else to reach them: it waits until they write to the OA again.
                raise Waiting(f"{closed}; waits until the person writes again")
            raise Rejected(closed)
        turn, menu, pieces = await plan(
            reply,
            chat_id,
            self.menus,
            self.files,
            MAX_TEXT,
            lambda locale: translator(locale, self.timezone),
            photos=False,
        )
        if not pieces:
            raise Rejected("nothing to send: empty text and no attachment")
        steps = [partial(self._send, chat_id, piece.value) for piece in pieces]
        await self._progress.send(chat_id, reply, steps)
        await self.menus.remember(chat_id, turn, menu)

    async def _send(self, user_id: str, text: str) -> None:
        """One part, paced, counted against the reply window once accepted."""
        await self._pace.acquire()
        await self._send_text(user_id, text)
        await self.window.count(user_id)

    async def _send_text(self, user_id: str, text: str) -> None:
        token, version = await self.tokens.current()
        try:
            await self.client.send_text(token, user_id, text)
        except ZaloOAError as error:
            if error.error not in TOKEN_ERRORS:
                raise
            # Expired or revoked: one refresh (by whichever worker gets there first), one retry.
            token, _ = await self.tokens.refresh(version)
            await self.client.send_text(token, user_id, text)


# --------------------------------------------------------------------------- the channel


class ZaloOAChannel:
    """The webhook that stores events, and the loop that processes them."""

    def __init__(
        self,
        services: Services,
        dispatcher: Dispatcher,
        files: FileLinks,
        client: ZaloOAClient | None = None,
    ) -> None:
        settings = services.settings
        assert settings.zalo_oa_app_id
        self.services = services
        self.settings = settings
        self.db = services.db
        self.clock = services.clock
        self.dispatcher = dispatcher
        self.client = client or ZaloOAClient(
            settings.zalo_oa_api_base,
            settings.zalo_oauth_base,
            settings.zalo_oa_app_id,
            settings.zalo_oa_app_secret,
        )
        self.tokens = ZaloOATokens(services.db, services.vault, self.client, settings, self.clock)
        self.window = ReplyWindow(
            services.db,
            settings.zalo_oa_reply_window_hours,
            settings.zalo_oa_reply_window_messages,
            self.clock,
        )
        self.menus = MenuStore(
            services.db, CHANNEL, settings.default_locale, self.clock, services.forms
        )
        self.delivery = ZaloOADelivery(
            self.client,
            self.tokens,
            self.window,
            self.menus,
            files,
            settings.zalo_oa_per_second,
            settings.timezone,
        )
        self.linked = LinkedFiles(settings.data_dir, CHANNEL, self.client.http)
        self.worker = uuid.uuid4().hex[:12]
        self._wake = asyncio.Event()

    def background(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        return [self.run_inbox]

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.settings.zalo_oa_webhook_path, self.webhook)

        async def close(_app: web.Application) -> None:
            await self.client.close()

        app.on_cleanup.append(close)

    # --- webhook -------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        header = request.headers.get(SIGNATURE_HEADER, "")
        app_id = self.settings.zalo_oa_app_id or ""
        secret = self.settings.zalo_oa_secret_key or ""
        if not isinstance(data, dict) or not verify_signature(header, raw, data, app_id, secret):
            log.warning("zalo oa webhook: an event without a valid signature was refused")
            return web.Response(status=401)
        event = str(data.get("event_name") or "")
        user = _user_of(data)
        if event not in MESSAGE_EVENTS | FOLLOW_EVENTS or not user:
            return web.json_response({"ok": True})  # the OA's own messages, receipts ...
        try:
            await self.store(data, event, user)
        except Exception as error:
            log_failure(log, "zalo oa webhook: an event could not be stored", error)
            return web.Response(status=500)  # Zalo sends it again
        self._wake.set()
        return web.json_response({"ok": True})

    async def store(self, data: dict[str, Any], event: str, user: str) -> bool:
        """Keep the event (once) and, for a message, open the person's reply window."""
        key = event_key(data)
        now = self.clock()
        try:
            async with self.db.session() as session, session.begin():
                found = await session.scalar(
                    select(ZaloOAInboxEvent.id).where(ZaloOAInboxEvent.event_key == key)
                )
                if found is not None:
                    return False
                session.add(
                    ZaloOAInboxEvent(
                        event_key=key,
                        user_id=user,
                        event_name=event,
                        payload=data,
                        received_at=now,
                        next_attempt_at=now,
                    )
                )
                if event in MESSAGE_EVENTS:
                    person = await session.get(ZaloOAUser, user, with_for_update=True)
                    if person is None:
                        session.add(ZaloOAUser(user_id=user, last_message_at=now, replies_since=0))
                    else:
                        person.last_message_at = now
                        person.replies_since = 0
                    await wake_waiting(session, CHANNEL, user, now)
        except IntegrityError:
            return False  # stored by another worker
        return True

    # --- the inbox -----------------------------------------------------------------------

    async def run_inbox(self, idle_seconds: float = 1.0) -> None:
        await self.tokens.seed()
        while True:
            self._wake.clear()
            try:
                done = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log_failure(log, "zalo oa inbox failed; retrying", error)
                done = 0
            if done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), idle_seconds)

    async def drain_once(self) -> int:
        """Process what is due, in order per person. Returns how many events were done."""
        rows = await self._claim()
        if not rows:
            return 0
        results = await asyncio.gather(*(self._process(row) for row in rows))
        return sum(results)

    async def _claim(self) -> list[ZaloOAInboxEvent]:
        now = self.clock()
        earlier = aliased(ZaloOAInboxEvent)
        # A person's event waits while an earlier one is not done: their order is kept.
        waits = exists().where(
            and_(
                earlier.user_id == ZaloOAInboxEvent.user_id,
                earlier.id < ZaloOAInboxEvent.id,
                earlier.processed_at.is_(None),
            )
        )
        query = (
            select(ZaloOAInboxEvent.id)
            .where(
                ZaloOAInboxEvent.processed_at.is_(None),
                ZaloOAInboxEvent.next_attempt_at <= now,
                ~waits,
            )
            .order_by(ZaloOAInboxEvent.id)
            .limit(_INBOX_BATCH)
        )
        async with self.db.session() as session, session.begin():
            ids = list((await session.execute(query)).scalars())
            if not ids:
                return []
            # Conditional, so two workers never take the same event.
            await session.execute(
                update(ZaloOAInboxEvent)
                .where(
                    ZaloOAInboxEvent.id.in_(ids),
                    ZaloOAInboxEvent.processed_at.is_(None),
                    ZaloOAInboxEvent.next_attempt_at <= now,
                )
                .values(claimed_by=self.worker, next_attempt_at=now + _INBOX_LEASE)
                .execution_options(synchronize_session=False)
            )
        async with self.db.session() as session:
            mine = select(ZaloOAInboxEvent).where(
                ZaloOAInboxEvent.id.in_(ids), ZaloOAInboxEvent.claimed_by == self.worker
            )
            return list((await session.execute(mine.order_by(ZaloOAInboxEvent.id))).scalars())

    async def _process(self, row: ZaloOAInboxEvent) -> int:
        try:
            await self.handle_event(row.payload, row.event_key)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            attempts = row.attempts + 1
            delay = min(2.0 ** (attempts - 1), _BACKOFF_MAX)
            log_failure(log, f"zalo oa event {row.id} failed; retry in {delay:.0f}s", error)
            await self._set(
                row.id,
                attempts=attempts,
                claimed_by=None,
                next_attempt_at=self.clock() + timedelta(seconds=delay),
                last_error=type(error).__name__,
            )
            return 0
        # Done: the content goes (it may hold what the person typed); the key stays.
        await self._set(
            row.id, processed_at=self.clock(), claimed_by=None, payload={}, last_error=None
        )
        return 1

    async def _set(self, row_id: int, **values: Any) -> None:
        async with self.db.session() as session, session.begin():
            await session.execute(
                update(ZaloOAInboxEvent).where(ZaloOAInboxEvent.id == row_id).values(**values)
            )

    async def handle_event(self, data: dict[str, Any], key: str) -> None:
        event = str(data.get("event_name") or "")
        if event in FOLLOW_EVENTS:
            await record_reachability(
                self.db, CHANNEL, key, _user_of(data), event == "follow", self.clock()
            )
            return
        incoming = to_incoming(data, key)
        if incoming is None:
            return
        incoming = await self.menus.read(await self.linked.keep(incoming))
        await self.dispatcher.handle(incoming)
        self._wake.set()
