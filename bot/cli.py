"""The command line: python -m bot run | sender | migrate | orgunits | invite | ask ..."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from bot import awards_cli, reminders_cli
from bot.cli_json import InputError, read_json
from bot.logs import install_filters
from bot.roles import INVITABLE_ROLES
from bot.settings import Settings, SettingsError, load_settings

__all__ = ["main"]

Command = Callable[[argparse.Namespace, Settings], int]
T = TypeVar("T")


def _serve(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-running command on uvloop where it is installed (not on Windows): its
    event loop does the same work in less time, and a rush of updates is mostly loop work."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import run

    _serve(run(settings))
    return 0


def _sender(args: argparse.Namespace, settings: Settings) -> int:
    from bot.sender_process import run_sender

    return _serve(run_sender(settings))


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.storage.db import migrate

    migrate(settings.database_url)
    print("database is up to date")
    return 0


def _orgunits_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.orgunits import OrgUnitFileError, import_file
    from bot.storage.db import Database, run_with_database

    async def work(db: Database) -> int:
        try:
            report = await import_file(db, Path(args.file))
        except OrgUnitFileError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(report.summary())
        for code in report.created:
            print(f"  + {code}")
        for code in report.updated:
            print(f"  ~ {code}")
        return 0

    return run_with_database(settings.database_url, work)


def _invite(args: argparse.Namespace, settings: Settings) -> int:
    from bot.invitations import InvitationError, create_invitation
    from bot.storage.db import Database, run_with_database
    from bot.storage.models import utcnow

    async def work(db: Database) -> int:
        try:
            async with db.session() as session, session.begin():
                created = await create_invitation(
                    session,
                    args.role,
                    args.unit,
                    utcnow(),
                    args.days or settings.invitation_ttl_days,
                )
        except InvitationError:
            print(f"error: no org unit with code {args.unit!r}", file=sys.stderr)
            return 1
        expires = created.invitation.expires_at.date().isoformat()
        print(f"code: {created.code}")
        print(f"role: {args.role} of {created.unit.name} ({created.unit.code}), expires {expires}")
        print(f"telegram: https://t.me/{settings.telegram_bot_username}?start={created.code}")
        print("web chat: type the code after choosing 'village head / official'")
        return 0

    return run_with_database(settings.database_url, work)


def _outbox(args: argparse.Namespace, settings: Settings) -> int:
    from bot.outbox_admin import failed_messages
    from bot.storage.db import Database, run_with_database

    async def work(db: Database) -> int:
        rows = await failed_messages(db, limit=args.limit)
        if not rows:
            print("no failed or uncertain messages")
            return 0
        print("id\tchannel\tchat\tstatus\ttries\tqueued at (UTC)\treason")
        for row in rows:
            print("\t".join(row))
        return 0

    return run_with_database(settings.database_url, work, migrate_first=False)


def _selfcheck(args: argparse.Namespace, settings: Settings) -> int:
    """The poverty self-check: answers as JSON on stdin; exit 2 names the field at fault."""
    import json
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from rules.poverty import (
        STANDARD_FILE,
        PovertyInputError,
        StandardFileError,
        load_standards,
        parse_answers,
        self_check,
    )

    try:
        standards = load_standards(Path(args.standard) if args.standard else STANDARD_FILE)
    except StandardFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        raw = read_json()
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    try:
        result = self_check(parse_answers(raw), standards, today)
    except PovertyInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        lacking = ", ".join(result.lacking) or "none"
        print(f"status: {result.status}")
        print(f"income per person: {result.income_per_person} VND/month")
        print(f"lacking ({len(result.lacking)}): {lacking}")
        print(f"standard: {result.citation}" + ("" if result.verified else " (not fully verified)"))
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    if args.what == "village-reports":
        return _export_village_reports(args, settings)
    if args.first or args.last:
        print("error: --from and --to apply to village-reports only", file=sys.stderr)
        return 2
    from bot.core.services import Services
    from bot.exports import registration_rows, to_csv, to_xlsx
    from bot.i18n import compile_catalogs, translator
    from bot.storage.models import utcnow

    compile_catalogs()
    forms = {"registrations": "household_exit_registration"}

    async def go() -> tuple[list[str], list[list[str]]] | None:
        services = Services.create(settings)
        try:
            async with services.db.session() as session:
                tree = await services.tree(session)
                if tree.get(args.unit) is None:
                    return None
                form = services.forms[forms[args.what]]
                today = utcnow().date()
                return await registration_rows(
                    session, form, tree, args.unit, translator("vi"), today
                )
        finally:
            await services.db.close()

    found = asyncio.run(go())
    if found is None:
        print(f"error: no org unit with code {args.unit!r}", file=sys.stderr)
        return 1
    header, rows = found
    content = to_csv(header, rows) if args.format == "csv" else to_xlsx(header, rows, args.what)
    output = Path(args.output or f"{args.what}-{args.unit}.{args.format}")
    output.write_bytes(content)
    print(f"{len(rows)} rows written to {output}")
    return 0


def _export_village_reports(args: argparse.Namespace, settings: Settings) -> int:
    """One row per village and period, Vietnamese headers; XLSX has the totals per level in a
    second sheet, CSV writes them to a second file (OUTPUT stem + "-totals.csv")."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.datasets import get_dataset
    from bot.exports import VillageExport, village_report_export
    from bot.i18n import compile_catalogs, translator
    from bot.orgtree import load_tree
    from bot.storage.db import Database, run_with_database
    from bot.village_reports import PeriodRules
    from rules.periods import Month

    today = datetime.now(ZoneInfo(settings.timezone)).date()
    try:
        last = Month.parse(args.last) if args.last else Month.of(today) - 1
        first = Month.parse(args.first) if args.first else Month(last.year, 1)
    except ValueError as error:
        print(f"error: {error} (write months as 2026-10 or 10/2026)", file=sys.stderr)
        return 2
    if first > last:
        print("error: --from is after --to", file=sys.stderr)
        return 2
    compile_catalogs()

    async def work(db: Database) -> VillageExport | None:
        async with db.session() as session:
            tree = await load_tree(session)
            if tree.get(args.unit) is None:
                return None
            return await village_report_export(
                session,
                get_dataset("village_monthly"),
                tree,
                args.unit,
                first,
                last,
                translator("vi", settings.timezone),
                PeriodRules.from_settings(settings),
                args.format,
            )

    result = run_with_database(settings.database_url, work, migrate_first=False)
    if result is None:
        print(f"error: no org unit with code {args.unit!r}", file=sys.stderr)
        return 1
    output = Path(args.output or f"village-reports-{args.unit}.{args.format}")
    output.write_bytes(result.content)
    print(f"{result.rows} rows written to {output}")
    if result.totals is not None:
        totals = output.with_name(f"{output.stem}-totals.csv")
        totals.write_bytes(result.totals)
        print(f"totals per level written to {totals}")
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    """Questions on stdin (one per line) or as arguments, answered from the knowledge base.

    Loads the knowledge base once; needs no database and no network. With --json, one JSON
    object per line: question, answer, sources, confident (+ id, confidence, topics)."""
    import json

    from bot.i18n import compile_catalogs, translator
    from rules.qa import KnowledgeError, default_knowledge_base

    compile_catalogs()
    try:
        kb = default_knowledge_base()
    except KnowledgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    t = translator(args.lang)
    questions = [" ".join(args.question)] if args.question else sys.stdin
    for line in questions:
        text = line.strip()
        if not text:
            continue
        result = kb.ask(text)
        best = result.best
        confident = result.confident and best is not None
        topics = result.close_topics(3)
        if confident and best is not None:
            answer, sources = best.entry.answer_in(args.lang), [best.entry.source]
        else:
            names = "; ".join(e.title_in(args.lang) for e in topics) or "-"
            answer, sources = t("qa.not_sure.cli", topics=names), []
        if args.json:
            row = {
                "question": text,
                "answer": answer,
                "sources": sources,
                "confident": confident,
                "id": best.entry.id if confident and best else None,
                "confidence": best.confidence if best else 0.0,
                "topics": [] if confident else [e.id for e in topics],
            }
            print(json.dumps(row, ensure_ascii=False), flush=True)
        else:
            print(f"? {text}\n{answer}")
            if sources:
                print(f"[{'; '.join(sources)}]")
            print(flush=True)
    return 0


