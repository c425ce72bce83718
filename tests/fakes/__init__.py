"""Test doubles for external services (Telegram Bot API, ...)."""

from tests.fakes.telegram import CallbackAnswer, FakeTelegram, SentMessage

__all__ = ["CallbackAnswer", "FakeTelegram", "SentMessage"]
