"""Command-line parts of deadlines, reminders, the read API and webhooks (see bot/cli.py).

python -m bot deadlines [--json] [--unit CODE] [--from DATE] [--days N]
python -m bot reminders preview --at "2026-11-03 08:00" [--json]
python -m bot apikey create --unit CODE [--name NAME] | list | revoke ID
python -m bot webhooks list | add NAME URL [--unit CODE] [--form ID] | dead | retry ID
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.storage.db import Database

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(commands: Any) -> None:
    deadlines = commands.add_parser(
        "deadlines", help="list upcoming due dates (rules/deadlines.yaml)"
    )
    deadlines.add_argument("--json", action="store_true", help="print JSON")
    deadlines.add_argument("--unit", help="org unit code: only what that unit owes, and if done")
    deadlines.add_argument("--from", dest="start", help="first day, YYYY-MM-DD (default today)")
    deadlines.add_argument("--days", type=int, default=366, help="how many days ahead (366)")
    reminders = commands.add_parser("reminders", help="what reminders would go out")
    reminders_commands = reminders.add_subparsers(dest="reminders_command", required=True)
    preview = reminders_commands.add_parser(
        "preview", help="what would be sent at a local moment, and to whom (masked); sends nothing"
    )
    preview.add_argument("--at", required=True, help='local time, "YYYY-MM-DD HH:MM"')
    preview.add_argument("--json", action="store_true", help="print JSON")
    apikey = commands.add_parser("apikey", help="keys for the read API (/api/v1)")
    apikey_commands = apikey.add_subparsers(dest="apikey_command", required=True)
    create = apikey_commands.add_parser("create", help="a new key scoped to a unit's subtree")
    create.add_argument("--unit", required=True, help="org unit code")
    create.add_argument("--name", help="who uses it (a system's name)")
    apikey_commands.add_parser("list", help="keys (prefixes only)")
    revoke = apikey_commands.add_parser("revoke", help="revoke a key")
    revoke.add_argument("id", type=int)
    webhooks = commands.add_parser("webhooks", help="outbound webhooks (forwarded submissions)")
    webhooks_commands = webhooks.add_subparsers(dest="webhooks_command", required=True)
    webhooks_commands.add_parser("list", help="endpoints")
    add = webhooks_commands.add_parser("add", help="add an endpoint (prints its secret once)")
    add.add_argument("name")
    add.add_argument("url")
    add.add_argument("--unit", help="only submissions inside this unit's subtree")
    add.add_argument("--form", action="append", help="only these forms (repeatable)")
    webhooks_commands.add_parser("dead", help="deliveries given up on (dead letters)")
    retry = webhooks_commands.add_parser("retry", help="queue a dead letter again")
    retry.add_argument("id", type=int, help="outbox id from 'webhooks dead'")


def _local_date(text: str | None, tz: ZoneInfo) -> date:
    if not text:
        return datetime.now(tz).date()
    return date.fromisoformat(text)


def _deadlines(args: argparse.Namespace, settings: Settings) -> int:
    from bot.i18n import compile_catalogs, translator
    from bot.reminders import reminder_config, slots_of
    from bot.storage.db import run_with_database
    from rules.deadlines import DeadlineFileError, upcoming

    compile_catalogs()
    try:
        config = reminder_config(settings)
        start = _local_date(args.start, config.tz)
    except DeadlineFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError:
        print(f"error: --from: not a date YYYY-MM-DD: {args.start!r}", file=sys.stderr)
        return 2
    found = upcoming(config.deadlines, start, days=max(1, args.days))
    done: dict[tuple[str, str], bool] = {}
    if args.unit:
        filtered = run_with_database(
            settings.database_url,
            lambda db: _for_unit(db, config, args.unit, found),
            migrate_first=False,
        )
        if filtered is None:
            print(f"error: no org unit with code {args.unit!r}", file=sys.stderr)
            return 1
        found, done = filtered
    t = translator(settings.default_locale, settings.timezone)
    rows = []
    for occ in found:
        row = occ.to_json()
        row["title"] = t(occ.deadline.name)
        row["reminders"] = [
            {"step": slot.lead.step, "at": slot.fire_at.astimezone(config.tz).isoformat()}
            for slot in slots_of(config, occ)
        ]
        if args.unit:
            row["unit"] = args.unit
            row["done"] = done.get((occ.deadline.id, occ.key), False)
        rows.append(row)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("no upcoming deadlines")
    for row in rows:
        when = f"{row['start']} – {row['due']}" if row["start"] else row["due"]
        state = ""
        if args.unit:
            state = "  [done]" if row["done"] else "  [not done]"
        remind = "" if row["remind"] else "  (no reminders)"
        print(f"{when}  {row['deadline']}/{row['occurrence']}  {row['title']}{state}{remind}")
    return 0


async def _for_unit(
    db: Database, config: Any, code: str, found: list[Any]
) -> tuple[list[Any], dict[tuple[str, str], bool]] | None:
    from bot.reminders import Directory, audience_units, done_units

    async with db.session() as session:
        roles: set[str] = set()
        for deadline in config.deadlines:
            roles |= deadline.roles
        directory = await Directory.load(session, roles)
        unit = next((u for u in directory.units.values() if u.code == code), None)
        if unit is None:
            return None
        kept, done = [], {}
        for occ in found:
            owing = {u.id for u, _ in audience_units(occ.deadline, directory, with_holders=False)}
            if unit.id not in owing:
                continue
            kept.append(occ)
            finished = await done_units(session, occ, config.tz, {unit.id})
            done[(occ.deadline.id, occ.key)] = unit.id in finished
        return kept, done


def _reminders(args: argparse.Namespace, settings: Settings) -> int:
    from bot.i18n import compile_catalogs
    from bot.reminders import preview, reminder_config
    from rules.deadlines import DeadlineFileError

    compile_catalogs()
    try:
        config = reminder_config(settings)
    except DeadlineFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        at = datetime.strptime(args.at.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=config.tz)
    except ValueError:
        print(f'error: --at: expected "YYYY-MM-DD HH:MM", got {args.at!r}', file=sys.stderr)
        return 2
    report = asyncio.run(preview(settings, config, at))
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    print(f"at {report['at']} ({settings.timezone})")
    if report["quiet"]:
        print(
            f"quiet hours ({settings.quiet_hours_start}–{settings.quiet_hours_end}): "
            "nothing is sent at this moment; due reminders wait until they end"
        )
    if not report["slots"] and not report["snoozed"]:
        print("nothing would be sent")
    for slot in report["slots"]:
        state = "  (already sent at " + slot["processed_at"] + ")" if slot["processed_at"] else ""
        print(
            f"{slot['deadline']}/{slot['occurrence']} step {slot['step']} ({slot['kind']}), "
            f"due since {slot['fire_at']}: {slot['units_missing']} units missing, "
            f"{len(slot['messages'])} people{state}"
        )
        for message in slot["messages"]:
            chats = ", ".join(message["chats"])
            units = ", ".join(message["units"])
            print(f"  -> {message['to']} [{chats}]: {units}")
            print(f"     {message['text'].splitlines()[0]}")
    for item in report["snoozed"]:
        name = f"{item['deadline']}/{item['occurrence']}"
        print(f"snoozed {name} -> {item['to']} (due {item['due_at']})")
    return 0


def _apikey(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from bot.api import create_api_key, revoke_api_key
    from bot.crypto import SecretVault
    from bot.storage.db import run_with_database
    from bot.storage.models import ApiKey, OrgUnit

    vault = SecretVault(settings.secret_key)

    async def work(db: Database) -> int:
        if args.apikey_command == "create":
            try:
                row, key, unit = await create_api_key(db, vault, args.unit, args.name)
            except LookupError:
                print(f"error: no org unit with code {args.unit!r}", file=sys.stderr)
                return 1
            print(f"key: {key}")
            print(f"id: {row.id}, scope: {unit.name} ({unit.code}) and everything below it")
            print("shown once: only its hash is kept. Use it as 'Authorization: Bearer <key>'")
            return 0
        if args.apikey_command == "revoke":
            if not await revoke_api_key(db, args.id):
                print(f"error: no active key with id {args.id}", file=sys.stderr)
                return 1
            print(f"key {args.id} revoked")
            return 0
        async with db.session() as session:
            rows = (
                await session.execute(
                    select(ApiKey, OrgUnit.code)
                    .join(OrgUnit, OrgUnit.id == ApiKey.org_unit_id)
                    .order_by(ApiKey.id)
                )
            ).all()
        print("id\tprefix\tunit\tname\tcreated (UTC)\tlast used\trevoked")
        for key_row, code in rows:
            print(
                "\t".join(
                    [
                        str(key_row.id),
                        f"gn_{key_row.prefix}_…",
                        code,
                        key_row.name or "",
                        f"{key_row.created_at:%Y-%m-%d %H:%M}",
                        f"{key_row.last_used_at:%Y-%m-%d %H:%M}" if key_row.last_used_at else "",
                        "yes" if key_row.revoked_at else "",
                    ]
                )
            )
        return 0

    return run_with_database(settings.database_url, work)


def _webhooks(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select, update

    from bot.crypto import SecretVault
    from bot.outbox_admin import failed_messages
    from bot.storage.db import run_with_database
    from bot.storage.models import OutboxMessage, WebhookEndpoint, utcnow
    from bot.webhooks import CHANNEL, add_endpoint

    async def work(db: Database) -> int:
        if args.webhooks_command == "add":
            try:
                endpoint, secret = await add_endpoint(
                    db,
                    SecretVault(settings.secret_key),
                    args.name,
                    args.url,
                    unit_code=args.unit,
                    forms=args.form,
                )
            except (LookupError, ValueError) as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
            print(f"endpoint {endpoint.id} ({endpoint.name}) -> {endpoint.url}")
            print(f"signing secret (shown once): {secret}")
            return 0
        if args.webhooks_command == "list":
            async with db.session() as session:
                rows = (
                    await session.execute(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
                ).scalars()
                print("id\tname\turl\tforms\tactive")
                for endpoint in rows:
                    scope = endpoint.forms.get("forms") if endpoint.forms else None
                    shown = ",".join(scope) if scope else "*"
                    active = "yes" if endpoint.active else "no"
                    print(f"{endpoint.id}\t{endpoint.name}\t{endpoint.url}\t{shown}\t{active}")
            return 0
        if args.webhooks_command == "dead":
            dead = [r for r in await failed_messages(db, limit=500) if r[1] == CHANNEL]
            if not dead:
                print("no dead letters")
                return 0
            print("id\tchannel\tendpoint\tstatus\ttries\tqueued at (UTC)\treason")
            for row in dead:
                print("\t".join(row))
            return 0
        async with db.session() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == args.id,
                    OutboxMessage.channel == CHANNEL,
                    OutboxMessage.status.in_(("failed", "uncertain")),
                )
                .values(
                    status="pending",
                    attempts=0,
                    claimed_by=None,
                    next_attempt_at=utcnow(),
                    last_error=None,
                )
            )
        if not getattr(result, "rowcount", 0):
            print(f"error: no dead webhook delivery with id {args.id}", file=sys.stderr)
            return 1
        print(f"delivery {args.id} queued again")
        return 0

    return run_with_database(settings.database_url, work)


COMMANDS = {
    "deadlines": _deadlines,
    "reminders": _reminders,
    "apikey": _apikey,
    "webhooks": _webhooks,
}
