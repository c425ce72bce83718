"""python -m bot awards import FILE | check --json | export --unit CODE."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.cli_json import InputError, read_json
from bot.settings import Settings

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(commands: Any) -> None:
    awards = commands.add_parser("awards", help="award nominations and the award history")
    awards_commands = awards.add_subparsers(dest="awards_command", required=True)
    importer = awards_commands.add_parser(
        "import",
        help="import past awards from a CSV (group,unit,name,award,year[,movement,decision])",
    )
    importer.add_argument("file", help="CSV file, UTF-8, with a header line")
    check = awards_commands.add_parser(
        "check",
        help="may a nominee be proposed? reads "
        '{"award", "group", "meets_criteria", "history": [{"award", "year"}]} on stdin',
    )
    check.add_argument("--json", action="store_true", help='print {"eligible", "reasons"}')
    export = awards_commands.add_parser(
        "export", help="the council's list of the current rounds, with the quotas (XLSX)"
    )
    export.add_argument("--unit", required=True, help="org unit code (the province)")
    export.add_argument("--output", help="file to write (default: awards-UNIT.xlsx)")


def _awards(args: argparse.Namespace, settings: Settings) -> int:
    command = {"import": _import, "check": _check, "export": _export}[args.awards_command]
    return command(args, settings)


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.award_history import HistoryFileError, import_history
    from bot.storage.db import Database, run_with_database

    async def work(db: Database) -> int:
        try:
            report = await import_history(db, Path(args.file))
        except HistoryFileError as error:
            print(f"error: {error.path}", file=sys.stderr)
            for problem in error.problems:
                print(f"  {problem}", file=sys.stderr)
            print("nothing was imported", file=sys.stderr)
            return 1
        print(report.summary())
        return 0

    return run_with_database(settings.database_url, work)


def _check(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 with the verdict (eligible or not); exit 2 and one "error:" line on stderr,
    nothing on stdout, when the input cannot be read."""
    from bot.awards import render_reason
    from bot.i18n import compile_catalogs, translator
    from rules.awards import AwardInputError, check_eligibility, default_awards, parse_input

    compile_catalogs()
    t = translator("vi", settings.timezone)
    rules = default_awards()
    try:
        raw = read_json()
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        nominee = parse_input(rules, raw)
    except AwardInputError as error:
        print(f"error: [{error.field}] {t(error.key, **error.params)}", file=sys.stderr)
        return 2
    verdict = check_eligibility(
        rules,
        nominee.award,
        nominee.group,
        nominee.meets_criteria,
        nominee.history,
        nominee.year,
    )
    reasons = [render_reason(t, reason) for reason in verdict.reasons]
    eligible = verdict.eligible is True
    if args.json:
        print(json.dumps({"eligible": eligible, "reasons": reasons}, ensure_ascii=False))
    else:
        print(t("award.cli.eligible" if eligible else "award.cli.not_eligible"))
        for reason in reasons:
            print(f"- {reason}")
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.award_exports import council_workbook
    from bot.i18n import compile_catalogs, translator
    from bot.orgtree import load_tree
    from bot.storage.db import Database, run_with_database

    compile_catalogs()
    today = datetime.now(ZoneInfo(settings.timezone)).date()

    async def work(db: Database) -> tuple[bytes, int] | None:
        async with db.session() as session:
            tree = await load_tree(session)
            if tree.get(args.unit) is None:
                return None
            t = translator("vi", settings.timezone)
            return await council_workbook(session, tree, args.unit, t, today)

    found = run_with_database(settings.database_url, work, migrate_first=False)
    if found is None:
        print(f"error: no org unit with code {args.unit!r}", file=sys.stderr)
        return 1
    content, rows = found
    output = Path(args.output or f"awards-{args.unit}.xlsx")
    output.write_bytes(content)
    print(f"{rows} nominations written to {output}")
    return 0


COMMANDS = {"awards": _awards}
