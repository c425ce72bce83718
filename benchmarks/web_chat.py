"""Latency of one form step and throughput of the web chat, through the real server over HTTP.

Starts `python -m bot run` in its own process (so the clients here do not share its event
loop) on a fresh SQLite file, or on --database-url, with the Lâm Đồng tree imported. Then N
people talk to it at once (at most --concurrency in flight): onboarding (/start, language,
consent, "household") and the place form (a commune button, then a village button). Every
request is timed; a "form step" is a request the form engine answers (the commune and the
village). The last line printed is JSON: {"p50_ms": .., "p95_ms": .., "steps_per_s": ..}.

    python benchmarks/web_chat.py            # 200 conversations
    python benchmarks/web_chat.py --fast     # 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.settings import Settings

REPO = Path(__file__).resolve().parent.parent
ORGUNITS = REPO / "rules" / "orgunits" / "lam_dong_2025.csv"


@dataclass
class Timings:
    form: list[float] = field(default_factory=list)
    other: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def server_env(database_url: str, port: int, data_dir: Path) -> dict[str, str]:
    # None of the caller's bot settings (a Telegram token would start polling).
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(
        DATABASE_URL=database_url,
        WEB_HOST="127.0.0.1",
        WEB_PORT=str(port),
        DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
    )
    return env


def prepare(env: dict[str, str], cwd: Path) -> None:
    """Migrate and import the tree with the bot's own command line."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", "orgunits", "import", str(ORGUNITS)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"importing the org units failed:\n{done.stderr}")


async def wait_healthy(
    http: aiohttp.ClientSession, base: str, server: subprocess.Popen[str]
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the bot exited with {server.returncode}")
        try:
            async with http.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the bot did not answer /healthz within 60 s")


async def conversation(
    http: aiohttp.ClientSession, base: str, number: int, run_id: str, timings: Timings
) -> None:
    sender = f"bench-{run_id}-{number}"
    counter = 0

    async def say(body: dict[str, Any], *, form: bool) -> list[dict[str, Any]]:
        nonlocal counter
        counter += 1
        message = {"sender": sender, "message_id": f"{sender}-{counter}", **body}
        started = time.perf_counter()
        async with http.post(f"{base}/api/chat", json=message) as response:
            data = await response.json()
            status = response.status
        elapsed = time.perf_counter() - started
        (timings.form if form else timings.other).append(elapsed)
        if status != 200:
            raise RuntimeError(f"{sender}: HTTP {status}: {data}")
        replies: list[dict[str, Any]] = data["replies"]
        return replies

    def buttons(replies: list[dict[str, Any]], prefix: str) -> list[str]:
        return [
            b["payload"]
            for r in replies
            for b in r.get("buttons", [])
            if b["payload"].startswith(prefix) and "#" not in b["payload"]
        ]

    try:
        await say({"text": "/start"}, form=False)
        await say({"payload": "lang:vi"}, form=False)
        await say({"payload": "consent:yes"}, form=False)
        replies = await say({"payload": "role:household"}, form=False)
        communes = buttons(replies, "f:home_unit@")
        replies = await say({"payload": communes[number % len(communes)]}, form=True)
        villages = buttons(replies, "f:home_unit=")
        replies = await say({"payload": villages[number % len(villages)]}, form=True)
        if not any("Đã lưu nơi ở" in r["text"] for r in replies):
            raise RuntimeError(f"{sender}: place not saved: {replies}")
    except Exception as error:  # a benchmark reports failures, it does not hide them
        timings.failures.append(f"{type(error).__name__}: {error}")


async def drive(base: str, conversations: int, concurrency: int, timings: Timings) -> float:
    run_id = uuid.uuid4().hex[:8]
    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(number: int) -> None:
            async with limit:
                await conversation(http, base, number, run_id, timings)

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(conversations)))
        return time.perf_counter() - started


async def measure(
    args: argparse.Namespace, base: str, server: subprocess.Popen[str]
) -> tuple[Timings, float]:
    async with aiohttp.ClientSession() as http:
        await wait_healthy(http, base, server)
    # A few conversations first, so imports and caches do not count.
    await drive(base, min(5, args.conversations), args.concurrency, Timings())
    timings = Timings()
    wall = await drive(base, args.conversations, args.concurrency, timings)
    return timings, wall


def run_server(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=cwd, env=env, text=True, stdout=subprocess.DEVNULL
    )


def stop_server(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def report(args: argparse.Namespace, timings: Timings, wall: float) -> None:
    if timings.failures:
        print(f"{len(timings.failures)} conversations failed, e.g. {timings.failures[0]}")
        raise SystemExit(1)
    every = timings.form + timings.other
    result = {
        "p50_ms": round(percentile(timings.form, 0.50) * 1000, 2),
        "p95_ms": round(percentile(timings.form, 0.95) * 1000, 2),
        "steps_per_s": round(len(every) / wall, 1),
        "form_steps_per_s": round(len(timings.form) / wall, 1),
        "all_p50_ms": round(percentile(every, 0.50) * 1000, 2),
        "all_p95_ms": round(percentile(every, 0.95) * 1000, 2),
        "conversations": args.conversations,
        "concurrency": args.concurrency,
        "backend": "sqlite" if args.database_url is None else args.database_url.split(":")[0],
    }
    print(
        f"{args.conversations} conversations, {len(every)} requests "
        f"({len(timings.form)} form steps) in {wall:.2f} s with {args.concurrency} in flight"
    )
    print(f"form step latency: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms")
    print(f"all requests:      p50 {result['all_p50_ms']} ms, p95 {result['all_p95_ms']} ms")
    print(
        f"throughput: {result['steps_per_s']} steps/s ({result['form_steps_per_s']} form steps/s)"
    )
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", "-n", type=int, default=200)
    parser.add_argument("--fast", action="store_true", help="40 conversations")
    parser.add_argument("--concurrency", type=int, default=20, help="requests in flight")
    parser.add_argument(
        "--database-url", help="an empty or bench-only database (default: a temp SQLite file)"
    )
    args = parser.parse_args()
    if args.fast:
        args.conversations = 40
    with tempfile.TemporaryDirectory(prefix="gn-bench-") as tmp:
        cwd = Path(tmp)
        url = args.database_url or f"sqlite+aiosqlite:///{cwd / 'bench.db'}"
        env = server_env(url, free_port(), cwd / "data")
        prepare(env, cwd)
        server = run_server(env, cwd)
        try:
            timings, wall = asyncio.run(
                measure(args, f"http://127.0.0.1:{env['WEB_PORT']}", server)
            )
        finally:
            stop_server(server)
    report(args, timings, wall)


if __name__ == "__main__":
    main()
