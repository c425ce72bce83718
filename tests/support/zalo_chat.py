"""A person on Zalo (Bot Platform or Official Account), talking to the real bot via a fake.

Implements the transcript `Chat` protocol like the Telegram driver: each step hands one
update to the bot (queued for getUpdates, POSTed to the Bot webhook, or POSTed as a signed
OA event), waits until the bot recorded it and nothing is left in that channel's outbox,
and returns what the fake received for this chat since the step began.

Zalo has no buttons: replies carry numbered text menus. `to_reply` reads a menu back into
buttons whose "payload" is what a person types to choose it (the number, or the words
for a menu of names), so a transcript's ``press`` types it; a raw ``payload`` step types
the payload itself, as a person copying a button's data would.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from aiohttp import web

from bot.app import BotApp, build
from bot.channels import zalo_bot, zalo_oa
from bot.channels.zalo_render import parse_menu
from bot.channels.zalo_runtime import zalo_runtimes
from bot.settings import Settings
from tests.fakes.zalo import FakeZaloBot, FakeZaloOA, OASent, ZaloSent
from tests.support.server import RunningBot
from tests.support.transcripts import Reply
from tests.support.watch import ChannelWatch

__all__ = [
    "BOT_SECRET",
    "ChannelWatch",
    "ZaloBotChat",
    "ZaloChats",
    "ZaloOAChat",
    "bot_settings",
    "oa_settings",
    "start_zalo",
    "to_reply",
]

Mode = Literal["polling", "webhook"]
BOT_SECRET = "zalo-webhook-secret_0123"
_FILE_LINK = re.compile(r"/zalo/files/[A-Za-z0-9_-]+/(\S+?)(?=[\s)]|$)")


def bot_settings(settings: Settings, fake: FakeZaloBot, mode: Mode) -> Settings:
    base = f"http://{settings.web_host}:{settings.web_port}"
    return settings.model_copy(
        update={
            "zalo_bot_token": fake.token,
            "zalo_bot_api_base": fake.base_url,
            "zalo_bot_mode": mode,
            "zalo_bot_webhook_url": f"{base}/zalo/webhook",
            "zalo_bot_webhook_secret": BOT_SECRET,
            "zalo_files_base_url": base,
            # The fakes enforce no flood limit unless a test asks: don't pace transcripts.
            "outbox_per_second": 1000.0,
            "zalo_bot_per_second": 1000.0,
        }
    )


def oa_settings(settings: Settings, fake: FakeZaloOA) -> Settings:
    base = f"http://{settings.web_host}:{settings.web_port}"
    return settings.model_copy(
        update={
            "zalo_oa_app_id": fake.app_id,
            "zalo_oa_secret_key": fake.oa_secret_key,
            "zalo_oa_app_secret": fake.app_secret,
            "zalo_oa_access_token": fake.access_token,
            "zalo_oa_refresh_token": fake.refresh_token,
            "zalo_oa_api_base": fake.base_url,
            "zalo_oauth_base": fake.base_url,
            "zalo_files_base_url": base,
            "outbox_per_second": 1000.0,
            "zalo_oa_per_second": 1000.0,
        }
    )


def wire_zalo(app: BotApp) -> None:
    """Add the Zalo channels when `bot.app.enabled_channels` does not (yet) do it itself."""
    if any(name in app.sender.deliveries for name in (zalo_bot.CHANNEL, zalo_oa.CHANNEL)):
        return
    runtimes = zalo_runtimes(app.services, app.dispatcher, app.web)
    for runtime in runtimes:
        app.sender.deliveries[runtime.delivery.channel] = runtime.delivery
        app.background.extend(runtime.background)
    if runtimes and app.sender.run not in app.background:
        app.background.append(app.sender.run)


async def start_zalo(settings: Settings) -> RunningBot:
    """The real bot as `python -m bot run` starts it, with the Zalo channels of settings."""
    app = build(settings)
    wire_zalo(app)
    runner = web.AppRunner(app.web, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.web_host, settings.web_port)
    await site.start()
    tasks = [asyncio.create_task(job()) for job in app.background]
    running = RunningBot(app, runner, f"http://{settings.web_host}:{settings.web_port}")
    original = running.stop

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await original()

    running.stop = stop  # type: ignore[method-assign]
    return running


def _attachment(text: str) -> dict[str, Any] | None:
    found = _FILE_LINK.search(text)
    return {"filename": unquote(found.group(1))} if found else None


def to_reply(text: str | None, photo: str | None = None) -> Reply:
    """A sent message as the transcript sees it: the menu read back into buttons."""
    if photo is not None:
        name = unquote(urlsplit(photo).path.rsplit("/", 1)[-1])
        return Reply(text or "", [], {"filename": name, "method": "sendPhoto"})
    body, options = parse_menu(text or "")
    buttons = [(title, str(n) if n is not None else title) for n, title in options]
    return Reply(body, buttons, _attachment(body))


class _ZaloChat:
    """What both Zalo drivers share: reading what was sent, typing choices."""

    def __init__(self, watch: ChannelWatch, chat_id: str, timeout: float) -> None:
        self.watch = watch
        self.chat_id = chat_id
        self.timeout = timeout
        self._read_up_to = self._count()
        self._unread: list[Reply] = []

    def _count(self) -> int:
        raise NotImplementedError

    def _since(self, start: int) -> list[Reply]:
        raise NotImplementedError

    def _take(self) -> list[Reply]:
        end = self._count()
        mine = self._since(self._read_up_to)
        self._read_up_to = end
        return mine

    async def _deliver_text(self, text: str) -> str:
        raise NotImplementedError

    async def _deliver_empty(self) -> str:
        raise NotImplementedError

    async def _deliver_image(self, url: str) -> str:
        raise NotImplementedError

    async def _deliver_file(self, filename: str, content: bytes) -> str:
        raise NotImplementedError

    async def send_file(self, filename: str) -> list[Reply]:
        """A scan of a signed paper, linked on Zalo's file servers (the fake's)."""
        self._unread.extend(self._take())
        content = f"%PDF-1.4 {filename}\n%%EOF\n".encode()
        await self.watch.settled(await self._deliver_file(filename, content), self.timeout)
        return self._take()

    async def send_text(self, text: str) -> list[Reply]:
        self._unread.extend(self._take())
        key = await (self._deliver_empty() if text == "" else self._deliver_text(text))
        await self.watch.settled(key, self.timeout)
        return self._take()

    async def send_payload(self, payload: str) -> list[Reply]:
        # What a person types for a menu choice (its number or words) or, for a raw
        # payload, the payload itself.
        return await self.send_text(payload)

    async def inbox(self) -> list[Reply]:
        await self.watch.settled(None, self.timeout)
        unread, self._unread = [*self._unread, *self._take()], []
        return unread


class ZaloBotChat(_ZaloChat):
    def __init__(
        self,
        fake: FakeZaloBot,
        watch: ChannelWatch,
        chat_id: str,
        mode: Mode = "polling",
        timeout: float = 10.0,
    ) -> None:
        self.fake = fake
        self.mode = mode
        super().__init__(watch, chat_id, timeout)

    def _count(self) -> int:
        return len(self.fake.sent)

    def _since(self, start: int) -> list[Reply]:
        mine: list[ZaloSent] = [m for m in self.fake.sent[start:] if m.chat_id == self.chat_id]
        return [to_reply(m.text or m.caption, m.photo) for m in mine]

    def key(self, update: dict[str, Any]) -> str:
        return zalo_bot.update_key(self.fake.bot_id, update["message"]["message_id"])

    async def deliver(self, update: dict[str, Any]) -> str:
        if self.mode == "polling":
            self.fake.inject(update)
        else:
            if self.fake.webhook_url is None:
                await self.fake.wait_until(lambda: self.fake.webhook_url is not None, self.timeout)
            status = await self.fake.post_webhook(update)
            assert status == 200, f"webhook answered {status}"
        return self.key(update)

    async def send_update(self, update: dict[str, Any]) -> list[Reply]:
        self._unread.extend(self._take())
        await self.watch.settled(await self.deliver(update), self.timeout)
        return self._take()

    async def _deliver_text(self, text: str) -> str:
        return await self.deliver(self.fake.user_text(self.chat_id, text))

    async def _deliver_empty(self) -> str:
        return await self.deliver(self.fake.user_sticker(self.chat_id))

    async def _deliver_image(self, url: str) -> str:
        return await self.deliver(self.fake.user_image(self.chat_id, url))

    async def _deliver_file(self, filename: str, content: bytes) -> str:
        # The Bot Platform takes photos only: a paper is sent as the photo of its page.
        return await self._deliver_image(self.fake.host_file(f"{Path(filename).stem}.jpg", content))


class ZaloOAChat(_ZaloChat):
    def __init__(
        self,
        fake: FakeZaloOA,
        watch: ChannelWatch,
        chat_id: str,
        webhook_url: str,
        timeout: float = 10.0,
    ) -> None:
        self.fake = fake
        self.webhook_url = webhook_url
        super().__init__(watch, chat_id, timeout)

    def _count(self) -> int:
        return len(self.fake.sent)

    def _since(self, start: int) -> list[Reply]:
        mine: list[OASent] = [m for m in self.fake.sent[start:] if m.user_id == self.chat_id]
        return [to_reply(m.text) for m in mine]

    async def deliver(self, event: dict[str, Any]) -> str:
        status = await self.fake.post_event(self.webhook_url, event)
        assert status == 200, f"webhook answered {status}"
        return zalo_oa.event_key(event)

    async def send_event(self, event: dict[str, Any]) -> list[Reply]:
        self._unread.extend(self._take())
        await self.watch.settled(await self.deliver(event), self.timeout)
        return self._take()

    async def _deliver_text(self, text: str) -> str:
        return await self.deliver(self.fake.user_text(self.chat_id, text))

    async def _deliver_empty(self) -> str:
        return await self.deliver(self.fake.user_sticker(self.chat_id))

    async def _deliver_image(self, url: str) -> str:
        return await self.deliver(self.fake.user_image(self.chat_id, url))

    async def _deliver_file(self, filename: str, content: bytes) -> str:
        url = self.fake.host_file(filename, content)
        return await self.deliver(self.fake.user_file(self.chat_id, url, filename, len(content)))


class ZaloChats:
    """One Zalo user per transcript person ("user" first, then one id per newcomer)."""

    def __init__(
        self,
        running: RunningBot,
        fake: FakeZaloBot | FakeZaloOA,
        mode: Mode = "webhook",
        first: int = 0xE4EA2CD5,
    ) -> None:
        self.running = running
        self.fake = fake
        self.mode = mode
        self.next = first
        channel = zalo_bot.CHANNEL if isinstance(fake, FakeZaloBot) else zalo_oa.CHANNEL
        self.watch = ChannelWatch(running.app, channel)
        self.chats: dict[str, ZaloBotChat | ZaloOAChat] = {}

    def __call__(self, person: str) -> ZaloBotChat | ZaloOAChat:
        if person not in self.chats:
            chat_id = f"{self.next:x}189df1c3a88c"
            self.next += 1
            if isinstance(self.fake, FakeZaloBot):
                self.chats[person] = ZaloBotChat(self.fake, self.watch, chat_id, self.mode)
            else:
                path = self.running.app.services.settings.zalo_oa_webhook_path
                url = f"{self.running.url}{path}"
                self.chats[person] = ZaloOAChat(self.fake, self.watch, chat_id, url)
        return self.chats[person]
