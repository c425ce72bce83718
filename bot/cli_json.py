"""Reading the JSON document a command is given (a file or stdin), with one clear error."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["InputError", "read_json"]


class InputError(Exception):
    """What to print after "error: " when the document cannot be read."""


def read_json(file: str | None = None) -> Any:
    """The document in ``file``, or on stdin without one."""
    try:
        data = Path(file).read_bytes() if file else sys.stdin.buffer.read()
        return json.loads(data.decode("utf-8"))
    except OSError as error:
        raise InputError(f"cannot read {file}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise InputError("input: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"input: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
