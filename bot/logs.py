"""Logging failures without personal data: where it broke, never what was typed."""

from __future__ import annotations

import logging
import traceback

__all__ = ["log_failure"]


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
