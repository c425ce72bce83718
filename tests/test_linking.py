"""Linking channels with a one-time code, end to end: the real bot with its web chat, the fake
Zalo Bot and the fake Zalo OA in one process. A person starts on one channel, takes a code
there and types it on another; pushes then reach them on both; /mydata unlinks; /delete
leaves no Zalo trace. Nothing of the project is mocked."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import func, select, update

from bot.channels import zalo_bot, zalo_oa
from bot.channels.zalo_oa import OUTSIDE_WINDOW, ReplyWindow
from bot.linking import (
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_CODE,
    MAX_LIVE_CODES,
    normalise_code,
)
from bot.outbox_admin import failed_messages
from bot.privacy import ZALO_OA_CHANNEL
from bot.reminders import Reminders, reminder_config
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import (
    Account,
    AuditEntry,
    ConversationState,
    Identity,
    LinkCode,
    RoleAssignment,
    ZaloChatMenu,
    ZaloFile,
    ZaloOAInboxEvent,
    ZaloOAUser,
    utcnow,
)
from tests.fakes.zalo import FakeZaloBot, FakeZaloOA
from tests.support.server import RunningBot
from tests.support.setup import prepare
from tests.support.transcripts import Reply, find_button
from tests.support.web_chat import WebChat
from tests.support.zalo_chat import (
    ChannelWatch,
    ZaloBotChat,
    ZaloOAChat,
    bot_settings,
    oa_settings,
    start_zalo,
)

ZALO_CHAT = "5a10c0de189df1c3a88c"
OA_USER = "6142494823aabbccdd77"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_CODE = re.compile(r"/lienket (\d{6})")


@dataclass
class World:
    bot: RunningBot
    zbot: FakeZaloBot
    zoa: FakeZaloOA
    http: aiohttp.ClientSession
    names: dict[str, str]

    @property
    def db(self) -> Database:
        return self.bot.app.services.db

    def web(self, sender: str) -> WebChat:
        return WebChat(self.bot.url, sender, self.http)

    def zalo(self, chat_id: str = ZALO_CHAT) -> ZaloBotChat:
        return ZaloBotChat(self.zbot, ChannelWatch(self.bot.app, zalo_bot.CHANNEL), chat_id)

    def oa(self, user_id: str = OA_USER) -> ZaloOAChat:
        url = f"{self.bot.url}{self.bot.app.services.settings.zalo_oa_webhook_path}"
        return ZaloOAChat(self.zoa, ChannelWatch(self.bot.app, zalo_oa.CHANNEL), user_id, url)


@pytest.fixture
async def world(settings: Settings, http: aiohttp.ClientSession) -> AsyncIterator[World]:
    setup = {
        "orgunits": "lam_dong_2025.csv",
        "invitations": [{"name": "head_code", "role": "village_head", "unit": "25000-03"}],
    }
    names = await prepare(settings.database_url, setup)
    async with FakeZaloBot() as zbot, FakeZaloOA() as zoa:
        config = bot_settings(oa_settings(settings, zoa), zbot, "polling")
        running = await start_zalo(config)
        try:
            yield World(running, zbot, zoa, http, names)
        finally:
            await running.stop()


def said(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def titles(replies: list[Reply]) -> list[str]:
    return [title for r in replies for title, _ in r.buttons]


def code_in(replies: list[Reply]) -> str:
    found = _CODE.search(said(replies))
    assert found, said(replies)
    return found.group(1)


async def household(chat: WebChat) -> None:
    """Onboard as a household of Thôn Bình An, Xã Di Linh."""
    await chat.send_text("/start")
    await chat.send_payload("lang:vi")
    await chat.send_payload("consent:yes")
    await chat.send_payload("role:household")
    assert "Đã lưu nơi ở" in said(await chat.send_text("thôn bình an, di linh"))


async def new_code(chat: WebChat | ZaloBotChat | ZaloOAChat) -> str:
    replies = await chat.send_text("/lienket")
    assert "Mã liên kết của bạn" in said(replies) and "10 phút" in said(replies)
    return code_in(replies)


async def account_of(db: Database, channel: str, chat_id: str) -> int | None:
    async with db.session() as session:
        return await session.scalar(
            select(Identity.account_id).where(
                Identity.channel == channel, Identity.external_id == chat_id
            )
        )


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# --------------------------------------------------------------------------- linking


async def test_a_household_links_zalo_to_its_web_account_and_hears_on_both(
    world: World,
) -> None:
    db = world.db
    web, zalo = world.web("fam"), world.zalo()
    await household(web)
    mydata = await web.send_text("/mydata")
    assert "🔗 Liên kết kênh khác" in titles(mydata)
    assert not any("Gỡ một kênh" in t for t in titles(mydata))  # one channel: nothing to spare
    shown = await web.send_payload(find_button(mydata, "Liên kết kênh khác"))
    code = code_in(shown)
    assert "Tôi có mã từ kênh khác" in titles(shown)
    # Only a keyed hash is kept: neither the code nor its plain SHA-256.
    async with db.session() as session:
        row = (await session.execute(select(LinkCode))).scalar_one()
    assert code not in row.code_hash
    assert row.code_hash != hashlib.sha256(code.encode()).hexdigest()
    assert row.expires_at - row.created_at == timedelta(minutes=10)
    original = await account_of(db, "web", "fam")

    # A new Zalo chat, mid-onboarding, types the command with the code.
    assert "Xin chào" in said(await zalo.send_text("xin chào"))
    temporary = await account_of(db, zalo_bot.CHANNEL, ZALO_CHAT)
    linked = said(await zalo.send_text(f"/lienket {code}"))
    assert "Đã liên kết! Tài khoản của bạn giờ gồm các kênh: Web, Zalo" in linked
    assert "Bạn muốn làm gì?" in linked  # the account's menu: it is onboarded already
    assert await account_of(db, zalo_bot.CHANNEL, ZALO_CHAT) == original
    # The other side is told, through the outbox; the Zalo chat has its answer already.
    assert "Kênh Zalo vừa được liên kết" in said(await web.poll())
    assert "Kênh Zalo vừa được liên kết" not in said(await zalo.inbox())
    async with db.session() as session:
        gone = await session.get(Account, temporary)
        assert gone is not None and gone.deleted_at is not None
        assert await session.get(ConversationState, temporary) is None
        used = (await session.execute(select(LinkCode))).scalar_one()
        assert used.used_at is not None
        actions = set((await session.execute(select(AuditEntry.action))).scalars())
    assert {"account.link_code_created", "account.linked"} <= actions

    # Zalo now speaks for the household: its data, both channels, and a way to unlink.
    mine = await zalo.send_text("/mydata")
    text = said(mine)
    assert "Thôn Bình An, Xã Di Linh" in text and "Kênh liên lạc: Web, Zalo" in text
    assert any("Gỡ một kênh" in t for t in titles(mine))
    # The code was for one use.
    again = said(await world.web("intruder").send_text(f"/lienket {code}"))
    assert "Mã không đúng, đã dùng hoặc đã hết hạn" in again

    # An official's answer to the household's question reaches it on both channels.
    head = world.web("head")
    await head.send_text(f"/start {world.names['head_code']}")
    await head.send_payload("lang:vi")
    await head.send_payload("consent:yes")
    asked = await web.send_text("nhà tôi nuôi bò thì được hỗ trợ bao nhiêu con giống?")
    await web.send_payload(find_button(asked, "Hỏi cán bộ"))
    answer = "Xã có dự án hỗ trợ bò giống."
    assert "Đã gửi câu trả lời" in said(await head.send_text(f"/traloi 1 {answer}"))
    assert answer in said(await web.poll())
    assert answer in said(await zalo.inbox())


async def test_a_village_heads_reminder_reaches_both_linked_channels(
    world: World, settings: Settings
) -> None:
    head, zalo = world.web("head"), world.zalo()
    await head.send_text(f"/start {world.names['head_code']}")
    await head.send_payload("lang:vi")
    await head.send_payload("consent:yes")
    code = await new_code(head)
    await zalo.send_text(f"/lienket {code}")
    await head.poll()
    await zalo.inbox()
    worker = Reminders(world.db, reminder_config(settings))
    # 3 days before the village report of October is due (5/11, 08:00 local).
    assert await worker.tick(datetime(2026, 11, 2, 8, 0, tzinfo=TZ)) > 0
    world.bot.app.sender.wake()
    assert "Nhắc hạn" in said(await zalo.inbox())
    assert "Nhắc hạn" in said(await head.poll())


async def test_typed_without_the_command_during_onboarding(world: World) -> None:
    web, zalo = world.web("fam"), world.zalo()
    await household(web)
    # "liên kết" typed as words by an onboarded person gives a code (not a question).
    code = code_in(await web.send_text("Liên kết"))
    await zalo.send_text("/start")
    asked = said(await zalo.send_text("lien ket"))  # at the language question
    assert "Gõ mã liên kết 6 số" in asked
    wrong = said(await zalo.send_text("12345"))
    assert "Mã liên kết gồm 6 chữ số" in wrong  # still at the prompt, no try counted
    linked = said(await zalo.send_text(f"{code[:3]} {code[3:]}"))
    assert "Đã liên kết!" in linked
    assert await account_of(world.db, zalo_bot.CHANNEL, ZALO_CHAT) == await account_of(
        world.db, "web", "fam"
    )
    assert await count(world.db, AuditEntry, AuditEntry.action == "account.link_failed") == 0


async def test_going_back_from_the_code_prompt_resumes_onboarding(world: World) -> None:
    zalo = world.zalo()
    await zalo.send_text("/start")
    asked = await zalo.send_text("/lienket")
    assert "Gõ mã liên kết 6 số" in said(asked)
    back = said(await zalo.send_text(find_button(asked, "Quay lại")))
    assert "Hello! Please choose your language" in back
    # The flow is over: a number now answers the language question again.
    assert "Quyền riêng tư" in said(await zalo.send_text("1"))


# --------------------------------------------------------------------------- guards


async def test_a_code_typed_on_its_own_account_is_refused_and_stays_good(world: World) -> None:
    web = world.web("fam")
    await household(web)
    code = await new_code(web)
    own = said(await web.send_text(f"/lienket {code}"))
    assert "Đây là mã của chính tài khoản này" in own
    assert "Đã liên kết" in said(await world.web("phone").send_text(f"/lienket {code}"))


async def test_old_codes_retire_and_expired_codes_fail_alike(world: World) -> None:
    web = world.web("fam")
    await household(web)
    codes = [await new_code(web) for _ in range(MAX_LIVE_CODES + 1)]
    # The oldest is gone; a wrong code gets the same words.
    refused = said(await world.web("a").send_text(f"/lienket {codes[0]}"))
    assert "Mã không đúng, đã dùng hoặc đã hết hạn" in refused
    async with world.db.session() as session, session.begin():
        await session.execute(update(LinkCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = said(await world.web("b").send_text(f"/lienket {codes[1]}"))
    assert expired == refused  # one message for wrong, retired and expired codes
    assert await account_of(world.db, "web", "b") != await account_of(world.db, "web", "fam")
    # The expired ones are cleared when the next code is made.
    await new_code(web)
    assert await count(world.db, LinkCode) == 1


async def test_a_tap_on_the_command_does_not_spoil_the_code_being_typed(world: World) -> None:
    web = world.web("fam")
    await household(web)
    first = await new_code(web)
    await new_code(web)  # "/lienket" in the instructions is a link on Telegram: tapped
    assert "Đã liên kết" in said(await world.web("phone").send_text(f"/lienket {first}"))


async def test_one_chat_gets_five_wrong_codes_an_hour(world: World) -> None:
    web = world.web("fam")
    await household(web)
    code = await new_code(web)
    guesser = world.web("guesser")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        assert "Mã không đúng" in said(await guesser.send_text(f"/lienket {wrong}"))
    blocked = said(await guesser.send_text(f"/lienket {code}"))
    assert "nhập sai mã quá nhiều lần" in blocked
    assert await account_of(world.db, "web", "guesser") != await account_of(world.db, "web", "fam")
    assert (
        await count(world.db, AuditEntry, AuditEntry.action == "account.link_failed")
        == MAX_FAILURES_PER_ACCOUNT
    )
    # The code itself survived five wrong guesses: the person can still use it.
    assert "Đã liên kết" in said(await world.web("phone").send_text(f"/lienket {code}"))


async def test_a_code_dies_after_enough_wrong_guesses_from_any_chats(world: World) -> None:
    web = world.web("fam")
    await household(web)
    code = await new_code(web)
    wrong = f"{(int(code) + 7) % 10**6:06d}"
    for n in range(MAX_FAILURES_PER_CODE):
        # A fresh chat each time: the per-chat limit alone would not stop this.
        await world.web(f"bot{n}").send_text(f"/lienket {wrong}")
    late = said(await world.web("lucky").send_text(f"/lienket {code}"))
    assert "Mã không đúng, đã dùng hoặc đã hết hạn" in late
    assert await account_of(world.db, "web", "lucky") != await account_of(world.db, "web", "fam")
    # A new code works again.
    fresh = await new_code(web)
    assert "Đã liên kết" in said(await world.web("lucky").send_text(f"/lienket {fresh}"))


async def test_an_account_with_data_is_not_merged_but_can_link_the_other_way(
    world: World,
) -> None:
    web, zalo = world.web("fam"), world.zalo()
    await household(web)
    # On Zalo the same person already asked the officials something: data of its own.
    await zalo.send_text("/start")
    await zalo.send_text("1")  # Tiếng Việt
    await zalo.send_text("1")  # Đồng ý
    await zalo.send_text("3")  # Tìm hiểu
    asked = await zalo.send_text("nhà tôi nuôi bò thì được hỗ trợ bao nhiêu con giống?")
    await zalo.send_text(find_button(asked, "Hỏi cán bộ"))
    code = await new_code(web)
    refused = said(await zalo.send_text(f"/lienket {code}"))
    assert "đã có dữ liệu riêng" in refused and "làm ngược lại" in refused
    async with world.db.session() as session:
        assert (await session.execute(select(LinkCode.used_at))).scalar_one() is None
    assert await count(world.db, AuditEntry, AuditEntry.action == "account.link_failed") == 0
    # The other way round: the web account (a profile, no data) joins the Zalo one.
    zalo_account = await account_of(world.db, zalo_bot.CHANNEL, ZALO_CHAT)
    reverse = await new_code(zalo)
    assert "Đã liên kết" in said(await web.send_text(f"/lienket {reverse}"))
    assert await account_of(world.db, "web", "fam") == zalo_account
    async with world.db.session() as session:
        roles = list(
            (
                await session.execute(
                    select(RoleAssignment.account_id).where(RoleAssignment.role == "household")
                )
            ).scalars()
        )
    assert roles == []  # the web profile went with its account; the Zalo guest's stays


# --------------------------------------------------------------------------- unlinking


async def test_unlinking_a_channel_from_mydata_but_never_the_last(world: World) -> None:
    web, zalo = world.web("fam"), world.zalo()
    await household(web)
    await zalo.send_text(f"/lienket {await new_code(web)}")
    await web.poll()
    await zalo.inbox()
    mydata = await web.send_text("/mydata")
    choose = await web.send_payload(find_button(mydata, "Gỡ một kênh"))
    assert {"Web – kênh này", "Zalo", "Không gỡ"} <= set(titles(choose))
    confirm = await web.send_payload(find_button(choose, "Zalo"))
    assert "Gỡ Zalo khỏi tài khoản của bạn?" in said(confirm)
    done = said(await web.send_payload(find_button(confirm, "Gỡ kênh")))
    assert "Đã gỡ Zalo khỏi tài khoản của bạn. Tài khoản còn các kênh: Web" in done
    assert "Kênh này đã được gỡ khỏi tài khoản của bạn" in said(await zalo.inbox())
    original = await account_of(world.db, "web", "fam")
    alone = await account_of(world.db, zalo_bot.CHANNEL, ZALO_CHAT)
    assert alone is not None and alone != original
    assert await count(world.db, AuditEntry, AuditEntry.action == "account.unlinked") == 1
    # Zalo starts afresh; the web account keeps its data and cannot drop its last channel.
    assert "Xin chào" in said(await zalo.send_text("/start"))
    last = await web.send_text("/mydata")
    assert not any("Gỡ một kênh" in t for t in titles(last))
    assert "chỉ có một kênh" in said(await web.send_payload("link:unlink"))
    # Someone else's channel cannot be taken with a forged button.
    forged = said(await web.send_payload(f"link:unlink_yes:{await identity_id(world, 'zalo')}"))
    assert "Kênh đó không còn trong tài khoản của bạn" in forged
    assert await account_of(world.db, zalo_bot.CHANNEL, ZALO_CHAT) == alone


async def identity_id(world: World, channel: str) -> int:
    async with world.db.session() as session:
        found = await session.scalar(select(Identity.id).where(Identity.channel == channel))
    assert found is not None
    return found


async def test_unlinking_this_channel_tells_the_channels_that_remain(world: World) -> None:
    web, zalo = world.web("fam"), world.zalo()
    await household(web)
    await zalo.send_text(f"/lienket {await new_code(web)}")
    await web.poll()
    mydata = await zalo.send_text("/mydata")
    choose = await zalo.send_text(find_button(mydata, "Gỡ một kênh"))
    confirm = await zalo.send_text(find_button(choose, "kênh này"))
    done = said(await zalo.send_text(find_button(confirm, "Gỡ kênh")))
    assert "Đã gỡ kênh này khỏi tài khoản" in done and "vẫn còn ở: Web" in done
    assert "Kênh Zalo đã được gỡ khỏi tài khoản của bạn" in said(await web.poll())
    async with world.db.session() as session:
        menus = await session.get(ZaloChatMenu, (zalo_bot.CHANNEL, ZALO_CHAT))
    # Only the goodbye's own menu-less message went out since: no old menu to misread "1".
    assert menus is None or not menus.options.get("options")


# --------------------------------------------------------------------------- Zalo OA


async def test_outside_the_oa_window_a_push_reaches_the_other_channel_and_says_why(
    world: World,
) -> None:
    web, oa = world.web("fam"), world.oa()
    await household(web)
    await oa.send_text(f"/lienket {await new_code(web)}")
    await web.poll()
    async with world.db.session() as session, session.begin():
        await session.execute(
            update(ZaloOAUser).values(last_message_at=utcnow() - timedelta(hours=49))
        )
    world.zoa.age_person(OA_USER, 49)
    calls = world.zoa.cs_calls
    # A push for the person: linking a third chat tells every channel of the account.
    await world.zalo().send_text(f"/lienket {await new_code(web)}")
    assert "Kênh Zalo vừa được liên kết" in said(await web.poll())
    await oa.inbox()
    assert world.zoa.cs_calls == calls  # not even tried on the OA
    reasons = [r[-1] for r in await failed_messages(world.db)]
    assert any(
        r.startswith(OUTSIDE_WINDOW) and "other channels of the person: web, zalo" in r
        for r in reasons
    ), reasons


async def test_the_window_is_read_from_the_inbox_once_its_row_is_erased(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        window = ReplyWindow(db, 48, 8)
        assert "the person has no other channel" in (await window.closed(OA_USER) or "")
        async with db.session() as session, session.begin():
            session.add(
                ZaloOAInboxEvent(
                    event_key="k1", user_id=OA_USER, event_name="user_send_text", payload={}
                )
            )
        assert await window.closed(OA_USER) is None
    finally:
        await db.close()


# --------------------------------------------------------------------------- erasure


async def test_delete_leaves_no_zalo_trace_and_export_lists_every_channel(world: World) -> None:
    db = world.db
    web, zalo, oa = world.web("fam"), world.zalo(), world.oa()
    await household(web)
    await zalo.send_text(f"/lienket {await new_code(web)}")
    await oa.send_text(f"/lienket {await new_code(web)}")
    await new_code(web)  # a code alive at the time of erasure
    account = await account_of(db, "web", "fam")
    exported = await zalo.send_text("/export")
    assert any(
        r.attachment and "du-lieu-cua-toi.json" in r.attachment["filename"] for r in exported
    )
    document = await export_from_web(web)
    channels = {(c["channel"], c["id"]) for c in document["channels"]}
    assert channels == {("web", "fam"), ("zalo", ZALO_CHAT), ("zalo_oa", OA_USER)}
    assert len(document["link_codes"]) == 3
    async with db.session() as session, session.begin():
        # A message the inbox has not processed yet (its retry is later) holds what was typed.
        session.add(
            ZaloOAInboxEvent(
                event_key="pending-1",
                user_id=OA_USER,
                event_name="user_send_text",
                payload={"message": {"text": "SDT 0912345678"}},
                next_attempt_at=utcnow() + timedelta(hours=1),
            )
        )
    assert await count(db, ZaloFile, ZaloFile.chat_id == ZALO_CHAT) == 1
    assert await count(db, ZaloChatMenu, ZaloChatMenu.chat_id.in_([ZALO_CHAT, OA_USER])) == 2

    # Erased from Zalo while the OA still holds a message of the person it has not processed.
    confirm = await zalo.send_text("/delete")
    goodbye = said(await zalo.send_text(find_button(confirm, "Xoá vĩnh viễn")))
    assert "Đã xoá dữ liệu của bạn" in goodbye
    assert await count(db, Identity, Identity.account_id == account) == 0
    assert await count(db, LinkCode) == 0
    assert await count(db, ZaloFile, ZaloFile.chat_id == ZALO_CHAT) == 0
    assert await count(db, ZaloChatMenu, ZaloChatMenu.chat_id.in_([ZALO_CHAT, OA_USER])) == 0
    assert await count(db, ZaloOAUser, ZaloOAUser.user_id == OA_USER) == 0
    async with db.session() as session:
        events = list(
            (
                await session.execute(
                    select(ZaloOAInboxEvent).where(ZaloOAInboxEvent.user_id == OA_USER)
                )
            ).scalars()
        )
    assert events and all(e.payload == {} and e.processed_at is not None for e in events)
    assert "0912345678" not in repr([e.payload for e in events])


async def test_delete_on_the_oa_still_says_goodbye_there(world: World) -> None:
    oa = world.oa()
    await oa.send_text("/start")
    await oa.send_text("1")  # Tiếng Việt
    await oa.send_text("1")  # Đồng ý
    await oa.send_text("3")  # Chỉ tìm hiểu
    confirm = await oa.send_text("/delete")
    goodbye = said(await oa.send_text(find_button(confirm, "Xoá vĩnh viễn")))
    # Sent although erasing took the reply window's row away (the inbox still knows when
    # the person wrote), and sending it left no menu row behind.
    assert "Đã xoá dữ liệu của bạn" in goodbye
    assert await count(world.db, ZaloOAUser) == 0
    assert await count(world.db, ZaloChatMenu) == 0
    # Writing again is a new person, whose window opens as usual.
    assert "Xin chào" in said(await oa.send_text("xin chào"))
    assert await count(world.db, ZaloOAUser) == 1


async def export_from_web(web: WebChat) -> dict[str, Any]:
    import base64
    import json

    replies = await web.send_text("/export")
    files = [r.attachment for r in replies if r.attachment]
    assert len(files) == 1
    document: dict[str, Any] = json.loads(base64.b64decode(files[0]["content_b64"]))
    return document


# --------------------------------------------------------------------------- small parts


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("123456", "123456"),
        ("123 456", "123456"),
        ("123-456", "123456"),
        (" 012345 ", "012345"),
        ("12345", None),
        ("1234567", None),
        ("12a456", None),
        ("١٢٣٤٥٦", None),  # digits, but not the ones a code is made of
    ],
)
def test_a_code_is_read_the_way_people_type_it(typed: str, code: str | None) -> None:
    assert normalise_code(typed) == code


def test_privacy_names_the_oa_channel_like_the_adapter() -> None:
    assert ZALO_OA_CHANNEL == zalo_oa.CHANNEL


def test_typed_link_words() -> None:
    from handlers.linking import link_words

    assert link_words("liên kết") == ""
    assert link_words("Lien ket 123 456") == "123 456"
    assert link_words("/liênkết 123456") == "123456"
    assert link_words("lienket") == ""
    assert link_words("liên kết sản xuất là gì") is None  # a question about value chains
    assert link_words("link") == ""
