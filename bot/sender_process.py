"""`python -m bot sender`: the outbox sent by a process of its own (OUTBOX_SENDER=external,
or started by `run` itself with OUTBOX_SENDER=process: bot/sender_child.py).

One Python process has one core's worth of interpreter. When `python -m bot run` also sends,
receiving and sending share it; with OUTBOX_SENDER=external, `run` records updates and queues
replies while one or more sender processes send them on the other cores. The guarantees are
the outbox's own (bot/outbox.py): rows are claimed with a lease, "sending" is written before
each request, so senders may come, go or be killed and nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

from bot.app import BotApp, build, keep_running, settle_memory
from bot.logs import log_failure
from bot.outbox import WAKE_CHANNEL
from bot.sender_child import PARENT_PID
from bot.settings import Settings
from bot.storage.db import Database
from bot.web.app import SENDER, SERVICES, add_health_routes

__all__ = ["listen", "run_sender", "serve_sender"]

log = logging.getLogger(__name__)

# After a failure (the database away, the schema not there yet), try again this much later.
_RETRY_SECONDS = 5.0


async def run_sender(settings: Settings) -> int:
    """Send until SIGINT or SIGTERM; exit code 2 when no channel is configured to send on."""
    app = build(settings)
    if not app.sender.deliveries:
        log.error("nothing to send on: set TELEGRAM_BOT_TOKEN, ZALO_BOT_TOKEN or the Zalo OA keys")
        await app.services.db.close()
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await serve_sender(app, stop)
    return 0


async def serve_sender(app: BotApp, stop: asyncio.Event) -> None:
    """Run ``app``'s sender (and its health page when SENDER_PORT is set) until ``stop``."""
    settings = app.services.settings
    sender = app.sender
    jobs: list[Callable[[], Coroutine[Any, Any, None]]] = [
        lambda: _retrying(
            lambda: sender.run(idle_seconds=settings.outbox_poll_seconds),
            "outbox sender stopped; starting again",
        )
    ]
    if settings.database_url.startswith("postgresql"):
        jobs.append(lambda: listen(app.services.db, sender.wake))
    if os.environ.get(PARENT_PID):
        jobs.append(lambda: _follow_parent(sender.wake, stop))
    runner = await _health_page(app) if settings.sender_port else None
    settle_memory()
    log.info("outbox sender started for %s", ", ".join(sorted(sender.deliveries)))
    await keep_running(app, jobs, runner, stop)


async def _follow_parent(wake: Callable[[], None], stop: asyncio.Event) -> None:
    """Started by `run` (OUTBOX_SENDER=process, bot/sender_child.py): standard input is its
    pipe. A byte means messages were queued; the end of the pipe means `run` is gone."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        wake()
    log.warning("the process that started this sender is gone; stopping")
    stop.set()


async def listen(db: Database, wake: Callable[[], None]) -> None:
    """Wake the sender at each commit that queued replies (PostgreSQL LISTEN/NOTIFY).

    A lost connection is opened again; meanwhile the sender still looks every
    OUTBOX_POLL_SECONDS, so a notification missed costs time, not a message.
    """
    await _retrying(
        lambda: _listen_once(db, wake),
        "outbox notifications unavailable; the sender polls meanwhile",
    )


async def _retrying(work: Callable[[], Awaitable[None]], failure: str) -> None:
    """Run ``work`` again, _RETRY_SECONDS later, whenever it ends or fails."""
    while True:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log_failure(log, failure, error)
        await asyncio.sleep(_RETRY_SECONDS)


async def _listen_once(db: Database, wake: Callable[[], None]) -> None:
    """Listen on one connection until it closes."""
    lost = asyncio.Event()

    def notified(*_args: object) -> None:
        wake()

    def closed(*_args: object) -> None:
        lost.set()

    async with db.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        await driver.add_listener(WAKE_CHANNEL, notified)
        driver.add_termination_listener(closed)
        try:
            wake()  # rows queued while nobody was listening
            await lost.wait()
        finally:
            driver.remove_termination_listener(closed)
            if not driver.is_closed():
                await driver.remove_listener(WAKE_CHANNEL, notified)
    log.warning("outbox notifications lost; listening again")


async def _health_page(app: BotApp) -> web.AppRunner:
    settings = app.services.settings
    page = web.Application()
    page[SERVICES] = app.services
    page[SENDER] = app.sender
    add_health_routes(page)
    runner = web.AppRunner(page, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.web_host, settings.sender_port).start()
    log.info("sender health on http://%s:%s/healthz", settings.web_host, settings.sender_port)
    return runner
