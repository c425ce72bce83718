"""The HTTP seam to the Bot API: aiogram's aiohttp session, posting our slim methods as JSON.

aiogram posts every method as a form: each field prepared through its models, then
percent-encoded byte by byte in Python, which for a Vietnamese reply cost a third of the
whole send. The Bot API takes a JSON body for any method without files, so the methods we
define ourselves (`JsonBodied`) are posted so, and their answers are read straight from the
bytes. Everything else, files included, goes aiogram's own way. Errors are read by aiogram's
`check_response`, so both ways raise the same exceptions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from aiogram import methods as api
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods.base import Response, TelegramMethod, TelegramType
from aiohttp import BytesPayload, ClientError, ClientTimeout
from pydantic import ValidationError

from bot.channels.telegram_types import JsonBodied, PollUpdates, SendText

if TYPE_CHECKING:
    from aiogram import Bot

__all__ = ["TelegramSession"]


class TelegramSession(AiohttpSession):
    def __init__(self, api: TelegramAPIServer, *, plain_http: bool = False) -> None:
        super().__init__(api=api)
        self._plain_http = plain_http

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        if not isinstance(method, JsonBodied):
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        body = BytesPayload(method.json_body(), content_type="application/json")
        try:
            seconds = self.timeout if timeout is None else timeout
            async with session.post(url, data=body, timeout=ClientTimeout(total=seconds)) as resp:
                raw = await resp.read()
        except TimeoutError as error:
            raise TelegramNetworkError(method=method, message="Request timeout error") from error
        except ClientError as error:
            message = f"{type(error).__name__}: {error}"
            raise TelegramNetworkError(method=method, message=message) from error
        if resp.status == 200:
            read = _read_answer(method, raw, bot)
            if read is not None and read.ok:
                return cast(TelegramType, read.result)
        # Refusals, and anything not as expected: aiogram's reading raises what it would.
        response = self.check_response(
            bot=bot, method=method, status_code=resp.status, content=raw.decode(errors="replace")
        )
        return cast(TelegramType, response.result)

    async def close(self) -> None:
        if self._plain_http and self._session is not None and not self._session.closed:
            # aiogram waits 250 ms on close for TLS connections to shut down; over plain
            # HTTP (a local Bot API server, or the tests' fake) there is nothing to wait for.
            await self._session.close()
            return
        await super().close()


# aiogram reads every answer as ``Response[T]``, and pydantic keeps such generic classes only
# weakly: after a garbage collection each is built again (about 20 ms of schema work, seen as
# a third of a rush's CPU time). Held here, each is built once per process; our own methods'
# are also looked up here rather than through pydantic's cache of generics on every answer.
_ANSWERS: dict[type[Any], type[Response[Any]]] = {
    method: Response[method.__returning__]  # type: ignore[name-defined]
    for method in (
        SendText,
        PollUpdates,
        api.AnswerCallbackQuery,
        api.DeleteWebhook,
        api.EditMessageText,
        api.GetFile,
        api.GetMe,
        api.SendDocument,
        api.SendPhoto,
        api.SetMyCommands,
        api.SetWebhook,
    )
}


def _read_answer(method: TelegramMethod[Any], raw: bytes, bot: Bot) -> Response[Any] | None:
    try:
        return _ANSWERS[type(method)].model_validate_json(raw, context={"bot": bot})
    except ValidationError:
        return None