def _criteria(args: argparse.Namespace, settings: Settings) -> int:
    """The plan's criterion for a unit, from figures as JSON (file or stdin).

    Exit 0 with the verdict (eligible or not); exit 2 with one line "error: ..." on stderr and
    nothing on stdout when the figures are missing, contradictory or not JSON."""
    import json

    from rules.criteria import FiguresError, evaluate

    try:
        raw = read_json(args.file)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        verdict = evaluate(raw)
    except FiguresError as error:
        where = f" [{error.field}]" if error.field else ""
        print(f"error:{where} {error.message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(verdict.to_json(), ensure_ascii=False))
    else:
        print("ĐẠT" if verdict.eligible else "CHƯA ĐẠT")
        for reason in verdict.reasons:
            print(f"- {reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="giamngheo-bot: the chatbot for the movement "
        "'Vì người nghèo – Không để ai bị bỏ lại phía sau'",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="start the bot (web chat, and Telegram when configured)")
    commands.add_parser(
        "sender",
        help="send the outbox (Telegram, Zalo) in a process of its own, for OUTBOX_SENDER=external",
    )
    commands.add_parser("migrate", help="apply database migrations")
    orgunits = commands.add_parser("orgunits", help="manage the org-unit tree")
    orgunits_commands = orgunits.add_subparsers(dest="orgunits_command", required=True)
    importer = orgunits_commands.add_parser("import", help="import units from a CSV or YAML file")
    importer.add_argument("file", help="CSV or YAML with code, name, level, parent")
    invite = commands.add_parser("invite", help="create a single-use invitation code")
    invite.add_argument("--role", required=True, choices=INVITABLE_ROLES)
    invite.add_argument("--unit", required=True, help="org unit code")
    invite.add_argument("--days", type=int, help="days until the code expires")
    export = commands.add_parser("export", help="export submissions for officials")
    export.add_argument("what", choices=["registrations", "village-reports"])
    export.add_argument("--unit", required=True, help="org unit code: its whole subtree")
    export.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    export.add_argument("--output", help="file to write (default: WHAT-UNIT.FORMAT)")
    export.add_argument(
        "--from",
        dest="first",
        metavar="MONTH",
        help="village-reports: first month, 2026-01 (default: January of --to's year)",
    )
    export.add_argument(
        "--to",
        dest="last",
        metavar="MONTH",
        help="village-reports: last month, 2026-10 (default: last month)",
    )
    outbox = commands.add_parser("outbox", help="inspect the outbox")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", required=True)
    failed = outbox_commands.add_parser(
        "failed", help="messages given up on, uncertain, or waiting for the person"
    )
    failed.add_argument("--limit", type=int, default=100)
    selfcheck = commands.add_parser(
        "selfcheck",
        help="poverty self-check: reads answers as JSON on stdin "
        "(area, household_size, monthly_income_vnd, lacking, on)",
    )
    selfcheck.add_argument("--json", action="store_true", help="print the result as JSON")
    selfcheck.add_argument(
        "--standard", help="another standard file (default: rules/poverty_standard.yaml)"
    )
    ask = commands.add_parser(
        "ask",
        help="answer questions from the knowledge base: one per line on stdin (no database)",
    )
    ask.add_argument("question", nargs="*", help="a question (default: read lines from stdin)")
    ask.add_argument("--json", action="store_true", help="one JSON object per line")
    ask.add_argument("--lang", choices=["vi", "en"], default="vi", help="answer language")
    criteria = commands.add_parser(
        "criteria",
        help="does a unit meet the plan's criterion? figures as JSON on stdin or in FILE "
        "(exit 2 and one 'error:' line on stderr when figures are missing or contradictory)",
    )
    criteria.add_argument("file", nargs="?", help="JSON file with the figures (default: stdin)")
    criteria.add_argument("--json", action="store_true", help='print {"eligible", "reasons"}')
    reminders_cli.add_parsers(commands)
    awards_cli.add_parsers(commands)
    return parser


COMMANDS: dict[str, Command] = {
    **reminders_cli.COMMANDS,
    **awards_cli.COMMANDS,
    "run": _run,
    "sender": _sender,
    "migrate": _migrate,
    "orgunits": _orgunits_import,
    "invite": _invite,
    "outbox": _outbox,
    "export": _export,
    "selfcheck": _selfcheck,
    "ask": _ask,
    "criteria": _criteria,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    install_filters()
    return COMMANDS[args.command](args, settings)
