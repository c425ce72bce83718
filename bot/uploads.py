"""Files people send in the web chat, kept under DATA_DIR/uploads, named so they can be erased."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["Uploads"]


class Uploads:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def _prefix(sender: str) -> str:
        return hashlib.sha256(sender.encode()).hexdigest()[:16]

    def save(self, sender: str, content: bytes) -> str:
        """Store the file; the reference names its sender's prefix and its content hash."""
        name = f"{self._prefix(sender)}-{hashlib.sha256(content).hexdigest()}"
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / name).write_bytes(content)
        return f"web:{name}"

    def erase(self, sender: str) -> int:
        """Delete every file this sender sent, used in a form or not; returns how many."""
        removed = 0
        for path in self.directory.glob(f"{self._prefix(sender)}-*"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed
