"""`python -m bot run` as an operator starts it: fresh database, default tree, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parent.parent


async def _wait_healthy(
    http: aiohttp.ClientSession, base: str, process: asyncio.subprocess.Process
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.returncode is None, "the bot exited during start-up"
        try:
            async with http.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("the bot did not answer /healthz within 60 s")


async def test_run_starts_on_a_fresh_sqlite_file_with_places_to_choose(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        "DATA_DIR": str(tmp_path),
        "WEB_PORT": str(port),
    }
    env.pop("TELEGRAM_BOT_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await _wait_healthy(http, base, process)
            steps = [
                {"text": "/start"},
                {"payload": "lang:vi"},
                {"payload": "consent:yes"},
                {"payload": "role:household"},
            ]
            body: dict[str, list[dict[str, list[dict[str, str]]]]] = {}
            for number, step in enumerate(steps):
                payload = {"sender": "operator", "message_id": f"s{number}", **step}
                async with http.post(f"{base}/api/chat", json=payload) as response:
                    body = await response.json()
            titles = [b["title"] for r in body["replies"] for b in r["buttons"]]
            assert "Phường Phan Thiết" in titles
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, output.decode()
    assert "org units seeded" in output.decode()
    assert (tmp_path / "bot.db").exists()
