"""The awards as data (rules/awards.yaml): prerequisites, quotas, household criteria,
rounds and deadlines, the check command's input, and the file's validation."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from rules.awards import (
    AWARDS_FILE,
    AwardInputError,
    AwardsFileError,
    HistoryItem,
    HouseholdFacts,
    area_of,
    check_eligibility,
    default_awards,
    household_criteria,
    parse_awards,
    parse_input,
    quota_lines,
    quota_room,
)

RULES = default_awards()
ANNUAL = "chairman_certificate_annual"
FINAL = "chairman_certificate_final"
MERIT = "merit_certificate"
PM = "pm_certificate"
OTHER = "another_movement_2016_2020"


def items(*awards: str, year: int = 2023, movement: str | None = None) -> list[HistoryItem]:
    return [HistoryItem(award, year, movement) for award in awards]


# --- prerequisites -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "eligible"),
    [
        ([], False),
        (items(ANNUAL), False),  # one short
        (items(ANNUAL, ANNUAL), True),  # exactly two
        (items(ANNUAL, FINAL), True),  # both kinds of chairman's certificate count
        (items(ANNUAL, ANNUAL, ANNUAL), True),
        (items(MERIT, MERIT, MERIT), False),  # Giấy khen is not a chairman's certificate
        (items(ANNUAL, PM), False),
        (items(ANNUAL, ANNUAL, movement=OTHER), False),  # another movement does not count
        (items(ANNUAL) + items(ANNUAL, movement=OTHER), False),
        (items(ANNUAL, movement=RULES.movement) + items(ANNUAL), True),  # named as this one
    ],
)
def test_pm_certificate_needs_two_chairman_certificates_of_this_movement(
    history: list[HistoryItem], eligible: bool
) -> None:
    verdict = check_eligibility(RULES, PM, "household", True, history, 2025)
    assert verdict.eligible is eligible
    keys = [r.key for r in verdict.reasons]
    wanted = "met" if eligible else "missing"
    assert f"award.reason.prerequisite_{wanted}" in keys


@pytest.mark.parametrize(
    ("history", "eligible"),
    [
        ([], False),
        (items(MERIT), False),  # one Giấy khen: one short
        (items(MERIT, MERIT), True),  # exactly two Giấy khen
        (items(ANNUAL), True),  # or one chairman's certificate
        (items(MERIT, ANNUAL), True),
        (items(PM), False),  # a PM's certificate is neither
        (items(MERIT, MERIT, movement=OTHER), False),
        (items(ANNUAL, movement=OTHER), False),
    ],
)
def test_chairman_final_needs_two_merit_certificates_or_one_chairman_certificate(
    history: list[HistoryItem], eligible: bool
) -> None:
    assert check_eligibility(RULES, FINAL, "village", True, history, 2025).eligible is eligible


def test_the_annual_chairman_certificate_needs_no_earlier_award() -> None:
    verdict = check_eligibility(RULES, ANNUAL, "official", True, [], 2026)
    assert verdict.eligible is True
    assert "award.reason.no_prerequisite" in [r.key for r in verdict.reasons]


def test_awards_after_the_nominations_year_do_not_count() -> None:
    history = [HistoryItem(ANNUAL, 2023), HistoryItem(ANNUAL, 2026)]
    assert check_eligibility(RULES, PM, "village", True, history, 2025).eligible is False
    assert check_eligibility(RULES, PM, "village", True, history, 2026).eligible is True
    # Without a year (the check command may not give one) every award counts.
    assert check_eligibility(RULES, PM, "village", True, history).eligible is True


def test_the_prerequisite_reason_lists_what_was_counted() -> None:
    history = [HistoryItem(MERIT, 2022), HistoryItem(ANNUAL, 2023, OTHER)]
    verdict = check_eligibility(RULES, FINAL, "household", True, history, 2025)
    reason = next(r for r in verdict.reasons if r.key == "award.reason.prerequisite_missing")
    assert reason.params["need"] == (("merit", 2), ("chairman", 1))
    assert reason.params["have"] == [("merit", 1, (2022,)), ("chairman", 0, ())]
    other = next(r for r in verdict.reasons if r.key == "award.reason.other_movement")
    assert other.params["count"] == 1


@pytest.mark.parametrize(("meets", "eligible"), [(True, True), (False, False), (None, None)])
def test_criteria_decide_when_the_prerequisites_are_met(
    meets: bool | None, eligible: bool | None
) -> None:
    history = items(ANNUAL, ANNUAL)
    assert check_eligibility(RULES, PM, "commune", meets, history, 2025).eligible is eligible


def test_unmet_prerequisites_are_not_hidden_by_unknown_criteria() -> None:
    assert check_eligibility(RULES, PM, "official", None, [], 2025).eligible is False


@pytest.mark.parametrize(
    ("award", "group", "allowed"),
    [
        (MERIT, "district", False),
        (MERIT, "organisation", False),
        (MERIT, "household", True),
        (PM, "organisation", True),
        (ANNUAL, "enterprise", True),
    ],
)
def test_who_may_be_proposed_for_each_award(award: str, group: str, allowed: bool) -> None:
    verdict = check_eligibility(RULES, award, group, True, items(ANNUAL, ANNUAL, MERIT, MERIT))
    assert verdict.eligible is allowed
    assert ("award.reason.group_not_allowed" in [r.key for r in verdict.reasons]) is not allowed


def test_every_group_of_the_plan_is_in_the_file() -> None:
    assert set(RULES.groups) == {
        "organisation",
        "district",
        "commune",
        "village",
        "household",
        "official",
        "enterprise",
    }
    assert RULES.groups["household"].kind == "individual"  # "kể cả hộ gia đình"


# --- quotas ------------------------------------------------------------------------------


def line(award: str, counts: dict[str, int], quota: str) -> tuple[int, bool, bool]:
    found = next(q for q in quota_lines(RULES.award(award), counts) if q.quota.id == quota)
    return found.count, found.over, found.under


@pytest.mark.parametrize(
    ("counts", "quota", "expected"),
    [
        ({"district": 0}, "district", (0, False, True)),
        ({"district": 1}, "district", (1, False, False)),
        ({"district": 2}, "district", (2, True, False)),
        ({"commune": 1}, "commune_or_village", (1, False, True)),
        ({"commune": 1, "village": 1}, "commune_or_village", (2, False, False)),
        ({"village": 3}, "commune_or_village", (3, False, False)),
        ({"commune": 2, "village": 2}, "commune_or_village", (4, True, False)),
        ({"household": 1}, "household", (1, False, True)),
        ({"household": 2}, "household", (2, False, False)),
        ({"household": 3}, "household", (3, False, False)),
        ({"household": 4}, "household", (4, True, False)),
        ({"enterprise": 0}, "enterprise_or_collective", (0, False, True)),
        ({"enterprise": 1, "organisation": 1}, "enterprise_or_collective", (2, False, False)),
        ({"enterprise": 2, "organisation": 1}, "enterprise_or_collective", (3, True, False)),
        ({"official": 1}, "person", (1, False, True)),
        ({"official": 3}, "person", (3, False, False)),
        ({"official": 4}, "person", (4, True, False)),
    ],
)
def test_pm_certificate_quotas_per_province(
    counts: dict[str, int], quota: str, expected: tuple[int, bool, bool]
) -> None:
    assert line(PM, counts, quota) == expected


@pytest.mark.parametrize(("award", "limit"), [(ANNUAL, 10), (FINAL, 15)])
def test_chairman_quotas_count_collectives_and_individuals_with_households(
    award: str, limit: int
) -> None:
    at_limit = {"household": limit - 3, "official": 3}
    assert line(award, at_limit, "individual") == (limit, False, False)
    assert not quota_room(RULES.award(award), at_limit, "household")
    one_below = {"household": limit - 4, "official": 3}
    assert quota_room(RULES.award(award), one_below, "official")
    assert line(award, {"household": limit + 1}, "individual") == (limit + 1, True, False)
    collectives = {"village": limit - 2, "commune": 1, "enterprise": 1}
    assert line(award, collectives, "collective") == (limit, False, False)
    assert not quota_room(RULES.award(award), collectives, "organisation")
    # The individuals' quota is apart from the collectives'.
    assert quota_room(RULES.award(award), collectives, "household")
    assert line(award, {**collectives, "district": 1}, "collective")[1] is True


def test_the_merit_certificate_has_no_provincial_quota() -> None:
    award = RULES.award(MERIT)
    assert quota_lines(award, {"household": 500}) == ()
    assert quota_room(award, {"household": 500}, "household")


def test_room_for_one_more_stops_exactly_at_the_maximum() -> None:
    assert quota_room(RULES.award(PM), {}, "district")
    assert not quota_room(RULES.award(PM), {"district": 1}, "district")
    assert quota_room(RULES.award(PM), {"village": 2}, "commune")
    assert not quota_room(RULES.award(PM), {"village": 2, "commune": 1}, "commune")


# --- households (III.1.đ) ----------------------------------------------------------------

GOOD = HouseholdFacts(
    registration_code="TN-2345",
    report_code="TT-2345",
    had_loan=True,
    repaid_on_time=True,
    initiatives=True,
    income_per_person=3_000_000,
    better_off_line=2_250_000,
)


@pytest.mark.parametrize(
    ("changes", "better_off", "met", "failing"),
    [
        ({}, False, True, None),
        ({}, True, True, None),
        ({"repaid_on_time": False}, False, False, "award.hh.loan_late"),
        ({"had_loan": False, "repaid_on_time": None}, False, True, None),
        ({"initiatives": False}, False, False, "award.hh.no_initiatives"),
        ({"initiatives": False, "helped_others": True}, False, True, None),
        ({"registration_code": None}, False, None, None),
        ({"report_code": None}, False, None, None),
        ({"income_per_person": 2_250_000}, True, False, "award.hh.not_better_off"),  # at the line
        ({"income_per_person": 2_250_001}, True, True, None),  # one dong above it
        ({"income_per_person": 2_000_000}, False, True, None),  # "khá" only for the PM's
        ({"income_per_person": None}, True, None, None),
    ],
)
def test_household_criteria(
    changes: dict[str, object], better_off: bool, met: bool | None, failing: str | None
) -> None:
    facts = dataclasses.replace(GOOD, **changes)
    result, reasons = household_criteria(facts, better_off)
    assert result is met
    assert [r.key for r in reasons if r.ok is False] == ([failing] if failing else [])


def test_area_follows_the_place_names() -> None:
    assert area_of(RULES, ["Khu phố 1", "Phường Phan Thiết"]) == "urban"
    assert area_of(RULES, ["Thôn Bình An", "Xã Di Linh"]) == "rural"
    assert area_of(RULES, ["Thôn 1", "Thị trấn Liên Hương"]) == "urban"
    assert area_of(RULES, ["khu pho 3"]) == "urban"  # typed without diacritics


# --- rounds and the deadline ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "on_time"),
    [(date(2026, 12, 29), True), (date(2026, 12, 30), False), (date(2027, 1, 2), False)],
)
def test_dossiers_are_due_before_30_december(day: date, on_time: bool) -> None:
    assert RULES.last_day(2026) == date(2026, 12, 29)
    assert RULES.on_time(2026, day) is on_time


@pytest.mark.parametrize(
    ("award", "day", "year"),
    [
        (ANNUAL, date(2026, 1, 1), 2026),
        (ANNUAL, date(2026, 12, 29), 2026),
        (ANNUAL, date(2026, 12, 30), 2027),  # the 2026 round is closed: next year's
        (MERIT, date(2026, 12, 31), 2027),
        (PM, date(2026, 11, 25), 2025),  # the final review's year
        (FINAL, date(2024, 3, 1), 2025),
    ],
)
def test_the_round_a_new_nomination_belongs_to(award: str, day: date, year: int) -> None:
    assert RULES.round_year(award, day) == year


def test_who_proposes_whom() -> None:
    assert RULES.groups_for({"village_head"}) == ("household",)
    assert set(RULES.groups_for({"commune_official"})) == {
        "village",
        "household",
        "official",
        "enterprise",
    }
    assert len(RULES.groups_for({"province_official"})) == 7
    assert RULES.groups_for({"household"}) == ()
    assert [p.id for p in RULES.parts_for("propose")] == ["achievement_report"]
    assert {p.id for p in RULES.parts_for("submit")} == {
        "achievement_report",
        "submission_letter",
        "council_minutes",
    }


# --- the check command's input ------------------------------------------------------------


def test_the_documented_input_is_read() -> None:
    nominee = parse_input(
        RULES,
        {
            "award": PM,
            "group": "household",
            "meets_criteria": True,
            "history": [{"award": ANNUAL, "year": 2023}, {"award": ANNUAL, "year": 2024}],
        },
    )
    assert nominee.history == (HistoryItem(ANNUAL, 2023), HistoryItem(ANNUAL, 2024))
    assert nominee.year is None


@pytest.mark.parametrize(
    ("raw", "field", "key"),
    [
        ([], "input", "award.input.object"),
        ({"group": "household", "meets_criteria": True}, "award", "award.input.missing"),
        (
            {"award": "bang_khen", "group": "household", "meets_criteria": True},
            "award",
            "award.input.award",
        ),
        ({"award": PM, "group": "family", "meets_criteria": True}, "group", "award.input.group"),
        (
            {"award": PM, "group": "household", "meets_criteria": "yes"},
            "meets_criteria",
            "award.input.boolean",
        ),
        (
            {"award": PM, "group": "household", "meets_criteria": True, "history": {}},
            "history",
            "award.input.history",
        ),
        (
            {
                "award": PM,
                "group": "household",
                "meets_criteria": True,
                "history": [{"year": 2023}],
            },
            "history[1]",
            "award.input.history",
        ),
        (
            {
                "award": PM,
                "group": "household",
                "meets_criteria": True,
                "history": [{"award": "x"}],
            },
            "history[1].award",
            "award.input.award",
        ),
        (
            {
                "award": PM,
                "group": "household",
                "meets_criteria": True,
                "history": [{"award": ANNUAL, "year": "2023"}],
            },
            "history[1].year",
            "award.input.year",
        ),
        (
            {
                "award": PM,
                "group": "household",
                "meets_criteria": True,
                "history": [{"award": ANNUAL, "nam": 2023}],
            },
            "history[1].nam",
            "award.input.unknown_field",
        ),
        (
            {"award": PM, "group": "household", "meets_criteria": True, "criteria": True},
            "criteria",
            "award.input.unknown_field",
        ),
    ],
)
def test_bad_input_names_the_field(raw: object, field: str, key: str) -> None:
    with pytest.raises(AwardInputError) as caught:
        parse_input(RULES, raw)
    assert (caught.value.field, caught.value.key) == (field, key)


# --- the file ----------------------------------------------------------------------------

TEXT = AWARDS_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "      - {id: person, groups: [official], min: 2, max: 3}\n",
            "",
            "no quota for group(s) official",
        ),
        (
            "groups: [district], min: 1, max: 1}",
            "groups: [district, village], min: 1, max: 1}",
            "a group is in two quotas",
        ),
        (
            "{kind: collective, unit_level: district",
            "{kind: team, unit_level: district",
            "groups.district",
        ),
        ('deadline: {before: "12-30"}', 'deadline: {before: "30/12"}', "deadline.before"),
        ("    round: annual\n", "    round: yearly\n", "round"),
        (
            "    merit_certificate: Giấy khen\n",
            "",
            "documents.award_names: missing merit_certificate",
        ),
        (
            "awards: [merit_certificate], at_least: 2}",
            "awards: [giay_khen], at_least: 2}",
            "unknown name(s) giay_khen",
        ),
        ("village_head: [household]", "village_head: [households]", "nominators.village_head"),
        ("    no_history:", "    no_story:", "documents.lines: missing no_history"),
    ],
)
def test_a_broken_file_names_the_entry(old: str, new: str, message: str) -> None:
    assert old in TEXT
    with pytest.raises(AwardsFileError) as caught:
        parse_awards(TEXT.replace(old, new, 1), Path("awards.yaml"))
    assert message in str(caught.value)
    assert "awards.yaml" in str(caught.value)
