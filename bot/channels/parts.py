"""Replies sent in several parts: a retry after a failed later part skips those accepted."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.core.messages import Reply

__all__ = ["PartProgress", "Step"]

Step = Callable[[], Awaitable[Any]]


class PartProgress:
    """Parts of a reply already accepted, so a retry after a failed later part does not
    send them again (in memory, by chat and content, until the reply is complete)."""

    def __init__(self, limit: int = 1000) -> None:
        self._done: OrderedDict[str, int] = OrderedDict()
        self._limit = limit

    @staticmethod
    def key(chat_id: str, reply: Reply) -> str:
        digest = json.dumps(reply.to_json(), sort_keys=True, ensure_ascii=False)
        return f"{chat_id}:{hashlib.sha256(digest.encode()).hexdigest()}"

    def done(self, key: str) -> int:
        return self._done.get(key, 0)

    def advance(self, key: str, count: int) -> None:
        self._done[key] = count
        self._done.move_to_end(key)
        while len(self._done) > self._limit:
            self._done.popitem(last=False)

    def finish(self, key: str) -> None:
        self._done.pop(key, None)

    async def send(self, chat_id: str, reply: Reply, steps: Sequence[Step]) -> None:
        """Run the steps not yet accepted, in order; a failure raises and is remembered."""
        if len(steps) == 1:
            await steps[0]()  # nothing to skip on a retry: no need to remember it
            return
        key = self.key(chat_id, reply)
        for index in range(self.done(key), len(steps)):
            await steps[index]()
            self.advance(key, index + 1)
        self.finish(key)
