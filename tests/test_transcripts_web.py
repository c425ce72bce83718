"""The golden conversations, driven through the web chat API of the real server."""

from __future__ import annotations

import aiohttp
import pytest

from bot.settings import Settings
from tests.support.server import start_bot
from tests.support.setup import prepare
from tests.support.transcripts import Transcript, load_transcripts, run_transcript
from tests.support.web_chat import WebChat

TRANSCRIPTS = load_transcripts()


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=[t.path.stem for t in TRANSCRIPTS])
async def test_transcript_over_web_chat(
    transcript: Transcript, settings: Settings, http: aiohttp.ClientSession
) -> None:
    names = {**await prepare(settings.database_url, transcript.setup), "channel": "Web"}
    running = await start_bot(settings)
    try:

        def chat_for(person: str) -> WebChat:
            return WebChat(running.url, f"web-{transcript.path.stem}-{person}", http)

        await run_transcript(chat_for, transcript, names)
    finally:
        await running.stop()
