"""Aggregation up the tree, rates, completeness, baselines and the movement's criteria, against
figures worked out by hand for a small tree with a district level (the 2022 shape)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.village_reports import PeriodRules
from rules.aggregate import (
    Indicator,
    Tree,
    Unit,
    baselines,
    change,
    completeness,
    consecutive_drops,
    indicator_values,
    reduced_by_more_than,
    sum_up,
    year_end,
)
from rules.periods import Month, month_range

VN = ZoneInfo("Asia/Ho_Chi_Minh")
FIELDS = ["total", "poor", "near_poor"]
INDICATORS = [
    Indicator("poverty_rate", "poor", "total", 100),
    Indicator("poor_and_near_poor", "poor + near_poor", "1", 1),
]

# Province P -> districts D1, D2 -> communes C1, C2 (D1), C3 (D2) -> villages V1..V5.
TREE = Tree(
    [
        Unit("P", None, "province", "Tỉnh P"),
        Unit("D1", "P", "district", "Huyện 1"),
        Unit("D2", "P", "district", "Huyện 2"),
        Unit("C1", "D1", "commune", "Xã 1"),
        Unit("C2", "D1", "commune", "Xã 2"),
        Unit("C3", "D2", "commune", "Xã 3"),
        Unit("V1", "C1", "village", "Thôn 1"),
        Unit("V2", "C1", "village", "Thôn 2"),
        Unit("V3", "C2", "village", "Thôn 3"),
        Unit("V4", "C3", "village", "Thôn 4"),
        Unit("V5", "C3", "village", "Thôn 5"),
    ]
)
# October 2026; V5 did not report.
REPORTED = {
    "V1": {"total": 100, "poor": 10, "near_poor": 5},
    "V2": {"total": 200, "poor": 30, "near_poor": 20},
    "V3": {"total": 50, "poor": 5, "near_poor": 0},
    "V4": {"total": 150, "poor": 15, "near_poor": 15},
}
RULES = PeriodRules(due_days=5, lock_days=15, reopen_days=7)
OCTOBER = Month(2026, 10)
FIRST_SENT = {
    "V1": datetime(2026, 11, 3, 9, 0, tzinfo=VN),  # on time
    "V2": datetime(2026, 11, 6, 0, 0, 1, tzinfo=VN),  # one second after the due day: late
    "V3": datetime(2026, 10, 20, 8, 0, tzinfo=VN),  # during the month: on time
    "V4": datetime(2026, 11, 5, 23, 59, tzinfo=VN),  # the last minute of the due day
}


def test_sums_go_up_every_level_of_the_tree() -> None:
    totals = sum_up(TREE, REPORTED, FIELDS)
    assert totals["C1"].values == {"total": 300, "poor": 40, "near_poor": 25}
    assert totals["C2"].values == {"total": 50, "poor": 5, "near_poor": 0}
    assert totals["D1"].values == {"total": 350, "poor": 45, "near_poor": 25}
    assert totals["C3"].values == {"total": 150, "poor": 15, "near_poor": 15}
    assert totals["D2"].values == totals["C3"].values
    assert totals["P"].values == {"total": 500, "poor": 60, "near_poor": 40}
    assert (totals["P"].reports, totals["D1"].reports, totals["C3"].reports) == (4, 3, 1)
    # A village that sent nothing has no figures, not zeros.
    assert totals["V5"].values == {} and totals["V5"].reports == 0


def test_sums_skip_missing_answers_and_keep_decimals_exact() -> None:
    tree = Tree([Unit("C", None, "commune"), Unit("A", "C", "village"), Unit("B", "C", "village")])
    totals = sum_up(tree, {"A": {"x": "0.1", "y": None}, "B": {"x": "0.2", "y": 3}}, ["x", "y"])
    assert totals["C"].values == {"x": Decimal("0.3"), "y": 3}


def test_rates_are_numerator_over_denominator_times_the_factor() -> None:
    totals = sum_up(TREE, REPORTED, FIELDS)
    rates = {code: indicator_values(INDICATORS, t.values) for code, t in totals.items()}
    assert rates["P"]["poverty_rate"] == pytest.approx(12.0)  # 60 / 500
    assert rates["D1"]["poverty_rate"] == pytest.approx(45 / 350 * 100)  # 12.857...
    assert rates["C1"]["poverty_rate"] == pytest.approx(40 / 300 * 100)
    assert rates["C3"]["poverty_rate"] == pytest.approx(10.0)
    assert rates["P"]["poor_and_near_poor"] == 100
    # No data, or a denominator of zero: no rate rather than a made-up one.
    assert rates["V5"]["poverty_rate"] is None
    assert indicator_values(INDICATORS, {"total": 0, "poor": 0})["poverty_rate"] is None


def test_completeness_counts_expected_on_time_late_and_missing_as_dhis2() -> None:
    done = completeness(TREE, "village", FIRST_SENT, RULES.due(OCTOBER))
    province = done["P"]
    assert (province.expected, province.on_time, province.late) == (5, 3, 1)
    assert province.submitted == 4 and province.missing == ("V5",)
    assert province.reporting_rate == pytest.approx(80.0)
    assert province.on_time_rate == pytest.approx(60.0)
    assert done["D1"].reporting_rate == pytest.approx(100.0)
    assert done["D1"].on_time_rate == pytest.approx(200 / 3)
    assert done["D2"].reporting_rate == pytest.approx(50.0)
    assert done["C3"].missing == ("V5",)
    assert done["V2"].late == 1 and done["V2"].on_time_rate == 0.0
    # A unit with nothing expected has no rate.
    empty = completeness(Tree([Unit("X", None, "commune")]), "village", {}, RULES.due(OCTOBER))
    assert empty["X"].reporting_rate is None


def test_a_report_from_an_unexpected_level_is_counted_apart() -> None:
    sent = {**FIRST_SENT, "C2": datetime(2026, 11, 1, tzinfo=VN)}
    done = completeness(TREE, "village", sent, RULES.due(OCTOBER))
    assert done["P"].extra == 1 and done["P"].expected == 5


def test_baselines_explicit_first_report_and_sums_with_coverage() -> None:
    explicit = {"C1": {"total": 280, "poor": 60, "near_poor": 40}}
    first = {
        "V1": {"total": 1, "poor": 1, "near_poor": 1},  # under C1's explicit baseline: unused
        "V3": {"total": 50, "poor": 10, "near_poor": 5},
        "V4": {"total": 140, "poor": 30, "near_poor": 30},
    }
    found = baselines(TREE, "village", FIELDS, explicit, first)
    c1, c2, d1, c3, p = (found[c] for c in ("C1", "C2", "D1", "C3", "P"))
    assert c1 is not None and c1.values == {"total": 280, "poor": 60, "near_poor": 40}
    assert c2 is not None and (c2.covered, c2.expected) == (1, 1)
    assert d1 is not None and d1.values == {"total": 330, "poor": 70, "near_poor": 45}
    assert d1.complete
    assert c3 is not None and (c3.covered, c3.expected, c3.complete) == (1, 2, False)
    assert p is not None and p.values == {"total": 470, "poor": 100, "near_poor": 75}
    assert (p.covered, p.expected) == (4, 5)
    assert found["V5"] is None


def test_change_since_the_baseline_and_the_halving_criterion() -> None:
    moved = change(100, 175)  # poor + near-poor of P: now 100, at the start 175
    assert moved.absolute == -75
    assert moved.percent == pytest.approx(-42.857142857)
    assert reduced_by_more_than(100, 175) is False
    assert reduced_by_more_than(5, 15) is True  # C2: down two thirds
    # "More than 50 %" is strict: exactly half is not enough, one household more is.
    assert reduced_by_more_than(50, 100) is False
    assert reduced_by_more_than(49, 100) is True
    assert reduced_by_more_than(12.5, 25.0) is False
    assert reduced_by_more_than(None, 100) is None
    assert reduced_by_more_than(10, 0) is None
    assert change(None, 10).percent is None


def test_poverty_rate_down_four_points_three_years_running() -> None:
    assert consecutive_drops({2021: 20.0, 2022: 16.0, 2023: 12.0, 2024: 8.0}) is True
    # 3.9 points in one year breaks the run; so does a missing year.
    assert consecutive_drops({2021: 20.0, 2022: 16.1, 2023: 12.0, 2024: 8.0}) is False
    assert consecutive_drops({2021: 20.0, 2022: 16.0, 2024: 8.0}) is False
    assert consecutive_drops({2020: 30, 2021: 20.0, 2022: 16.0, 2023: 12.0}, ending=2023)
    assert not consecutive_drops({2020: 30, 2021: 20.0, 2022: 16.0, 2023: 12.0}, ending=2022)


def test_year_end_takes_each_years_last_month() -> None:
    values = {Month(2021, 6): 1, Month(2021, 12): 2, Month(2022, 3): 3, Month(2022, 4): None}
    assert year_end(values) == {2021: 2, 2022: 3}


def test_periods_due_lock_reopen_and_the_default() -> None:
    assert RULES.due(OCTOBER) == datetime(2026, 11, 5, 23, 59, 59, 999999, tzinfo=VN)
    assert RULES.locks_after(OCTOBER) == date(2026, 11, 15)
    assert RULES.status(OCTOBER, date(2026, 11, 15)) == "open"
    assert RULES.status(OCTOBER, date(2026, 11, 16)) == "locked"
    assert RULES.status(OCTOBER, date(2026, 11, 18), reopened=date(2026, 11, 20)) == "reopened"
    assert RULES.status(OCTOBER, date(2026, 11, 21), reopened=date(2026, 11, 20)) == "locked"
    assert RULES.status(Month(2026, 12), date(2026, 11, 25)) == "future"
    assert RULES.status(Month(2026, 11), date(2026, 11, 1)) == "open"
    assert RULES.default_period(date(2026, 11, 10)) == OCTOBER
    assert RULES.default_period(date(2026, 11, 25)) == Month(2026, 11)
    assert RULES.open_periods(date(2026, 11, 10)) == [Month(2026, 11), OCTOBER]
    assert RULES.open_periods(date(2026, 11, 25)) == [Month(2026, 11)]
    # January reports on December of the year before.
    assert RULES.default_period(date(2027, 1, 3)) == Month(2026, 12)


def test_months_read_and_count() -> None:
    assert Month.parse("2026-10") == Month.parse("10/2026") == OCTOBER
    assert Month(2027, 1) == OCTOBER + 3 and Month(2025, 12) == OCTOBER - 10
    assert OCTOBER.end == date(2026, 10, 31) and Month(2028, 2).end == date(2028, 2, 29)
    assert [m.label() for m in month_range(Month(2026, 11), Month(2027, 1))] == [
        "11/2026",
        "12/2026",
        "01/2027",
    ]
    with pytest.raises(ValueError):
        Month.parse("13/2026")
    with pytest.raises(ValueError):
        Month.parse("tháng mười")
