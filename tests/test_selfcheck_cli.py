"""`python -m bot selfcheck --json < answers.json`, run as a person runs it: in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.settings import Settings
from rules.poverty import default_standards


def run(
    stdin: str | bytes, *args: str, cwd: Path, json_output: bool = True
) -> subprocess.CompletedProcess[bytes]:
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    command = [
        sys.executable,
        "-m",
        "bot",
        "selfcheck",
        *(["--json"] if json_output else []),
        *args,
    ]
    return subprocess.run(
        command,
        input=stdin.encode("utf-8") if isinstance(stdin, str) else stdin,
        cwd=cwd,  # an empty directory: no .env file is read
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )


def answers(**changes: Any) -> str:
    data: dict[str, Any] = {
        "area": "rural",
        "household_size": 4,
        "monthly_income_vnd": 5_200_000,
        "lacking": ["health_insurance", "housing_area"],
        "on": "2026-06-01",
    }
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not ...})


def output(done: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode("utf-8").strip().splitlines()
    assert len(lines) == 1, lines  # one JSON document, nothing else on stdout
    data: dict[str, Any] = json.loads(lines[0])
    return data


def test_the_issues_example(tmp_path: Path) -> None:
    data = output(run(answers(), cwd=tmp_path))
    assert {k: data[k] for k in ("status", "income_per_person", "lacking")} == {
        "status": "near_poor",
        "income_per_person": 1_300_000,
        "lacking": ["health_insurance", "housing_area"],
    }
    assert data["standard"] == "nd07_2021"
    assert "07/2021/NĐ-CP" in data["citation"]


def test_boundaries_through_the_cli(tmp_path: Path) -> None:
    three = ["water", "employment", "sanitation"]
    at_line = output(run(answers(monthly_income_vnd=6_000_000, lacking=three), cwd=tmp_path))
    assert (at_line["status"], at_line["income_per_person"]) == ("poor", 1_500_000)
    # Ids come back in the standard's order, whatever order they were given in.
    assert at_line["lacking"] == ["employment", "water", "sanitation"]
    above = output(run(answers(monthly_income_vnd=6_000_004, lacking=three), cwd=tmp_path))
    assert (above["status"], above["income_per_person"]) == ("average", 1_500_001)
    urban = output(run(answers(area="urban", monthly_income_vnd=12_000_004), cwd=tmp_path))
    assert urban["status"] == "above"


def test_on_picks_the_standard(tmp_path: Path) -> None:
    income = {"household_size": 1, "monthly_income_vnd": 2_000_000, "lacking": []}
    old = output(run(answers(on="2026-12-31", **income), cwd=tmp_path))
    new = output(run(answers(on="2027-01-01", **income), cwd=tmp_path))
    assert (old["standard"], old["status"]) == ("nd07_2021", "average")
    assert (new["standard"], new["status"]) == ("nd351_2025", "near_poor")
    assert new["verified"] is False  # Decree 351's indicator list is not verified yet


def test_without_on_today_decides(tmp_path: Path) -> None:
    data = output(run(answers(on=...), cwd=tmp_path))
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    assert data["standard"] == default_standards().on(today).id


def test_lacking_may_be_left_out(tmp_path: Path) -> None:
    data = output(run(answers(lacking=...), cwd=tmp_path))
    assert (data["status"], data["lacking"]) == ("near_poor", [])


@pytest.mark.parametrize(
    ("stdin", "field"),
    [
        (answers(household_size=0), "household_size"),
        (answers(household_size=99.5), "household_size"),
        (answers(household_size="4"), "household_size"),
        (answers(monthly_income_vnd=-5), "monthly_income_vnd"),
        (answers(monthly_income_vnd=...), "monthly_income_vnd"),
        (answers(area="town"), "area"),
        (answers(area=...), "area"),
        (answers(lacking=["health_insurance", "waste"]), "lacking"),  # a 2027 indicator
        (answers(lacking="water"), "lacking"),
        (answers(on="31/12/2026"), "on"),
        (answers(on="2019-06-01"), "on"),  # no standard in force
        (answers(house_size=4), "house_size"),
        ('{"area": "rural", ', "input"),
        ("[1, 2]", "input"),
        (b"\xff\xfe{}", "input"),
    ],
)
def test_invalid_input_exits_2_naming_the_field(
    stdin: str | bytes, field: str, tmp_path: Path
) -> None:
    done = run(stdin, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == b""
    error = done.stderr.decode("utf-8").strip()
    assert "\n" not in error, error
    assert error.startswith(f"error: {field}: "), error


def test_unknown_indicator_is_named(tmp_path: Path) -> None:
    done = run(answers(lacking=["wifi"]), cwd=tmp_path)
    assert done.returncode == 2
    assert "'wifi'" in done.stderr.decode() and "information_access" in done.stderr.decode()


def test_plain_output_without_json(tmp_path: Path) -> None:
    done = run(answers(), cwd=tmp_path, json_output=False)
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode("utf-8")
    assert "status: near_poor" in text
    assert "income per person: 1300000" in text
    assert "health_insurance, housing_area" in text


def test_a_broken_standard_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "standard.yaml"
    bad.write_text("standards: []\n", encoding="utf-8")
    done = run(answers(), "--standard", str(bad), cwd=tmp_path)
    assert done.returncode == 1
    assert str(bad) in done.stderr.decode()
