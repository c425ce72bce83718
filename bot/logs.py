"""Logging failures without personal data: where it broke, never what was typed."""

from __future__ import annotations

import asyncio
import logging
import traceback

__all__ = ["CancelledConnectionReset", "install_filters", "log_failure"]


def log_failure(log: logging.Logger, what: str, error: BaseException) -> None:
    """The exception type and the stack (files, lines, functions), not its message.

    Exception messages can quote input (a parser echoing a phone number, a driver echoing
    a row), so they stay out of the logs; the stack is enough to find the bug.
    """
    frames = traceback.extract_tb(error.__traceback__)
    stack = " <- ".join(
        f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in frames[::-1]
    )
    log.error("%s: %s at %s", what, type(error).__name__, stack)


class CancelledConnectionReset(logging.Filter):
    """A task cancelled just as its database connection was being given back.

    SQLAlchemy logs it as an error with a traceback ("Exception during reset or similar"),
    and it happens whenever a task stops at that moment: the sender process stopping
    (about one stop in three), a web request abandoned by its client. It costs nothing:
    the connection is discarded, and its transaction was never committed. Told as one
    line at INFO instead, so that an error in the log is always worth a look.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not (
            record.name.startswith("sqlalchemy.pool") and isinstance(error, asyncio.CancelledError)
        ):
            return True
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        record.msg, record.args = "a connection given back as its task stopped was discarded", ()
        record.exc_info, record.exc_text = None, None
        return logging.getLogger().isEnabledFor(logging.INFO)


def install_filters(handlers: list[logging.Handler] | None = None) -> None:
    """Put the filters above on the root logger's handlers (or on ``handlers``)."""
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        handler.addFilter(CancelledConnectionReset())
