"""Files people send, kept under DATA_DIR/uploads, named so they can be erased per person.

The web chat stores every file it receives; Telegram's are fetched and stored too, so that
a scan sent on one channel can be shown to an official on another. A reference is
``web:<name>`` (the web chat, as before) or ``file:<name>`` (another channel's file).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["LOCAL_PREFIXES", "Uploads"]

LOCAL_PREFIXES = ("web:", "file:")


class Uploads:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def under(cls, data_dir: Path) -> Uploads:
        """The files of DATA_DIR: every channel keeps them, and /delete erases them, here."""
        return cls(data_dir / "uploads")

    @staticmethod
    def _prefix(channel: str, sender: str) -> str:
        # The web chat's files were named by sender alone: kept that way, so they stay erasable.
        who = sender if channel == "web" else f"{channel}:{sender}"
        return hashlib.sha256(who.encode()).hexdigest()[:16]

    def save(self, sender: str, content: bytes, channel: str = "web") -> str:
        """Store the file; the reference names its sender's prefix and its content hash."""
        name = f"{self._prefix(channel, sender)}-{hashlib.sha256(content).hexdigest()}"
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / name).write_bytes(content)
        return f"{'web' if channel == 'web' else 'file'}:{name}"

    def read(self, ref: str | None) -> bytes | None:
        """A stored file's bytes; None for another kind of reference or a file erased."""
        if not ref or not ref.startswith(LOCAL_PREFIXES):
            return None
        name = ref.split(":", 1)[1]
        if "/" in name or name.startswith("."):
            return None
        path = self.directory / name
        return path.read_bytes() if path.is_file() else None

    def erase(self, sender: str, channel: str = "web") -> int:
        """Delete every file this sender sent, used in a form or not; returns how many."""
        removed = 0
        for path in self.directory.glob(f"{self._prefix(channel, sender)}-*"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed
