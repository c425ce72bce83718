"""`python -m bot sender` as a child process, for OUTBOX_SENDER=external."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from bot.sender_child import settings_environment
from bot.settings import Settings

__all__ = ["ready", "sender_process", "start_sender"]


async def start_sender(
    settings: Settings, cwd: Path, *, capture: bool = False
) -> asyncio.subprocess.Process:
    """The sender with ``settings`` passed as its environment; ready when :func:`ready`.

    ``capture``: its standard error is kept for the test to read.
    """
    env = {
        **settings_environment(settings),
        "OUTBOX_SENDER": "external",
        "REMINDERS_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    if settings.telegram_bot_token is None:
        env["TELEGRAM_BOT_TOKEN"] = ""  # none from the caller's environment either
    # cwd: a directory without the project's .env, so only these settings count.
    stderr = asyncio.subprocess.PIPE if capture else None
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "sender", cwd=cwd, env=env, stderr=stderr
    )


async def ready(settings: Settings, child: asyncio.subprocess.Process | None = None) -> None:
    """Wait until the sender's /healthz answers (it serves it once it is sending); ``child``:
    the process, when this test started it, to stop waiting if it exits."""
    health = f"http://{settings.web_host}:{settings.sender_port}/healthz"
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(health) as response:
                    if response.status == 200:
                        return
            if child is not None and child.returncode is not None:
                raise RuntimeError(f"python -m bot sender exited with {child.returncode}")
            await asyncio.sleep(0.1)
    raise TimeoutError("python -m bot sender did not start within 60 s")


@contextlib.asynccontextmanager
async def sender_process(
    settings: Settings, cwd: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A running sender, stopped (SIGTERM) on the way out unless it is gone already."""
    child = await start_sender(settings, cwd)
    try:
        await ready(settings, child)
        yield child
    finally:
        if child.returncode is None:
            child.terminate()
        await child.wait()
