"""The web chat page, driven in Debian's headless Chromium against the real app.

Needs a ``live_server`` fixture (tests/conftest.py) that yields the base URL of the app
serving ``/`` (the page), ``/static/*`` and the ``/api/chat`` JSON API.

The journey test talks to the real bot. The other tests intercept ``/api/chat`` with
Playwright routes so they can check error handling, retries, XSS safety and files
without depending on the bot's wording; they use the live server only for the page.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Route, async_playwright, expect

CHROMIUM = "/usr/bin/chromium"

# Debian's Chromium is installed by `make test`; without it these tests fail, never skip.
pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}
SCREENSHOT = "/tmp/webchat.png"
BOT_TIMEOUT = 15_000  # ms; the real bot may touch a database before answering


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser, live_server: str) -> AsyncIterator[Page]:
    # A fresh context per test: empty localStorage/sessionStorage, so a new sender id.
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="vi-VN", base_url=live_server
    )
    page = await context.new_page()
    yield page
    await context.close()


async def assert_no_horizontal_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"page is {width}px wide on a {PHONE['width']}px screen"


def reply(text: str, buttons: Sequence[tuple[str, str]] = (), **extra: Any) -> dict[str, Any]:
    return {"text": text, "buttons": [{"title": t, "payload": p} for t, p in buttons], **extra}


async def fake_api(page: Page, *replies: Any, polls: list[Any] | None = None) -> list[dict]:
    """Answer /api/chat with ``replies`` in order (a dict, an int status, or "abort").

    Returns the list that collects the JSON bodies the page posted.
    """
    bodies: list[dict] = []
    queue = list(replies)

    async def chat(route: Route) -> None:
        bodies.append(route.request.post_data_json)
        answer = queue.pop(0) if queue else {"replies": []}
        if answer == "abort":
            await route.abort("internetdisconnected")
        elif isinstance(answer, int):
            await route.fulfill(status=answer, json={"error": "Xin lỗi, hệ thống đang bận."})
        else:
            await route.fulfill(json=answer)

    pushed = list(polls or [])

    async def poll(route: Route) -> None:
        await route.fulfill(json={"replies": pushed.pop(0) if pushed else []})

    await page.route("**/api/chat", chat)
    await page.route("**/api/chat/poll?*", poll)
    return bodies


# ---- the journey on the real bot -------------------------------------------


async def test_first_conversation_on_a_phone(page: Page) -> None:
    # Script errors and Content-Security-Policy violations would break the page silently.
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    await page.goto("/")
    bots = page.get_by_test_id("bot-message")
    users = page.get_by_test_id("user-message")
    with_buttons = bots.filter(has=page.get_by_test_id("reply-button"))

    start = page.get_by_test_id("start")
    await expect(start).to_be_visible()
    await assert_no_horizontal_scroll(page)
    await start.click()

    # Language choice: a bot message carrying buttons.
    await expect(with_buttons.first).to_be_visible(timeout=BOT_TIMEOUT)
    await expect(start).to_be_hidden()
    language = with_buttons.last.get_by_test_id("reply-button").filter(has_text="Tiếng Việt")
    await language.first.click()
    # The pressed button's title becomes the user's bubble.
    await expect(users.last).to_contain_text("Tiếng Việt", timeout=BOT_TIMEOUT)

    # Privacy notice with an agree button ("Không đồng ý" must not be picked).
    agree = (
        page.get_by_test_id("reply-button")
        .filter(has_text=re.compile("Đồng ý"))
        .filter(has_not_text=re.compile("[Kk]hông"))
    )
    await expect(agree.last).to_be_visible(timeout=BOT_TIMEOUT)
    agree_title = (await agree.last.inner_text()).strip()
    seen = await bots.count()
    await agree.last.click()
    await expect(users.last).to_contain_text(agree_title, timeout=BOT_TIMEOUT)
    await expect(bots.nth(seen)).to_be_visible(timeout=BOT_TIMEOUT)
    await expect(page.get_by_test_id("send")).to_be_enabled(timeout=BOT_TIMEOUT)
    await assert_no_horizontal_scroll(page)

    sender = await page.evaluate("localStorage.getItem('giamngheo.sender')")
    assert sender
    history = await page.get_by_test_id("log").inner_text()
    n_bots, n_users = await bots.count(), await users.count()

    await page.reload()
    # sessionStorage brings the conversation back; the Start button stays away.
    await expect(bots).to_have_count(n_bots)
    await expect(users).to_have_count(n_users)
    assert await page.get_by_test_id("log").inner_text() == history
    await expect(start).to_be_hidden()
    assert await page.evaluate("localStorage.getItem('giamngheo.sender')") == sender
    await assert_no_horizontal_scroll(page)
    await page.screenshot(path=SCREENSHOT)
    assert problems == []


# ---- page behaviour, with /api/chat answered by Playwright -----------------


async def test_accessible_structure(page: Page) -> None:
    await page.goto("/")
    assert await page.get_attribute("html", "lang") == "vi"
    log = page.get_by_test_id("log")
    assert await log.get_attribute("aria-live") == "polite"
    await expect(page.get_by_label("Nhập tin nhắn")).to_have_attribute("data-testid", "input")
    for testid in ("start", "send", "menu", "attach"):
        tag = await page.get_by_test_id(testid).evaluate("el => el.tagName")
        assert tag == "BUTTON", testid
        box = await page.get_by_test_id(testid).bounding_box()
        assert box and box["height"] >= 44, f"{testid} is too small to tap"
    await assert_no_horizontal_scroll(page)


async def test_buttons_attachment_and_text_safety(page: Page) -> None:
    doc = "Mẫu đơn\nHọ và tên: ...".encode()
    evil = '<img src=x onerror="window.pwned=1">Dòng 1\nDòng 2 ' + "x" * 300
    bodies = await fake_api(
        page,
        {"replies": [reply(evil, [("Có", "yes"), ("Không", "no")])]},
        {
            "replies": [
                reply(
                    "Đây là mẫu đơn.",
                    attachment={
                        "filename": "mau-don.txt",
                        "mime_type": "text/plain",
                        "content_b64": base64.b64encode(doc).decode(),
                    },
                )
            ]
        },
        {"replies": [reply("Nút cũ vẫn được trả lời.")]},
    )
    await page.goto("/")
    await page.get_by_test_id("start").click()
    bot = page.get_by_test_id("bot-message").first
    await expect(bot).to_contain_text("<img src=x")
    assert "Dòng 1\nDòng 2" in await bot.inner_text()
    assert await page.locator("[data-testid=log] img").count() == 0
    assert await page.evaluate("window.pwned") is None
    await assert_no_horizontal_scroll(page)

    await page.get_by_test_id("reply-button").filter(has_text="Có").click()
    await expect(page.get_by_test_id("user-message").last).to_have_text("Có")
    link = page.get_by_test_id("attachment-link")
    await expect(link).to_contain_text("mau-don.txt")
    assert await link.get_attribute("download") == "mau-don.txt"
    async with page.expect_download() as info:
        await link.click()
    download = await info.value
    saved = Path(await download.path())
    assert await asyncio.to_thread(saved.read_bytes) == doc

    # A button of an older message is still live.
    await page.get_by_test_id("reply-button").filter(has_text="Không").click()
    await expect(page.get_by_test_id("bot-message")).to_have_count(3)

    assert [b.get("text") or b.get("payload") for b in bodies] == ["/start", "yes", "no"]
    assert all(b["sender"] == bodies[0]["sender"] for b in bodies)
    assert len({b["message_id"] for b in bodies}) == 3


async def test_enter_sends_and_empty_input_is_not_sent(page: Page) -> None:
    bodies = await fake_api(page, {"replies": [reply("Chào bạn!")]})
    await page.goto("/")
    box = page.get_by_test_id("input")
    await box.fill("   ")
    await box.press("Enter")
    await page.get_by_test_id("send").click()
    await box.fill("xin chào")
    await box.press("Enter")
    await expect(page.get_by_test_id("user-message")).to_have_text("xin chào")
    await expect(page.get_by_test_id("bot-message")).to_have_text("Chào bạn!")
    await expect(box).to_have_value("")
    assert [b["text"] for b in bodies] == ["xin chào"]


async def test_send_is_disabled_while_waiting(page: Page) -> None:
    held: list[Route] = []

    async def hold(route: Route) -> None:
        held.append(route)

    await page.route("**/api/chat", hold)
    await page.goto("/")
    await page.get_by_test_id("input").fill("chờ nhé")
    await page.get_by_test_id("send").click()
    await expect(page.get_by_test_id("send")).to_be_disabled()
    for _ in range(100):  # the route handler runs when the request reaches Playwright
        if held:
            break
        await page.wait_for_timeout(50)
    await held[0].fulfill(json={"replies": [reply("Xong.")]})
    await expect(page.get_by_test_id("send")).to_be_enabled()
    await expect(page.get_by_test_id("bot-message")).to_have_text("Xong.")


async def test_server_error_is_shown_and_typed_text_kept(page: Page) -> None:
    await fake_api(page, 500)
    await page.goto("/")
    await page.get_by_test_id("input").fill("hộ nghèo là gì")
    await page.get_by_test_id("send").click()
    await expect(page.get_by_test_id("error")).to_contain_text("Xin lỗi, hệ thống đang bận.")
    await expect(page.get_by_test_id("input")).to_have_value("hộ nghèo là gì")
    await expect(page.get_by_test_id("user-message")).to_have_count(0)
    await expect(page.get_by_test_id("send")).to_be_enabled()


async def test_network_error_retry_reuses_message_id(page: Page) -> None:
    bodies = await fake_api(page, "abort", {"replies": [reply("Đã nhận.")]})
    await page.goto("/")
    await page.get_by_test_id("input").fill("đăng ký")
    await page.get_by_test_id("send").click()
    await expect(page.get_by_test_id("retry")).to_be_visible()
    await expect(page.get_by_test_id("input")).to_have_value("đăng ký")
    await page.get_by_test_id("retry").click()
    await expect(page.get_by_test_id("bot-message")).to_have_text("Đã nhận.")
    await expect(page.get_by_test_id("user-message")).to_have_count(1)
    await expect(page.get_by_test_id("error")).to_be_hidden()
    assert [b["text"] for b in bodies] == ["đăng ký", "đăng ký"]
    assert bodies[0]["message_id"] == bodies[1]["message_id"]


async def test_upload_checks_size_then_sends_base64(page: Page) -> None:
    bodies = await fake_api(page, {"replies": [reply("Đã nhận ảnh.")]})
    await page.goto("/")
    picker = page.get_by_test_id("file")
    big = {"name": "to.jpg", "mimeType": "image/jpeg", "buffer": b"\0" * (5 * 1024 * 1024 + 1)}
    await picker.set_input_files(big)
    await expect(page.get_by_test_id("error")).to_contain_text("5 MB")
    assert bodies == []

    photo = {"name": "giay-to.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8hello"}
    await picker.set_input_files(photo)
    await expect(page.get_by_test_id("bot-message")).to_have_text("Đã nhận ảnh.")
    await expect(page.get_by_test_id("user-message")).to_contain_text("giay-to.jpg")
    sent = bodies[0]["attachment"]
    assert sent["filename"] == "giay-to.jpg"
    assert sent["mime_type"] == "image/jpeg"
    assert base64.b64decode(sent["content_b64"]) == b"\xff\xd8hello"


async def test_menu_and_pushed_notifications(page: Page) -> None:
    notice = reply("🔔 Hạn nộp hồ sơ là thứ Sáu.")
    bodies = await fake_api(page, {"replies": [reply("Menu chính")]}, polls=[[notice]])
    await page.goto("/")
    await page.get_by_test_id("menu").click()
    await expect(page.get_by_test_id("bot-message").first).to_have_text("Menu chính")
    assert bodies[0]["text"] == "/menu"
    # Polling starts once there is a conversation; the push arrives within ~5 s.
    await expect(page.get_by_test_id("bot-message").last).to_have_text(
        notice["text"], timeout=12_000
    )
    stored = json.loads(await page.evaluate("sessionStorage.getItem('giamngheo.history')"))
    assert stored[-1]["text"] == notice["text"]
