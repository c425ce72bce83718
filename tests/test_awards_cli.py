"""`python -m bot awards check | import | export` as an official runs them in a shell."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.test_cli import LAM_DONG, clean_env, query

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "db" / "bot.db"


@pytest.fixture
def env(tmp_path: Path, db_file: Path) -> dict[str, str]:
    return clean_env(DATABASE_URL=f"sqlite+aiosqlite:///{db_file}", DATA_DIR=str(tmp_path / "data"))


def awards(
    *args: str, cwd: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "awards", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def import_tree(cwd: Path, env: dict[str, str]) -> None:
    """The Lâm Đồng units, imported with the real command as an official would."""
    units = subprocess.run(
        [sys.executable, "-m", "bot", "orgunits", "import", str(LAM_DONG)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert units.returncode == 0, units.stderr


def check(nominee: object, tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    done = awards("check", "--json", cwd=tmp_path, env=env, stdin=json.dumps(nominee))
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    assert set(result) == {"eligible", "reasons"}
    return result


# --- check -------------------------------------------------------------------------------


def test_check_prints_eligible_with_vietnamese_reasons(tmp_path: Path, env: dict[str, str]) -> None:
    result = check(
        {
            "award": "pm_certificate",
            "group": "household",
            "meets_criteria": True,
            "history": [
                {"award": "chairman_certificate_annual", "year": 2023},
                {"award": "chairman_certificate_annual", "year": 2024},
            ],
        },
        tmp_path,
        env,
    )
    assert result["eligible"] is True
    text = "\n".join(result["reasons"])  # type: ignore[arg-type]
    assert "Đạt tiêu chí thi đua của nhóm «Hộ gia đình»" in text
    assert "cần ít nhất 2 Bằng khen của Chủ tịch UBND tỉnh" in text
    assert "đã có 2 Bằng khen của Chủ tịch UBND tỉnh (2023, 2024)" in text


def test_check_one_chairman_certificate_is_not_enough_for_the_pm(
    tmp_path: Path, env: dict[str, str]
) -> None:
    result = check(
        {
            "award": "pm_certificate",
            "group": "household",
            "meets_criteria": True,
            "history": [{"award": "chairman_certificate_annual", "year": 2023}],
        },
        tmp_path,
        env,
    )
    assert result["eligible"] is False
    assert any("mới có 1 Bằng khen" in r for r in result["reasons"])  # type: ignore[union-attr]


def test_check_the_final_certificate_with_two_merit_certificates(
    tmp_path: Path, env: dict[str, str]
) -> None:
    nominee = {
        "award": "chairman_certificate_final",
        "group": "village",
        "meets_criteria": True,
        "history": [
            {"award": "merit_certificate", "year": 2022},
            {"award": "merit_certificate", "year": 2023},
        ],
    }
    assert check(nominee, tmp_path, env)["eligible"] is True
    nominee["history"] = nominee["history"][:1]  # type: ignore[index]
    result = check(nominee, tmp_path, env)
    assert result["eligible"] is False
    text = "\n".join(result["reasons"])  # type: ignore[arg-type]
    assert "2 Giấy khen hoặc 1 Bằng khen của Chủ tịch UBND tỉnh" in text
    assert "mới có 1 Giấy khen (2022)" in text


def test_check_criteria_not_met_or_another_movement(tmp_path: Path, env: dict[str, str]) -> None:
    result = check(
        {
            "award": "chairman_certificate_annual",
            "group": "commune",
            "meets_criteria": False,
            "history": [],
        },
        tmp_path,
        env,
    )
    assert result["eligible"] is False
    assert "Chưa đạt tiêu chí thi đua của nhóm «Xã, phường»." in result["reasons"]  # type: ignore[operator]
    result = check(
        {
            "award": "pm_certificate",
            "group": "official",
            "meets_criteria": True,
            "history": [
                {"award": "chairman_certificate_annual", "year": 2019, "movement": "other"},
                {"award": "chairman_certificate_annual", "year": 2020, "movement": "other"},
            ],
        },
        tmp_path,
        env,
    )
    assert result["eligible"] is False
    assert "2 khen thưởng của phong trào khác không được tính." in result["reasons"]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        ("{", "error: input: not valid JSON"),
        ('{"award": "pm", "group": "household", "meets_criteria": true}', "error: [award]"),
        (
            '{"award": "pm_certificate", "group": "household", "meets_criteria": "co"}',
            "error: [meets_criteria] phải là true hoặc false",
        ),
    ],
)
def test_check_bad_input_exits_2_with_one_line(
    stdin: str, expected: str, tmp_path: Path, env: dict[str, str]
) -> None:
    done = awards("check", "--json", cwd=tmp_path, env=env, stdin=stdin)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(expected), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# --- import ------------------------------------------------------------------------------

HISTORY = """group,unit,name,award,year,movement,decision
household,25000-03,Nguyễn Văn An,chairman_certificate_annual,2023,,123/QĐ-UBND
household,25000-03,Nguyễn Văn An,chairman_certificate_annual,2024,,
village,25000-03,,merit_certificate,2022,,
official,25000,Trần Thị Bình,chairman_certificate_annual,2019,vnn_2016_2020,
"""


def test_import_adds_then_finds_the_same_awards(
    tmp_path: Path, env: dict[str, str], db_file: Path
) -> None:
    import_tree(tmp_path, env)
    file = tmp_path / "khen-thuong.csv"
    file.write_text(HISTORY, encoding="utf-8-sig")
    first = awards("import", str(file), cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "4 awards added, 0 already in the history" in first.stdout
    rows = query(
        db_file,
        "SELECT nominee_key, nominee_name, award, year, movement, decision, source "
        "FROM award_history ORDER BY id",
    )
    assert rows[0] == (
        "name:25000-03:household:nguyen van an",
        "Nguyễn Văn An",
        "chairman_certificate_annual",
        2023,
        "vnn_2021_2025",
        "123/QĐ-UBND",
        "import",
    )
    assert rows[2][:2] == ("unit:25000-03", "Thôn Bình An")  # a unit's name from the tree
    assert rows[3][4] == "vnn_2016_2020"
    again = awards("import", str(file), cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "0 awards added, 4 already in the history" in again.stdout


def test_a_bad_line_stops_the_import_and_nothing_is_written(
    tmp_path: Path, env: dict[str, str], db_file: Path
) -> None:
    import_tree(tmp_path, env)
    file = tmp_path / "sai.csv"
    file.write_text(
        HISTORY
        + "household,99999,Lê Văn C,chairman_certificate_annual,2023,,\n"
        + "official,25000,,merit_certificate,2023,,\n"
        + "village,25000,,merit_certificate,hai nghin,,\n",
        encoding="utf-8",
    )
    done = awards("import", str(file), cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert "line 6: no org unit with code '99999'" in done.stderr
    assert "line 7: name is empty (needed for group official)" in done.stderr
    assert "line 8: year 'hai nghin' is not a year" in done.stderr
    assert "nothing was imported" in done.stderr
    assert query(db_file, "SELECT count(*) FROM award_history") == [(0,)]
    wrong_level = tmp_path / "cap.csv"
    wrong_level.write_text(
        "group,unit,award,year\nvillage,25000,merit_certificate,2023\n", encoding="utf-8"
    )
    done = awards("import", str(wrong_level), cwd=tmp_path, env=env)
    assert "line 2: unit '25000' is a commune, not a village" in done.stderr
    no_header = tmp_path / "thieu.csv"
    no_header.write_text("nhom,don vi\nhousehold,25000-03\n", encoding="utf-8")
    done = awards("import", str(no_header), cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert "missing column(s) group, unit, award, year" in done.stderr


# --- export ------------------------------------------------------------------------------


def test_export_writes_the_council_list_with_the_quotas(
    tmp_path: Path, env: dict[str, str]
) -> None:
    import_tree(tmp_path, env)
    output = tmp_path / "hoi-dong.xlsx"
    done = awards("export", "--unit", "68", "--output", str(output), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "0 nominations written" in done.stdout
    book = load_workbook(io.BytesIO(output.read_bytes()))
    assert book.sheetnames == ["Danh sách đề nghị", "Chỉ tiêu"]
    quotas = list(book["Chỉ tiêu"].iter_rows(values_only=True))
    assert quotas[0][:3] == ("Hình thức khen thưởng", "Năm", "Chỉ tiêu")
    assert (
        "Bằng khen Thủ tướng Chính phủ",
        2025,
        "Đơn vị cấp huyện",
        0,
        1,
        1,
        "Chưa đủ tối thiểu",
    ) in quotas
    missing = awards("export", "--unit", "999", cwd=tmp_path, env=env)
    assert missing.returncode == 1
    assert "no org unit with code '999'" in missing.stderr
