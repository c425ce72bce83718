"""OUTBOX_SENDER=process: `run` starts `python -m bot sender` as its child and keeps it going.

The same split as OUTBOX_SENDER=external (`run` records and queues, the sender process sends
on another core), with one command to start, stop and supervise. The child gets every setting
`run` has, spelled out in its environment, so both agree also on settings given in code.
Its standard input is a pipe from `run`: a byte on it means "messages were queued, look now"
(SQLite has no NOTIFY), and its end means `run` is gone, even killed without a word, so the
child stops too and a restarted `run` never finds an old sender still sending.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from bot.metrics import Metrics
from bot.settings import Settings

__all__ = ["PARENT_PID", "SenderChild", "child_environment", "settings_environment"]

log = logging.getLogger(__name__)

# Set in the child's environment: its standard input is `run`'s pipe (bot/sender_process.py).
PARENT_PID = "GIAMNGHEO_SENDER_PARENT_PID"
_ROOT = Path(__file__).resolve().parents[1]
_RESTART_FIRST = 1.0
_RESTART_MAX = 30.0
# A child that ran this long was healthy: its next restart starts from the first delay.
_HEALTHY_SECONDS = 60.0
# SIGTERM lets the sender finish requests in flight and give its claims back.
_STOP_GRACE_SECONDS = 10.0
_NOTHING_TO_SEND = 2  # `python -m bot sender`'s exit code when no channel is configured


def settings_environment(settings: Settings) -> dict[str, str]:
    """This process's environment with every setting of ``settings`` written out, for a
    `python -m bot` command started from here to read the same settings."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[name.upper()] = str(value)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    return env


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment of the sender process `run` starts."""
    env = settings_environment(settings)
    env["OUTBOX_SENDER"] = "external"  # the child sends; it must not start a child itself
    env[PARENT_PID] = str(os.getpid())
    return env


class SenderChild:
    """The sender process of this `run`: :meth:`run` keeps one going, :meth:`wake` nudges it."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._child: asyncio.subprocess.Process | None = None

    def wake(self) -> None:
        """Messages were queued: tell the child to look now rather than at its next poll."""
        pipe = self._child.stdin if self._child is not None else None
        if pipe is None or pipe.is_closing():
            return  # between two children: the next one looks at the outbox when it starts
        # A wake not read yet already says it all: a stalled child costs no memory here.
        if pipe.transport.get_write_buffer_size() == 0:
            pipe.write(b"\n")

    async def run(self) -> None:
        """Run the sender process until cancelled, starting it again whenever it ends."""
        delay = _RESTART_FIRST
        while True:
            started = time.monotonic()
            code = await self._run_once()
            if code == _NOTHING_TO_SEND:
                log.error("the outbox sender process has no channel to send on; not restarted")
                return
            if time.monotonic() - started >= _HEALTHY_SECONDS:
                delay = _RESTART_FIRST
            log.warning(
                "outbox sender process exited with %s; starting it again in %.0f s", code, delay
            )
            self.metrics.sender_process_restarts.inc()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RESTART_MAX)

    async def _run_once(self) -> int:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "sender",
            stdin=asyncio.subprocess.PIPE,
            env=child_environment(self.settings),
        )
        self._child = child
        self.metrics.sender_process_up.set(1)
        log.info("outbox sender process %s started", child.pid)
        try:
            return await child.wait()
        except asyncio.CancelledError:
            await _stop(child)
            raise
        finally:
            self._child = None
            self.metrics.sender_process_up.set(0)


async def _stop(child: asyncio.subprocess.Process) -> None:
    if child.returncode is not None:
        return
    child.terminate()
    try:
        async with asyncio.timeout(_STOP_GRACE_SECONDS):
            await child.wait()
    except TimeoutError:
        log.warning("outbox sender process %s did not stop; killed", child.pid)
        child.kill()
        await child.wait()
