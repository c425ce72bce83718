"""Reading a question the way people type it: folded, expanded, numbers and dates made canonical.

Everything here is pure and imports nothing of ``bot``: the same normalisation is applied to
the knowledge base's phrasings when the index is built and to each question when it is asked.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from itertools import pairwise

__all__ = ["Normaliser", "fold", "looks_like_question"]

_SPACES = re.compile(r"\s+")
# "LĐ-TB&XH", "TĐ-KT", "NĐ-CP": punctuation between letters joins an abbreviation.
_JOINED = re.compile(r"(?<=[a-z])[-&.](?=[a-z])")
# 1.500.000 / 1,500,000 / 2.000 (a group of exactly three digits is a thousands separator).
_THOUSANDS = re.compile(r"(?<![\d.,])(\d{1,3})((?:[.,]\d{3})+)(?![\d.,]*\d)")
# 0,4 / 1.5 (one or two digits after the separator): a decimal.
_DECIMAL = re.compile(r"(?<![\d.,])(\d+)[.,](\d{1,2})(?![\d])")
# "1tr5", "1,5 tr", "2 triệu 2", "1 triệu rưỡi", "1500k", "1.5 triệu".
_MILLION = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:trieu|tr)\s*(ruoi|\d)?(?![\da-z])")
_THOUSAND_K = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:k|nghin|ngan)(?![a-z])")
# "ngày 30 tháng 12 (năm 2025)", "30/12", "30-12", "30/12/2025".
_DATE_WORDS = re.compile(r"\b(?:ngay\s+)?(\d{1,2})\s+thang\s+(\d{1,2})(?:\s+nam\s+(\d{4}))?\b")
_DATE_SLASH = re.compile(r"(?<![\d.,/])(\d{1,2})\s?[/-]\s?(\d{1,2})(?:[/-](\d{4}|\d{2}))?(?![\d,])")
_PERCENT = re.compile(r"%")
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z0-9_]+")


def fold(text: str) -> str:
    """NFC, lower case, diacritics removed, đ → d, spaces collapsed."""
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFC", text).lower())
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return _SPACES.sub(" ", stripped.replace("đ", "d")).strip()


def _number(text: str) -> str:
    value = float(text)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _million(match: re.Match[str]) -> str:
    whole = float(match.group(1))
    extra = match.group(2)
    if extra == "ruoi":
        whole += 0.5
    elif extra is not None and "." not in match.group(1):
        whole += int(extra) / 10  # "1tr5" is 1,5 triệu
    return f" {round(whole * 1_000_000)} "


def _thousand(match: re.Match[str]) -> str:
    return f" {round(float(match.group(1)) * 1000)} "


def _date(day: str, month: str) -> str | None:
    d, m = int(day), int(month)
    if 1 <= d <= 31 and 1 <= m <= 12:
        return f" ngay_{d}_{m} "
    return None


def _date_words(match: re.Match[str]) -> str:
    found = _date(match.group(1), match.group(2))
    year = f" {match.group(3)} " if match.group(3) else ""
    return (found or match.group(0)) + year


def _date_slash(match: re.Match[str]) -> str:
    found = _date(match.group(1), match.group(2))
    if found is None:
        return match.group(0)
    year = match.group(3)
    if year and len(year) == 2:
        year = f"20{year}"
    return found + (f" {year} " if year else "")


_QUESTION_START = (
    "ai ",
    "sao ",
    "tai sao",
    "vi sao",
    "lam sao",
    "lam the nao",
    "the nao",
    "khi nao",
    "bao gio",
    "bao nhieu",
    "bao lau",
    "o dau",
    "cho nao",
    "co phai",
    "co duoc",
    "co can",
    "muon ",
    "hoi ",
    "cho hoi",
    "xin hoi",
    "cho toi hoi",
    "cho em hoi",
    "cho minh hoi",
    "cho chau hoi",
    "toi muon biet",
    "em muon biet",
    "what",
    "how",
    "when",
    "who",
)
_QUESTION_END = (
    " gi",
    " nao",
    " khong",
    " ko",
    " k",
    " chua",
    " the nao",
    " bao nhieu",
    " dau",
    " sao",
    " a",
    " vay",
)


def looks_like_question(text: str) -> bool:
    """A question mark, a question word at the start, or a question particle at the end."""
    stripped = text.strip()
    if stripped.endswith("?"):
        return True
    folded = fold(stripped).rstrip(" .!")
    return folded.startswith(_QUESTION_START) or folded.endswith(_QUESTION_END)


class Normaliser:
    """Turns text into index terms: syllables and syllable bigrams.

    ``abbreviations`` maps a folded chat token ("hcn", "dc") to what it stands for
    ("ho can ngheo", "duoc"); ``fillers`` are polite phrases ("cho em hoi") and ``stopwords``
    single words that say nothing about the topic; both are dropped before matching.
    """

    def __init__(
        self,
        abbreviations: Mapping[str, str] | None = None,
        stopwords: Iterable[str] = (),
        fillers: Iterable[str] = (),
    ) -> None:
        self.abbreviations = dict(abbreviations or {})
        self.stopwords = frozenset(stopwords)
        phrases = sorted((fold(f) for f in fillers), key=len, reverse=True)
        self._fillers = (
            re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b")
            if phrases
            else None
        )

    def canonical(self, text: str) -> str:
        """The folded text with abbreviations expanded and numbers and dates canonical."""
        folded = fold(text)
        folded = _JOINED.sub("", folded)
        folded = _DATE_WORDS.sub(_date_words, folded)
        folded = _DATE_SLASH.sub(_date_slash, folded)
        folded = _THOUSANDS.sub(lambda m: m.group(1) + re.sub(r"[.,]", "", m.group(2)), folded)
        folded = _DECIMAL.sub(r"\1.\2", folded)
        folded = _MILLION.sub(_million, folded)
        folded = _THOUSAND_K.sub(_thousand, folded)
        folded = _PERCENT.sub(" phan tram ", folded)
        words = [self.abbreviations.get(token, token) for token in _TOKEN.findall(folded)]
        out = " ".join(words)
        out = re.sub(r"\b(\d+\.\d+)\b", lambda m: _number(m.group(1)), out)
        if self._fillers is not None:
            out = self._fillers.sub(" ", out)
        return _SPACES.sub(" ", out).strip()

    def syllables(self, text: str) -> list[str]:
        """Content syllables in order, fillers removed."""
        return [w for w in self.canonical(text).split() if w not in self.stopwords]

    @staticmethod
    def terms_of(syllables: Iterable[str]) -> list[str]:
        """Unigrams and adjacent bigrams ("ho", "ngheo", "ho_ngheo")."""
        words = list(syllables)
        return words + [f"{a}_{b}" for a, b in pairwise(words)]

    def terms(self, text: str) -> list[str]:
        return self.terms_of(self.syllables(text))
