"""What the log says: failures without personal data, and no alarm over nothing."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import install_filters

POOL = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """The root logger writing to a string at INFO, with the bot's filters, as `run` does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    install_filters([handler])
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def test_a_connection_given_back_as_its_task_stops_is_one_quiet_line(
    output: io.StringIO,
) -> None:
    """What SQLAlchemy logs when the sender process is stopped at that moment."""
    error = raised(asyncio.CancelledError())
    logging.getLogger(POOL).error("Exception during reset or similar", exc_info=error)
    assert output.getvalue() == (
        f"INFO {POOL}: a connection given back as its task stopped was discarded\n"
    )


def test_other_errors_keep_their_level_and_traceback(output: io.StringIO) -> None:
    error = raised(ConnectionResetError("the database went away"))
    logging.getLogger(POOL).error("Exception during reset or similar", exc_info=error)
    logging.getLogger("bot.outbox").error("stopped", exc_info=raised(asyncio.CancelledError()))
    text = output.getvalue()
    assert text.startswith(f"ERROR {POOL}: Exception during reset or similar\nTraceback")
    assert "ConnectionResetError" in text
    assert "ERROR bot.outbox: stopped\nTraceback" in text


def test_at_warning_the_quiet_line_is_not_written(output: io.StringIO) -> None:
    logging.getLogger().setLevel(logging.WARNING)
    error = raised(asyncio.CancelledError())
    logging.getLogger(POOL).error("Exception during reset or similar", exc_info=error)
    assert output.getvalue() == ""
