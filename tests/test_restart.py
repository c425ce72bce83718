"""Stopping the bot and starting a new one on the same database loses and repeats nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.core.messages import Incoming
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import Account, Identity, OrgUnit, OutboxMessage, ProcessedUpdate
from tests.support.server import RunningBot, start_bot
from tests.support.setup import prepare
from tests.support.transcripts import Reply, find_button
from tests.support.web_chat import WebChat


def said(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


class Bots:
    """Starts bots one after the other on the same settings, and stops whatever still runs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: RunningBot | None = None

    async def start(self) -> RunningBot:
        assert self.running is None, "stop the old bot first"
        self.running = await start_bot(self.settings)
        return self.running

    async def stop(self) -> None:
        if self.running is not None:
            await self.running.stop()
            self.running = None


@pytest.fixture
async def bots(settings: Settings) -> AsyncIterator[Bots]:
    await prepare(settings.database_url, {"orgunits": "lam_dong_2025.csv"})
    bots = Bots(settings)
    yield bots
    await bots.stop()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url)
    yield database
    await database.close()


async def test_a_form_stopped_by_a_restart_continues_where_it_was(
    bots: Bots, http: aiohttp.ClientSession, db: Database
) -> None:
    first = await bots.start()
    chat = WebChat(first.url, "restart-form", http)
    await chat.send_text("/start")
    await chat.send_payload("lang:vi")
    await chat.send_payload("consent:yes")
    replies = await chat.send_payload("role:household")
    replies = await chat.send_payload(find_button(replies, "Xem thêm"))
    villages = await chat.send_payload(find_button(replies, "Xã Di Linh"))
    assert "Chọn tiếp trong Xã Di Linh" in said(villages)
    await bots.stop()

    second = await bots.start()
    chat = WebChat(second.url, "restart-form", http)
    # The village button shown before the restart is understood after it.
    replies = await chat.send_payload(find_button(villages, "Thôn Bình An"))
    assert "Đã lưu nơi ở: Thôn Bình An, Xã Di Linh, Tỉnh Lâm Đồng" in said(replies)
    assert "Bạn muốn làm gì?" in said(replies)

    async with db.session() as session:
        code = await session.scalar(
            select(OrgUnit.code)
            .join(Account, Account.home_unit_id == OrgUnit.id)
            .join(Identity, Identity.account_id == Account.id)
            .where(Identity.external_id == "restart-form")
        )
    assert code == "25000-03"


async def test_typed_answers_and_language_survive_a_restart(
    bots: Bots, http: aiohttp.ClientSession
) -> None:
    first = await bots.start()
    chat = WebChat(first.url, "restart-typed", http)
    await chat.send_text("/start")
    await chat.send_payload("lang:en")
    await chat.send_payload("consent:yes")
    await chat.send_payload("role:household")
    replies = await chat.send_text("di linh")
    assert "Xã Di Linh" in said(replies)
    await bots.stop()

    second = await bots.start()
    chat = WebChat(second.url, "restart-typed", http)
    # Text typed after the restart is read against the village list of before it.
    replies = await chat.send_text("binh an")
    assert "Place saved: Thôn Bình An, Xã Di Linh" in said(replies)


async def test_a_restart_before_the_reply_was_fetched_answers_the_retry_once(
    bots: Bots, http: aiohttp.ClientSession, db: Database
) -> None:
    sender = "restart-retry"
    first = await bots.start()
    chat = WebChat(first.url, sender, http)
    await chat.send_text("/start")
    # The server records the update and queues its replies, then stops before the
    # HTTP answer leaves: the browser never saw them.
    result = await first.app.dispatcher.handle(
        Incoming(channel="web", sender_id=sender, update_key=f"{sender}:lost", payload="lang:vi")
    )
    assert not result.duplicate
    await bots.stop()

    second = await bots.start()
    chat = WebChat(second.url, sender, http)
    retried = chat.replies(await chat.post({"payload": "lang:vi"}, message_id="lost"))
    assert [r.text for r in retried if "Quyền riêng tư" in r.text], said(retried)
    assert any(title == "✅ Đồng ý" for r in retried for title, _ in r.buttons)

    async with db.session() as session:
        processed = await session.scalar(
            select(func.count()).where(ProcessedUpdate.update_key == f"{sender}:lost")
        )
        queued = await session.scalar(
            select(func.count()).where(OutboxMessage.update_id == result.update_id)
        )
    assert processed == 1
    assert queued == len(retried)

    # The conversation moved on once: the next press is read at the privacy step.
    replies = await chat.send_payload("consent:yes")
    assert "Bạn là ai?" in said(replies)


async def test_replies_given_to_a_retry_are_not_delivered_again_by_poll(
    bots: Bots, http: aiohttp.ClientSession
) -> None:
    sender = "restart-poll"
    first = await bots.start()
    chat = WebChat(first.url, sender, http)
    await chat.send_text("/start")
    await first.app.dispatcher.handle(
        Incoming(channel="web", sender_id=sender, update_key=f"{sender}:lost", payload="lang:vi")
    )
    await bots.stop()

    second = await bots.start()
    chat = WebChat(second.url, sender, http)
    retried = chat.replies(await chat.post({"payload": "lang:vi"}, message_id="lost"))
    assert "Quyền riêng tư" in said(retried)
    # The page polls every few seconds: the privacy notice must not show up twice.
    assert await chat.poll() == []
