"""The eligibility calculator (rules/criteria.yaml + rules/criteria.py) at every boundary, and
`python -m bot criteria`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rules.criteria import FiguresError, evaluate, load_rules

REPO = Path(__file__).resolve().parent.parent


def households(start: tuple[int, int], now: tuple[int, int]) -> dict[str, int]:
    return {
        "poor_start": start[0],
        "near_poor_start": start[1],
        "poor_now": now[0],
        "near_poor_now": now[1],
    }


def rates(*values: float, first: int = 2021) -> dict[str, float]:
    return {str(first + i): v for i, v in enumerate(values)}


# (case, figures, eligible)
TABLE: list[tuple[str, dict[str, Any], bool]] = [
    # households: strictly more than 50 %, for every group
    ("commune 50% exactly", {"group": "commune", **households((300, 200), (120, 130))}, False),
    ("commune 50.2%", {"group": "commune", **households((300, 200), (120, 129))}, True),
    ("commune 49.8%", {"group": "commune", **households((300, 200), (120, 131))}, False),
    ("commune 50.0025%", {"group": "commune", **households((20001, 0), (10000, 0))}, True),
    ("commune 49.9975%", {"group": "commune", **households((20001, 0), (10001, 0))}, False),
    ("commune all gone", {"group": "commune", **households((10, 5), (0, 0))}, True),
    ("commune none gone", {"group": "commune", **households((10, 5), (10, 5))}, False),
    ("commune more now", {"group": "commune", **households((10, 5), (12, 5))}, False),
    ("village 50% exactly", {"group": "village", **households((2, 2), (1, 1))}, False),
    ("village 75%", {"group": "village", **households((2, 2), (1, 0))}, True),
    ("village alias thôn", {"group": "thôn", **households((2, 2), (1, 0))}, True),
    ("ward alias phường", {"group": "Phường", **households((8, 2), (3, 1))}, True),
    ("commune region III", {"group": "xa", "region": "III", **households((8, 2), (3, 1))}, True),
    ("commune region 2", {"group": "xa", "region": 2, **households((8, 2), (3, 1))}, True),
    (
        "commune region I, 50%",
        {"group": "xa", "region": "khu vực I", **households((8, 2), (3, 2))},
        False,
    ),
    # district: >= 4 points in each of 3 consecutive years (4 rates), OR households > 50 %
    (
        "district 4.0 exactly x3",
        {"group": "district", "poverty_rate_by_year": rates(16.3, 12.3, 8.3, 4.3)},
        True,
    ),
    (
        "district 3.99 one year",
        {
            "group": "district",
            "poverty_rate_by_year": rates(16.3, 12.3, 8.31, 4.3),
            **households((10, 10), (8, 8)),
        },
        False,
    ),
    (
        "district 4.5/4.5/4.3",
        {"group": "district", "poverty_rate_by_year": rates(16.5, 12.0, 7.5, 3.2)},
        True,
    ),
    (
        "district rates only last 3 count",
        {"group": "district", "poverty_rate_by_year": rates(20.0, 19.0, 15.0, 11.0, 7.0)},
        True,
    ),
    (
        "district drops given",
        {"group": "district", "poverty_rate_drop_by_year": {"2022": 4, "2023": 4.0, "2024": "4,1"}},
        True,
    ),
    (
        "district drops 3.9",
        {
            "group": "district",
            "poverty_rate_drop_by_year": {"2022": 4, "2023": 3.9, "2024": 5},
            **households((10, 0), (5, 0)),
        },
        False,
    ),
    (
        "district rate up",
        {
            "group": "district",
            "poverty_rate_by_year": rates(10.0, 11.0, 6.0, 1.0),
            **households((10, 0), (6, 0)),
        },
        False,
    ),
    (
        "district households only, 51%",
        {"group": "district", **households((1200, 800), (500, 480))},
        True,
    ),
    (
        "district rates fail, households 51%",
        {
            "group": "district",
            "poverty_rate_by_year": rates(12, 10, 8, 6),
            **households((1200, 800), (500, 480)),
        },
        True,
    ),
    (
        "district the issue's example",
        {
            "group": "district",
            "poverty_rate_by_year": {"2022": 12.0, "2023": 7.5, "2024": 3.2},
            **households((1200, 800), (500, 480)),
        },
        True,
    ),
    (
        "district nomination 2025 uses 2021-2024",
        {
            "group": "district",
            "nomination_year": 2025,
            "poverty_rate_by_year": rates(16.5, 12.0, 7.5, 3.2, 3.1),
        },
        True,
    ),
]


@pytest.mark.parametrize(("case", "figures", "eligible"), TABLE, ids=[t[0] for t in TABLE])
def test_verdicts(case: str, figures: dict[str, Any], eligible: bool) -> None:
    verdict = evaluate(figures)
    assert verdict.eligible is eligible, verdict.reasons
    assert verdict.reasons[-1].startswith("Kết luận:")
    assert ("ĐẠT" if eligible else "CHƯA ĐẠT") in verdict.reasons[-1]
    assert "KH 3994/KH-UBND, mục III.1" in verdict.reasons[-1]


def test_reasons_name_the_numbers() -> None:
    verdict = evaluate({"group": "commune", **households((300, 200), (120, 130))})
    text = " ".join(verdict.reasons)
    assert "đầu kỳ 500 hộ" in text and "nay 250 hộ" in text and "50%" in text
    assert "đúng bằng" in text
    verdict = evaluate(
        {"group": "district", "poverty_rate_by_year": rates(1650.0 / 100, 12.0, 7.5, 3.2)}
    )
    text = " ".join(verdict.reasons)
    assert "2021→2022 giảm 4,5 điểm" in text and "2023→2024 giảm 4,3 điểm" in text
    verdict = evaluate({"group": "district", **households((1200, 800), (500, 480))})
    assert "đầu kỳ 2.000 hộ (1.200 nghèo, 800 cận nghèo)" in " ".join(verdict.reasons)


ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("no group", {**households((1, 1), (0, 0))}, "group"),
    ("unknown group", {"group": "tỉnh", **households((1, 1), (0, 0))}, "group"),
    ("nothing but the group", {"group": "commune"}, "poor_start"),
    (
        "one household figure missing",
        {"group": "commune", "poor_start": 3, "near_poor_start": 2, "poor_now": 1},
        "near_poor_now",
    ),
    (
        "only 2 years of rates",
        {"group": "district", "poverty_rate_by_year": rates(12.0, 7.5)},
        "poverty_rate_by_year",
    ),
    (
        "3 years of rates (2 falls), no households",
        {"group": "district", "poverty_rate_by_year": rates(12.0, 7.5, 3.2)},
        "poverty_rate_by_year",
    ),
    (
        "only 2 years of drops",
        {"group": "district", "poverty_rate_drop_by_year": {"2023": 5, "2024": 5}},
        "poverty_rate_by_year",
    ),
    (
        "years not consecutive",
        {
            "group": "district",
            "poverty_rate_by_year": {"2019": 20, "2020": 15, "2022": 10, "2023": 5},
        },
        "poverty_rate_by_year",
    ),
    (
        "rates fail, households missing",
        {"group": "district", "poverty_rate_by_year": rates(12, 10, 8, 6)},
        "poor_start",
    ),
    (
        "households fail, rates too short",
        {"group": "district", "poverty_rate_by_year": rates(12, 7), **households((10, 0), (6, 0))},
        "poverty_rate_by_year",
    ),
    (
        "nomination year without its rates",
        {
            "group": "district",
            "nomination_year": 2026,
            "poverty_rate_by_year": rates(16.5, 12.0, 7.5, 3.2),
        },
        "poverty_rate_by_year",
    ),
    (
        "rates and drops disagree",
        {
            "group": "district",
            "poverty_rate_by_year": rates(16.5, 12.0, 7.5, 3.2),
            "poverty_rate_drop_by_year": {"2022": 5},
        },
        "poverty_rate_drop_by_year",
    ),
    ("start is zero", {"group": "commune", **households((0, 0), (0, 0))}, "poor_start"),
    ("negative count", {"group": "commune", **households((10, -1), (2, 0))}, "near_poor_start"),
    ("fraction of a household", {"group": "commune", **households((10, 2), (2.5, 0))}, "poor_now"),
    (
        "a count as text",
        {"group": "commune", **households((10, 2), (2, 0)), "poor_now": "hai"},
        "poor_now",
    ),
    (
        "a boolean count",
        {"group": "commune", **households((10, 2), (2, 0)), "poor_now": True},
        "poor_now",
    ),
    (
        "rate above 100",
        {"group": "district", "poverty_rate_by_year": rates(120, 12, 8, 4)},
        "poverty_rate_by_year",
    ),
    (
        "a year that is not one",
        {"group": "district", "poverty_rate_by_year": {"năm ngoái": 5}},
        "poverty_rate_by_year",
    ),
    (
        "a misspelt field",
        {"group": "commune", "poor_strat": 3, **households((3, 2), (1, 1))},
        "poor_strat",
    ),
    (
        "region for a village",
        {"group": "village", "region": "III", **households((3, 2), (1, 1))},
        "region",
    ),
    (
        "a commune outside regions I-III",
        {"group": "commune", "region": "IV", **households((3, 2), (1, 1))},
        "region",
    ),
]


@pytest.mark.parametrize(("case", "figures", "field"), ERRORS, ids=[e[0] for e in ERRORS])
def test_missing_or_contradictory_figures_are_errors_not_guesses(
    case: str, figures: dict[str, Any], field: str
) -> None:
    with pytest.raises(FiguresError) as raised:
        evaluate(figures)
    assert raised.value.field == field
    assert raised.value.message  # Vietnamese, for the person


def test_the_rules_file_holds_the_thresholds() -> None:
    rules = load_rules()
    district = dict(rules.groups["district"].tests)
    assert district["rate_drop"] == {"min_points": 4, "years": 3}
    assert district["households_drop"] == {"more_than_percent": 50}
    for group in ("commune", "village"):
        assert dict(rules.groups[group].tests) == {"households_drop": {"more_than_percent": 50}}


# --- python -m bot criteria --json ----------------------------------------------------------


def run_cli(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "criteria", *args],
        input=stdin,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_cli_prints_the_verdict_as_json() -> None:
    figures = {
        "group": "district",
        "poverty_rate_by_year": {"2022": 12.0, "2023": 7.5, "2024": 3.2},
        "poor_start": 1200,
        "near_poor_start": 800,
        "poor_now": 500,
        "near_poor_now": 480,
    }
    done = run_cli("--json", stdin=json.dumps(figures))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {"eligible", "reasons"}
    assert out["eligible"] is True
    assert any("51%" in reason for reason in out["reasons"])
    done = run_cli(
        "--json",
        stdin='{"group": "commune", "poor_start": 300, "near_poor_start": 200, '
        '"poor_now": 120, "near_poor_now": 130}',
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["eligible"] is False


@pytest.mark.parametrize(
    ("stdin", "words"),
    [
        ('{"group": "commune", "poor_start": 300}', "near_poor_start"),
        ('{"group": "district", "poverty_rate_by_year": {"2023": 7.5, "2024": 3.2}}', "4 năm"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "đối tượng JSON"),
    ],
)
def test_cli_errors_exit_2_with_one_line_on_stderr(stdin: str, words: str) -> None:
    done = run_cli("--json", stdin=stdin)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert words in lines[0]


def test_cli_reads_a_file_and_prints_text(tmp_path: Path) -> None:
    path = tmp_path / "figures.json"
    path.write_text(json.dumps({"group": "thôn", **households((4, 4), (1, 2))}), "utf-8")
    done = run_cli(str(path), stdin="")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ĐẠT\n")
    assert "62,5%" in done.stdout
