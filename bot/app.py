"""Putting the bot together and running it: migrations, catalogs, web chat, channels."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.announcements import send_due
from bot.api import add_routes as add_api_routes
from bot.channels.zalo_runtime import zalo_runtimes
from bot.core.dispatcher import Dispatcher
from bot.core.router import Router
from bot.core.services import Services
from bot.i18n import compile_catalogs
from bot.logs import log_failure
from bot.orgtree import tree_version
from bot.orgunits import import_file
from bot.outbox import Delivery, OutboxSender, RateLimits
from bot.reminders import Reminders, reminder_config
from bot.scheduler import Scheduler
from bot.sender_child import SenderChild
from bot.settings import Settings
from bot.storage.db import migrate_async
from bot.web.app import SENDER, create_app
from bot.webhooks import install as install_webhooks
from bot.webhooks import sync_settings_endpoints, webhook_sender

__all__ = ["BotApp", "build", "keep_running", "run", "settle_memory", "warm_up"]

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
# The composition root finds the journeys by name, so the core never imports a handler.
HANDLERS_MODULE = "handlers"


@dataclass
class ChannelRuntime:
    """What a push channel adds: how to deliver, and the loops it runs (polling)."""

    delivery: Delivery
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)


def load_router(module: str = HANDLERS_MODULE) -> Router:
    build_router: Callable[[], Router] = importlib.import_module(module).build_router
    return build_router()


@dataclass
class BotApp:
    services: Services
    dispatcher: Dispatcher
    web: web.Application
    sender: OutboxSender
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    scheduler: Scheduler | None = None
    webhooks: OutboxSender | None = None


def rate_limits(settings: Settings) -> RateLimits:
    return RateLimits(
        per_second=settings.outbox_per_second,
        bulk_per_chat_per_second=settings.outbox_bulk_per_chat_per_second,
        group_per_minute=settings.outbox_group_per_minute,
        max_attempts=settings.outbox_max_attempts,
    )


def build(settings: Settings) -> BotApp:
    """Wire the core, the channels settings enable, and the sender that serves them."""
    services = Services.create(settings)
    dispatcher = Dispatcher(services, load_router())
    app = create_app(services, dispatcher)
    add_api_routes(app, services)
    deliveries: dict[str, Delivery] = {}
    background: list[Callable[[], Coroutine[Any, Any, None]]] = []
    for channel in enabled_channels(services, dispatcher, app):
        deliveries[channel.delivery.channel] = channel.delivery
        background.extend(channel.background)
    sender = OutboxSender(services.db, deliveries, rate_limits(settings), services.clock)
    sender.on_sent.append(services.metrics.on_sent)
    sender.on_failed.append(services.metrics.on_failed)
    sender.on_retry.append(services.metrics.on_retry)
    app[SENDER] = sender
    # Who is told that messages were queued: replies, reminders, announcements.
    wake = sender.wake
    if settings.outbox_sender in ("external", "process"):
        # `python -m bot sender` sends (bot/sender_process.py); this process only queues.
        dispatcher.announce = settings.database_url.startswith("postgresql")
        if settings.outbox_sender == "process" and deliveries:
            child = SenderChild(settings, services.metrics)  # started and told by us
            wake = child.wake
            background.append(child.run)
    else:
        dispatcher.handoff = sender
        if deliveries:
            background.append(sender.run)
    dispatcher.on_queued.append(wake)
    scheduler = build_scheduler(services, wake)
    if settings.reminders_enabled:
        background.append(scheduler.run)
    webhooks = build_webhooks(services, dispatcher, background)
    return BotApp(services, dispatcher, app, sender, background, scheduler, webhooks)


def build_webhooks(
    services: Services,
    dispatcher: Dispatcher,
    background: list[Callable[[], Coroutine[Any, Any, None]]],
) -> OutboxSender:
    """Submissions forwarded to other systems: queued in the same transaction, sent apart."""
    install_webhooks(services.db)
    sender = webhook_sender(services.db, services.vault, services.settings)
    dispatcher.on_queued.append(sender.wake)

    async def forward() -> None:
        try:
            await sync_settings_endpoints(services.db, services.vault, services.settings)
        except Exception as error:  # endpoints from settings wait; the others still go
            log_failure(log, "could not apply WEBHOOK_URLS", error)
        await run_until_cancelled(sender.run(idle_seconds=2.0))

    background.append(forward)
    return sender


async def run_until_cancelled(loop: Coroutine[Any, Any, None]) -> None:
    """Run a loop and make sure a cancellation stops it.

    OutboxSender.run waits with asyncio.wait_for, which on Python 3.11 can swallow a
    cancellation arriving as the sender is woken; cancel again until it is really done.
    """
    task = asyncio.ensure_future(loop)
    try:
        # Shielded: our own cancellation must not wait for the loop to honour it.
        await asyncio.shield(task)
    finally:
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.5)


def build_scheduler(services: Services, wake: Callable[[], None]) -> Scheduler:
    """Reminders and timed announcements; a broken deadlines file stops start-up here.
    ``wake`` tells the sender that messages were queued."""
    settings = services.settings
    config = reminder_config(settings)
    reminders = Reminders(services.db, config, services.forms, services.clock)
    reminders.on_queued.append(wake)
    scheduler = Scheduler(interval=settings.scheduler_interval_seconds, clock=services.clock)
    scheduler.add("reminders", reminders.tick)

    async def announcements(now: datetime) -> int:
        sent = await send_due(
            services.db, now, config.quiet, settings.timezone, settings.default_locale
        )
        if sent:
            wake()
        return sent

    scheduler.add("announcements", announcements)
    return scheduler


def enabled_channels(
    services: Services, dispatcher: Dispatcher, app: web.Application
) -> list[ChannelRuntime]:
    """Push channels configured in settings (the web chat is always on and needs no sender)."""
    channels: list[ChannelRuntime] = []
    if services.settings.telegram_bot_token:
        # Imported here: aiogram is only loaded when Telegram is configured.
        from bot.channels.telegram import runtime_parts

        delivery, loops = runtime_parts(services, dispatcher, app)
        channels.append(ChannelRuntime(delivery, loops))
    channels.extend(zalo_runtimes(services, dispatcher, app))
    return channels


async def serve(app: BotApp, stop: asyncio.Event) -> None:
    settings = app.services.settings
    runner = web.AppRunner(app.web, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.web_host, settings.web_port)
    await site.start()
    log.info("web chat on http://%s:%s/", settings.web_host, settings.web_port)
    await keep_running(app, app.background, runner, stop)


async def keep_running(
    app: BotApp,
    jobs: list[Callable[[], Coroutine[Any, Any, None]]],
    runner: web.AppRunner | None,
    stop: asyncio.Event,
) -> None:
    """Run ``jobs`` until ``stop``; then cancel them, stop ``runner``, close the database."""
    tasks = [asyncio.create_task(job()) for job in jobs]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if runner is not None:
            await runner.cleanup()
        await app.services.db.close()


async def seed_orgunits(app: BotApp) -> None:
    """A fresh database gets the default tree; an existing tree is never touched."""
    seed = app.services.settings.orgunits_seed
    if not seed:
        return
    async with app.services.db.session() as session:
        if (await tree_version(session))[0] > 0:
            return
    path = Path(seed) if Path(seed).is_absolute() else ROOT / seed
    report = await import_file(app.services.db, path)
    log.info("org units seeded from %s: %s", path.name, report.summary())


async def warm_up(app: BotApp) -> None:
    """Load what the first update after a start would otherwise wait for (the org tree:
    8 ms of a rush's first batch), then settle memory with it in."""
    async with app.services.db.session() as session:
        await app.services.tree(session)
    settle_memory()


def settle_memory() -> None:
    """Put what start-up built (modules, forms, catalogs, the tree) out of the collector's way.

    They live as long as the process, yet every full collection walked them all again:
    benchmarks/telegram_updates.py measured 0.35 s of collector time in a rush of 400
    updates, 0.06 s with them frozen.
    """
    gc.collect()
    gc.freeze()


async def run(settings: Settings) -> None:
    compile_catalogs()
    await migrate_async(settings.database_url)
    app = build(settings)
    await seed_orgunits(app)
    await warm_up(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await serve(app, stop)
