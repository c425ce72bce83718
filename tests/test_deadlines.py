"""Deadlines as data: the rules file, occurrences, lead times, quiet hours, catch-up, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po

from bot.i18n_extract import dynamic_keys
from rules.deadlines import (
    DEADLINES_FILE,
    DeadlineFileError,
    QuietHours,
    due_slots,
    load_deadlines,
    next_snooze,
    occurrence,
    occurrences,
    parse_lead,
    slots,
    slots_between,
    upcoming,
)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
QUIET = QuietHours(time(21, 0), time(7, 0))
ROOT = Path(__file__).resolve().parent.parent
DEADLINES = load_deadlines(params={"village_report_due_day": 5})


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def test_the_plan_dates_are_in_the_file() -> None:
    annual = occurrences(DEADLINES.by_id["annual_report"], date(2026, 1, 1), date(2026, 12, 31))
    # "Trước ngày 10/11" (plan V.4): the last day on time is 9/11.
    assert [(o.key, o.due, o.label_before) for o in annual] == [
        ("2026", date(2026, 11, 9), date(2026, 11, 10))
    ]
    dossiers = occurrences(DEADLINES.by_id["award_dossiers"], date(2026, 1, 1), date(2026, 12, 31))
    assert [o.due for o in dossiers] == [date(2026, 12, 29)]  # before 30/12 (III.3.c)
    review = occurrences(DEADLINES.by_id["poverty_review"], date(2026, 1, 1), date(2026, 12, 31))
    assert [(o.start, o.due) for o in review] == [(date(2026, 9, 1), date(2026, 12, 14))]
    midterm = occurrences(DEADLINES.by_id["midterm_2023"], date(2023, 1, 1), date(2023, 12, 31))
    final = occurrences(DEADLINES.by_id["final_2025"], date(2025, 1, 1), date(2025, 12, 31))
    assert [o.key for o in midterm] == ["2023"] and [o.key for o in final] == ["2025"]
    # History stays listed for its year and never comes back.
    assert occurrences(DEADLINES.by_id["final_2025"], date(2026, 1, 1), date(2030, 1, 1)) == []
    assert DEADLINES.by_id["midterm_2028"].remind is False


def test_village_report_is_due_on_the_setting_day_of_the_next_month() -> None:
    monthly = DEADLINES.by_id["village_monthly"]
    found = occurrences(monthly, date(2026, 11, 1), date(2027, 1, 31))
    assert [(o.key, o.due) for o in found] == [
        ("2026-10", date(2026, 11, 5)),
        ("2026-11", date(2026, 12, 5)),
        ("2026-12", date(2027, 1, 5)),
    ]
    tenth = load_deadlines(params={"village_report_due_day": 10}).by_id["village_monthly"]
    assert occurrence(tenth, "2026-12") is not None
    assert occurrence(tenth, "2026-12").due == date(2027, 1, 10)  # type: ignore[union-attr]
    # Day 0: due on the period's own last day.
    last = load_deadlines(params={"village_report_due_day": 0}).by_id["village_monthly"]
    assert occurrence(last, "2027-02").due == date(2027, 2, 28)  # type: ignore[union-attr]


def test_lead_times_are_local_hours_relative_to_the_due_date() -> None:
    occ = occurrence(DEADLINES.by_id["village_monthly"], "2026-10")
    assert occ is not None
    steps = slots(occ, TZ, QUIET, DEADLINES.catch_up)
    assert [(s.lead.step, s.lead.kind, s.fire_at) for s in steps] == [
        ("-3d", "before", local(2026, 11, 2, 8)),
        ("-1d", "before", local(2026, 11, 4, 8)),
        ("0d", "today", local(2026, 11, 5, 8)),
        ("+1d", "overdue", local(2026, 11, 6, 8)),
        ("esc", "escalation", local(2026, 11, 7, 8)),
    ]
    # Each step stays valid until the next one (catch-up after a stop), never longer than 2 days.
    assert [s.valid_until for s in steps[:2]] == [local(2026, 11, 4, 8), local(2026, 11, 5, 8)]
    assert steps[-1].valid_until == local(2026, 11, 9, 8)
    window = occurrence(DEADLINES.by_id["poverty_review"], "2026")
    assert window is not None
    first = slots(window, TZ, QUIET, DEADLINES.catch_up)[0]
    assert (first.lead.kind, first.fire_at) == ("open", local(2026, 9, 1, 8))


def test_quiet_hours_hold_every_lead() -> None:
    assert QUIET.contains(time(21, 0)) and QUIET.contains(time(23, 59))
    assert QUIET.contains(time(0, 0)) and QUIET.contains(time(6, 59))
    assert not QUIET.contains(time(7, 0)) and not QUIET.contains(time(20, 59))
    assert QUIET.next_open(local(2026, 11, 3, 22, 30), TZ) == local(2026, 11, 4, 7)
    assert QUIET.next_open(local(2026, 11, 4, 3, 0), TZ) == local(2026, 11, 4, 7)
    assert QUIET.next_open(local(2026, 11, 4, 9, 0), TZ) == local(2026, 11, 4, 9)
    assert not QuietHours(time(0, 0), time(0, 0)).contains(time(3, 0))
    late = DEADLINES.by_id["village_monthly"]
    occ = occurrence(late, "2026-10")
    assert occ is not None
    moved = parse_lead("-1d 22:30")
    assert moved.at == time(22, 30)
    # A lead written inside quiet hours goes out when they end.
    from dataclasses import replace

    shifted = replace(occ, deadline=replace(late, leads=(moved,), escalation=None))
    assert slots(shifted, TZ, QUIET, DEADLINES.catch_up)[0].fire_at == local(2026, 11, 5, 7)
    assert due_slots(DEADLINES, local(2026, 11, 2, 22, 0), TZ, QUIET) == []


def test_due_slots_catch_up_after_a_stop_but_never_send_a_stale_step() -> None:
    at_eight = [s.key for s in due_slots(DEADLINES, local(2026, 11, 2, 8, 0), TZ, QUIET)]
    assert at_eight == [("annual_report", "2026", "-7d"), ("village_monthly", "2026-10", "-3d")]
    assert due_slots(DEADLINES, local(2026, 11, 2, 7, 59), TZ, QUIET) == []
    # Stopped from 1/11 to 6/11 09:00: only the latest step of the village report is due.
    later = [s.key for s in due_slots(DEADLINES, local(2026, 11, 6, 9, 0), TZ, QUIET)]
    village = [k for k in later if k[0] == "village_monthly"]
    assert village == [("village_monthly", "2026-10", "+1d")]


def test_schedule_of_a_season_has_each_step_once() -> None:
    found = slots_between(DEADLINES, local(2026, 8, 31), local(2027, 1, 10), TZ, QUIET)
    keys = [s.key for s in found]
    assert len(keys) == len(set(keys))
    assert all(not QUIET.is_quiet(s.fire_at, TZ) for s in found)
    assert ("poverty_review", "2026", "start") in keys
    assert ("award_dossiers", "2026", "esc") in keys
    assert not any(k[0] == "midterm_2028" for k in keys)


def test_snooze_goes_to_the_next_delivery_hour_outside_quiet_hours() -> None:
    hours = DEADLINES.snooze_hours
    assert next_snooze(local(2026, 11, 3, 8, 5), hours, TZ, QUIET) == local(2026, 11, 3, 14)
    assert next_snooze(local(2026, 11, 3, 13, 58), hours, TZ, QUIET) == local(2026, 11, 4, 8)
    assert next_snooze(local(2026, 11, 3, 20, 5), hours, TZ, QUIET) == local(2026, 11, 4, 8)


def test_upcoming_lists_a_window_under_way() -> None:
    found = upcoming(DEADLINES, date(2026, 10, 1), days=90)
    ids = [(o.deadline.id, o.key) for o in found]
    assert ("poverty_review", "2026") in ids and ("annual_report", "2026") in ids
    assert found == sorted(found, key=lambda o: (o.due, o.deadline.id))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"due": {"monthly": {"day": 40}}}, "field due"),
        ({"due": {"monthly": {"day": "no_such_setting"}}}, "unknown setting"),
        ({"leads": ["-7 days"]}, "field leads"),
        ({"name": "Not a key"}, "field name"),
        ({"done": {}}, "field done"),
        ({"escalate": {"at": "-5d 08:00", "roles": ["commune_official"]}}, "after the last lead"),
        ({"due": {"yearly": {"before": "02-30"}}}, "no such day"),
    ],
)
def test_a_broken_file_names_the_file_the_deadline_and_the_field(
    tmp_path: Path, change: dict[str, object], named: str
) -> None:
    import yaml

    raw = yaml.safe_load(DEADLINES_FILE.read_text(encoding="utf-8"))
    raw["deadlines"][0].update(change)
    broken = tmp_path / "deadlines.yaml"
    broken.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DeadlineFileError) as error:
        load_deadlines(broken, {"village_report_due_day": 5})
    message = str(error.value)
    assert message.startswith("deadlines.yaml: deadline village_monthly: ")
    assert named in message


def test_every_deadline_name_and_kind_is_translated() -> None:
    keys = [k for k in dynamic_keys() if k.startswith("deadline.")]
    names = {d.name for d in DEADLINES}
    kinds = {f"deadline.kind.{d.kind}" for d in DEADLINES}
    assert names | kinds <= set(keys)
    for language in ("vi", "en"):
        path = ROOT / "locales" / language / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as file:
            catalog = read_po(file, locale=language)
        missing = [k for k in names | kinds if k not in catalog or not catalog[k].string]
        assert not missing, (language, missing)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_lists_upcoming_due_dates_as_json(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.db"}
    done = run_cli("deadlines", "--json", "--from", "2026-11-01", "--days", "60", env=env)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    due = [(r["deadline"], r["occurrence"], r["due"]) for r in rows]
    assert ("annual_report", "2026", "2026-11-09") in due
    assert ("village_monthly", "2026-10", "2026-11-05") in due
    annual = next(r for r in rows if r["deadline"] == "annual_report")
    assert annual["before"] == "2026-11-10" and annual["title"].startswith("Báo cáo hằng năm")
    assert annual["reminders"][0] == {"step": "-14d", "at": "2026-10-26T08:00:00+07:00"}
    bad = run_cli("deadlines", "--from", "1/11/2026", env=env)
    assert bad.returncode == 2 and "--from" in bad.stderr


def test_the_next_delivery_day_after_a_long_stop_is_not_flooded() -> None:
    """After a week down, each occurrence sends at most its latest step."""
    found = due_slots(DEADLINES, local(2026, 12, 12, 10, 0), TZ, QUIET)
    per_occurrence: dict[tuple[str, str], int] = {}
    for slot in found:
        key = slot.key[:2]
        per_occurrence[key] = per_occurrence.get(key, 0) + 1
    assert all(count == 1 for count in per_occurrence.values())
    assert found[0].fire_at <= local(2026, 12, 12, 10, 0) < found[0].valid_until + timedelta(0)
