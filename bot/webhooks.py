"""Forwarding submissions to other systems: signed POSTs through the durable outbox.

Every confirmed submission (its first revision), every later revision and every status
change becomes, in the same transaction that writes it, one outbox row per matching
endpoint on the channel ``webhook`` (a flush hook on the session, so no journey has to
remember it). A separate `OutboxSender` drains those rows with `WebhookDelivery`: retries
with backoff on timeouts, 5xx and 429 (honouring Retry-After), gives up after
``WEBHOOK_MAX_ATTEMPTS`` into the dead-letter list (``python -m bot webhooks dead``, then
``webhooks retry ID``), and keeps each endpoint's events in order.

Each POST carries:

* ``Idempotency-Key`` (also ``X-Giamngheo-Delivery``): the same on every retry of an event,
  so a receiver that got it before can answer 200 and ignore it;
* ``X-Giamngheo-Signature: t=<unix time>,v1=<hex>``: HMAC-SHA256 with the endpoint's secret
  over ``"<t>." + body``; receivers recompute it and reject old timestamps (replays);
* ``X-Giamngheo-Event``: submission.created | submission.revised | submission.status_changed.

Answers are forwarded as a person may see them: ID numbers masked, never the ciphertext.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any

import aiohttp
from sqlalchemy import event, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.messages import Reply
from bot.crypto import SecretVault
from bot.outbox import OutboxSender, RateLimits, Rejected, RetryAfter, Transient
from bot.privacy import public_answers
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import (
    OrgUnit,
    OutboxMessage,
    Submission,
    SubmissionRevision,
    WebhookEndpoint,
    utcnow,
)

__all__ = [
    "CHANNEL",
    "SIGNATURE_HEADER",
    "ForwardingSession",
    "WebhookDelivery",
    "add_endpoint",
    "install",
    "sign",
    "sync_settings_endpoints",
    "verify",
    "webhook_sender",
]

log = logging.getLogger(__name__)

CHANNEL = "webhook"
SIGNATURE_HEADER = "X-Giamngheo-Signature"
EVENT_HEADER = "X-Giamngheo-Event"
DELIVERY_HEADER = "X-Giamngheo-Delivery"
_SETTINGS_PREFIX = "settings-"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, body: bytes, header: str, tolerance: float = 300.0) -> bool:
    """What a receiver does: recompute the signature and refuse stale timestamps."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp)
    return hmac.compare_digest(expected, header)


# --------------------------------------------------------------------------- events in


class ForwardingSession(Session):
    """The database session of a bot that forwards submissions (see `install`)."""


def install(db: Database) -> None:
    """Make every session of ``db`` queue webhook events for the submissions it writes."""
    current: type[Session] = db.sessions.kw.get("sync_session_class", Session)
    if not issubclass(current, ForwardingSession):
        # Keeping what the database's own session class does (see bot/storage/ids.py).
        forwarding = type("ForwardingSession", (ForwardingSession, current), {})
        db.sessions.configure(sync_session_class=forwarding)


def _changed_status(submission: Submission) -> bool:
    state = inspect(submission)
    return bool(state.persistent and state.attrs.status.history.has_changes())


def _submission_json(submission: Submission, unit: OrgUnit | None) -> dict[str, Any]:
    return {
        "id": submission.id,
        "form": submission.form_id,
        "form_version": submission.form_version,
        "receipt_code": submission.receipt_code,
        "status": submission.status,
        "natural_key": submission.natural_key,
        "unit": {"code": unit.code, "name": unit.name, "level": unit.level} if unit else None,
        "created_at": submission.created_at.isoformat() if submission.created_at else None,
        "updated_at": submission.updated_at.isoformat() if submission.updated_at else None,
    }


def _matches(
    endpoint: WebhookEndpoint, submission: Submission, unit: OrgUnit | None, session: Session
) -> bool:
    forms = endpoint.forms.get("forms") if endpoint.forms else None
    if forms and submission.form_id not in forms:
        return False
    if endpoint.org_unit_id is None:
        return True
    scope = session.get(OrgUnit, endpoint.org_unit_id)
    return bool(scope and unit and unit.path.startswith(scope.path))


