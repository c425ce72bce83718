"""Time and peak memory to export 100,000 village reports (one row per village and month,
plus the totals per level), from the database to an XLSX file, as officials get it.

Builds a synthetic province (communes x villages) on a fresh SQLite file (or an empty,
bench-only --database-url), stores one report per village and month with its revision,
then runs the export in a child process of its own, so the peak resident memory measured
(VmHWM) is the export's and not the seeding's. Goal: under 5 s and under 300 MB.
The last line printed is JSON.

    python benchmarks/export.py            # 100,000 reports: 10,000 villages x 10 months
    python benchmarks/export.py --fast     # 10,000 reports
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GOAL_SECONDS = 5.0
GOAL_MB = 300.0
MONTHS = 10  # January to October 2026
DATASET = "village_monthly"


def figures(rng: random.Random) -> dict[str, Any]:
    total = rng.randint(80, 900)
    poor = rng.randint(0, total // 5)
    loans = rng.randint(0, 4)
    answers: dict[str, Any] = {
        "total": total,
        "poor": poor,
        "near_poor": rng.randint(0, total // 6),
        "ethnic_poor": rng.randint(0, poor),
        "exited": rng.randint(0, 3),
        "newly_poor": rng.randint(0, 1),
        "fallen_back": 0,
        "registrations": rng.randint(0, 4),
        "loans": loans,
        "support_housing": rng.randint(0, 2),
        "support_livelihood": rng.randint(0, 5),
        "support_jobs": rng.randint(0, 3),
        "support_health": rng.randint(0, 20),
        "notes": None,
    }
    if loans:
        answers["loan_amount"] = loans * 50_000_000
    return answers


async def seed(url: str, villages: int, per_commune: int) -> int:
    """The tree and villages x MONTHS reports, written in bulk (not timed as the export)."""
    from sqlalchemy import insert

    from bot.storage.db import Database
    from bot.storage.models import OrgUnit, Submission, SubmissionRevision
    from bot.text import fold

    rng = random.Random(2026)
    db = Database(url)
    communes = -(-villages // per_commune)
    units: list[dict[str, Any]] = [
        {
            "id": 1,
            "code": "P",
            "name": "Tỉnh Thử",
            "name_folded": fold("Tỉnh Thử"),
            "level": "province",
            "parent_id": None,
            "path": "/1/",
            "depth": 0,
            "active": True,
        }
    ]
    village_ids: list[tuple[int, str]] = []
    next_id = 2
    for c in range(communes):
        commune_id = next_id
        next_id += 1
        name = f"Xã {c + 1}"
        units.append(
            {
                "id": commune_id,
                "code": f"C{c + 1:04d}",
                "name": name,
                "name_folded": fold(name),
                "level": "commune",
                "parent_id": 1,
                "path": f"/1/{commune_id}/",
                "depth": 1,
                "active": True,
            }
        )
        for v in range(min(per_commune, villages - c * per_commune)):
            code = f"C{c + 1:04d}-{v + 1:03d}"
            name = f"Thôn {v + 1}"
            units.append(
                {
                    "id": next_id,
                    "code": code,
                    "name": name,
                    "name_folded": fold(name),
                    "level": "village",
                    "parent_id": commune_id,
                    "path": f"/1/{commune_id}/{next_id}/",
                    "depth": 2,
                    "active": True,
                }
            )
            village_ids.append((next_id, code))
            next_id += 1
    submissions: list[dict[str, Any]] = []
    revisions: list[dict[str, Any]] = []
    sid = 0
    for month in range(1, MONTHS + 1):
        sent = datetime(2026, month % 12 + 1, 3 + month % 5, 2, 0, tzinfo=UTC)
        if month == 12:
            sent = sent.replace(year=2027)
        for unit_id, code in village_ids:
            sid += 1
            submissions.append(
                {
                    "id": sid,
                    "form_id": DATASET,
                    "form_version": 1,
                    "account_id": None,
                    "org_unit_id": unit_id,
                    "status": "submitted",
                    "receipt_code": f"BC-{sid:07d}",
                    "natural_key": f"{DATASET}/2026-{month:02d}/{code}",
                    "created_at": sent,
                    "updated_at": sent,
                }
            )
            revisions.append(
                {
                    "submission_id": sid,
                    "revision": 1,
                    "answers": figures(rng),
                    "author_account_id": None,
                    "reason": None,
                    "created_at": sent,
                }
            )
    try:
        async with db.session() as session, session.begin():
            await session.execute(insert(OrgUnit), units)
            for start in range(0, len(submissions), 20_000):
                await session.execute(insert(Submission), submissions[start : start + 20_000])
                await session.execute(insert(SubmissionRevision), revisions[start : start + 20_000])
    finally:
        await db.close()
    return len(submissions)


async def export(url: str, fmt: str) -> tuple[int, bytes]:
    from bot.datasets import get_dataset
    from bot.exports import village_report_export
    from bot.i18n import compile_catalogs, translator
    from bot.orgtree import load_tree
    from bot.storage.db import Database
    from bot.village_reports import PeriodRules
    from rules.periods import Month

    compile_catalogs()
    db = Database(url)
    try:
        async with db.session() as session:
            tree = await load_tree(session)
            result = await village_report_export(
                session,
                get_dataset(DATASET),
                tree,
                "P",
                Month(2026, 1),
                Month(2026, MONTHS),
                translator("vi"),
                PeriodRules(),
                fmt,
            )
    finally:
        await db.close()
    return result.rows, result.content


def child(args: argparse.Namespace) -> None:
    """The measured run: a process of its own, so its peak memory is the export's. The
    modules are loaded before the clock starts (a running bot has them loaded)."""
    for module in ("bot.exports", "bot.orgtree", "bot.storage.db", "bot.datasets"):
        importlib.import_module(module)

    started = time.perf_counter()
    rows, content = asyncio.run(export(args.database_url, args.format))
    Path(args.output).write_bytes(content)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": peak_rss_kb() / 1024}))


def peak_rss_kb() -> int:
    """This process's peak resident memory. VmHWM on Linux: ru_maxrss would also count the
    parent's memory, kept across fork and exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", "-n", type=int, default=100_000)
    parser.add_argument("--fast", action="store_true", help="10,000 reports")
    parser.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    parser.add_argument(
        "--database-url", help="an empty, bench-only database (default: a temp SQLite file)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.fast:
        args.reports = 10_000
    villages = max(1, args.reports // MONTHS)
    from bot.storage.db import migrate

    with tempfile.TemporaryDirectory(prefix="gn-bench-export-") as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        migrate(url)
        started = time.perf_counter()
        reports = asyncio.run(seed(url, villages, per_commune=100))
        seeded = time.perf_counter() - started
        print(f"seeded {reports} reports ({villages} villages x {MONTHS} months) in {seeded:.1f} s")
        output = Path(tmp) / f"export.{args.format}"
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--database-url",
                url,
                "--format",
                args.format,
                "--output",
                str(output),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            raise SystemExit(1)
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        size_mb = output.stat().st_size / 1024 / 1024
    seconds, peak = measured["seconds"], measured["peak_rss_mb"]
    print(
        f"exported {measured['rows']} rows ({args.format}, {size_mb:.1f} MB) in {seconds:.2f} s, "
        f"peak memory {peak:.0f} MB (goal: < {GOAL_SECONDS:.0f} s, < {GOAL_MB:.0f} MB)"
    )
    result = {
        "reports": measured["rows"],
        "format": args.format,
        "seconds": round(seconds, 3),
        "rows_per_s": round(measured["rows"] / seconds) if seconds else None,
        "peak_rss_mb": round(peak, 1),
        "file_mb": round(size_mb, 2),
        "goal_met": seconds < GOAL_SECONDS and peak < GOAL_MB,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
