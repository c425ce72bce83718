"""The aiohttp application: the chat page and API, /healthz, and room for other channels."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from bot.channels.web import MAX_UPLOAD_BYTES, WebChannel
from bot.core.dispatcher import Dispatcher
from bot.core.services import Services
from bot.outbox import OutboxSender

__all__ = ["add_health_routes", "create_app"]

STATIC = Path(__file__).parent / "static"
SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
SENDER: web.AppKey[OutboxSender] = web.AppKey("sender", OutboxSender)


async def _index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def _healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if await services.db.ping():
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "database unreachable"}, status=503)


async def _metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    sender = request.app.get(SENDER)
    queued = await sender.queue_length() if sender is not None else 0
    body = services.metrics.render(queued)
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


@web.middleware
async def _security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'",
    )
    return response


def add_health_routes(app: web.Application) -> None:
    """/healthz and /metrics, read from the app's SERVICES (and SENDER when it has one)."""
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)


def create_app(services: Services, dispatcher: Dispatcher) -> web.Application:
    # Base64 inflates a 5 MB upload by a third; leave room for the JSON around it.
    app = web.Application(client_max_size=MAX_UPLOAD_BYTES * 2, middlewares=[_security_headers])
    app[SERVICES] = services
    app.router.add_get("/", _index)
    add_health_routes(app)
    app.router.add_static("/static", STATIC)
    WebChannel(services, dispatcher).add_routes(app)
    return app
