"""The read API for officials' systems: submissions of one subtree, with bearer API keys.

``GET /api/v1/submissions?form=..&unit=..&since=..&limit=..&cursor=..`` lists submissions in
the key's subtree by (updated_at, id), so a system that keeps the last ``next_cursor`` (or the
last ``updated_at`` as ``since``) sees every new submission, revision and status change.
Keys come from ``python -m bot apikey create --unit CODE``: ``gn_<prefix>_<secret>``, shown
once; only a keyed hash is stored. ``GET /api/v1/openapi.json`` describes it all.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.services import Services
from bot.crypto import SecretVault
from bot.privacy import public_answers
from bot.storage.db import Database
from bot.storage.models import ApiKey, OrgUnit, Submission, SubmissionRevision, utcnow

__all__ = ["OPENAPI", "add_routes", "create_api_key", "hash_key", "revoke_api_key"]

SERVICES: web.AppKey[Services] = web.AppKey("api_services", Services)
MAX_LIMIT = 500
DEFAULT_LIMIT = 100


def hash_key(vault: SecretVault, key: str) -> str:
    return vault.keyed_hash(f"apikey:{key}")


async def create_api_key(
    db: Database, vault: SecretVault, unit_code: str, name: str | None = None
) -> tuple[ApiKey, str, OrgUnit]:
    """A new key for the subtree of ``unit_code``; returns the row, the key (once) and unit."""
    async with db.session() as session, session.begin():
        unit = await session.scalar(select(OrgUnit).where(OrgUnit.code == unit_code))
        if unit is None:
            raise LookupError(f"no org unit with code {unit_code!r}")
        for _ in range(10):
            prefix = secrets.token_hex(4)
            taken = await session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix))
            if taken is None:
                break
        key = f"gn_{prefix}_{secrets.token_urlsafe(32)}"
        row = ApiKey(
            prefix=prefix,
            key_hash=hash_key(vault, key),
            org_unit_id=unit.id,
            name=name,
            created_at=utcnow(),
        )
        session.add(row)
    return row, key, unit


async def revoke_api_key(db: Database, key_id: int) -> bool:
    async with db.session() as session, session.begin():
        row = await session.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
    return True


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> web.Response:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="giamngheo-bot"'
    return web.json_response({"error": message}, status=status, headers=headers)


async def _authenticate(request: web.Request, session: AsyncSession) -> tuple[ApiKey, OrgUnit]:
    services = request.app[SERVICES]
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith("gn_") or key.count("_") < 2:
        raise ApiError(401, "missing or malformed bearer API key")
    prefix = key.split("_", 2)[1]
    row = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or not hmac.compare_digest(row.key_hash, hash_key(services.vault, key)):
        raise ApiError(401, "unknown API key")
    if row.revoked_at is not None:
        raise ApiError(401, "this API key was revoked")
    unit = await session.get(OrgUnit, row.org_unit_id)
    if unit is None:
        raise ApiError(401, "the API key's unit no longer exists")
    now = services.clock()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
    return row, unit


def _parse_since(text: str, tz: ZoneInfo) -> datetime:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=tz)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(
            400, "since: an ISO 8601 date or date-time, e.g. 2026-11-01T00:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _encode_cursor(updated_at: datetime, row_id: int) -> str:
    raw = json.dumps([updated_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(text: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        stamp, row_id = json.loads(raw)
        return datetime.fromisoformat(stamp), int(row_id)
    except (ValueError, TypeError, binascii.Error):
        raise ApiError(400, "cursor: not a cursor this API gave out") from None


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise ApiError(400, f"limit: a whole number from 1 to {MAX_LIMIT}")
    return int(text)


async def _latest_revisions(session: AsyncSession, ids: list[int]) -> dict[int, SubmissionRevision]:
    if not ids:
        return {}
    latest = (
        select(SubmissionRevision.submission_id, func.max(SubmissionRevision.revision).label("n"))
        .where(SubmissionRevision.submission_id.in_(ids))
        .group_by(SubmissionRevision.submission_id)
        .subquery()
    )
    query = select(SubmissionRevision).join(
        latest,
        and_(
            SubmissionRevision.submission_id == latest.c.submission_id,
            SubmissionRevision.revision == latest.c.n,
        ),
    )
    return {r.submission_id: r for r in (await session.execute(query)).scalars()}


def _item(
    submission: Submission, unit: OrgUnit, revision: SubmissionRevision | None
) -> dict[str, Any]:
    return {
        "id": submission.id,
        "form": submission.form_id,
        "form_version": submission.form_version,
        "receipt_code": submission.receipt_code,
        "status": submission.status,
        "natural_key": submission.natural_key,
        "unit": {"code": unit.code, "name": unit.name, "level": unit.level},
        "created_at": submission.created_at.isoformat(),
        "updated_at": submission.updated_at.isoformat(),
        "revision": revision.revision if revision else None,
        "answers": public_answers(dict(revision.answers or {})) if revision else {},
    }


async def list_submissions(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    tz = ZoneInfo(services.settings.timezone)
    try:
        async with services.db.session() as session, session.begin():
            _, scope = await _authenticate(request, session)
            query = request.query
            limit = _limit(query.get("limit"))
            path = scope.path
            if unit_code := query.get("unit"):
                unit = await session.scalar(select(OrgUnit).where(OrgUnit.code == unit_code))
                if unit is None:
                    raise ApiError(404, f"unit: no org unit with code {unit_code!r}")
                if not unit.path.startswith(scope.path):
                    raise ApiError(403, "unit: outside the subtree of this API key")
                path = unit.path
            conditions = [OrgUnit.path.startswith(path, autoescape=True)]
            if forms := [f for f in query.get("form", "").split(",") if f.strip()]:
                conditions.append(Submission.form_id.in_([f.strip() for f in forms]))
            if since := query.get("since"):
                conditions.append(Submission.updated_at >= _parse_since(since, tz))
            if cursor := query.get("cursor"):
                stamp, last_id = _decode_cursor(cursor)
                conditions.append(
                    or_(
                        Submission.updated_at > stamp,
                        and_(Submission.updated_at == stamp, Submission.id > last_id),
                    )
                )
            rows = (
                await session.execute(
                    select(Submission, OrgUnit)
                    .join(OrgUnit, OrgUnit.id == Submission.org_unit_id)
                    .where(*conditions)
                    .order_by(Submission.updated_at, Submission.id)
                    .limit(limit + 1)
                )
            ).all()
            more = len(rows) > limit
            rows = rows[:limit]
            revisions = await _latest_revisions(session, [s.id for s, _ in rows])
            data = [_item(s, u, revisions.get(s.id)) for s, u in rows]
    except ApiError as error:
        return _error(error.status, error.message)
    next_cursor = _encode_cursor(rows[-1][0].updated_at, rows[-1][0].id) if more else None
    return web.json_response(
        {"data": data, "next_cursor": next_cursor},
        headers={"Cache-Control": "no-store"},
        dumps=lambda value: json.dumps(value, ensure_ascii=False),
    )


async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


def add_routes(app: web.Application, services: Services) -> None:
    app[SERVICES] = services
    app.router.add_get("/api/v1/submissions", list_submissions)
    app.router.add_get("/api/v1/openapi.json", openapi)


_SUBMISSION = {
    "type": "object",
    "required": ["id", "form", "status", "unit", "created_at", "updated_at", "answers"],
    "properties": {
        "id": {"type": "integer"},
        "form": {"type": "string", "description": "form or data set id, e.g. village_monthly"},
        "form_version": {"type": "integer"},
        "receipt_code": {"type": ["string", "null"]},
        "status": {"type": "string"},
        "natural_key": {"type": ["string", "null"]},
        "unit": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "name": {"type": "string"},
                "level": {"type": "string"},
            },
        },
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "revision": {"type": ["integer", "null"], "description": "latest revision number"},
        "answers": {
            "type": "object",
            "description": "the latest revision's answers; ID numbers masked",
            "additionalProperties": True,
        },
    },
}
_ERROR = {
    "description": "error",
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"error": {"type": "string"}}}
        }
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "giamngheo-bot read API",
        "version": "1.0.0",
        "description": "Structured submissions of the movement 'Vì người nghèo – Không để ai "
        "bị bỏ lại phía sau', for officials' systems. Keys are scoped to an org-unit subtree "
        "(python -m bot apikey create --unit CODE).",
    },
    "servers": [{"url": "/"}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Submission": _SUBMISSION},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/submissions": {
            "get": {
                "summary": "Submissions in the key's subtree, oldest change first",
                "operationId": "listSubmissions",
                "parameters": [
                    {
                        "name": "form",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "form id, or several separated by commas",
                    },
                    {
                        "name": "unit",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "org unit code inside the key's subtree: its subtree only",
                    },
                    {
                        "name": "since",
                        "in": "query",
                        "schema": {"type": "string", "format": "date-time"},
                        "description": "only submissions changed at or after this moment "
                        "(a date, or a date-time; without an offset, the bot's time zone)",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "next_cursor of the previous page",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "a page",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["data", "next_cursor"],
                                    "properties": {
                                        "data": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Submission"},
                                        },
                                        "next_cursor": {"type": ["string", "null"]},
                                    },
                                }
                            }
                        },
                    },
                    "400": _ERROR,
                    "401": _ERROR,
                    "403": _ERROR,
                    "404": _ERROR,
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1 document"}},
            }
        },
    },
}
