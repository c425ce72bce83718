"""Reading what people type as commands: with or without diacritics, case, bot mentions."""

from __future__ import annotations

import pytest

from bot.core.dispatcher import parse_command


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("/start", ("start", "")),
        ("/start ABC123", ("start", "ABC123")),
        ("/Menu", ("menu", "")),
        ("/help@giamngheo_bot", ("help", "")),
        # Vietnamese keyboards put the diacritics in: the command is the same.
        ("/đăngký", ("dangky", "")),
        ("/liênkết 123 456", ("lienket", "123 456")),
        ("/tình_trạng", ("tinh_trang", "")),
        # Not commands: a number after a slash, a plain sentence.
        ("/123", (None, "")),
        ("1/2 sào", (None, "")),
        # Words people type instead of commands.
        ("trợ giúp", ("help", "")),
        ("Menu.", ("menu", "")),
        ("huỷ nhận tin", ("stop", "")),
        ("dung", (None, "")),  # could be "đúng": never /stop without its diacritics
    ],
)
def test_commands_as_people_type_them(typed: str, expected: tuple[str | None, str]) -> None:
    assert parse_command(typed) == expected
