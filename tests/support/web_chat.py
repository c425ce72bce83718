"""A person in the web chat, talking to the real server over HTTP."""

from __future__ import annotations

import base64
import itertools
import mimetypes
from typing import Any

import aiohttp

from tests.support.transcripts import Reply

__all__ = ["WebChat"]

_ids = itertools.count(1)


class WebChat:
    def __init__(self, base_url: str, sender: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.sender = sender
        self.session = session

    async def post(self, body: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
        body = {"sender": self.sender, "message_id": message_id or f"m{next(_ids)}", **body}
        async with self.session.post(f"{self.base_url}/api/chat", json=body) as response:
            data: dict[str, Any] = await response.json()
            data["_status"] = response.status
            return data

    @staticmethod
    def replies(data: dict[str, Any]) -> list[Reply]:
        return [
            Reply(
                r["text"],
                [(b["title"], b["payload"]) for b in r.get("buttons", [])],
                r.get("attachment"),
            )
            for r in data.get("replies", [])
        ]

    async def send_text(self, text: str) -> list[Reply]:
        return self.replies(await self.post({"text": text}))

    async def send_payload(self, payload: str) -> list[Reply]:
        return self.replies(await self.post({"payload": payload}))

    async def inbox(self) -> list[Reply]:
        return await self.poll()

    async def send_file(self, filename: str) -> list[Reply]:
        mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        content = base64.b64encode(f"%PDF-1.4 {filename}\n%%EOF\n".encode()).decode()
        attachment = {"filename": filename, "mime_type": mime, "content_b64": content}
        return self.replies(await self.post({"attachment": attachment}))

    async def poll(self) -> list[Reply]:
        url = f"{self.base_url}/api/chat/poll"
        async with self.session.get(url, params={"sender": self.sender}) as response:
            return self.replies(await response.json())
