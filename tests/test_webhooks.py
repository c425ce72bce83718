"""Forwarding submissions: signed POSTs through the outbox to a local receiver that fails.

The receiver is a real aiohttp server on 127.0.0.1; it answers 500 (or 429, 400) for the
first tries as scripted, checks the HMAC-SHA256 signature, and records every attempt.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.crypto import SecretVault
from bot.outbox import OutboxSender
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import OrgUnit, OutboxMessage, Submission, utcnow
from bot.submissions import add_revision, create_submission
from bot.webhooks import (
    SIGNATURE_HEADER,
    add_endpoint,
    install,
    sync_settings_endpoints,
    verify,
    webhook_sender,
)
from tests.conftest import import_units
from tests.support.server import free_port, start_bot
from tests.support.setup import prepare
from tests.support.transcripts import load_transcripts, run_transcript
from tests.support.web_chat import WebChat

SECRET = "receiver-shared-secret-0123456789"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Attempt:
    key: str
    event: str
    body: dict[str, Any]
    signed: bool
    status: int


@dataclass
class Receiver:
    url: str
    script: list[int] = field(default_factory=list)  # statuses to answer first, then 200
    attempts: list[Attempt] = field(default_factory=list)
    retry_after: str = "0"

    @property
    def accepted(self) -> list[Attempt]:
        return [a for a in self.attempts if a.status == 200]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    state = Receiver(f"http://127.0.0.1:{port}/hook")

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        signed = verify(SECRET, body, request.headers.get(SIGNATURE_HEADER, ""))
        status = state.script.pop(0) if state.script else 200
        if not signed:
            status = 401
        state.attempts.append(
            Attempt(
                request.headers.get("Idempotency-Key", ""),
                request.headers.get("X-Giamngheo-Event", ""),
                json.loads(body),
                signed,
                status,
            )
        )
        headers = {"Retry-After": state.retry_after} if status == 429 else {}
        return web.Response(status=status, text="", headers=headers)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield state
    await runner.cleanup()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await import_units(database_url, "lam_dong_2025.csv")
    database = Database(database_url)
    install(database)
    yield database
    await database.close()


VAULT = SecretVault("test-secret-key-0123456789")


async def unit_id(db: Database, code: str) -> int:
    async with db.session() as session:
        found = await session.scalar(select(OrgUnit.id).where(OrgUnit.code == code))
    assert found is not None
    return int(found)


async def submit(db: Database, code: str, form: str = "household_exit_registration") -> int:
    unit = await unit_id(db, code)
    async with db.session() as session, session.begin():
        submission = await create_submission(
            session,
            form_id=form,
            form_version=3,
            account_id=None,
            org_unit_id=unit,
            answers={
                "head_name": "Nguyễn Văn An",
                "cccd": {"masked": "079*******34", "hash": "h", "enc": "secret-ciphertext"},
            },
            now=utcnow(),
            receipt_prefix="TN",
        )
        return int(submission.id)


async def drain_until(sender: OutboxSender, done: Any, seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    await sender.recover()
    while not done():
        assert loop.time() < deadline, "webhook not settled in time"
        if await sender.drain_once() == 0:
            await asyncio.sleep(0.02)


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.session() as session:
        query = select(OutboxMessage).where(OutboxMessage.channel == "webhook")
        return list((await session.execute(query.order_by(OutboxMessage.id))).scalars())


async def test_a_submission_is_forwarded_signed_and_retried_until_accepted(
    db: Database, receiver: Receiver, settings: Settings
) -> None:
    await add_endpoint(db, VAULT, "so-nong-nghiep", receiver.url, SECRET)
    receiver.script = [500, 503, 429]
    submission_id = await submit(db, "25000-01")
    queued = await rows(db)
    assert len(queued) == 1 and queued[0].status == "pending"  # written with the submission
    sender = webhook_sender(db, VAULT, settings, backoff_seconds=0.01)
    await drain_until(sender, lambda: bool(receiver.accepted))
    assert [a.status for a in receiver.attempts] == [500, 503, 429, 200]
    assert all(a.signed for a in receiver.attempts)
    assert len({a.key for a in receiver.attempts}) == 1  # one idempotency key for every retry
    body = receiver.accepted[0].body
    assert receiver.accepted[0].event == body["event"] == "submission.created"
    assert body["submission"]["id"] == submission_id
    assert body["submission"]["unit"]["code"] == "25000-01"
    assert body["revision"]["answers"]["cccd"] == "079*******34"
    assert "secret-ciphertext" not in json.dumps(body)
    [row] = await rows(db)
    assert row.status == "sent" and row.attempts == 3  # the 429 was pacing, not a failed try
    await drain_until(sender, lambda: True)
    assert len(receiver.accepted) == 1


async def test_nothing_is_forwarded_when_the_submission_rolls_back(
    db: Database, receiver: Receiver
) -> None:
    await add_endpoint(db, VAULT, "so", receiver.url, SECRET)
    unit = await unit_id(db, "25000-01")
    with pytest.raises(RuntimeError):
        async with db.session() as session, session.begin():
            await create_submission(
                session,
                form_id="household_exit_registration",
                form_version=3,
                account_id=None,
                org_unit_id=unit,
                answers={},
                now=utcnow(),
            )
            raise RuntimeError("the handler failed after the submission")
    assert await rows(db) == []


async def test_revisions_and_status_changes_in_order_and_endpoint_scopes(
    db: Database, receiver: Receiver, settings: Settings
) -> None:
    await add_endpoint(db, VAULT, "commune", receiver.url, SECRET, unit_code="25000")
    await add_endpoint(db, VAULT, "elsewhere", receiver.url, SECRET, unit_code="24958")
    await add_endpoint(
        db, VAULT, "village-reports", receiver.url, SECRET, forms=["village_monthly"]
    )
    submission_id = await submit(db, "25000-02")
    async with db.session() as session, session.begin():
        submission = await session.get(Submission, submission_id)
        assert submission is not None
        await add_revision(
            session, submission, {"head_name": "Nguyễn Văn Anh"}, None, utcnow(), "sửa tên"
        )
    async with db.session() as session, session.begin():
        submission = await session.get(Submission, submission_id)
        assert submission is not None
        submission.status = "village_confirmed"
        submission.updated_at = utcnow()
    sender = webhook_sender(db, VAULT, settings, backoff_seconds=0.01)
    await drain_until(sender, lambda: len(receiver.accepted) >= 3)
    await drain_until(sender, lambda: True)
    events = [(a.event, a.body.get("previous_status")) for a in receiver.accepted]
    assert events == [
        ("submission.created", None),
        ("submission.revised", None),
        ("submission.status_changed", "submitted"),
    ]
    revised = receiver.accepted[1].body
    assert revised["revision"]["number"] == 2 and revised["revision"]["reason"] == "sửa tên"
    assert receiver.accepted[2].body["submission"]["status"] == "village_confirmed"
    # Only the endpoint whose subtree holds the village got anything.
    assert {r.chat_id for r in await rows(db)} == {"1"}


async def test_dead_letters_after_the_last_try_and_retry_from_the_cli(
    db: Database, receiver: Receiver, settings: Settings, database_url: str
) -> None:
    await add_endpoint(db, VAULT, "down", receiver.url, SECRET)
    receiver.script = [500] * settings.webhook_max_attempts
    await submit(db, "25000-01")
    sender = webhook_sender(db, VAULT, settings, backoff_seconds=0.0)

    async def status() -> str:
        return (await rows(db))[0].status

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while await status() != "failed":
        assert loop.time() < deadline
        if await sender.drain_once() == 0:
            await asyncio.sleep(0.01)
    assert len(receiver.attempts) == settings.webhook_max_attempts
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "webhooks", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    dead = await asyncio.to_thread(cli, "dead")
    assert dead.returncode == 0, dead.stderr
    row_id = (await rows(db))[0].id
    assert f"{row_id}\twebhook" in dead.stdout and "HTTP 500" in dead.stdout
    again = await asyncio.to_thread(cli, "retry", str(row_id))
    assert again.returncode == 0, again.stderr
    await drain_until(sender, lambda: bool(receiver.accepted))
    assert await status() == "sent"
    assert len({a.key for a in receiver.attempts}) == 1


async def test_a_client_error_is_a_dead_letter_at_once(
    db: Database, receiver: Receiver, settings: Settings
) -> None:
    await add_endpoint(db, VAULT, "strict", receiver.url, SECRET)
    receiver.script = [422]
    await submit(db, "25000-01")
    sender = webhook_sender(db, VAULT, settings, backoff_seconds=0.0)
    await sender.drain_once()
    [row] = await rows(db)
    assert row.status == "failed" and row.last_error == "HTTP 422"


async def test_the_running_bot_forwards_a_household_journey(
    settings: Settings, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    journey = next(t for t in load_transcripts() if t.path.stem == "household_registration_review")
    configured = settings.model_copy(
        update={"webhook_urls": receiver.url, "webhook_secret": SECRET}
    )
    names = await prepare(configured.database_url, journey.setup)
    running = await start_bot(configured)
    try:
        services = running.app.services
        await sync_settings_endpoints(services.db, services.vault, configured)

        def chat_for(person: str) -> WebChat:
            return WebChat(running.url, f"wh-{person}", http)

        receiver.script = [500]  # the first delivery fails once; the bot retries on its own
        await run_transcript(chat_for, journey, names)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not any(
            a.body.get("submission", {}).get("status") == "approved" for a in receiver.accepted
        ):
            assert loop.time() < deadline, [a.event for a in receiver.attempts]
            await asyncio.sleep(0.1)
    finally:
        await running.stop()
    events = [a.event for a in receiver.accepted]
    assert events[0] == "submission.created"
    assert "submission.revised" in events and events.count("submission.created") == 1
    statuses = [
        a.body["submission"]["status"]
        for a in receiver.accepted
        if a.event == "submission.status_changed"
    ]
    assert statuses == ["returned", "submitted", "village_confirmed", "approved"]
    assert len({a.key for a in receiver.accepted}) == len(receiver.accepted)
    assert all(
        "enc" not in json.dumps(a.body["revision"])
        for a in receiver.accepted
        if "revision" in a.body
    )
