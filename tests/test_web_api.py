"""The web chat's JSON API as a browser or another client uses it, through the real server."""

from __future__ import annotations

import asyncio
import base64
import json
import unicodedata
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.core.messages import Reply as CoreReply
from bot.storage.db import Database
from bot.storage.models import (
    Account,
    AuditEntry,
    Identity,
    OrgUnit,
    OutboxMessage,
    ProcessedUpdate,
    utcnow,
)
from tests.support.server import RunningBot
from tests.support.transcripts import Reply, find_button
from tests.support.web_chat import WebChat

FIVE_MB = 5 * 1024 * 1024
# Letters only Vietnamese uses: a Vietnamese answer has at least one of them.
_VIETNAMESE = set("ăâđêôơưĂÂĐÊÔƠƯ")
_LEAKS = ("Traceback", 'File "', "Exception", "Error:", "sqlalchemy", "asyncpg", "aiohttp")


def is_vietnamese(text: str) -> bool:
    decomposed = unicodedata.normalize("NFD", text)
    return any(ch in _VIETNAMESE for ch in text) or any(
        unicodedata.category(ch) == "Mn" for ch in decomposed
    )


def said(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


async def post_raw(
    http: aiohttp.ClientSession, bot: RunningBot, body: bytes
) -> tuple[int, str, Any]:
    headers = {"Content-Type": "application/json"}
    async with http.post(f"{bot.url}/api/chat", data=body, headers=headers) as response:
        text = await response.text()
        data = json.loads(text) if response.content_type == "application/json" else None
        return response.status, text, data


async def count(db: Database, query: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(query) or 0)


async def onboard_guest(chat: WebChat) -> None:
    await chat.send_text("/start")
    await chat.send_payload("lang:vi")
    await chat.send_payload("consent:yes")
    replies = await chat.send_payload("role:guest")
    assert "Bạn muốn làm gì?" in said(replies)


async def into_place_form(chat: WebChat, lang: str = "vi") -> list[Reply]:
    await chat.send_text("/start")
    await chat.send_payload(f"lang:{lang}")
    await chat.send_payload("consent:yes")
    return await chat.send_payload("role:household")


@pytest.fixture
async def db(bot: RunningBot) -> Any:
    database = Database(bot.app.services.settings.database_url)
    yield database
    await database.close()


# --- idempotency -----------------------------------------------------------------------


async def test_a_resent_message_is_processed_once_and_answered_the_same(
    bot: RunningBot, http: aiohttp.ClientSession, db: Database
) -> None:
    chat = WebChat(bot.url, "resend-1", http)
    await chat.post({"text": "/start"}, message_id="start-1")

    first = await chat.post({"payload": "lang:vi"}, message_id="press-vi")
    again = await chat.post({"payload": "lang:vi"}, message_id="press-vi")

    assert first["_status"] == again["_status"] == 200
    assert again["replies"] == first["replies"]
    notices = [r for r in first["replies"] if "Quyền riêng tư" in r["text"]]
    assert len(notices) == 1
    key = "resend-1:press-vi"
    assert await count(db, select(func.count()).where(ProcessedUpdate.update_key == key)) == 1
    # The replies were queued once: no second privacy notice waits anywhere.
    processed = select(ProcessedUpdate.id).where(ProcessedUpdate.update_key == key)
    queued = select(func.count()).where(OutboxMessage.update_id.in_(processed))
    assert await count(db, queued) == len(first["replies"])
    assert await chat.poll() == []


async def test_a_resent_old_message_does_not_move_the_conversation_back(
    bot: RunningBot, http: aiohttp.ClientSession, db: Database
) -> None:
    chat = WebChat(bot.url, "resend-2", http)
    welcome = await chat.post({"text": "/start"}, message_id="s1")
    await chat.post({"payload": "lang:vi"}, message_id="s2")
    consent = await chat.post({"payload": "consent:yes"}, message_id="s3")
    assert "Bạn là ai?" in said(chat.replies(consent))

    # The browser re-sends the very first message (a retry after a lost answer).
    resent = await chat.post({"text": "/start"}, message_id="s1")
    assert resent["replies"] == welcome["replies"]
    resent_consent = await chat.post({"payload": "consent:yes"}, message_id="s3")
    assert resent_consent["replies"] == consent["replies"]

    # Still at "who are you": the next press is understood in that context.
    replies = chat.replies(await chat.post({"payload": "role:guest"}, message_id="s4"))
    assert "Bạn muốn làm gì?" in said(replies)
    consents = select(func.count()).where(AuditEntry.action == "consent.given")
    assert await count(db, consents) == 1
    sender_updates = select(func.count()).where(ProcessedUpdate.update_key.like("resend-2:%"))
    assert await count(db, sender_updates) == 4


async def test_two_identical_messages_at_once_are_processed_once(
    bot: RunningBot, http: aiohttp.ClientSession, db: Database
) -> None:
    chat = WebChat(bot.url, "double-click", http)
    await chat.post({"text": "/start"})
    first, second = await asyncio.gather(
        chat.post({"payload": "lang:vi"}, message_id="dbl"),
        chat.post({"payload": "lang:vi"}, message_id="dbl"),
    )
    assert first["_status"] == second["_status"] == 200
    assert first["replies"] == second["replies"]
    assert "Quyền riêng tư" in first["replies"][0]["text"]
    key = select(func.count()).where(ProcessedUpdate.update_key == "double-click:dbl")
    assert await count(db, key) == 1


# --- requests that cannot be read ------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe garbage",
        b"",
        b"null",
        b"[1, 2]",
        b'"text"',
        json.dumps({"text": "xin chào"}).encode(),
        json.dumps({"sender": "", "text": "xin chào"}).encode(),
        json.dumps({"sender": None, "text": "xin chào"}).encode(),
        json.dumps({"sender": 12345, "text": "xin chào"}).encode(),
        json.dumps({"sender": "có dấu cách", "text": "xin chào"}).encode(),
        json.dumps({"sender": "x" * 101, "text": "xin chào"}).encode(),
        json.dumps({"sender": "s1", "text": 42}).encode(),
        json.dumps({"sender": "s1", "text": ["a"]}).encode(),
        json.dumps({"sender": "s1", "text": {"a": 1}}).encode(),
        json.dumps({"sender": "s1", "payload": 7}).encode(),
        json.dumps({"sender": "s1", "text": "hi", "message_id": 5}).encode(),
        json.dumps({"sender": "s1", "text": "hi", "message_id": "có dấu"}).encode(),
        json.dumps({"sender": "s1", "attachment": "not an object"}).encode(),
        json.dumps({"sender": "s1", "attachment": {"content_b64": "!!!"}}).encode(),
        json.dumps({"sender": "s1", "attachment": {"content_b64": ""}}).encode(),
    ],
    ids=lambda body: body[:40].decode("utf-8", "replace"),
)
async def test_an_unreadable_request_gets_400_with_a_vietnamese_error(
    bot: RunningBot, http: aiohttp.ClientSession, db: Database, body: bytes
) -> None:
    status, text, data = await post_raw(http, bot, body)
    assert status == 400, text
    assert isinstance(data, dict) and set(data) == {"error"}
    assert isinstance(data["error"], str) and is_vietnamese(data["error"])
    # Nothing was processed for it.
    assert await count(db, select(func.count()).select_from(ProcessedUpdate)) == 0


