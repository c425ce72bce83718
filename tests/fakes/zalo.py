"""In-process fakes of the Zalo Bot Platform and of the Zalo Official Account API, for tests.

Built from the public documentation (bot.zaloplatforms.com/docs; developers.zalo.me OA API
v3), so the bot's own HTTP clients run against them unchanged:

`FakeZaloBot` answers ``POST /bot<TOKEN>/<method>`` with ``{"ok", "result"}`` or ``{"ok":
false, "error_code", "description"}``: getMe, getUpdates (long poll, ONE update per call,
no offset: an update is gone once handed out; an empty poll ends with error 408),
setWebhook (``url`` https - loopback http allowed for tests - and ``secret_token`` of 8-256
characters), deleteWebhook, getWebhookInfo, sendMessage (``text`` of 1-2000 characters),
sendPhoto (``photo`` is a URL, fetched like Zalo does), sendChatAction (``typing``,
``upload_photo``). getUpdates while a webhook is set is refused. It records what the bot
sent, and injects faults: 429 with retry_after, 500, 403 (a person who blocked the bot),
400, slow answers. The documentation lists no error codes: those used here are the HTTP
ones, as the Bot API's Telegram-like envelope suggests.

`FakeZaloOA` answers ``POST /v3.0/oa/message/cs`` (header ``access_token``) and ``POST
/v4/oa/access_token`` (header ``secret_key`` = app secret, form ``refresh_token``,
``app_id``, ``grant_type=refresh_token``); refresh tokens work once; access tokens can be
expired at will (error -216). It refuses customer-service messages outside the reply
window (48 hours after the person's last message, 8 messages) and sends signed webhook
events (``X-ZEvent-Signature: mac=sha256(app_id + body + timestamp + OA secret key)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from aiohttp import ClientSession, ClientTimeout, web

__all__ = [
    "DEFAULT_BOT_TOKEN",
    "FakeZaloBot",
    "FakeZaloOA",
    "OASent",
    "ZaloSent",
]

JSON = dict[str, Any]
FaultKind = Literal["429", "500", "403", "400", "slow"]

DEFAULT_BOT_TOKEN: Final = "1459232241454765289:AbCdFakeZaloBotTokenForTests_0001"
BOT_SECRET_HEADER: Final = "X-Bot-Api-Secret-Token"
OA_SIGNATURE_HEADER: Final = "X-ZEvent-Signature"
_MAX_TEXT: Final = 2000
_CHAT_ACTIONS: Final = frozenset({"typing", "upload_photo"})
_ids = itertools.count(1)


def _hex_id() -> str:
    """Zalo ids look like 20 hex digits ("16f6366b3f02645a3d15")."""
    return f"{next(_ids):04x}{secrets.token_hex(8)}"


@dataclass
class _Fault:
    kind: FaultKind
    remaining: int
    retry_after: int
    delay: float
    skip: int = 0  # calls that still succeed before this fault starts


class _Waiter:
    """One "something changed" event; waiters re-check their own condition after it."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(self, predicate: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue


