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

    # Village monthly reports (rules/datasets/village_monthly.yaml). A report first sent by
    # this day of the following month is on time (DHIS2's "days after period end"); the
    # period locks for revisions this many days after it ends; an official's reopening of a
    # locked period for one village lasts this many days.
    village_report_due_day: int = Field(default=5, ge=0, le=28)
    village_report_lock_days: int = Field(default=15, ge=0, le=365)
    village_report_reopen_days: int = Field(default=7, ge=1, le=90)

    # Outbox sender limits; defaults follow Telegram's documentation.
    outbox_per_second: float = Field(default=30.0, gt=0)
    outbox_bulk_per_chat_per_second: float = Field(default=1.0, gt=0)
    outbox_group_per_minute: float = Field(default=20.0, gt=0)
    outbox_max_attempts: int = Field(default=5, ge=1, le=50)
    # Who sends Telegram and Zalo messages. "inline": `python -m bot run` does, in the same
    # process, and replies go to its sender in memory. "external": `run` only queues them, and
    # one or more `python -m bot sender` processes send them, each on a core of its own. On
    # PostgreSQL a sender is woken at the commit that queues a reply (LISTEN/NOTIFY); on SQLite
    # it looks every OUTBOX_POLL_SECONDS, so external senders are meant for PostgreSQL.
    # "process": as "external", with `run` starting one sender process itself, and stopping
    # or restarting it (bot/sender_child.py).
    outbox_sender: Literal["inline", "external", "process"] = "inline"
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # `python -m bot sender` serves /healthz and /metrics on this port (0: none).
    sender_port: int = Field(default=0, ge=0, le=65535)

    # Deadlines and reminders (rules/deadlines.yaml). Quiet hours are local (TIMEZONE) and
    # hold for every push: reminders, escalations and announcements wait until they end.
    quiet_hours_start: str = "21:00"
    quiet_hours_end: str = "07:00"
    # The village report's due day is VILLAGE_REPORT_DUE_DAY (the village report's setting).
    deadlines_file: str = "rules/deadlines.yaml"
    reminders_enabled: bool = True
    scheduler_interval_seconds: float = Field(default=30.0, gt=0)

    # Forwarding submissions: comma-separated URLs, each POST signed with HMAC-SHA256.
    webhook_urls: str = ""
    webhook_secret: str | None = None
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)

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
    # Requests per second to the Zalo Bot API (the docs state no figure; a cautious pace).
    zalo_bot_per_second: float = Field(default=20.0, gt=0)

    # Zalo Official Account (OA API v3). The app id and the OA secret key check webhook
    # events (X-ZEvent-Signature); the app's own secret key (a different one) refreshes the
    # access token. The token pair here only seeds the database, which keeps the current
    # pair from then on (a refresh token works once); set a new pair to replace it.
    zalo_oa_app_id: str | None = None
    zalo_oa_secret_key: str | None = None
    zalo_oa_app_secret: str | None = None
    zalo_oa_access_token: str | None = None
    zalo_oa_refresh_token: str | None = None
    zalo_oa_api_base: str = "https://openapi.zalo.me"
    zalo_oauth_base: str = "https://oauth.zaloapp.com"
    # Path of the OA webhook on this server (its public URL is set in the Zalo console).
    zalo_oa_webhook_path: str = "/zalo/oa/webhook"
    zalo_oa_per_second: float = Field(default=10.0, gt=0)
    # Customer-service messages are free for a limited number within hours of the
    # person's last message; outside that window a push is not sent as one.
    zalo_oa_reply_window_hours: float = Field(default=48.0, gt=0, le=24 * 7)
    zalo_oa_reply_window_messages: int = Field(default=8, ge=1, le=100)
    # Zalo bots cannot upload files: a file is sent as a link to this server (its public
    # address, e.g. https://bot.example.vn), valid this many hours. Empty: described only.
    zalo_files_base_url: str | None = None
    zalo_file_link_hours: int = Field(default=24, ge=1, le=24 * 7)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("quiet_hours_start", "quiet_hours_end")
    @classmethod
    def _clock(cls, value: str) -> str:
        hour, sep, minute = value.strip().partition(":")
        if not (sep and hour.isdigit() and minute.isdigit() and len(minute) == 2):
            raise ValueError("must be a time of day HH:MM")
        if int(hour) > 23 or int(minute) > 59:
            raise ValueError("must be a time of day HH:MM")
        return f"{int(hour):02d}:{minute}"

    @field_validator("webhook_urls")
    @classmethod
    def _urls(cls, value: str) -> str:
        for url in (part.strip() for part in value.split(",")):
            if url and not url.startswith(("http://", "https://")):
                raise ValueError("each URL must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _webhooks_need_a_secret(self) -> Settings:
        if self.webhook_url_list and not self.webhook_secret:
            raise ValueError("WEBHOOK_SECRET is required when WEBHOOK_URLS is set")
        if self.webhook_secret is not None and len(self.webhook_secret) < 16:
            raise ValueError("WEBHOOK_SECRET must be at least 16 characters")
        return self

    @property
    def webhook_url_list(self) -> list[str]:
        return [url.strip() for url in self.webhook_urls.split(",") if url.strip()]

    @model_validator(mode="after")
    def _webhook_needs_url_and_secret(self) -> Settings:
        if self.telegram_bot_token and self.telegram_mode == "webhook":
            if not self.telegram_webhook_url:
                raise ValueError("TELEGRAM_WEBHOOK_URL is required when TELEGRAM_MODE=webhook")
            if not self.telegram_webhook_secret:
                raise ValueError("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_MODE=webhook")
        return self

    @model_validator(mode="after")
    def _zalo_bot_webhook(self) -> Settings:
        if self.zalo_bot_token and self.zalo_bot_mode == "webhook":
            url = self.zalo_bot_webhook_url or ""
            if not url.startswith(("https://", "http://")):
                raise ValueError("ZALO_BOT_WEBHOOK_URL is required when ZALO_BOT_MODE=webhook")
            secret = self.zalo_bot_webhook_secret or ""
            if not 8 <= len(secret) <= 256:
                raise ValueError(
                    "ZALO_BOT_WEBHOOK_SECRET of 8 to 256 characters is required "
                    "when ZALO_BOT_MODE=webhook"
                )
        return self

    @model_validator(mode="after")
    def _zalo_oa_complete(self) -> Settings:
        if not (self.zalo_oa_access_token or self.zalo_oa_refresh_token):
            return self
        for name in ("zalo_oa_app_id", "zalo_oa_secret_key"):
            if not getattr(self, name):
                raise ValueError(f"{name.upper()} is required when a Zalo OA token is set")
        if self.zalo_oa_refresh_token and not self.zalo_oa_app_secret:
            raise ValueError("ZALO_OA_APP_SECRET is required to use ZALO_OA_REFRESH_TOKEN")
        if not self.zalo_oa_webhook_path.startswith("/"):
            raise ValueError("ZALO_OA_WEBHOOK_PATH must start with /")
        return self

    @field_validator("zalo_files_base_url", "zalo_oa_api_base", "zalo_oauth_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @property
    def zalo_oa_enabled(self) -> bool:
        return bool(
            self.zalo_oa_app_id and (self.zalo_oa_access_token or self.zalo_oa_refresh_token)
        )

    @model_validator(mode="after")
    def _lock_after_due(self) -> Settings:
        if self.village_report_lock_days < self.village_report_due_day:
            raise ValueError(
                "VILLAGE_REPORT_LOCK_DAYS must not be less than VILLAGE_REPORT_DUE_DAY"
            )
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