async def test_poll_without_a_valid_sender_gets_400(
    bot: RunningBot, http: aiohttp.ClientSession
) -> None:
    for params in ({}, {"sender": ""}, {"sender": "có dấu"}, {"sender": "x" * 101}):
        async with http.get(f"{bot.url}/api/chat/poll", params=params) as response:
            assert response.status == 400
            data = await response.json()
            assert is_vietnamese(data["error"])


# --- the other routes ------------------------------------------------------------------


async def test_healthz_answers_ok(bot: RunningBot, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{bot.url}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_the_chat_page_is_served(bot: RunningBot, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{bot.url}/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"


# --- pushed messages -------------------------------------------------------------------


async def test_poll_hands_over_a_pushed_message_once(
    bot: RunningBot, http: aiohttp.ClientSession, db: Database
) -> None:
    chat = WebChat(bot.url, "push-me", http)
    other = WebChat(bot.url, "someone-else", http)
    await onboard_guest(chat)
    assert await chat.poll() == []

    now = utcnow()
    async with db.session() as session, session.begin():
        account_id = await session.scalar(
            select(Identity.account_id).where(Identity.external_id == "push-me")
        )
        session.add(
            OutboxMessage(
                idempotency_key="test:push:1",
                channel="web",
                chat_id="push-me",
                account_id=account_id,
                kind="push",
                payload=CoreReply("Nhắc việc: họp thôn tối nay lúc 19 giờ.").to_json(),
                created_at=now,
                next_attempt_at=now,
            )
        )

    assert await other.poll() == []
    pushed = await chat.poll()
    assert [r.text for r in pushed] == ["Nhắc việc: họp thôn tối nay lúc 19 giờ."]
    assert await chat.poll() == []
    # A later message gets its own answer, not the push again.
    replies = await chat.send_text("/menu")
    assert "Nhắc việc" not in said(replies)


# --- attachments -----------------------------------------------------------------------


def _attachment(content: bytes, mime: str = "image/jpeg", name: str = "anh.jpg") -> dict[str, str]:
    return {
        "content_b64": base64.b64encode(content).decode(),
        "mime_type": mime,
        "filename": name,
    }


async def test_a_file_nobody_asked_for_gets_a_polite_answer(
    bot: RunningBot, http: aiohttp.ClientSession
) -> None:
    chat = WebChat(bot.url, "sends-photo", http)
    await onboard_guest(chat)
    data = await chat.post({"attachment": _attachment(b"\xff\xd8\xff\xe0 fake jpeg")})
    assert data["_status"] == 200
    replies = chat.replies(data)
    assert "không có câu hỏi nào cần tệp" in said(replies)
    assert any(r.buttons for r in replies), "the menu follows, so the person can go on"


async def test_a_file_over_5_mb_is_refused_with_400(
    bot: RunningBot, http: aiohttp.ClientSession, db: Database
) -> None:
    chat = WebChat(bot.url, "big-file", http)
    await onboard_guest(chat)
    before = await count(db, select(func.count()).select_from(ProcessedUpdate))
    data = await chat.post({"attachment": _attachment(b"x" * (FIVE_MB + 1))})
    assert data["_status"] == 400
    assert "5 MB" in data["error"] and is_vietnamese(data["error"])
    assert await count(db, select(func.count()).select_from(ProcessedUpdate)) == before
    # Exactly 5 MB is accepted.
    data = await chat.post({"attachment": _attachment(b"x" * FIVE_MB)})
    assert data["_status"] == 200
    assert "không có câu hỏi nào cần tệp" in said(chat.replies(data))


async def test_a_much_bigger_file_is_refused_with_a_vietnamese_json_error(
    bot: RunningBot, http: aiohttp.ClientSession
) -> None:
    body = json.dumps({"sender": "huge-file", "attachment": _attachment(b"x" * (8 * 1024 * 1024))})
    status, text, data = await post_raw(http, bot, body.encode())
    assert status in (400, 413), text
    assert isinstance(data, dict) and is_vietnamese(data.get("error", "")), text


# --- many people at once ---------------------------------------------------------------


async def _household_signs_up(
    bot: RunningBot, http: aiohttp.ClientSession, number: int
) -> tuple[str, str, str]:
    """One person: onboarding in their language, then a commune and a village by buttons."""
    lang = "en" if number % 2 else "vi"
    chat = WebChat(bot.url, f"crowd-{number:02d}", http)
    replies = await into_place_form(chat, lang)
    communes = [(t, p) for r in replies for t, p in r.buttons if p.startswith("f:home_unit@")]
    communes = [(t, p) for t, p in communes if "#" not in p]
    commune_title, commune_payload = communes[number % len(communes)]
    replies = await chat.send_payload(commune_payload)
    villages = [(t, p) for r in replies for t, p in r.buttons if p.startswith("f:home_unit=")]
    assert villages, f"{chat.sender}: no villages under {commune_title}: {said(replies)}"
    village_title, village_payload = villages[(number // 3) % len(villages)]
    replies = await chat.send_payload(village_payload)
    text = said(replies)
    if lang == "en":
        assert f"Place saved: {village_title}, {commune_title}" in text, text
        assert "What would you like to do?" in text and "Đã lưu" not in text, text
    else:
        assert f"Đã lưu nơi ở: {village_title}, {commune_title}" in text, text
    mydata = said(await chat.send_text("/mydata"))
    assert village_title in mydata and commune_title in mydata
    return chat.sender, village_payload.removeprefix("f:home_unit="), lang


async def test_twenty_people_at_once_each_get_their_own_conversation(
    bot: RunningBot, http: aiohttp.ClientSession, db: Database
) -> None:
    results = await asyncio.gather(*(_household_signs_up(bot, http, n) for n in range(20)))
    async with db.session() as session:
        rows = (
            await session.execute(
                select(Identity.external_id, OrgUnit.code, Account.locale, Account.kind)
                .join(Account, Account.id == Identity.account_id)
                .join(OrgUnit, OrgUnit.id == Account.home_unit_id)
                .where(Identity.external_id.like("crowd-%"))
            )
        ).all()
    stored = {sender: (code, locale, kind) for sender, code, locale, kind in rows}
    assert stored == {sender: (code, lang, "household") for sender, code, lang in results}


# --- hostile and odd input -------------------------------------------------------------

HOSTILE_TEXTS = [
    pytest.param("\x00\x01\x02\x07\x1b[31m", id="control-characters"),
    pytest.param("\u202eabc\u202c", id="rtl-override"),
    pytest.param("\u200b\u200c\u200d\ufeff", id="zero-width-only"),
    pytest.param("\ud800 lẻ loi", id="lone-surrogate"),
    pytest.param("a" * 10240, id="10kB-ascii"),
    pytest.param("chữ " * 2600, id="10kB-vietnamese"),
    pytest.param("😀🎉👍", id="emoji-only"),
    pytest.param("👨\u200d👩\u200d👧\u200d👦", id="emoji-zwj"),
    pytest.param("   \n\t  ", id="whitespace-only"),
    pytest.param("", id="empty"),
    pytest.param("<script>alert(1)</script>", id="html"),
    pytest.param("'; DROP TABLE accounts; --", id="sql"),
    pytest.param("{name} {0} %s %(x)s", id="format-strings"),
    pytest.param("/", id="slash-only"),
    pytest.param("/start " + "A" * 5000, id="start-with-huge-code"),
    pytest.param("/lệnh_lạ", id="non-ascii-command"),
    pytest.param("/khongco", id="unknown-command"),
]
HOSTILE_PAYLOADS = [
    pytest.param("\x00", id="payload-nul"),
    pytest.param("x" * 10000, id="payload-10kB"),
    pytest.param("lang:xx", id="payload-unknown-language"),
    pytest.param("f:home_unit=\u202e", id="payload-form-rtl"),
    pytest.param("f:home_unit@99999#-1", id="payload-form-bad-page"),
    pytest.param("consent:", id="payload-empty-value"),
    pytest.param("account:delete_yes_no", id="payload-unknown-action"),
]


def assert_a_proper_answer(data: dict[str, Any], raw: str) -> None:
    assert data["_status"] == 200, raw
    assert data["replies"], raw
    assert all(r["text"].strip() for r in data["replies"]), raw
    assert is_vietnamese(said(WebChat.replies(data))), raw
    for leak in _LEAKS:
        assert leak not in raw, f"{leak!r} in {raw[:500]}"


async def _hostile(chat: WebChat, body: dict[str, Any]) -> None:
    data = await chat.post(body)
    assert_a_proper_answer(data, json.dumps(data, ensure_ascii=False))


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
async def test_odd_text_gets_a_vietnamese_answer_at_every_stage(
    bot: RunningBot, http: aiohttp.ClientSession, text: str
) -> None:
    newcomer = WebChat(bot.url, "odd-new", http)
    await _hostile(newcomer, {"text": text})

    mid_form = WebChat(bot.url, "odd-form", http)
    replies = await into_place_form(mid_form)
    await _hostile(mid_form, {"text": text})
    # The form is still there and the commune list still works.
    replies = await mid_form.send_payload(find_button(replies, "Xem thêm"))
    replies = await mid_form.send_payload(find_button(replies, "Xã Di Linh"))
    replies = await mid_form.send_payload(find_button(replies, "Thôn Bình An"))
    assert "Đã lưu nơi ở: Thôn Bình An, Xã Di Linh" in said(replies)

    member = WebChat(bot.url, "odd-member", http)
    await onboard_guest(member)
    await _hostile(member, {"text": text})
    assert "Bạn muốn làm gì?" in said(await member.send_text("/menu"))


@pytest.mark.parametrize("payload", HOSTILE_PAYLOADS)
async def test_forged_buttons_get_a_vietnamese_answer_at_every_stage(
    bot: RunningBot, http: aiohttp.ClientSession, payload: str
) -> None:
    newcomer = WebChat(bot.url, "forged-new", http)
    await _hostile(newcomer, {"payload": payload})
    replies = await newcomer.send_payload("lang:vi")
    assert "Quyền riêng tư" in said(replies)

    mid_form = WebChat(bot.url, "forged-form", http)
    replies = await into_place_form(mid_form)
    await _hostile(mid_form, {"payload": payload})
    replies = await mid_form.send_text("Di Linh")
    assert "Chọn tiếp trong Xã Di Linh" in said(replies)

    member = WebChat(bot.url, "forged-member", http)
    await onboard_guest(member)
    await _hostile(member, {"payload": payload})


async def test_text_payload_and_file_together_get_one_consistent_answer(
    bot: RunningBot, http: aiohttp.ClientSession
) -> None:
    chat = WebChat(bot.url, "everything", http)
    await onboard_guest(chat)
    await _hostile(
        chat, {"text": "🙂", "payload": "x:never", "attachment": _attachment(b"\x89PNG...")}
    )


async def test_decomposed_unicode_is_understood_like_composed(
    bot: RunningBot, http: aiohttp.ClientSession
) -> None:
    chat = WebChat(bot.url, "nfd", http)
    await chat.send_text("/start")
    replies = await chat.send_text(unicodedata.normalize("NFD", "Tiếng Việt"))
    assert "Quyền riêng tư" in said(replies)
    await chat.send_payload("consent:yes")
    await chat.send_payload("role:household")
    replies = await chat.send_text(unicodedata.normalize("NFD", "Xã Di Linh"))
    assert "Chọn tiếp trong Xã Di Linh" in said(replies)


async def test_the_longest_sender_id_the_api_accepts_still_gets_an_answer(
    bot: RunningBot, http: aiohttp.ClientSession
) -> None:
    """Senders up to 64 and message ids up to 48 characters; longer ones get a clear 400."""
    chat = WebChat(bot.url, "s" * 64, http)
    data = await chat.post({"text": "/start"}, message_id="m" * 48)
    assert_a_proper_answer(data, json.dumps(data, ensure_ascii=False))
    data = await chat.post({"text": "/start"})
    assert_a_proper_answer(data, json.dumps(data, ensure_ascii=False))
    too_long = await WebChat(bot.url, "s" * 65, http).post({"text": "/start"})
    assert too_long["_status"] == 400 and "người gửi" in too_long["error"]
