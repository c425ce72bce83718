"""The Zalo Bot Platform: a thin typed aiohttp client, updates in, replies out via the outbox.

The Bot API (https://bot.zaloplatforms.com/docs) is Telegram-like: ``POST
<base>/bot<TOKEN>/<method>`` with JSON, answers ``{"ok", "result", "error_code",
"description"}``. Where it differs, this module follows its documentation:

* ``getUpdates`` takes only ``timeout`` and hands out one update per call, with no
  ``update_id`` and no ``offset``: an update is gone from Zalo once fetched. The polling
  loop therefore keeps a fetched update in memory and retries handling it until
  `Dispatcher.handle` has recorded it; only a crash in that window can lose one (the
  webhook has no such window: use it in production);
* an update is ``{"event_name": "message.text.received", "message": {"message_id", "from",
  "chat": {"id", "chat_type"}, "date" (ms), "text" | "photo_url"...}}``; it is recorded as
  ``zalo``/``<bot id>:<message_id>``, so a re-delivered message does nothing;
* the webhook carries ``X-Bot-Api-Secret-Token`` (8-256 characters); a wrong or missing one
  is answered 401 and nothing is read. The body may be the update itself or wrapped as
  ``{"ok": true, "result": <update>}`` (the documentation shows the wrapper); both are read;
* texts are 1-2000 characters; longer replies are split. There are no buttons: choices are
  numbered text menus (`bot.channels.zalo_render`). ``sendPhoto`` takes a URL, not a file.

The documentation lists no error codes; 429, 5xx and timeouts are retried, 403 means the
person blocked the bot, 400 is a message Zalo will never take. No message text is logged.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from functools import partial
from typing import Any, TypedDict, cast
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bot.channels.linked_files import LinkedFiles
from bot.channels.parts import PartProgress, Step
from bot.channels.zalo_render import FileLinks, MenuStore, plan
from bot.core.dispatcher import Dispatcher
from bot.core.messages import Attachment, Incoming, Reply
from bot.core.services import Services
from bot.i18n import translator
from bot.logs import log_failure
from bot.outbox import Blocked, DeliveryError, Rejected, RetryAfter, SlidingWindow, Transient

__all__ = [
    "CHANNEL",
    "MAX_TEXT",
    "SECRET_HEADER",
    "BotInfo",
    "ZaloApiError",
    "ZaloBotChannel",
    "ZaloBotClient",
    "ZaloBotDelivery",
    "ZaloNetworkError",
    "delivery_error",
    "to_incoming",
    "unwrap",
    "update_key",
]

log = logging.getLogger(__name__)

CHANNEL = "zalo"
SECRET_HEADER = "X-Bot-Api-Secret-Token"
MAX_TEXT = 2000  # sendMessage: "từ 1 đến 2000 ký tự"
POLL_TIMEOUT = 30  # the documented default of getUpdates
EVENT_TEXT = "message.text.received"
EVENT_IMAGE = "message.image.received"
EVENT_STICKER = "message.sticker.received"
EVENT_UNSUPPORTED = "message.unsupported.received"
_NO_UPDATES = 408  # getUpdates' answer when the long poll ends empty
_BACKOFF_START = 0.5
_BACKOFF_MAX = 30.0
_REQUEST_TIMEOUT = 20.0
_DEFAULT_RETRY_AFTER = 1.0


class BotInfo(TypedDict, total=False):
    id: str
    account_name: str
    account_type: str
    can_join_groups: bool


class ZaloApiError(Exception):
    """Zalo answered ``ok: false`` (or an HTTP error); the description is Zalo's, not ours."""

    def __init__(
        self,
        method: str,
        status: int,
        error_code: int | None,
        description: str,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{method}: {error_code or status} {description}"[:300])
        self.method = method
        self.status = status
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    @property
    def code(self) -> int:
        return self.error_code or self.status


class ZaloNetworkError(Exception):
    """No answer: connection refused, reset, timed out, or not JSON."""


def _retry_after(body: dict[str, Any], headers: Any) -> float | None:
    params = body.get("parameters")
    if isinstance(params, dict) and isinstance(params.get("retry_after"), int | float):
        return float(params["retry_after"])
    header = headers.get("Retry-After") if headers is not None else None
    if header and str(header).replace(".", "", 1).isdigit():
        return float(header)
    return None


class ZaloBotClient:
    """Typed calls of the Zalo Bot API. The token is in the URL: URLs are never logged."""

    def __init__(
        self,
        token: str,
        api_base: str,
        session: aiohttp.ClientSession | None = None,
        timeout: float = _REQUEST_TIMEOUT,
    ) -> None:
        self.token = token
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self._session = session
        self._own_session = session is None

    @property
    def bot_id(self) -> str:
        """The documented token shape is ``<bot id>:<secret>``."""
        return self.token.split(":", 1)[0]

    def http(self) -> aiohttp.ClientSession:
        """The client's HTTP session, also for fetching the files people send as links."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, seconds: float | None = None
    ) -> Any:
        url = f"{self.api_base}/bot{self.token}/{method}"
        budget = aiohttp.ClientTimeout(total=seconds or self.timeout)
        try:
            async with self.http().post(url, json=params or {}, timeout=budget) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                headers = response.headers
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ZaloNetworkError(f"{method}: {type(error).__name__}") from None
        if not isinstance(body, dict):
            if status >= 400:
                raise ZaloApiError(method, status, None, f"HTTP {status}")
            raise ZaloNetworkError(f"{method}: an answer that is not JSON")
        if status >= 400 or not body.get("ok"):
            code = body.get("error_code")
            raise ZaloApiError(
                method,
                status,
                int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
                str(body.get("description") or ""),
                _retry_after(body, headers),
            )
        return body.get("result")

    async def get_me(self) -> BotInfo:
        return cast(BotInfo, await self.call("getMe"))

    async def get_updates(self, wait: int = POLL_TIMEOUT) -> list[dict[str, Any]]:
        """The next update(s); [] when the long poll ended empty. Zalo sends one per call."""
        try:
            # The documentation types timeout as a string.
            result = await self.call("getUpdates", {"timeout": str(wait)}, seconds=wait + 10)
        except ZaloApiError as error:
            if error.code == _NO_UPDATES:
                return []
            raise
        if isinstance(result, list):
            return [item for item in result if isinstance(item, dict)]
        if isinstance(result, dict) and ("event_name" in result or "message" in result):
            return [result]
        return []

    async def set_webhook(self, url: str, secret_token: str) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            await self.call("setWebhook", {"url": url, "secret_token": secret_token}),
        )

    async def delete_webhook(self) -> dict[str, Any]:
        return cast(dict[str, Any], await self.call("deleteWebhook"))

    async def get_webhook_info(self) -> dict[str, Any]:
        return cast(dict[str, Any], await self.call("getWebhookInfo"))

    async def send_message(self, chat_id: str, text: str) -> dict[str, Any]:
        return cast(
            dict[str, Any], await self.call("sendMessage", {"chat_id": chat_id, "text": text})
        )

    async def send_photo(
        self, chat_id: str, photo: str, caption: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"chat_id": chat_id, "photo": photo}
        if caption:
            params["caption"] = caption
        return cast(dict[str, Any], await self.call("sendPhoto", params))

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action})


# --------------------------------------------------------------------------- updates in


def update_key(bot_id: str, message_id: str) -> str:
    return f"{bot_id}:{message_id}"


def unwrap(data: Any) -> dict[str, Any] | None:
    """The update in a webhook body: bare, or inside ``{"ok": true, "result": ...}``."""
    if not isinstance(data, dict):
        return None
    if "event_name" in data or "message" in data:
        return data
    result = data.get("result")
    if isinstance(result, dict) and ("event_name" in result or "message" in result):
        return result
    return None


def _start_arg(text: str | None) -> str | None:
    if not text:
        return None
    head, _, rest = text.strip().partition(" ")
    if head.lower() != "/start":
        return None
    return rest.strip() or None


def _photo_url(message: dict[str, Any]) -> str | None:
    for name in ("photo_url", "photo", "url"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def to_incoming(update: dict[str, Any], bot_id: str) -> Incoming | None:
    """The core's view of an update; None when it is not a person writing to us privately.

    Only private chats are conversations (a group would share one account). Stickers and
    messages Zalo does not pass on arrive with nothing to read: the core says so kindly.
    """
    message = update.get("message")
    if not isinstance(message, dict):
        return None
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    assert isinstance(chat, dict) and isinstance(sender, dict)
    if sender.get("is_bot"):
        return None
    if str(chat.get("chat_type") or "PRIVATE").upper() != "PRIVATE":
        return None
    chat_id = str(chat.get("id") or sender.get("id") or "")
    message_id = str(message.get("message_id") or "")
    if not chat_id or not message_id:
        return None
    event = update.get("event_name")
    text: str | None = None
    attachment: Attachment | None = None
    if event == EVENT_TEXT or (event is None and isinstance(message.get("text"), str)):
        text = message.get("text") if isinstance(message.get("text"), str) else None
    elif event == EVENT_IMAGE and (url := _photo_url(message)):
        attachment = Attachment(
            filename=f"{message_id}.jpg", mime_type="image/jpeg", file_ref=url, kind="photo"
        )
    return Incoming(
        channel=CHANNEL,
        sender_id=chat_id,
        update_key=update_key(bot_id, message_id),
        text=text,
        attachment=attachment,
        start_arg=_start_arg(text),
    )


def _chat_of(update: dict[str, Any]) -> str:
    message = update.get("message")
    if isinstance(message, dict) and isinstance(message.get("chat"), dict):
        return str(message["chat"].get("id") or "")
    return ""


# --------------------------------------------------------------------------- replies out


def delivery_error(error: ZaloApiError) -> DeliveryError:
    """Zalo's refusal as the outbox's outcome."""
    code = error.code
    reason = f"{error.method} {code}: {error.description}"[:200]
    if code == 429:
        return RetryAfter(error.retry_after or _DEFAULT_RETRY_AFTER)
    if code == 403:
        return Blocked(reason)
    if code in (400, 404, 413):
        return Rejected(reason)
    if code == 401:
        # A revoked token: every message fails the same way until an admin acts.
        return Transient(f"unauthorized: {reason}")
    return Transient(reason)


class ZaloBotDelivery:
    """Renders a `Reply` for Zalo (menus, parts, file links) and sends it at Zalo's pace."""

    channel = CHANNEL

    def __init__(
        self,
        client: ZaloBotClient,
        menus: MenuStore,
        files: FileLinks,
        per_second: float,
        timezone: str = "Asia/Ho_Chi_Minh",
    ) -> None:
        self.client = client
        self.menus = menus
        self.files = files
        self.timezone = timezone
        self._window = SlidingWindow(per_second)
        self._progress = PartProgress()

    async def deliver(self, chat_id: str, reply: Reply) -> None:
        try:
            await self._deliver(chat_id, reply)
        except ZaloApiError as error:
            if error.code == 429:
                self._window.pause(error.retry_after or _DEFAULT_RETRY_AFTER)
            raise delivery_error(error) from None
        except (ZaloNetworkError, TimeoutError) as error:
            raise Transient(str(error) or type(error).__name__) from None

    async def _deliver(self, chat_id: str, reply: Reply) -> None:
        turn, menu, pieces = await plan(
            reply,
            chat_id,
            self.menus,
            self.files,
            MAX_TEXT,
            lambda locale: translator(locale, self.timezone),
            photos=True,
        )
        if not pieces:
            raise Rejected("nothing to send: empty text and no attachment")
        steps: list[Step] = [
            partial(
                self._paced,
                self.client.send_message if piece.kind == "text" else self.client.send_photo,
                chat_id,
                piece.value,
            )
            for piece in pieces
        ]
        await self._progress.send(chat_id, reply, steps)
        await self.menus.remember(chat_id, turn, menu)

    async def _paced(
        self, send: Callable[[str, str], Awaitable[Any]], chat: str, value: str
    ) -> None:
        await self._window.acquire()
        await send(chat, value)


# --------------------------------------------------------------------------- the channel


class ZaloBotChannel:
    """Receives updates (long polling or webhook) and hands them to the dispatcher."""

    def __init__(
        self,
        services: Services,
        dispatcher: Dispatcher,
        files: FileLinks,
        client: ZaloBotClient | None = None,
    ) -> None:
        settings = services.settings
        assert settings.zalo_bot_token, "ZALO_BOT_TOKEN is not set"
        self.services = services
        self.settings = settings
        self.dispatcher = dispatcher
        self.client = client or ZaloBotClient(settings.zalo_bot_token, settings.zalo_bot_api_base)
        self.bot_id = self.client.bot_id
        self.menus = MenuStore(
            services.db, CHANNEL, settings.default_locale, services.clock, services.forms
        )
        self.delivery = ZaloBotDelivery(
            self.client, self.menus, files, settings.zalo_bot_per_second, settings.timezone
        )
        self.linked = LinkedFiles(settings.data_dir, CHANNEL, self.client.http)

    # --- lifecycle ---------------------------------------------------------------------

    def background(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        if self.settings.zalo_bot_mode == "webhook":
            return [self.run_webhook_setup]
        return [self.run_polling]

    def add_routes(self, app: web.Application) -> None:
        if self.settings.zalo_bot_mode == "webhook":
            app.router.add_post(self.webhook_path, self.webhook)

        async def close(_app: web.Application) -> None:
            await self.client.close()

        app.on_cleanup.append(close)

    @property
    def webhook_path(self) -> str:
        path = urlsplit(self.settings.zalo_bot_webhook_url or "").path
        return path if path and path != "/" else "/zalo/webhook"

    async def _startup(self, calls: Iterable[Callable[[], Coroutine[Any, Any, Any]]]) -> None:
        """Run start-up calls, retrying network trouble; a refusal is logged, not fatal."""
        for call in calls:
            delay = _BACKOFF_START
            while True:
                try:
                    await call()
                    break
                except ZaloApiError as error:
                    if error.code == 429 or error.code >= 500:
                        await asyncio.sleep(error.retry_after or delay)
                        delay = min(delay * 2, _BACKOFF_MAX)
                        continue
                    log.error("zalo start-up call %s refused: %s", error.method, error.code)
                    break
                except (ZaloNetworkError, TimeoutError):
                    log.warning("zalo start-up call failed; retrying in %.1fs", delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _BACKOFF_MAX)

    async def run_webhook_setup(self) -> None:
        url = self.settings.zalo_bot_webhook_url
        secret = self.settings.zalo_bot_webhook_secret
        assert url and secret

        async def set_webhook() -> None:
            await self.client.set_webhook(url, secret)

        await self._startup([set_webhook])
        log.info("zalo webhook set")

    async def run_polling(self) -> None:
        # getUpdates does not work while a webhook is set.
        await self._startup([self.client.delete_webhook])
        log.info("zalo polling started")
        pending: list[dict[str, Any]] = []
        delay = _BACKOFF_START
        while True:
            if not pending:
                try:
                    pending = await self.client.get_updates(POLL_TIMEOUT)
                except asyncio.CancelledError:
                    raise
                except ZaloApiError as error:
                    wait = error.retry_after if error.code == 429 and error.retry_after else delay
                    log.warning("zalo getUpdates refused (%s); retrying in %.1fs", error.code, wait)
                    await asyncio.sleep(wait)
                    delay = min(delay * 2, _BACKOFF_MAX)
                    continue
                except (ZaloNetworkError, TimeoutError) as error:
                    log.warning("zalo getUpdates failed (%s); retrying in %.1fs", error, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _BACKOFF_MAX)
                    continue
                delay = _BACKOFF_START
            while pending:
                try:
                    await self.process(pending[0])
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    # Zalo will not send it again: keep it and retry until it is recorded.
                    log_failure(
                        log, f"processing a zalo update failed; retry in {delay:.1f}s", error
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _BACKOFF_MAX)
                    break
                pending.pop(0)
                delay = _BACKOFF_START

    async def process(self, update: dict[str, Any]) -> None:
        """Handle one update durably; raises if it could not be recorded."""
        incoming = to_incoming(update, self.bot_id)
        if incoming is None:
            if update.get("event_name") not in (EVENT_UNSUPPORTED, None):
                log.debug("zalo update ignored: %s", update.get("event_name"))
            return
        incoming = await self.menus.read(await self.linked.keep(incoming))
        await self.dispatcher.handle(incoming)

    # --- webhook -------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        secret = self.settings.zalo_bot_webhook_secret or ""
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=401)
        try:
            data = await request.json()
        except ValueError:
            log.warning("zalo webhook: a body that is not JSON was refused")
            return web.Response(status=400)
        update = unwrap(data)
        if update is None:
            return web.json_response({"ok": True})  # nothing for us (e.g. ok: false)
        try:
            await self.process(update)
        except Exception as error:
            # Not recorded: an error answer makes Zalo deliver it again.
            log_failure(log, "zalo webhook: an update could not be processed", error)
            return web.Response(status=500)
        return web.json_response({"ok": True})
