"""The command line as an official runs it: `python -m bot ...` in a shell."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.settings import Settings

REPO = Path(__file__).resolve().parent.parent
BINH_THUAN = REPO / "rules" / "orgunits" / "binh_thuan_2022.yaml"
LAM_DONG = REPO / "rules" / "orgunits" / "lam_dong_2025.csv"


def clean_env(**settings: str) -> dict[str, str]:
    """The caller's environment without any bot setting, plus the given ones."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(settings)
    return env


def bot_cli(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "db" / "bot.db"


@pytest.fixture
def env(tmp_path: Path, db_file: Path) -> dict[str, str]:
    return clean_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{db_file}",
        DATA_DIR=str(tmp_path / "data"),
        TELEGRAM_BOT_USERNAME="thu_nghiem_bot",
    )


def units_in(path: Path) -> int:
    return len(yaml.safe_load(path.read_text(encoding="utf-8")))


def query(db_file: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_file) as conn:
        return conn.execute(sql).fetchall()


def test_help_lists_the_commands(tmp_path: Path) -> None:
    done = bot_cli("--help", cwd=tmp_path, env=clean_env())
    assert done.returncode == 0, done.stderr
    for command in ("run", "migrate", "orgunits", "invite"):
        assert re.search(rf"\b{command}\b", done.stdout), f"{command} missing in:\n{done.stdout}"


def test_migrate_creates_the_database_and_can_run_again(
    tmp_path: Path, env: dict[str, str], db_file: Path
) -> None:
    done = bot_cli("migrate", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout
    tables = {name for (name,) in query(db_file, "SELECT name FROM sqlite_master")}
    assert {"accounts", "org_units", "invitations", "outbox", "processed_updates"} <= tables
    again = bot_cli("migrate", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr


def test_orgunits_import_reports_created_then_unchanged(
    tmp_path: Path, env: dict[str, str], db_file: Path
) -> None:
    total = units_in(BINH_THUAN)
    first = bot_cli("orgunits", "import", str(BINH_THUAN), cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert f"created {total}, updated 0, unchanged 0" in first.stdout
    assert query(db_file, "SELECT count(*) FROM org_units") == [(total,)]
    assert query(db_file, "SELECT name, level FROM org_units WHERE code = '60'") == [
        ("Tỉnh Bình Thuận", "province")
    ]

    second = bot_cli("orgunits", "import", str(BINH_THUAN), cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert f"created 0, updated 0, unchanged {total}" in second.stdout
    assert query(db_file, "SELECT count(*) FROM org_units") == [(total,)]


def test_orgunits_import_of_a_missing_file_fails_naming_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    missing = tmp_path / "khong-co.yaml"
    done = bot_cli("orgunits", "import", str(missing), cwd=tmp_path, env=env)
    assert done.returncode != 0
    assert "khong-co.yaml" in done.stderr
    assert "Traceback" not in done.stderr


def test_invite_prints_a_code_and_a_telegram_link_and_stores_only_a_hash(
    tmp_path: Path, env: dict[str, str], db_file: Path
) -> None:
    assert bot_cli("orgunits", "import", str(BINH_THUAN), cwd=tmp_path, env=env).returncode == 0
    done = bot_cli("invite", "--role", "village_head", "--unit", "22915-01", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    found = re.search(r"code: (\S+)", done.stdout)
    assert found, done.stdout
    code = found.group(1)
    assert len(code) >= 6
    assert f"https://t.me/thu_nghiem_bot?start={code}" in done.stdout
    assert "Khu phố 1" in done.stdout or "22915-01" in done.stdout

    rows = query(db_file, "SELECT code_hash, role, used_at FROM invitations")
    assert len(rows) == 1
    code_hash, role, used_at = rows[0]
    assert role == "village_head" and used_at is None
    assert isinstance(code_hash, str) and code_hash != code and code not in code_hash
    # Nowhere on disk: not in the database file, nor in its journal.
    for part in db_file.parent.glob(db_file.name + "*"):
        content = part.read_bytes()
        assert code.encode() not in content, part
        assert code.lower().encode() not in content, part


def test_each_invitation_gets_a_different_code(
    tmp_path: Path, env: dict[str, str], db_file: Path
) -> None:
    assert bot_cli("orgunits", "import", str(LAM_DONG), cwd=tmp_path, env=env).returncode == 0
    codes = set()
    for _ in range(2):
        done = bot_cli(
            "invite", "--role", "commune_official", "--unit", "25000", cwd=tmp_path, env=env
        )
        assert done.returncode == 0, done.stderr
        found = re.search(r"code: (\S+)", done.stdout)
        assert found, done.stdout
        codes.add(found.group(1))
    assert len(codes) == 2
    assert query(db_file, "SELECT count(DISTINCT code_hash) FROM invitations") == [(2,)]


def test_invite_for_an_unknown_unit_fails_clearly(
    tmp_path: Path, env: dict[str, str], db_file: Path
) -> None:
    assert bot_cli("orgunits", "import", str(BINH_THUAN), cwd=tmp_path, env=env).returncode == 0
    done = bot_cli("invite", "--role", "village_head", "--unit", "99999-99", cwd=tmp_path, env=env)
    assert done.returncode != 0
    assert "99999-99" in done.stderr
    assert "Traceback" not in done.stderr
    assert "code:" not in done.stdout
    assert query(db_file, "SELECT count(*) FROM invitations") == [(0,)]


WRONG_SETTINGS = [
    pytest.param({"WEB_PORT": "abc"}, "WEB_PORT", id="port-not-a-number"),
    pytest.param({"WEB_PORT": "70000"}, "WEB_PORT", id="port-out-of-range"),
    pytest.param({"DATABASE_URL": "mysql://x"}, "DATABASE_URL", id="unknown-database"),
    pytest.param({"DEFAULT_LOCALE": "fr"}, "DEFAULT_LOCALE", id="unknown-locale"),
    pytest.param({"SECRET_KEY": "short"}, "SECRET_KEY", id="short-secret"),
    pytest.param(
        {"TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_MODE": "webhook"},
        "TELEGRAM_WEBHOOK_URL",
        id="webhook-without-url",
    ),
]


@pytest.mark.parametrize(("wrong", "name"), WRONG_SETTINGS)
@pytest.mark.parametrize("command", ["migrate", "run"])
def test_a_wrong_setting_stops_with_one_line_naming_it(
    tmp_path: Path, env: dict[str, str], wrong: dict[str, str], name: str, command: str
) -> None:
    done = bot_cli(command, cwd=tmp_path, env={**env, **wrong}, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert name in lines[0]
    assert "Traceback" not in done.stderr


def test_a_wrong_setting_in_the_env_file_is_named_too(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / ".env").write_text("WEB_PORT=tám nghìn\n", encoding="utf-8")
    done = bot_cli("migrate", cwd=tmp_path, env=env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "WEB_PORT" in lines[0], done.stderr
