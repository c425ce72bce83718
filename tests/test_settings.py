"""Settings: embedded defaults, the environment and `.env`, one clear line when one is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sender_child import child_environment
from bot.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither the caller's environment nor a `.env` in the working directory may leak in."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_give_the_embedded_mode() -> None:
    settings = load_settings(_env_file=None)
    assert settings.database_url == "sqlite+aiosqlite:///./data/bot.db"
    assert settings.is_sqlite
    assert (settings.web_host, settings.web_port) == ("127.0.0.1", 8080)
    assert settings.default_locale == "vi"
    assert settings.timezone == "Asia/Ho_Chi_Minh"
    assert settings.telegram_bot_token is None
    assert settings.zalo_bot_token is None
    assert settings.telegram_mode == "polling"


def test_no_env_file_in_the_working_directory_is_fine() -> None:
    assert load_settings().web_port == 8080


def test_values_come_from_an_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "production.env"
    env_file.write_text(
        "# settings for the province server\n"
        "DATABASE_URL=postgresql+asyncpg://bot:mật-khẩu@db.example:5432/giamngheo\n"
        "WEB_HOST=0.0.0.0\n"
        "WEB_PORT=9090\n"
        'TELEGRAM_BOT_TOKEN="123456:ABC-def"\n'
        "TELEGRAM_BOT_USERNAME=giamngheo_lamdong_bot\n"
        "DEFAULT_LOCALE=en\n",
        encoding="utf-8",
    )
    settings = load_settings(_env_file=env_file)
    assert settings.database_url == "postgresql+asyncpg://bot:mật-khẩu@db.example:5432/giamngheo"
    assert not settings.is_sqlite
    assert (settings.web_host, settings.web_port) == ("0.0.0.0", 9090)
    assert settings.telegram_bot_token == "123456:ABC-def"
    assert settings.telegram_bot_username == "giamngheo_lamdong_bot"
    assert settings.default_locale == "en"


def test_the_env_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WEB_PORT=8181\n", encoding="utf-8")
    assert load_settings().web_port == 8181


def test_the_environment_wins_over_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "x.env"
    env_file.write_text("WEB_PORT=9090\nWEB_HOST=0.0.0.0\n", encoding="utf-8")
    monkeypatch.setenv("WEB_PORT", "7070")
    settings = load_settings(_env_file=env_file)
    assert settings.web_port == 7070
    assert settings.web_host == "0.0.0.0"


def test_setting_names_are_not_case_sensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("web_port", "8282")
    assert load_settings(_env_file=None).web_port == 8282


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"telegram_bot_token": "1:x", "telegram_mode": "webhook"}, "TELEGRAM_WEBHOOK_URL"),
        (
            {
                "telegram_bot_token": "1:x",
                "telegram_mode": "webhook",
                "telegram_webhook_url": "https://bot.example/tg",
            },
            "TELEGRAM_WEBHOOK_SECRET",
        ),
        (
            {
                "telegram_bot_token": "1:x",
                "telegram_mode": "webhook",
                "telegram_webhook_secret": "s3cret-s3cret",
            },
            "TELEGRAM_WEBHOOK_URL",
        ),
    ],
)
def test_webhook_mode_names_the_missing_setting(values: dict[str, str], missing: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None, **values)
    message = str(error.value)
    assert missing in message
    assert "\n" not in message


def test_webhook_mode_with_url_and_secret_is_accepted() -> None:
    settings = load_settings(
        _env_file=None,
        telegram_bot_token="1:x",
        telegram_mode="webhook",
        telegram_webhook_url="https://bot.example/tg",
        telegram_webhook_secret="s3cret-s3cret",
    )
    assert settings.telegram_mode == "webhook"


def test_webhook_settings_without_a_token_do_not_stop_the_embedded_mode() -> None:
    settings = load_settings(_env_file=None, telegram_mode="webhook")
    assert settings.telegram_bot_token is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEB_PORT", "abc"),
        ("WEB_PORT", "0"),
        ("WEB_PORT", "65536"),
        ("DATABASE_URL", "mysql://x"),
        ("DATABASE_URL", "sqlite:///plain-driver.db"),
        ("DEFAULT_LOCALE", "fr"),
        ("TELEGRAM_MODE", "push"),
        ("INVITATION_TTL_DAYS", "0"),
        ("SECRET_KEY", "short"),
    ],
)
def test_a_wrong_value_is_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None)
    message = str(error.value)
    assert name in message
    assert "\n" not in message


def test_a_wrong_value_in_the_env_file_names_the_setting(tmp_path: Path) -> None:
    env_file = tmp_path / "bad.env"
    env_file.write_text("DATABASE_URL=mysql://root@localhost/bot\n", encoding="utf-8")
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=env_file)
    assert "DATABASE_URL" in str(error.value)


def test_the_sender_run_starts_gets_every_setting_run_has(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """OUTBOX_SENDER=process: settings given in code reach the child through its environment,
    unchanged, except that the child sends instead of starting a sender of its own."""
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        data_dir=tmp_path / "data",
        web_port=9123,
        telegram_bot_token="123456:abcdef",
        outbox_sender="process",
        outbox_per_second=12.5,
        reminders_enabled=False,
        quiet_hours_start="22:30",
        log_level="warning",
        _env_file=None,
    )
    for name, value in child_environment(settings).items():
        monkeypatch.setenv(name, value)
    child = load_settings(_env_file=None)
    assert child.model_dump() == {**settings.model_dump(), "outbox_sender": "external"}
