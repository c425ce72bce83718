"""The read API over HTTP: bearer keys hashed at rest, subtree scope, filters, cursor paging."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.api import create_api_key, revoke_api_key
from bot.crypto import SecretVault
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import ApiKey, OrgUnit, Submission, utcnow
from bot.submissions import add_revision, create_submission
from tests.conftest import import_units
from tests.support.server import RunningBot, start_bot

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[tuple[RunningBot, Database]]:
    await import_units(settings.database_url, "lam_dong_2025.csv")
    running = await start_bot(settings)
    db = Database(settings.database_url)
    yield running, db
    await db.close()
    await running.stop()


async def add(db: Database, code: str, form: str, answers: dict[str, Any], minutes: int) -> int:
    async with db.session() as session, session.begin():
        unit = await session.scalar(select(OrgUnit.id).where(OrgUnit.code == code))
        submission = await create_submission(
            session,
            form_id=form,
            form_version=1,
            account_id=None,
            org_unit_id=unit,
            answers=answers,
            now=utcnow() - timedelta(minutes=100 - minutes),
        )
        return int(submission.id)


async def get(
    http: aiohttp.ClientSession, url: str, key: str | None, **params: str
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with http.get(url, headers=headers, params=params) as response:
        return response.status, await response.json()


async def test_keys_scope_filters_and_cursor_paging(
    api: tuple[RunningBot, Database], http: aiohttp.ClientSession, settings: Settings
) -> None:
    running, db = api
    vault = SecretVault(settings.secret_key)
    row, key, unit = await create_api_key(db, vault, "25000", "so-nong-nghiep")
    assert unit.code == "25000" and key.startswith(f"gn_{row.prefix}_")
    async with db.session() as session:
        stored = await session.get(ApiKey, row.id)
    assert stored is not None and key not in (stored.key_hash, stored.prefix)
    cccd = {"masked": "079*******34", "hash": "h", "enc": "ciphertext"}
    first = await add(db, "25000-01", "village_monthly", {"total": 10}, 1)
    second = await add(db, "25000-02", "household_exit_registration", {"cccd": cccd}, 2)
    third = await add(db, "25000", "award_dossier", {"title": "Xã Di Linh"}, 3)
    await add(db, "24958-01", "village_monthly", {"total": 99}, 4)  # another commune
    url = f"{running.url}/api/v1/submissions"

    status, body = await get(http, url, key)
    assert status == 200
    assert [item["id"] for item in body["data"]] == [first, second, third]
    assert body["next_cursor"] is None
    by_id = {item["id"]: item for item in body["data"]}
    assert by_id[second]["answers"]["cccd"] == "079*******34"
    assert "ciphertext" not in str(body)
    assert by_id[first]["unit"] == {"code": "25000-01", "name": "Thôn 1", "level": "village"}

    # Filters: a form (or several), a unit inside the scope, a moment.
    _, body = await get(http, url, key, form="village_monthly")
    assert [i["id"] for i in body["data"]] == [first]
    _, body = await get(http, url, key, form="village_monthly,award_dossier")
    assert [i["id"] for i in body["data"]] == [first, third]
    _, body = await get(http, url, key, unit="25000-02")
    assert [i["id"] for i in body["data"]] == [second]
    since = by_id[second]["updated_at"]
    _, body = await get(http, url, key, since=since)
    assert [i["id"] for i in body["data"]] == [second, third]

    # Paging: one at a time, every item exactly once.
    seen, cursor = [], None
    while True:
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        status, body = await get(http, url, key, **params)
        assert status == 200
        seen.extend(i["id"] for i in body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [first, second, third]
    # A revision moves the submission past the last cursor: a syncing system sees it again.
    _, body = await get(http, url, key, limit="3")
    async with db.session() as session, session.begin():
        submission = await session.get(Submission, first)
        assert submission is not None
        await add_revision(session, submission, {"total": 11}, None, utcnow(), "sửa")
    _, body = await get(http, url, key, since=body["data"][-1]["updated_at"])
    assert [(i["id"], i["revision"], i["answers"]) for i in body["data"]][-1] == (
        first,
        2,
        {"total": 11},
    )

    # Refusals.
    assert (await get(http, url, None))[0] == 401
    assert (await get(http, url, f"gn_{row.prefix}_wrong"))[0] == 401
    assert (await get(http, url, "not-a-key"))[0] == 401
    status, body = await get(http, url, key, unit="24958-01")
    assert status == 403 and "outside" in body["error"]
    assert (await get(http, url, key, unit="nope"))[0] == 404
    assert (await get(http, url, key, limit="0"))[0] == 400
    assert (await get(http, url, key, since="hôm qua"))[0] == 400
    assert (await get(http, url, key, cursor="!!"))[0] == 400
    assert await revoke_api_key(db, row.id)
    status, body = await get(http, url, key)
    assert status == 401 and "revoked" in body["error"]


async def test_a_province_key_sees_the_whole_tree(
    api: tuple[RunningBot, Database], http: aiohttp.ClientSession, settings: Settings
) -> None:
    running, db = api
    _, key, _ = await create_api_key(db, SecretVault(settings.secret_key), "68")
    await add(db, "25000-01", "village_monthly", {}, 1)
    await add(db, "24958-01", "village_monthly", {}, 2)
    status, body = await get(http, f"{running.url}/api/v1/submissions", key)
    assert status == 200 and len(body["data"]) == 2


async def test_openapi_document(
    api: tuple[RunningBot, Database], http: aiohttp.ClientSession
) -> None:
    running, _ = api
    async with http.get(f"{running.url}/api/v1/openapi.json") as response:
        assert response.status == 200
        doc = await response.json()
    assert doc["openapi"].startswith("3.1")
    operation = doc["paths"]["/api/v1/submissions"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {
        "form",
        "unit",
        "since",
        "limit",
        "cursor",
    }
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    item = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert item["properties"]["data"]["items"]["$ref"] == "#/components/schemas/Submission"
    assert "401" in operation["responses"] and "403" in operation["responses"]


def test_apikey_cli_prints_the_key_once_and_keeps_only_its_hash(
    database_url: str, tmp_path: Path
) -> None:
    import asyncio

    asyncio.run(import_units(database_url, "lam_dong_2025.csv"))
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "apikey", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    created = cli("create", "--unit", "25000", "--name", "so-nong-nghiep")
    assert created.returncode == 0, created.stderr
    key = created.stdout.splitlines()[0].removeprefix("key: ")
    assert key.startswith("gn_") and "Xã Di Linh (25000)" in created.stdout
    listed = cli("list")
    assert key not in listed.stdout and "so-nong-nghiep" in listed.stdout
    assert cli("create", "--unit", "nope").returncode == 1
    assert cli("revoke", "1").returncode == 0
    assert "yes" in cli("list").stdout
