"""Wiring the Zalo channels that settings enable into the web app and the sender.

`bot.app.enabled_channels` calls `zalo_runtimes` next to Telegram's::

    channels.extend(zalo_runtimes(services, dispatcher, app))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.core.dispatcher import Dispatcher
from bot.core.services import Services

if TYPE_CHECKING:
    from bot.app import ChannelRuntime

__all__ = ["zalo_runtimes"]


def zalo_runtimes(
    services: Services, dispatcher: Dispatcher, web_app: web.Application
) -> list[ChannelRuntime]:
    """The Zalo Bot Platform (ZALO_BOT_TOKEN) and the Official Account (ZALO_OA_APP_ID with a
    token), each with its delivery for the outbox and its background loops."""
    # Imported here: bot.app imports this module, and aiohttp-only code stays unloaded
    # when Zalo is not configured.
    from bot.app import ChannelRuntime
    from bot.channels.zalo_render import FileLinks

    settings = services.settings
    runtimes: list[ChannelRuntime] = []
    if not (settings.zalo_bot_token or settings.zalo_oa_enabled):
        return runtimes
    files = FileLinks(
        services.db, settings.zalo_files_base_url, settings.zalo_file_link_hours, services.clock
    )
    files.add_routes(web_app)
    if settings.zalo_bot_token:
        from bot.channels.zalo_bot import ZaloBotChannel

        bot = ZaloBotChannel(services, dispatcher, files)
        bot.add_routes(web_app)
        runtimes.append(ChannelRuntime(bot.delivery, bot.background()))
    if settings.zalo_oa_enabled:
        from bot.channels.zalo_oa import ZaloOAChannel

        oa = ZaloOAChannel(services, dispatcher, files)
        oa.add_routes(web_app)
        runtimes.append(ChannelRuntime(oa.delivery, oa.background()))
    return runtimes
