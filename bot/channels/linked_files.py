"""Files that reach us as a link (Zalo's photos and documents), fetched at once and kept.

Zalo gives a file as a link to its servers, and such links expire. A signed page a village
head sends on Zalo must still open for the council weeks later, on the web chat or on
Telegram: so it is downloaded when it arrives and kept under DATA_DIR/uploads, named per
channel and person like Telegram's (bot/uploads.py), and /delete erases it. If it cannot
be fetched, the link is kept instead, as before. Links are never logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import aiohttp

from bot.core.messages import Incoming
from bot.uploads import Uploads

__all__ = ["MAX_KEPT_BYTES", "LinkedFiles", "kept"]

log = logging.getLogger(__name__)

# A scan or a phone photo is a few megabytes; a link to more is not kept.
MAX_KEPT_BYTES = 25 * 1024 * 1024
_CHUNK = 64 * 1024


class _NotKept(Exception):
    """The file was answered with an error or is larger than we keep."""


async def kept(uploads: Uploads, channel: str, incoming: Incoming, content: bytes) -> Incoming:
    """The update with its attachment stored, and its reference pointing at the stored copy."""
    file = incoming.attachment
    assert file is not None
    ref = await asyncio.to_thread(uploads.save, incoming.sender_id, content, channel)
    return dataclasses.replace(incoming, attachment=dataclasses.replace(file, file_ref=ref))


class LinkedFiles:
    def __init__(
        self,
        data_dir: Path,
        channel: str,
        http: Callable[[], aiohttp.ClientSession],
        # Zalo's servers answer in well under a second; a webhook (the Bot Platform's) is
        # answered only after this, so a slow link is given up rather than waited for.
        seconds: float = 15.0,
        max_bytes: int = MAX_KEPT_BYTES,
    ) -> None:
        self.uploads = Uploads.under(data_dir)
        self.channel = channel
        self._http = http
        self._seconds = seconds
        self._max = max_bytes

    async def keep(self, incoming: Incoming) -> Incoming:
        """The update, its linked file (if any) fetched and kept; as it was if that fails."""
        file = incoming.attachment
        if file is None or not (file.file_ref or "").startswith(("https://", "http://")):
            return incoming
        assert file.file_ref is not None
        try:
            content = await self._fetch(file.file_ref)
        except (aiohttp.ClientError, TimeoutError, OSError, _NotKept) as error:
            # A client error's text may hold the link: only its kind is logged.
            reason = str(error) if isinstance(error, _NotKept) else type(error).__name__
            log.warning("a %s file was not kept (%s); its link is used", self.channel, reason)
            return incoming
        return await kept(self.uploads, self.channel, incoming, content)

    async def _fetch(self, url: str) -> bytes:
        budget = aiohttp.ClientTimeout(total=self._seconds)
        async with self._http().get(url, timeout=budget) as response:
            if response.status != 200:
                raise _NotKept(f"HTTP {response.status}")
            if (response.content_length or 0) > self._max:
                raise _NotKept("too large")
            parts: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > self._max:  # a server that did not say how long it was
                    raise _NotKept("too large")
                parts.append(chunk)
        return b"".join(parts)