@event.listens_for(ForwardingSession, "before_flush")
def _queue_events(session: Session, _context: Any, _instances: Any) -> None:
    revisions = [o for o in session.new if isinstance(o, SubmissionRevision)]
    changed = [o for o in session.dirty if isinstance(o, Submission) and _changed_status(o)]
    if not revisions and not changed:
        return
    with session.no_autoflush:
        endpoints = list(
            session.execute(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True)))
            .scalars()
            .all()
        )
        if not endpoints:
            return
        now = utcnow()
        events: list[tuple[str, str, Submission, dict[str, Any]]] = []
        for revision in revisions:
            submission = session.get(Submission, revision.submission_id)
            if submission is None:
                continue
            kind = "submission.created" if revision.revision == 1 else "submission.revised"
            extra: dict[str, Any] = {
                "revision": {
                    "number": revision.revision,
                    "answers": public_answers(dict(revision.answers or {})),
                    "reason": revision.reason,
                    "created_at": (revision.created_at or now).isoformat(),
                }
            }
            events.append((kind, f"sub:{submission.id}:rev:{revision.revision}", submission, extra))
        for submission in changed:
            stamp = (submission.updated_at or now).isoformat()
            previous = inspect(submission).attrs.status.history.deleted
            extra = {"previous_status": str(previous[0]) if previous else None}
            events.append(
                (
                    "submission.status_changed",
                    f"sub:{submission.id}:status:{submission.status}:{stamp}",
                    submission,
                    extra,
                )
            )
        for kind, ref, submission, extra in events:
            unit = session.get(OrgUnit, submission.org_unit_id) if submission.org_unit_id else None
            for endpoint in endpoints:
                if not _matches(endpoint, submission, unit, session):
                    continue
                key = f"wh:{endpoint.id}:{ref}"[:160]
                body = {
                    "event": kind,
                    "id": key,
                    "occurred_at": now.isoformat(),
                    "submission": _submission_json(submission, unit),
                    **extra,
                }
                text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
                session.add(
                    OutboxMessage(
                        idempotency_key=key,
                        channel=CHANNEL,
                        chat_id=str(endpoint.id),
                        kind="reply",  # no per-chat pacing; the endpoint's order is kept
                        payload=Reply(text, extra={"event": kind, "key": key}).to_json(),
                        created_at=now,
                        next_attempt_at=now,
                    )
                )


# --------------------------------------------------------------------------- endpoints


