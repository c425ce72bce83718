"""Reading text the way people type it: NFC, lower case, diacritics folded, noise removed."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["bare_place_name", "clean_input", "fold", "is_meaningful", "split_long_text"]

# Bidi overrides and other format characters make text look different from what it is.
_FORMAT_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
_SPACES = re.compile(r"\s+")
# People type "Phu Long", the list says "Xã Phú Long": a place's kind is often left out.
_PLACE_KIND = re.compile(
    r"^(tinh|thanh pho|tp\.?|huyen|thi xa|quan|xa|phuong|thi tran|dac khu|thon|khu pho|kp|ap|ban|"
    r"to dan pho|buon|lang|khom)\s+"
)


def clean_input(text: str, max_length: int) -> str:
    """NFC-normalise, drop control/format characters, collapse spaces, cap the length."""
    text = unicodedata.normalize("NFC", text)
    # Nearly every message is printable: no character of a category dropped below (Python
    # counts those, and every space but " ", as unprintable), so none needs looking at.
    kept = text if text.isprintable() else _drop_unseen(text)
    return _SPACES.sub(" ", kept).strip()[:max_length]


def _drop_unseen(text: str) -> str:
    return "".join(
        " " if ch in "\t\n\r" else ch
        for ch in text
        if ch in "\t\n\r" or unicodedata.category(ch) not in _FORMAT_CATEGORIES
    )


def fold(text: str) -> str:
    """Lower case without diacritics: "Thoát Nghèo" and "thoat ngheo" fold the same."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return _SPACES.sub(" ", stripped.replace("đ", "d").replace("Đ", "d")).strip()


def bare_place_name(folded: str) -> str:
    """A folded place name without its kind: "xa phu long" -> "phu long"."""
    return _PLACE_KIND.sub("", folded)


def is_meaningful(text: str) -> bool:
    """True when the text has at least one letter or digit (not only emoji or symbols)."""
    return any(ch.isalnum() for ch in text)


def split_long_text(text: str, limit: int) -> list[str]:
    """Split on paragraph, then word boundaries so no part exceeds ``limit`` characters."""
    parts: list[str] = []
    current = ""
    for paragraph in text.split("\n\n"):
        for chunk in _split_piece(paragraph, limit):
            candidate = f"{current}\n\n{chunk}" if current else chunk
            if len(candidate) <= limit:
                current = candidate
            else:
                parts.append(current)
                current = chunk
    if current:
        parts.append(current)
    return parts


def _split_piece(piece: str, limit: int) -> list[str]:
    if len(piece) <= limit:
        return [piece]
    out: list[str] = []
    current = ""
    for word in re.split(r"(\s+)", piece):
        if len(current) + len(word) <= limit:
            current += word
            continue
        if current.strip():
            out.append(current.rstrip())
        current = word.lstrip()
        while len(current) > limit:
            out.append(current[:limit])
            current = current[limit:]
    if current.strip():
        out.append(current)
    return out
