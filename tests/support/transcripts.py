"""Golden conversations kept as data (tests/transcripts/*.yaml) and a runner for any channel.

A transcript is a list of steps. The user either types (``user``), presses a button by its
title as a person would (``press``), or sends a raw payload (``payload``, for forged or stale
buttons). ``bot`` lists texts that must appear, in order, in what the bot answered; ``buttons``
lists button titles that must be offered; ``absent`` lists texts that must not appear.
``as: NAME`` makes the step another person's (a village head next to a household);
``inbox: true`` reads what was pushed to that person since their last step.
``upload: NAME`` sends a file (a scan of a signed paper): a document where the channel takes
documents, a photo where it only takes photos (Zalo), so the bot must accept both.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

__all__ = ["Chat", "Reply", "Transcript", "load_transcripts", "run_transcript"]

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "transcripts"


@dataclass
class Reply:
    text: str
    buttons: list[tuple[str, str]] = field(default_factory=list)
    attachment: dict[str, Any] | None = None


class Chat(Protocol):
    """One person talking to the bot through some channel."""

    async def send_text(self, text: str) -> list[Reply]: ...
    async def send_payload(self, payload: str) -> list[Reply]: ...
    async def inbox(self) -> list[Reply]: ...
    async def send_file(self, filename: str) -> list[Reply]: ...


ChatFactory = Callable[[str], Chat]


@dataclass
class Transcript:
    name: str
    path: Path
    setup: dict[str, Any]
    steps: list[dict[str, Any]]


def load_transcripts() -> list[Transcript]:
    found = []
    for path in sorted(TRANSCRIPTS.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        found.append(Transcript(raw["name"], path, raw.get("setup") or {}, raw["steps"]))
    return found


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn").replace("đ", "d")


def find_button(replies: list[Reply], title: str) -> str:
    wanted = _fold(title)
    for reply in reversed(replies):
        for shown, payload in reply.buttons:
            if wanted in _fold(shown):
                return payload
    offered = [shown for reply in replies for shown, _ in reply.buttons]
    raise AssertionError(f"no button like {title!r}; offered: {offered}")


def substitute(value: str, names: dict[str, str]) -> str:
    for key, replacement in names.items():
        value = value.replace("{" + key + "}", replacement)
    return value


async def run_steps(
    chat_for: ChatFactory, transcript: Transcript, names: dict[str, str], hooks: dict[str, Any]
) -> list[Reply]:
    chats: dict[str, Chat] = {}
    seen: dict[str, list[Reply]] = {}
    last: list[Reply] = []
    for number, step in enumerate(transcript.steps, 1):
        where = f"{transcript.path.name} step {number}"
        if "hook" in step:
            await hooks[step["hook"]]()
            continue
        person = str(step.get("as", "user"))
        chat = chats.setdefault(person, chat_for(person))
        last = seen.get(person, [])
        if step.get("inbox"):
            last = await chat.inbox()
        elif "user" in step:
            last = await chat.send_text(substitute(str(step["user"]), names))
        elif "press" in step:
            try:
                payload = find_button(last, str(step["press"]))
            except AssertionError as error:
                said = "\n---\n".join(r.text for r in last)
                raise AssertionError(f"{where} ({person}): {error}\nafter:\n{said}") from None
            last = await chat.send_payload(payload)
        elif "payload" in step:
            last = await chat.send_payload(substitute(str(step["payload"]), names))
        elif "upload" in step:
            last = await chat.send_file(str(step["upload"]))
        else:
            raise AssertionError(
                f"{where}: a step needs user, press, payload, upload, inbox or hook"
            )
        seen[person] = last
        check_step(step, last, where, names)
    return last


def check_step(
    step: dict[str, Any], replies: list[Reply], where: str, names: dict[str, str] | None = None
) -> None:
    said = "\n---\n".join(r.text for r in replies)
    folded = _fold(said)
    position = 0
    for expected in (substitute(str(e), names or {}) for e in step.get("bot", [])):
        found = folded.find(_fold(expected), position)
        assert found >= 0, f"{where}: expected {expected!r} (in order) in:\n{said}"
        position = found + len(expected)
    for unwanted in step.get("absent", []):
        assert _fold(unwanted) not in folded, f"{where}: did not expect {unwanted!r} in:\n{said}"
    titles = [_fold(title) for r in replies for title, _ in r.buttons]
    for button in step.get("buttons", []):
        assert any(_fold(button) in t for t in titles), f"{where}: no button {button!r} in {titles}"
    if step.get("attachment"):
        names = [r.attachment["filename"] for r in replies if r.attachment]
        assert step["attachment"] in names, f"{where}: no attachment {step['attachment']!r}"


async def run_transcript(
    chat_for: ChatFactory | Chat,
    transcript: Transcript,
    names: dict[str, str] | None = None,
    hooks: dict[str, Any] | None = None,
) -> list[Reply]:
    """``chat_for`` makes a chat per person; a single Chat serves a one-person transcript."""
    if hasattr(chat_for, "send_text"):
        single: Chat = chat_for  # type: ignore[assignment]

        def only(person: str) -> Chat:
            assert person == "user", f"{transcript.path.name}: this driver has one person"
            return single

        return await run_steps(only, transcript, names or {}, hooks or {})
    return await run_steps(chat_for, transcript, names or {}, hooks or {})