async def add_endpoint(
    db: Database,
    vault: SecretVault,
    name: str,
    url: str,
    secret: str | None = None,
    *,
    unit_code: str | None = None,
    forms: list[str] | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint; returns it and its signing secret (shown once, kept encrypted)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("the URL must start with http:// or https://")
    secret = secret or secrets.token_urlsafe(32)
    async with db.session() as session, session.begin():
        unit_id = None
        if unit_code:
            unit_id = await session.scalar(select(OrgUnit.id).where(OrgUnit.code == unit_code))
            if unit_id is None:
                raise LookupError(f"no org unit with code {unit_code!r}")
        endpoint = WebhookEndpoint(
            name=name,
            url=url,
            secret_enc=vault.encrypt(secret),
            org_unit_id=unit_id,
            forms={"forms": forms} if forms else {},
            active=True,
            created_at=utcnow(),
        )
        session.add(endpoint)
    return endpoint, secret


async def sync_settings_endpoints(db: Database, vault: SecretVault, settings: Settings) -> None:
    """WEBHOOK_URLS as endpoints "settings-1", "settings-2"...; removed ones are deactivated.

    Several workers starting at once may race to create them: the loser reads them again.
    """
    for attempt in range(3):
        try:
            await _sync_settings_endpoints(db, vault, settings)
            return
        except IntegrityError:
            if attempt == 2:
                raise


async def _sync_settings_endpoints(db: Database, vault: SecretVault, settings: Settings) -> None:
    wanted = {f"{_SETTINGS_PREFIX}{n}": url for n, url in enumerate(settings.webhook_url_list, 1)}
    # Its turn among this process's writers, so that no other write of ours comes between
    # what it reads and what it writes (SQLite's driver begins the transaction only at the
    # first write); another process's writer that does (two workers starting at once) makes
    # the insert clash, and the caller tries again.
    async with db.write_turn(), db.session() as session, session.begin():
        existing = {
            e.name: e
            for e in (
                await session.execute(
                    select(WebhookEndpoint).where(WebhookEndpoint.name.startswith(_SETTINGS_PREFIX))
                )
            ).scalars()
        }
        for name, endpoint in existing.items():
            if name not in wanted:
                endpoint.active = False
        for name, url in wanted.items():
            assert settings.webhook_secret is not None
            found = existing.get(name)
            if found is None:
                session.add(
                    WebhookEndpoint(
                        name=name,
                        url=url,
                        secret_enc=vault.encrypt(settings.webhook_secret),
                        forms={},
                        active=True,
                        created_at=utcnow(),
                    )
                )
            else:
                found.url = url
                found.active = True
                found.secret_enc = vault.encrypt(settings.webhook_secret)


# --------------------------------------------------------------------------- events out


class WebhookDelivery:
    """POSTs one event to its endpoint and maps the answer onto the outbox's outcomes."""

    channel = CHANNEL

    def __init__(self, db: Database, vault: SecretVault, timeout: float = 10.0) -> None:
        self.db = db
        self.vault = vault
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._endpoints: dict[str, tuple[str, str, float]] = {}

    async def _endpoint(self, chat_id: str) -> tuple[str, str]:
        cached = self._endpoints.get(chat_id)
        if cached and time.monotonic() - cached[2] < 30:
            return cached[0], cached[1]
        async with self.db.session() as session:
            endpoint = await session.get(WebhookEndpoint, int(chat_id))
        if endpoint is None or not endpoint.active:
            raise Rejected("endpoint removed or inactive")
        secret = self.vault.decrypt(endpoint.secret_enc)
        self._endpoints[chat_id] = (endpoint.url, secret, time.monotonic())
        return endpoint.url, secret

    async def deliver(self, chat_id: str, reply: Reply) -> None:
        url, secret = await self._endpoint(chat_id)
        body = reply.text.encode()
        key = str(reply.extra.get("key", ""))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "giamngheo-bot-webhooks/1",
            "Idempotency-Key": key,
            DELIVERY_HEADER: key,
            EVENT_HEADER: str(reply.extra.get("event", "")),
            SIGNATURE_HEADER: sign(secret, body, int(time.time())),
        }
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise Transient(type(error).__name__) from None
        if 200 <= status < 300:
            return
        if status == 429:
            try:
                seconds = float(retry_after) if retry_after else 5.0
            except ValueError:
                seconds = 5.0
            raise RetryAfter(min(max(seconds, 0.0), 3600.0))
        if status in (408, 425) or status >= 500:
            raise Transient(f"HTTP {status}")
        raise Rejected(f"HTTP {status}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def webhook_sender(
    db: Database,
    vault: SecretVault,
    settings: Settings,
    *,
    backoff_seconds: float = 5.0,
    clock: Any = utcnow,
) -> OutboxSender:
    """A sender of its own: webhook retries never eat the messaging platforms' rate."""
    delivery = WebhookDelivery(db, vault, settings.webhook_timeout_seconds)
    limits = RateLimits(
        per_second=20.0,
        bulk_per_chat_per_second=1000.0,
        max_attempts=settings.webhook_max_attempts,
        backoff_seconds=backoff_seconds,
        in_flight=4,
    )
    return OutboxSender(db, {CHANNEL: delivery}, limits, clock)
