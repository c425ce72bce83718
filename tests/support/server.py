"""The real bot, serving HTTP on 127.0.0.1, started and stopped the way `python -m bot run` does."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from aiohttp import web

from bot.app import BotApp, build
from bot.settings import Settings

__all__ = ["RunningBot", "free_port", "start_bot"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningBot:
    app: BotApp
    runner: web.AppRunner
    url: str

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.app.services.db.close()


async def start_bot(settings: Settings) -> RunningBot:
    app = build(settings)
    runner = web.AppRunner(app.web, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.web_host, settings.web_port)
    await site.start()
    tasks = [asyncio.create_task(job()) for job in app.background]
    running = RunningBot(app, runner, f"http://{settings.web_host}:{settings.web_port}")
    if tasks:
        original = running.stop

        async def stop() -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await original()

        running.stop = stop  # type: ignore[method-assign]
    return running
