"""The in-app scheduler: one loop that runs timed jobs (reminders, announcements) each tick.

No separate cron in embedded mode. The loop itself keeps no state: every job records what
it did in the database under a unique key, so a restart, a second worker or a clock that
jumps does neither repeat nor skip anything; the loop only decides how often to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.logs import log_failure
from bot.storage.models import utcnow

__all__ = ["Job", "Scheduler"]

log = logging.getLogger(__name__)

Job = Callable[[datetime], Awaitable[int]]


class Scheduler:
    def __init__(
        self,
        jobs: list[tuple[str, Job]] | None = None,
        interval: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.jobs: list[tuple[str, Job]] = list(jobs or [])
        self.interval = interval
        self.clock = clock
        self.ticks = 0
        self._wake = asyncio.Event()

    def add(self, name: str, job: Job) -> None:
        self.jobs.append((name, job))

    def wake(self) -> None:
        """Look now (an announcement was confirmed "now", a test moved the clock)."""
        self._wake.set()

    async def tick(self, now: datetime | None = None) -> int:
        """Run every job once for ``now``; a failing job is logged and the others still run."""
        now = now or self.clock()
        done = 0
        for name, job in self.jobs:
            try:
                done += await job(now)
            except Exception as error:
                log_failure(log, f"scheduled job {name} failed; next tick retries", error)
        self.ticks += 1
        return done

    async def run(self) -> None:
        while True:
            self._wake.clear()
            await self.tick()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the event is set, and the loop would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
