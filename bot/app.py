"""Putting the bot together and running it: migrations, catalogs, web chat, channels."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.core.dispatcher import Dispatcher
from bot.core.router import Router
from bot.core.services import Services
from bot.i18n import compile_catalogs
from bot.settings import Settings
from bot.storage.db import migrate_async
from bot.web.app import create_app

__all__ = ["BotApp", "build", "run"]

log = logging.getLogger(__name__)
# The composition root finds the journeys by name, so the core never imports a handler.
HANDLERS_MODULE = "handlers"


def load_router(module: str = HANDLERS_MODULE) -> Router:
    build_router: Callable[[], Router] = importlib.import_module(module).build_router
    return build_router()


@dataclass
class BotApp:
    services: Services
    dispatcher: Dispatcher
    web: web.Application
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)


def build(settings: Settings) -> BotApp:
    services = Services.create(settings)
    dispatcher = Dispatcher(services, load_router())
    return BotApp(services, dispatcher, create_app(services, dispatcher))


async def serve(app: BotApp, stop: asyncio.Event) -> None:
    settings = app.services.settings
    runner = web.AppRunner(app.web, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.web_host, settings.web_port)
    await site.start()
    log.info("web chat on http://%s:%s/", settings.web_host, settings.web_port)
    tasks = [asyncio.create_task(job()) for job in app.background]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()
        await app.services.db.close()


async def run(settings: Settings) -> None:
    compile_catalogs()
    await migrate_async(settings.database_url)
    app = build(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await serve(app, stop)
