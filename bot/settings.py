"""Settings from the environment and `.env`; the defaults give the embedded mode."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "SettingsError", "load_settings"]


class SettingsError(Exception):
    """A setting is wrong; the message is one line that names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = "sqlite+aiosqlite:///./data/bot.db"
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=1, le=65535)
    default_locale: Literal["vi", "en"] = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"
    # Key material for the CCCD (ID number): AES-GCM encryption and a keyed hash to find
    # duplicates. The embedded default is for a laptop only; production must set its own.
    secret_key: str = Field(default="dev-only-change-me-dev-only-change-me", min_length=16)
    invitation_ttl_days: int = Field(default=14, ge=1, le=365)
    data_dir: Path = Path("./data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_text_length: int = Field(default=2000, ge=100, le=100_000)
    # Imported at start when the database has no org units yet, so a fresh `make run` has
    # places to choose; a path, or empty to start with none.
    orgunits_seed: str = "rules/orgunits/lam_dong_2025.csv"

    # Outbox sender limits; defaults follow Telegram's documentation.
    outbox_per_second: float = Field(default=30.0, gt=0)
    outbox_bulk_per_chat_per_second: float = Field(default=1.0, gt=0)
    outbox_group_per_minute: float = Field(default=20.0, gt=0)
    outbox_max_attempts: int = Field(default=5, ge=1, le=50)

    telegram_bot_token: str | None = None
    telegram_bot_username: str = "giamngheo_bot"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_base: str | None = None

    zalo_bot_token: str | None = None
    zalo_bot_mode: Literal["polling", "webhook"] = "polling"
    zalo_bot_webhook_url: str | None = None
    zalo_bot_webhook_secret: str | None = None
    zalo_bot_api_base: str = "https://bot-api.zaloplatforms.com"

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @model_validator(mode="after")
    def _webhook_needs_url_and_secret(self) -> Settings:
        if self.telegram_bot_token and self.telegram_mode == "webhook":
            if not self.telegram_webhook_url:
                raise ValueError("TELEGRAM_WEBHOOK_URL is required when TELEGRAM_MODE=webhook")
            if not self.telegram_webhook_secret:
                raise ValueError("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_MODE=webhook")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    name = "_".join(str(part) for part in first["loc"]).upper() or "settings"
    message = str(first["msg"]).removeprefix("Value error, ")
    if name == "SETTINGS" or not first["loc"]:
        return f"invalid settings: {message}"
    return f"invalid setting {name}: {message}"


def load_settings(**overrides: object) -> Settings:
    """Read settings; a wrong one raises SettingsError with one line naming it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(_one_line(error)) from None


@lru_cache(maxsize=1)
def cached_settings() -> Settings:
    return load_settings()