class _FileHost:
    """Zalo's file servers, where the photos and documents people send are linked: a file
    is served at ``GET /cdn/<name>`` once hosted; any other name is 404 (an expired link)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.fetches: list[str] = []
        # Served without a length, in pieces, as some file servers do.
        self.chunked = False

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/cdn/{name}", self._serve)

    async def _serve(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.fetches.append(name)
        if name not in self.files:
            return web.Response(status=404)
        if not self.chunked:
            return web.Response(body=self.files[name], content_type="application/octet-stream")
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        content = self.files[name]
        for start in range(0, len(content), 4):
            await response.write(content[start : start + 4])
        await response.write_eof()
        return response


# --------------------------------------------------------------------------- Bot Platform


@dataclass
class ZaloSent:
    """One message the bot put into a chat, as the fake accepted it."""

    method: str
    chat_id: str
    text: str | None
    params: JSON
    photo: str | None = None
    caption: str | None = None
    photo_bytes: bytes | None = None
    message_id: str = ""


class FakeZaloBot:
    """Fake Zalo Bot API on 127.0.0.1 (random port)."""

    def __init__(self, token: str = DEFAULT_BOT_TOKEN, host: str = "127.0.0.1") -> None:
        self.token = token
        self.bot_id = token.split(":", 1)[0]
        self._host = host
        self.sent: list[ZaloSent] = []
        self.calls: list[tuple[str, JSON]] = []
        self.chat_actions: list[tuple[str, str]] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.fetch_photos = True
        self.n429 = 0
        self._updates: deque[JSON] = deque()
        self._known_chats: set[str] = set()
        self._blocked: set[str] = set()
        self._faults: dict[str, deque[_Fault]] = {}
        self._waiter = _Waiter()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._client: ClientSession | None = None
        self._closing = False
        self.cdn = _FileHost()
        self._handlers = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeZaloBot:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self.cdn.add_routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        self._closing = True
        self._waiter.notify()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeZaloBot:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        assert self._port is not None, "FakeZaloBot is not started"
        return f"http://{self._host}:{self._port}"

    def host_file(self, name: str, content: bytes) -> str:
        """The link Zalo gives for a file a person sent: served here until the test ends."""
        self.cdn.files[name] = content
        return f"{self.base_url}/cdn/{name}"

    def _http(self) -> ClientSession:
        if self._client is None:
            self._client = ClientSession(timeout=ClientTimeout(total=15))
        return self._client

    # ------------------------------------------------------------------ test side

    def texts_to(self, chat_id: str) -> list[str]:
        return [m.text for m in self.sent if m.chat_id == chat_id and m.text is not None]

    def sent_to(self, chat_id: str) -> list[ZaloSent]:
        return [m for m in self.sent if m.chat_id == chat_id]

    def calls_to(self, method: str) -> list[JSON]:
        return [params for name, params in self.calls if name == method]

    @property
    def pending_updates(self) -> list[JSON]:
        return list(self._updates)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self._waiter.until(predicate, timeout)

    def fail_next(
        self,
        method: str,
        kind: FaultKind,
        *,
        times: int = 1,
        retry_after: int = 1,
        delay: float = 0.0,
        after: int = 0,
    ) -> None:
        """The next ``times`` calls of ``method`` (once ``after`` calls succeeded) fail."""
        fault = _Fault(kind, times, retry_after, delay, after)
        self._faults.setdefault(method, deque()).append(fault)

    def block_chat(self, chat_id: str) -> None:
        self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: str) -> None:
        self._blocked.discard(chat_id)

    # ------------------------------------------------------------------ updates

    def _message(self, chat_id: str, **fields: Any) -> JSON:
        self._known_chats.add(chat_id)
        return {
            "message_id": _hex_id(),
            "date": int(time.time() * 1000),
            "chat": {"id": chat_id, "chat_type": fields.pop("chat_type", "PRIVATE")},
            "from": {"id": chat_id, "display_name": "Người dùng thử", "is_bot": False},
            **fields,
        }

    def user_text(self, chat_id: str, text: str) -> JSON:
        return {"event_name": "message.text.received", "message": self._message(chat_id, text=text)}

    def user_image(self, chat_id: str, url: str, caption: str | None = None) -> JSON:
        fields: JSON = {"photo_url": url}
        if caption:
            fields["caption"] = caption
        return {"event_name": "message.image.received", "message": self._message(chat_id, **fields)}

    def user_sticker(self, chat_id: str) -> JSON:
        fields = {"sticker": "0e078a2fb66a5f34067b", "url": "https://stickers.zaloapp.com/x"}
        return {
            "event_name": "message.sticker.received",
            "message": self._message(chat_id, **fields),
        }

    def unsupported(self, chat_id: str) -> JSON:
        return {"event_name": "message.unsupported.received", "message": self._message(chat_id)}

    def group_text(self, group_id: str, text: str) -> JSON:
        message = self._message(group_id, text=text, chat_type="GROUP")
        return {"event_name": "message.text.received", "message": message}

    def inject(self, update: JSON) -> None:
        """Queue an update for getUpdates."""
        self._updates.append(update)
        self._waiter.notify()

    async def post_webhook(
        self, update: JSON, *, secret: str | Literal[True] | None = True, envelope: bool = True
    ) -> int:
        """POST an update to the registered webhook as Zalo would; returns the HTTP status.

        ``envelope`` wraps it as the documentation shows: ``{"ok": true, "result": ...}``.
        """
        assert self.webhook_url, "no webhook set"
        headers = {}
        token = self.webhook_secret if secret is True else secret
        if token is not None:
            headers[BOT_SECRET_HEADER] = token
        body = {"ok": True, "result": update} if envelope else update
        async with self._http().post(self.webhook_url, json=body, headers=headers) as response:
            await response.read()
            return response.status

    # ------------------------------------------------------------------ the API

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        try:
            params = await request.json() if request.can_read_body else {}
        except ValueError:
            return self._error(400, "Bad Request: body is not JSON")
        if not isinstance(params, dict):
            return self._error(400, "Bad Request: body is not an object")
        self.calls.append((method, params))
        self._waiter.notify()
        handler = self._handlers.get(method)
        if handler is None:
            return self._error(404, f"Not Found: method {method}")
        fault = self._take_fault(method)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.kind == "429":
                self.n429 += 1
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": "Too Many Requests",
                        "parameters": {"retry_after": fault.retry_after},
                    },
                    status=429,
                )
            if fault.kind == "500":
                return self._error(500, "Internal Server Error")
            if fault.kind == "403":
                return self._error(403, "Forbidden")
            if fault.kind == "400":
                return self._error(400, "Bad Request")
        try:
            result = await handler(params)
        except _ApiError as error:
            return self._error(error.code, error.description)
        return web.json_response({"ok": True, "result": result})

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        if fault.skip > 0:
            fault.skip -= 1
            return None
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    @staticmethod
    def _error(code: int, description: str) -> web.Response:
        body = {"ok": False, "error_code": code, "description": description}
        return web.json_response(body, status=code)

    async def _get_me(self, params: JSON) -> JSON:
        return {
            "id": self.bot_id,
            "account_name": "bot.GiamNgheoTest",
            "account_type": "BASIC",
            "can_join_groups": False,
        }

    async def _get_updates(self, params: JSON) -> JSON:
        if self.webhook_url:
            raise _ApiError(400, "Bad Request: getUpdates is not available while a webhook is set")
        timeout = params.get("timeout", "30")
        if not isinstance(timeout, str | int) or not str(timeout).isdigit():
            raise _ApiError(400, "Bad Request: timeout must be a number of seconds")
        with contextlib.suppress(TimeoutError):
            await self._waiter.until(lambda: bool(self._updates) or self._closing, int(timeout))
        if not self._updates:
            raise _ApiError(408, "Request Timeout")
        return self._updates.popleft()  # one update per call, gone once handed out

    async def _set_webhook(self, params: JSON) -> JSON:
        url, secret = params.get("url"), params.get("secret_token")
        if not isinstance(url, str) or not url:
            raise _ApiError(400, "Bad Request: url is required")
        parts = urlsplit(url)
        loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")
        if parts.scheme != "https" and not loopback:
            raise _ApiError(400, "Bad Request: url must be HTTPS")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            raise _ApiError(400, "Bad Request: secret_token must be 8 to 256 characters")
        self.webhook_url, self.webhook_secret = url, secret
        return {"url": url, "updated_at": int(time.time() * 1000)}

    async def _delete_webhook(self, params: JSON) -> JSON:
        self.webhook_url = self.webhook_secret = None
        return {"url": "", "updated_at": int(time.time() * 1000)}

    async def _get_webhook_info(self, params: JSON) -> JSON:
        return {"url": self.webhook_url or "", "updated_at": int(time.time() * 1000)}

    def _chat(self, params: JSON) -> str:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, str) or not chat_id:
            raise _ApiError(400, "Bad Request: chat_id is required")
        if chat_id in self._blocked:
            raise _ApiError(403, "Forbidden: the user blocked the bot")
        if chat_id not in self._known_chats:
            raise _ApiError(400, "Bad Request: chat not found")
        return chat_id

    @staticmethod
    def _text(value: Any, name: str, required: bool = True) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or not 1 <= len(value) <= _MAX_TEXT:
            raise _ApiError(400, f"Bad Request: {name} must be 1 to {_MAX_TEXT} characters")
        return value

    def _record(self, sent: ZaloSent) -> JSON:
        sent.message_id = _hex_id()
        self.sent.append(sent)
        self._waiter.notify()
        return {"message_id": sent.message_id, "date": int(time.time() * 1000)}

    async def _send_message(self, params: JSON) -> JSON:
        chat_id = self._chat(params)
        text = self._text(params.get("text"), "text")
        return self._record(ZaloSent("sendMessage", chat_id, text, params))

    async def _send_photo(self, params: JSON) -> JSON:
        chat_id = self._chat(params)
        photo = params.get("photo")
        if not isinstance(photo, str) or not photo.startswith(("http://", "https://")):
            raise _ApiError(400, "Bad Request: photo must be a URL")
        caption = self._text(params.get("caption"), "caption", required=False)
        data = None
        if self.fetch_photos:  # Zalo downloads the picture from the URL it is given
            async with self._http().get(photo) as response:
                if response.status != 200:
                    raise _ApiError(400, "Bad Request: the photo URL could not be fetched")
                data = await response.read()
        sent = ZaloSent("sendPhoto", chat_id, None, params, photo, caption, data)
        return self._record(sent)

    async def _send_chat_action(self, params: JSON) -> JSON:
        chat_id = self._chat(params)
        action = params.get("action")
        if action not in _CHAT_ACTIONS:
            raise _ApiError(400, "Bad Request: unknown action")
        self.chat_actions.append((chat_id, str(action)))
        return {}


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


# --------------------------------------------------------------------------- Official Account


@dataclass
class OASent:
    user_id: str
    text: str
    access_token: str


@dataclass
class _Person:
    last_message: float = 0.0  # time.time() of their last message
    sent_since: int = 0


@dataclass
class _OAState:
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)


class FakeZaloOA:
    """Fake OA API v3 and OA token endpoint on 127.0.0.1; one base URL serves both."""

    WINDOW_HOURS: Final = 48.0
    WINDOW_MESSAGES: Final = 8

    def __init__(
        self,
        app_id: str = "2553928453557884079",
        oa_id: str = "3662729599332560487",
        oa_secret_key: str = "FakeOASecretKey_0123456789",
        app_secret: str = "FakeAppSecret_0123456789",
        host: str = "127.0.0.1",
    ) -> None:
        self.app_id = app_id
        self.oa_id = oa_id
        self.oa_secret_key = oa_secret_key
        self.app_secret = app_secret
        self._host = host
        self.sent: list[OASent] = []
        self.cs_calls = 0
        self.refresh_calls = 0
        self.refusals: list[JSON] = []
        self._state = _OAState()
        self.access_token, self.refresh_token = self._issue()
        self._people: dict[str, _Person] = {}
        self._faults: deque[_Fault] = deque()
        self._refuse_refresh = False
        self._waiter = _Waiter()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._client: ClientSession | None = None
        self.cdn = _FileHost()

    async def start(self) -> FakeZaloOA:
        app = web.Application()
        app.router.add_post("/v3.0/oa/message/cs", self._cs)
        app.router.add_post("/v4/oa/access_token", self._access_token)
        self.cdn.add_routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeZaloOA:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        assert self._port is not None, "FakeZaloOA is not started"
        return f"http://{self._host}:{self._port}"

    def host_file(self, name: str, content: bytes) -> str:
        """The link Zalo gives for a file a person sent: served here until the test ends."""
        self.cdn.files[name] = content
        return f"{self.base_url}/cdn/{name}"

    # ------------------------------------------------------------------ test side

    def texts_to(self, user_id: str) -> list[str]:
        return [m.text for m in self.sent if m.user_id == user_id]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self._waiter.until(predicate, timeout)

    def expire_access_tokens(self) -> None:
        """Every access token handed out so far stops working (as after 25 hours)."""
        self._state.access_tokens.clear()

    def refuse_refresh(self, refuse: bool = True) -> None:
        """The token endpoint refuses every refresh token (spent, expired, revoked)."""
        self._refuse_refresh = refuse

    def fail_next(self, kind: FaultKind, *, times: int = 1, delay: float = 0.0) -> None:
        self._faults.append(_Fault(kind, times, 0, delay))

    def age_person(self, user_id: str, hours: float) -> None:
        """As if the person's last message was ``hours`` ago."""
        self._people.setdefault(user_id, _Person()).last_message = time.time() - hours * 3600

    def _issue(self) -> tuple[str, str]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._state.access_tokens.add(access)
        self._state.refresh_tokens.add(refresh)
        return access, refresh

    # ------------------------------------------------------------------ webhook events

    def _event(self, name: str, user_id: str, **fields: Any) -> JSON:
        return {
            "app_id": self.app_id,
            "user_id_by_app": f"9{user_id[-17:]}",
            "event_name": name,
            "timestamp": str(int(time.time() * 1000)),
            **fields,
        }

    def user_text(self, user_id: str, text: str) -> JSON:
        return self._event(
            "user_send_text",
            user_id,
            sender={"id": user_id},
            recipient={"id": self.oa_id},
            message={"text": text, "msg_id": _hex_id()},
        )

    def user_image(self, user_id: str, url: str) -> JSON:
        attachment = {"type": "image", "payload": {"thumbnail": url, "url": url}}
        return self._event(
            "user_send_image",
            user_id,
            sender={"id": user_id},
            recipient={"id": self.oa_id},
            message={"msg_id": _hex_id(), "attachments": [attachment]},
        )

    def user_file(self, user_id: str, url: str, name: str, size: int) -> JSON:
        checksum = hashlib.md5(url.encode()).hexdigest()
        payload = {"url": url, "name": name, "size": size, "checksum": checksum}
        return self._event(
            "user_send_file",
            user_id,
            sender={"id": user_id},
            recipient={"id": self.oa_id},
            message={"msg_id": _hex_id(), "attachments": [{"type": "file", "payload": payload}]},
        )

    def user_sticker(self, user_id: str) -> JSON:
        attachment = {"type": "sticker", "payload": {"id": "abc", "url": "https://zalo.me/s"}}
        return self._event(
            "user_send_sticker",
            user_id,
            sender={"id": user_id},
            recipient={"id": self.oa_id},
            message={"msg_id": _hex_id(), "attachments": [attachment]},
        )

    def follow(self, user_id: str, follow: bool = True) -> JSON:
        return self._event(
            "follow" if follow else "unfollow",
            user_id,
            oa_id=self.oa_id,
            follower={"id": user_id},
            source="testing",
        )

    def signature(self, body: str, event: JSON) -> str:
        raw = f"{event['app_id']}{body}{event['timestamp']}{self.oa_secret_key}"
        return "mac=" + hashlib.sha256(raw.encode()).hexdigest()

    async def post_event(
        self, url: str, event: JSON, *, signature: str | Literal[True] | None = True
    ) -> int:
        """POST a signed event to the bot's webhook as Zalo would; returns the HTTP status."""
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        if str(event.get("event_name", "")).startswith("user_send_"):
            sender = event["sender"]["id"]
            person = self._people.setdefault(sender, _Person())
            person.last_message, person.sent_since = time.time(), 0
        headers = {"Content-Type": "application/json"}
        mac = self.signature(body, event) if signature is True else signature
        if mac is not None:
            headers[OA_SIGNATURE_HEADER] = mac
        if self._client is None:
            self._client = ClientSession(timeout=ClientTimeout(total=15))
        async with self._client.post(url, data=body.encode(), headers=headers) as response:
            await response.read()
            return response.status

    # ------------------------------------------------------------------ the API

    async def _cs(self, request: web.Request) -> web.Response:
        self.cs_calls += 1
        self._waiter.notify()
        if self._faults:
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.popleft()
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.kind == "500":
                return web.Response(status=502, text="Bad Gateway")
            if fault.kind == "429":
                return self._refuse(-32, "The request exceeded the rate limit")
            if fault.kind == "403":
                return self._refuse(-213, "User has not followed the OA")
            if fault.kind == "400":
                return self._refuse(-201, "Parameters are invalid")
        token = request.headers.get("access_token", "")
        if token not in self._state.access_tokens:
            return self._refuse(-216, "Access token is invalid")
        try:
            body = await request.json()
        except ValueError:
            return self._refuse(-201, "Body is not JSON")
        recipient = (body.get("recipient") or {}).get("user_id")
        text = (body.get("message") or {}).get("text")
        if not isinstance(recipient, str) or not recipient:
            return self._refuse(-201, "recipient.user_id is required")
        if not isinstance(text, str) or not 1 <= len(text) <= _MAX_TEXT:
            return self._refuse(-201, f"text must be 1 to {_MAX_TEXT} characters")
        person = self._people.get(recipient)
        age = time.time() - person.last_message if person else float("inf")
        if person is None or age > self.WINDOW_HOURS * 3600:
            return self._refuse(-230, "User has not interacted with the OA in the reply window")
        if person.sent_since >= self.WINDOW_MESSAGES:
            return self._refuse(-230, "Consultation quota of the reply window is used up")
        person.sent_since += 1
        self.sent.append(OASent(recipient, text, token))
        self._waiter.notify()
        return web.json_response(
            {
                "data": {
                    "message_id": _hex_id(),
                    "user_id": recipient,
                    "quota": {
                        "quota_type": "reply",
                        "remain": str(self.WINDOW_MESSAGES - person.sent_since),
                        "total": str(self.WINDOW_MESSAGES),
                    },
                },
                "error": 0,
                "message": "Success",
            }
        )

    def _refuse(self, error: int, message: str) -> web.Response:
        body = {"error": error, "message": message}
        self.refusals.append(body)
        self._waiter.notify()
        return web.json_response(body)

    async def _access_token(self, request: web.Request) -> web.Response:
        self.refresh_calls += 1
        self._waiter.notify()
        form = await request.post()
        refresh = str(form.get("refresh_token") or "")
        if request.headers.get("secret_key") != self.app_secret:
            return self._oauth_error(-14002, "Invalid secret key")
        if form.get("app_id") != self.app_id:
            return self._oauth_error(-14001, "Invalid app id")
        if form.get("grant_type") != "refresh_token":
            return self._oauth_error(-14003, "Invalid grant type")
        if self._refuse_refresh or refresh not in self._state.refresh_tokens:
            return self._oauth_error(-14014, "Invalid refresh token")
        self._state.refresh_tokens.discard(refresh)  # single use
        self.access_token, self.refresh_token = self._issue()
        return web.json_response(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_in": "90000",
            }
        )

    @staticmethod
    def _oauth_error(error: int, name: str) -> web.Response:
        return web.json_response(
            {
                "error": error,
                "error_name": name,
                "error_reason": name,
                "ref_doc": "https://developers.zalo.me/docs/official-account",
                "error_description": name,
            }
        )
