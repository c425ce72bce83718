"""The two values every channel speaks: an `Incoming` update and a `Reply` to render."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Attachment", "Button", "Contact", "Incoming", "Reply"]


@dataclass(frozen=True, slots=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file going out (content set) or coming in (file_ref set by the channel)."""

    filename: str
    mime_type: str
    content: bytes | None = None
    file_ref: str | None = None
    kind: str = "document"  # document | photo


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str
    user_is_sender: bool = True


@dataclass(frozen=True, slots=True)
class Incoming:
    """One update from a person, whatever the platform.

    ``update_key`` identifies the update on its channel so that a re-delivery is a no-op.
    """

    channel: str
    sender_id: str
    update_key: str
    text: str | None = None
    payload: str | None = None
    attachment: Attachment | None = None
    contact: Contact | None = None
    start_arg: str | None = None
    display_name: str | None = None
    language_hint: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()
    attachment: Attachment | None = None
    # Channel hints that do not change the conversation (e.g. "request_contact": label).
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text": self.text,
            "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons],
        }
        if self.extra:
            data["extra"] = self.extra
        if self.attachment is not None:
            data["attachment"] = {
                "filename": self.attachment.filename,
                "mime_type": self.attachment.mime_type,
                "kind": self.attachment.kind,
                "content_b64": base64.b64encode(self.attachment.content or b"").decode(),
            }
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        attachment = None
        if raw := data.get("attachment"):
            attachment = Attachment(
                filename=raw["filename"],
                mime_type=raw["mime_type"],
                kind=raw.get("kind", "document"),
                content=base64.b64decode(raw["content_b64"]),
            )
        buttons = tuple(Button(b["title"], b["payload"]) for b in data.get("buttons", []))
        return cls(data["text"], buttons, attachment, dict(data.get("extra") or {}))
