"""OUTBOX_SENDER=process: `run` starts `python -m bot sender` as its child and keeps it going.

The same split as OUTBOX_SENDER=external (`run` records and queues, the sender process sends
on another core), with one command to start, stop and supervise. The child gets every setting
`run` has, spelled out in its environment, so both agree also on settings given in code;
it stops when `run` stops, and stops by itself if `run` dies without stopping it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from bot.settings import Settings

__all__ = ["PARENT_PID", "child_environment", "supervise_sender"]

log = logging.getLogger(__name__)

# The child watches for its parent's exit through this variable (bot/sender_process.py).
PARENT_PID = "GIAMNGHEO_SENDER_PARENT_PID"
_ROOT = Path(__file__).resolve().parents[1]
_RESTART_FIRST = 1.0
_RESTART_MAX = 30.0
# A child that ran this long was healthy: its next restart starts from the first delay.
_HEALTHY_SECONDS = 60.0
# SIGTERM lets the sender finish requests in flight and give its claims back.
_STOP_GRACE_SECONDS = 10.0
_NOTHING_TO_SEND = 2  # `python -m bot sender`'s exit code when no channel is configured


def child_environment(settings: Settings) -> dict[str, str]:
    """This process's environment with every setting of ``settings`` written out."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[name.upper()] = str(value)
    env["OUTBOX_SENDER"] = "external"  # the child sends; it must not start a child itself
    env[PARENT_PID] = str(os.getpid())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    return env


async def supervise_sender(settings: Settings) -> None:
    """Run the sender process until cancelled, starting it again whenever it ends."""
    delay = _RESTART_FIRST
    while True:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "sender", env=child_environment(settings)
        )
        log.info("outbox sender process %s started", child.pid)
        started = time.monotonic()
        try:
            code = await child.wait()
        except asyncio.CancelledError:
            await _stop(child)
            raise
        if code == _NOTHING_TO_SEND:
            log.error("the outbox sender process has no channel to send on; not restarted")
            return
        if time.monotonic() - started >= _HEALTHY_SECONDS:
            delay = _RESTART_FIRST
        log.warning(
            "outbox sender process exited with %s; starting it again in %.0f s", code, delay
        )
        await asyncio.sleep(delay)
        delay = min(delay * 2, _RESTART_MAX)


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
