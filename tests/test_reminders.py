"""Reminders over a whole season with a frozen clock; /stop, /lich, buttons, announcements.

The season runs the real scheduler job (`Reminders.tick`) hour by hour from the end of August
to January on SQLite and PostgreSQL: the right people get the right reminders at the right
local hours, none in quiet hours, none after they submitted, one escalation per official,
and a restart (new process objects, hours of downtime) loses and doubles nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import time_machine
from sqlalchemy import func, select, update

from bot.reminders import Reminders, reminder_config, snooze
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import (
    Account,
    Announcement,
    DeadlineDone,
    Identity,
    OrgUnit,
    OutboxMessage,
    ReminderMute,
    ReminderOccurrence,
    RoleAssignment,
    Submission,
)
from bot.submissions import create_submission
from rules.deadlines import occurrence
from tests.conftest import import_units
from tests.support.server import RunningBot, start_bot
from tests.support.web_chat import WebChat

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


@dataclass
class World:
    units: dict[str, int]
    people: dict[str, int]  # name -> account id (chat id on the web channel is the name)


PEOPLE = {
    # name: (role, unit code)
    "head1": ("village_head", "25000-01"),
    "head2": ("village_head", "25000-02"),
    "head3": ("village_head", "24958-01"),
    "commune1": ("commune_official", "25000"),
    "commune2": ("commune_official", "24958"),
    "province": ("province_official", "68"),
    "family": ("household", "25000-01"),
    "family2": ("household", "24958-01"),
}


async def make_world(db: Database, url: str) -> World:
    await import_units(url, "lam_dong_2025.csv")
    async with db.session() as session, session.begin():
        units = {
            code: unit_id
            for code, unit_id in (await session.execute(select(OrgUnit.code, OrgUnit.id))).all()
        }
        people = {}
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for name, (role, code) in PEOPLE.items():
            kind = "household" if role == "household" else "official"
            account = Account(
                locale="vi",
                kind=kind,
                consent_at=start,
                onboarded_at=start,
                created_at=start,
                home_unit_id=units[code],
            )
            session.add(account)
            await session.flush()
            session.add(Identity(account_id=account.id, channel="web", external_id=name))
            session.add(
                RoleAssignment(
                    account_id=account.id, role=role, org_unit_id=units[code], created_at=start
                )
            )
            people[name] = account.id
    return World(units, people)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.close()


async def submit_village_report(
    db: Database, world: World, name: str, code: str, period: str
) -> None:
    async with db.session() as session, session.begin():
        submission = await create_submission(
            session,
            form_id="village_monthly",
            form_version=1,
            account_id=world.people[name],
            org_unit_id=world.units[code],
            answers={"total": 120, "poor": 10},
            now=datetime.now(UTC),
        )
        submission.natural_key = f"village_monthly/{period}/{code}"


async def outbox(db: Database) -> list[OutboxMessage]:
    async with db.session() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        return list((await session.execute(query)).scalars())


def texts_for(rows: list[OutboxMessage], chat: str) -> list[tuple[datetime, str]]:
    return [(r.created_at.astimezone(TZ), r.payload["text"]) for r in rows if r.chat_id == chat]


async def reminders_of(db: Database) -> list[ReminderOccurrence]:
    async with db.session() as session:
        return list((await session.execute(select(ReminderOccurrence))).scalars())


# --------------------------------------------------------------------------- a season


async def test_a_whole_season_right_people_right_hours_once_across_a_restart(
    db: Database, settings: Settings, database_url: str
) -> None:
    world = await make_world(db, database_url)
    config = reminder_config(settings)
    ids = world.people
    moment = local(2026, 8, 30, 0, 0)
    # Down from 29/11 07:00 to 30/11 22:00 (restart lands in quiet hours) and from
    # 10/12 06:00 to 12/12 10:00; the second restart also gets new process objects.
    down = [
        (local(2026, 11, 29, 7, 0), local(2026, 11, 30, 22, 0)),
        (local(2026, 12, 10, 6, 0), local(2026, 12, 12, 10, 0)),
    ]
    end = local(2027, 1, 8, 0, 0)
    worker_db = Database(database_url)
    worker = Reminders(worker_db, config)
    with time_machine.travel(moment, tick=False) as clock:
        while moment < end:
            if any(start <= moment < stop for start, stop in down):
                moment += timedelta(hours=1)
                continue
            if moment == local(2026, 12, 12, 10, 0):  # restart: new engine, new objects
                await worker_db.close()
                worker_db = Database(database_url)
                worker = Reminders(worker_db, config)
            clock.move_to(moment)
            # Events just before a tick: what is decided at send time must see them.
            if moment == local(2026, 11, 4, 8, 0):
                clock.move_to(local(2026, 11, 4, 7, 59))
                await submit_village_report(db, world, "head1", "25000-01", "2026-10")
                clock.move_to(moment)
            if moment == local(2026, 11, 3, 9, 0):
                async with db.session() as session, session.begin():
                    session.add(
                        DeadlineDone(
                            deadline_id="annual_report",
                            occurrence="2026",
                            org_unit_id=world.units["24958"],
                            account_id=ids["commune2"],
                        )
                    )
            if moment == local(2026, 11, 20, 10, 0):
                async with db.session() as session, session.begin():
                    await session.execute(
                        update(Account).where(Account.id == ids["head3"]).values(push_enabled=False)
                    )
                    session.add(ReminderMute(account_id=ids["commune1"], kind="poverty_review"))
            if moment == local(2026, 11, 4, 9, 0):
                # head2 presses "Nhắc lại sau" on the -1d reminder: back at 14:00.
                occ = occurrence(config.deadlines.by_id["village_monthly"], "2026-10")
                assert occ is not None
                async with db.session() as session, session.begin():
                    until = await snooze(session, config, ids["head2"], occ, moment)
                assert until == local(2026, 11, 4, 14, 0)
            await worker.tick()
            moment += timedelta(hours=1)
    await worker_db.close()
    rows = await outbox(db)
    reminders = await reminders_of(db)

    # Nothing in quiet hours, nothing twice.
    assert rows, "nothing was sent all season"
    for row in rows:
        hour = row.created_at.astimezone(TZ).time()
        assert hour.hour >= 7 and hour.hour < 21, (row.idempotency_key, row.created_at)
    assert len({r.idempotency_key for r in rows}) == len(rows)
    keys = [(r.deadline_id, r.occurrence, r.step, r.account_id) for r in reminders]
    assert len(keys) == len(set(keys))

    def steps(name: str, deadline: str, occ: str) -> list[tuple[str, datetime]]:
        return sorted(
            (r.step, (r.sent_at or r.created_at).astimezone(TZ))
            for r in reminders
            if r.account_id == ids[name]
            and r.deadline_id == deadline
            and r.occurrence == occ
            and r.status == "sent"
        )

    # head1 submitted October's report at 07:59 on 4/11: no 08:00 reminder, nothing after.
    assert steps("head1", "village_monthly", "2026-10") == [("-3d", local(2026, 11, 2, 8))]
    # head2 never did: every step at 08:00, and the snooze at 14:00 the same day.
    assert steps("head2", "village_monthly", "2026-10") == [
        ("+1d", local(2026, 11, 6, 8)),
        ("-1d", local(2026, 11, 4, 8)),
        ("-3d", local(2026, 11, 2, 8)),
        ("0d", local(2026, 11, 5, 8)),
        ("later@202611041400", local(2026, 11, 4, 14)),
    ]
    # Escalation: ONE summary to each commune official, listing only its missing villages.
    escalations = [
        r
        for r in reminders
        if r.deadline_id == "village_monthly" and r.occurrence == "2026-10" and r.step == "esc"
    ]
    assert sorted(r.account_id for r in escalations) == sorted([ids["commune1"], ids["commune2"]])
    by_chat = {r.chat_id: r.payload["text"] for r in rows if ":2026-10:esc:" in r.idempotency_key}
    assert "• Thôn 2" in by_chat["commune1"] and "• Thôn 1" not in by_chat["commune1"]
    assert "còn 1 đơn vị" in by_chat["commune1"]
    assert "province" not in by_chat  # the commune has its own official: the nearest decides
    # The annual report (plan V.4): communes in the 2025 tree, escalated to the province once.
    assert [s for s, _ in steps("commune2", "annual_report", "2026")] == ["-14d", "-7d"]
    assert [s for s, _ in steps("commune1", "annual_report", "2026")] == [
        "+1d",
        "-14d",
        "-1d",
        "-3d",
        "-7d",
        "0d",
    ]
    province = [r for r in reminders if r.account_id == ids["province"]]
    annual = [r for r in province if r.deadline_id == "annual_report"]
    assert [(r.step, r.units["ids"]) for r in annual] == [("esc", [world.units["25000"]])]
    # The review window opened on 1/9 at 08:00 for commune officials and village heads.
    opened = steps("head3", "poverty_review", "2026")
    assert opened[0] == ("start", local(2026, 9, 1, 8))
    # First downtime: the -14d step of 30/11 08:00 went out when quiet hours ended on 1/12.
    assert ("-14d", local(2026, 12, 1, 7)) in steps("head1", "poverty_review", "2026")
    # Second downtime (restart): the -3d step of 11/12 went out once, at the restart.
    assert ("-3d", local(2026, 12, 12, 10)) in steps("head1", "poverty_review", "2026")
    assert [s for s, _ in steps("head1", "poverty_review", "2026")].count("-3d") == 1
    # head3 said /stop on 20/11: nothing after; commune1 muted the poverty review.
    assert all(when < local(2026, 11, 20, 10) for when, _ in texts_for(rows, "head3"))
    assert not [
        r
        for r in reminders
        if r.account_id == ids["commune1"]
        and r.deadline_id == "poverty_review"
        and r.created_at.astimezone(TZ) > local(2026, 11, 20, 10)
    ]
    assert steps("commune1", "village_monthly", "2026-11")  # other kinds still come
    # Households get no reminders; every reminder text names its basis and /stop.
    assert texts_for(rows, "family") == []
    sample = texts_for(rows, "head2")[0][1]
    assert "Căn cứ:" in sample and "/stop" in sample


async def test_two_workers_and_clock_jumps_never_send_twice(
    db: Database, settings: Settings, database_url: str
) -> None:
    world = await make_world(db, database_url)
    config = reminder_config(settings)
    other = Database(database_url)
    try:
        first, second = Reminders(db, config), Reminders(other, config)
        at = local(2026, 11, 2, 8, 0)
        results = await asyncio.gather(first.tick(at), second.tick(at), first.tick(at))
        assert sum(results) > 0
        # The clock jumps back a day and forward again: nothing new for those slots.
        assert await second.tick(local(2026, 11, 1, 8, 0)) == 0
        assert await first.tick(at + timedelta(minutes=30)) == 0
        # A jump far ahead sends only what is still valid: the +1d step, not -1d and 0d.
        await second.tick(local(2026, 11, 6, 9, 0))
    finally:
        await other.close()
    reminders = await reminders_of(db)
    keys = [(r.deadline_id, r.occurrence, r.step, r.account_id) for r in reminders]
    assert len(keys) == len(set(keys))
    head2 = sorted(
        r.step
        for r in reminders
        if r.account_id == world.people["head2"] and r.deadline_id == "village_monthly"
    )
    assert head2 == ["+1d", "-3d"]
    rows = await outbox(db)
    assert len({r.idempotency_key for r in rows}) == len(rows)


async def test_a_snooze_is_decided_again_when_it_comes_due(
    db: Database, settings: Settings, database_url: str
) -> None:
    world = await make_world(db, database_url)
    config = reminder_config(settings)
    worker = Reminders(db, config)
    occ = occurrence(config.deadlines.by_id["village_monthly"], "2026-10")
    assert occ is not None
    with time_machine.travel(local(2026, 11, 2, 8, 0), tick=False) as clock:
        await worker.tick()
        async with db.session() as session, session.begin():
            for name in ("head1", "head2", "head3"):
                await snooze(session, config, world.people[name], occ, local(2026, 11, 2, 8, 5))
        # Pressing twice is one snooze.
        async with db.session() as session, session.begin():
            await snooze(session, config, world.people["head2"], occ, local(2026, 11, 2, 8, 6))
        await submit_village_report(db, world, "head1", "25000-01", "2026-10")
        async with db.session() as session, session.begin():
            await session.execute(
                update(Account)
                .where(Account.id == world.people["head3"])
                .values(push_enabled=False)
            )
        clock.move_to(local(2026, 11, 2, 13, 59))
        assert await worker.tick() == 0
        clock.move_to(local(2026, 11, 2, 14, 0))
        assert await worker.tick() == 1
    states = {
        (r.account_id, r.status) for r in await reminders_of(db) if r.step.startswith("later@")
    }
    assert states == {
        (world.people["head1"], "skipped"),  # submitted meanwhile
        (world.people["head2"], "sent"),
        (world.people["head3"], "skipped"),  # said /stop meanwhile
    }


# --------------------------------------------------------------------------- in the chat


@pytest.fixture
async def running(settings: Settings, database_url: str) -> AsyncIterator[tuple[RunningBot, World]]:
    database = Database(database_url)
    try:
        world = await make_world(database, database_url)
    finally:
        await database.close()
    bot = await start_bot(settings)
    yield bot, world
    await bot.stop()


def said(replies: list[Any]) -> str:
    return "\n".join(r.text for r in replies)


def buttons(replies: list[Any]) -> dict[str, str]:
    return {title: payload for r in replies for title, payload in r.buttons}


async def test_reminder_buttons_stop_and_start_in_the_chat(
    running: tuple[RunningBot, World], http: aiohttp.ClientSession, settings: Settings
) -> None:
    bot, world = running
    services = bot.app.services
    config = reminder_config(settings)
    worker = Reminders(services.db, config)
    commune = WebChat(bot.url, "commune1", http)
    head = WebChat(bot.url, "head2", http)
    with time_machine.travel(local(2026, 11, 2, 8, 0), tick=True):
        await worker.tick()
        pushed = await commune.poll()
        text = said(pushed)
        assert "Nhắc hạn: Báo cáo hằng năm về Phong trào thi đua (năm 2026)" in text
        assert "hạn cuối 09/11/2026, còn 7 ngày" in text and "KH 3994/KH-UBND, mục V.4" in text
        choices = buttons(pushed)
        assert set(choices) == {"✅ Đã nộp", "⏰ Nhắc lại sau"}
        reply = said(await commune.send_payload(choices["⏰ Nhắc lại sau"]))
        assert "nhắc lại lúc 14:00 02/11/2026" in reply
        reply = said(await commune.send_payload(choices["✅ Đã nộp"]))
        assert "Đã ghi nhận: Xã Di Linh đã nộp Báo cáo hằng năm" in reply
        # A forged "done" for another commune is refused.
        forged = f"rem:done:annual_report:2026:{world.units['24958']}"
        assert "Đã ghi nhận" not in said(await commune.send_payload(forged))
        pushed = await head.poll()
        village = said(pushed)
        assert "Báo cáo tháng của thôn, khu phố (tháng 10/2026)" in village
        assert "Chưa xong: Thôn 2." in village
        # "Làm ngay" opens the village report (handlers/village.py) for that village and month.
        assert buttons(pushed)["📝 Làm ngay"] == "vr:start:25000-02:2026-10"
        opened = said(await head.send_payload("vr:start:25000-02:2026-10"))
        assert "không còn dùng được" not in opened and "10/2026" in opened
        await head.send_text("/cancel")
        await head.send_text("có")
    with time_machine.travel(local(2026, 11, 2, 14, 0), tick=True):
        await worker.tick()
        # Marked done: the snooze for the annual report is dropped.
        assert "Báo cáo hằng năm" not in said(await commune.poll())
        # /stop, typed as people type it, above a journey in progress.
        assert "Gửi thông báo tới địa bàn nào?" in said(await head.send_text("/thongbao"))
        stopped = said(await head.send_text("huỷ nhận tin"))
        assert "Đã dừng mọi tin nhắc" in stopped
        assert "Gửi thông báo tới địa bàn nào?" in stopped  # the journey goes on
        assert "Đã dừng" not in said(await head.send_text("đúng"))
    async with services.db.session() as session:
        account = await session.get(Account, world.people["head2"])
        assert account is not None and account.push_enabled is False
    with time_machine.travel(local(2026, 11, 4, 8, 0), tick=True):
        await worker.tick()
        assert said(await head.poll()) == ""
        await head.send_text("/start")
    async with services.db.session() as session:
        account = await session.get(Account, world.people["head2"])
        assert account is not None and account.push_enabled is True
    with time_machine.travel(local(2026, 11, 5, 8, 0), tick=True):
        await worker.tick()
        assert "Hôm nay (05/11/2026) là hạn cuối" in said(await head.poll())


async def test_households_are_reminded_of_an_unfinished_registration_until_they_send_it(
    running: tuple[RunningBot, World], http: aiohttp.ClientSession, settings: Settings
) -> None:
    bot, world = running
    services = bot.app.services
    worker = Reminders(services.db, reminder_config(settings))
    family = WebChat(bot.url, "family", http)
    family2 = WebChat(bot.url, "family2", http)
    # family starts registering and stops at the phone number; family2's registration was
    # returned by the village head for a correction.
    with time_machine.travel(local(2026, 12, 6, 10, 0), tick=True):
        assert "Họ và tên chủ hộ" in said(await family.send_text("/dangky"))
        assert "Số điện thoại" in said(await family.send_text("Nguyễn Văn An"))
    async with services.db.session() as session, session.begin():
        returned = await create_submission(
            session,
            form_id="household_exit_registration",
            form_version=services.forms["household_exit_registration"].version,
            account_id=world.people["family2"],
            org_unit_id=world.units["24958-01"],
            answers={"head_name": "Trần Thị Bình", "members": 4},
            now=datetime.now(UTC),
            receipt_prefix="TN",
        )
        returned.status = "returned"
    with time_machine.travel(local(2026, 12, 7, 8, 0), tick=True):
        await worker.tick()
        pushed = await family.poll()
        text = said(pushed)
        assert "đăng ký thoát nghèo còn dở" in text and "14/12/2026" in text
        assert "còn 7 ngày" in text and "Căn cứ: QĐ 24/2021/QĐ-TTg" in text
        assert buttons(pushed) == {
            "📝 Tiếp tục đăng ký": "hh:continue",
            "⏰ Nhắc lại sau": "rem:later:household_registration:2026",
        }
        snoozed = said(await family.send_payload("rem:later:household_registration:2026"))
        assert "nhắc lại lúc 14:00 07/12/2026" in snoozed
        assert "trả lại để bổ sung" in said(await family2.poll())
        assert said(await WebChat(bot.url, "family3", http).poll()) == ""
        # The button goes on where they stopped: the name is kept, the phone is asked.
        assert "Số điện thoại" in said(await family.send_payload("hh:continue"))
        assert "Số CCCD" in said(await family.send_text("0912 345 678"))
        # family2's button opens the returned registration with its answers kept.
        fixing = said(await family2.send_payload("hh:continue"))
        assert "Số điện thoại" in fixing and "Họ và tên chủ hộ" not in fixing
    with time_machine.travel(local(2026, 12, 7, 14, 0), tick=True):
        # Still unfinished at 14:00: the snooze comes back, with the same buttons.
        await worker.tick()
        again = await family.poll()
        assert "đăng ký thoát nghèo còn dở" in said(again)
        assert "📝 Tiếp tục đăng ký" in buttons(again)
    with time_machine.travel(local(2026, 12, 12, 7, 59), tick=True):
        async with services.db.session() as session, session.begin():
            await session.execute(
                update(Submission).where(Submission.id == returned.id).values(status="submitted")
            )
    with time_machine.travel(local(2026, 12, 12, 8, 0), tick=True):
        await worker.tick()
        assert "còn 2 ngày" in said(await family.poll())
        # Sent again at 07:59: no 08:00 reminder.
        assert said(await family2.poll()) == ""
    async with services.db.session() as session:
        query = select(ReminderOccurrence.account_id, ReminderOccurrence.step).where(
            ReminderOccurrence.deadline_id == "household_registration"
        )
        got = sorted((await session.execute(query)).all())
    ids = world.people
    assert got == sorted(
        [
            (ids["family"], "-7d"),
            (ids["family"], "later@202612071400"),
            (ids["family2"], "-7d"),
            (ids["family"], "-2d"),
        ]
    )


async def test_stop_withdraws_what_is_already_queued(
    running: tuple[RunningBot, World], http: aiohttp.ClientSession, settings: Settings
) -> None:
    bot, world = running
    worker = Reminders(bot.app.services.db, reminder_config(settings))
    telegram_chat = "777000"
    async with bot.app.services.db.session() as session, session.begin():
        session.add(
            Identity(
                account_id=world.people["head2"], channel="telegram", external_id=telegram_chat
            )
        )
    await worker.tick(local(2026, 11, 2, 8, 0))
    async with bot.app.services.db.session() as session:
        queued = await session.scalar(
            select(func.count()).where(
                OutboxMessage.chat_id == telegram_chat, OutboxMessage.status == "pending"
            )
        )
    assert queued == 1  # Telegram is not configured here: it waits in the outbox
    await WebChat(bot.url, "head2", http).send_text("/stop")
    async with bot.app.services.db.session() as session:
        status = await session.scalar(
            select(OutboxMessage.status).where(OutboxMessage.chat_id == telegram_chat)
        )
    assert status == "cancelled"


async def test_calendar_and_muting_a_kind(
    running: tuple[RunningBot, World], http: aiohttp.ClientSession, settings: Settings
) -> None:
    bot, world = running
    commune = WebChat(bot.url, "commune1", http)
    family = WebChat(bot.url, "family", http)
    with time_machine.travel(local(2026, 11, 1, 9, 0), tick=True):
        calendar = await commune.send_text("/lich")
        text = said(calendar)
        assert "Lịch hạn sắp tới" in text
        assert "09/11/2026: Báo cáo hằng năm về Phong trào thi đua (năm 2026)" in text
        assert "Xã Di Linh: ⏳ chưa xong" in text
        assert "01/09/2026" not in text  # the review window is under way: its end is shown
        mute = buttons(calendar)["🔕 Tắt nhắc: rà soát hộ nghèo"]
        assert "Đã tắt nhắc về rà soát hộ nghèo" in said(await commune.send_payload(mute))
        assert "🔕 bạn đã tắt nhắc loại này" in said(await commune.send_text("/lich"))
        # Households see the public calendar only, and cannot mute anything.
        public = await family.send_text("/lich")
        assert "Rà soát hộ nghèo" in said(public) and "Báo cáo hằng năm" not in said(public)
        assert not buttons(public)
        denied = said(await family.send_payload("rem:mute:poverty_review"))
        assert "Đã tắt" not in denied
    worker = Reminders(bot.app.services.db, reminder_config(settings))
    await worker.tick(local(2026, 11, 30, 8, 0))  # the review's -14d step
    async with bot.app.services.db.session() as session:
        got = set(
            (
                await session.execute(
                    select(ReminderOccurrence.account_id).where(
                        ReminderOccurrence.deadline_id == "poverty_review"
                    )
                )
            ).scalars()
        )
    assert world.people["commune1"] not in got and world.people["head1"] in got


async def test_announcement_to_a_subtree_and_role_with_preview_and_confirmation(
    running: tuple[RunningBot, World], http: aiohttp.ClientSession, settings: Settings
) -> None:
    bot, world = running
    commune = WebChat(bot.url, "commune1", http)
    outsider = WebChat(bot.url, "head3", http)
    with time_machine.travel(local(2026, 11, 10, 9, 0), tick=True):
        first = await commune.send_text("/thongbao")
        assert "Gửi thông báo tới địa bàn nào?" in said(first)
        whole = buttons(first)["Toàn bộ Xã Di Linh"]
        roles = await commune.send_payload(whole)
        assert set(buttons(roles)) >= {"Trưởng thôn, khu phố", "Hộ gia đình", "Tất cả"}
        await commune.send_payload(buttons(roles)["Trưởng thôn, khu phố"])
        when = await commune.send_text("Họp trưởng thôn lúc 14:00 thứ Năm tại UBND xã.")
        preview = await commune.send_payload(buttons(when)["🚀 Gửi ngay"])
        text = said(preview)
        assert "Họp trưởng thôn lúc 14:00" in text and "2 người" in text
        done = said(await commune.send_payload(buttons(preview)["✅ Gửi"]))
        assert "Đã gửi thông báo tới 2 người" in done
        got = said(await WebChat(bot.url, "head1", http).poll())
        assert "📢 Thông báo từ Xã Di Linh:\nHọp trưởng thôn" in got
        assert "Họp trưởng thôn" in said(await WebChat(bot.url, "head2", http).poll())
        assert said(await WebChat(bot.url, "head3", http).poll()) == ""  # another commune
        # A village head of another commune cannot aim at Di Linh with a forged button.
        await outsider.send_text("/thongbao")
        forged = said(await outsider.send_payload(f"ann:unit:{world.units['25000']}"))
        assert "Gửi cho ai?" not in forged
        # Scheduled into quiet hours: it waits until they end, then goes once.
        await commune.send_text("/thongbao")
        await commune.send_payload(whole)
        await commune.send_payload("ann:role:household")
        await commune.send_text("Ngày mai tiêm phòng cho trẻ em tại trạm y tế.")
        preview = await commune.send_text("22:30")
        assert "giờ yên lặng (21:00–07:00) nên sẽ gửi lúc 07:00 11/11/2026" in said(preview)
        scheduled = said(await commune.send_payload("ann:confirm"))
        assert "sẽ được gửi lúc 07:00 11/11/2026" in scheduled
    scheduler = bot.app.scheduler
    assert scheduler is not None

    async def bulk() -> int:
        async with bot.app.services.db.session() as session:
            query = select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "bulk")
            return int(await session.scalar(query) or 0)

    assert await bulk() == 2
    await scheduler.tick(local(2026, 11, 10, 23, 0))
    assert await bulk() == 2  # quiet hours: it waits
    await scheduler.tick(local(2026, 11, 11, 7, 0))
    assert await bulk() == 3  # the household of Thôn 1
    await scheduler.tick(local(2026, 11, 11, 7, 1))
    assert await bulk() == 3
    assert "tiêm phòng" in said(await WebChat(bot.url, "family", http).poll())
    async with bot.app.services.db.session() as session:
        statuses = set((await session.execute(select(Announcement.status))).scalars())
    assert statuses == {"sent"}


def test_preview_cli_shows_who_would_get_what_without_sending(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    import subprocess
    import sys

    async def prepare() -> None:
        database = Database(database_url)
        try:
            await make_world(database, database_url)
        finally:
            await database.close()

    asyncio.run(prepare())
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "bot", "reminders", "preview", "--at", "2026-11-03 08:00"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # 3/11 08:00: the -7d annual-report step (2/11) and the village -3d step are still valid.
    assert "annual_report/2026 step -7d" in out and "village_monthly/2026-10 step -3d" in out
    assert "web:**ad1" in out and "head1" not in out  # chats masked
    quiet = subprocess.run(
        [sys.executable, "-m", "bot", "reminders", "preview", "--at", "2026-11-03 22:00"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "quiet hours" in quiet.stdout and "nothing would be sent" in quiet.stdout

    async def count() -> int:
        database = Database(database_url)
        try:
            async with database.session() as session:
                return int(await session.scalar(select(func.count(OutboxMessage.id))) or 0)
        finally:
            await database.close()

    assert asyncio.run(count()) == 0
