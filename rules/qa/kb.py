"""The knowledge base: entries loaded from rules/knowledge/*.yaml, and answering a question.

Ranking: BM25 over syllables and syllable bigrams, one document per entry (its title and all
its phrasings), plus rapidfuzz's similarity of the whole question to the entry's closest
phrasing; rapidfuzz also repairs typos word by word before. Confidence: the share of the
question's weight (idf; bigrams and never-seen words weigh more) that the best entry's
phrasings contain. At or above the threshold (``_matching.yaml``) the answer is given; below
it the caller says it is not sure and offers the close topics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from rapidfuzz import fuzz, process

from rules.qa.bm25 import BM25
from rules.qa.text import Normaliser

__all__ = [
    "KNOWLEDGE_DIR",
    "Entry",
    "KnowledgeBase",
    "KnowledgeError",
    "Match",
    "Result",
    "default_knowledge_base",
]

KNOWLEDGE_DIR = Path(__file__).resolve().parent.parent / "knowledge"
# libyaml's safe loader when present (several times faster), else the pure-Python one.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
MAX_SENTENCES = 4
MIN_QUESTIONS = 4
# Close topics are offered down to this share of the threshold.
TOPIC_FLOOR = 0.5


class KnowledgeError(ValueError):
    """A knowledge file is broken; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    title: str
    answer: str
    source: str
    questions: tuple[str, ...]
    file: str
    title_en: str | None = None
    answer_en: str | None = None

    def title_in(self, locale: str) -> str:
        return self.title_en if locale == "en" and self.title_en else self.title

    def answer_in(self, locale: str) -> str:
        return self.answer_en if locale == "en" and self.answer_en else self.answer


@dataclass(frozen=True, slots=True)
class Match:
    entry: Entry
    confidence: float  # coverage of the question by this entry, 0..1
    bm25: float  # BM25 score over the question's total idf weight
    fuzzy: float  # rapidfuzz token_sort_ratio to the closest phrasing, 0..1


@dataclass(frozen=True, slots=True)
class Result:
    question: str
    ranked: tuple[Match, ...]
    threshold: float
    # The words actually matched, after folding, expansion and typo repair.
    terms: tuple[str, ...] = field(default=())

    @property
    def best(self) -> Match | None:
        return self.ranked[0] if self.ranked else None

    @property
    def confident(self) -> bool:
        return self.best is not None and self.best.confidence >= self.threshold

    def close_topics(self, limit: int = 3) -> list[Entry]:
        """The best entries worth offering as buttons: at least half the threshold (a
        question about the price of gold gets no topics, not three random ones)."""
        floor = self.threshold * TOPIC_FLOOR
        return [m.entry for m in self.ranked[:limit] if m.confidence >= floor]


@dataclass(frozen=True)
class Settings:
    threshold: float
    # rank = bm25 share + fuzzy_weight * fuzzy similarity
    fuzzy_weight: float
    # confidence = weighted share of the question's terms the entry knows
    bigram_weight: float
    unseen_weight: float
    typo_cutoff: float
    typo_min_length: int


def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise KnowledgeError(f"{where}: {message}")


def _text(raw: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    _require(isinstance(value, str) and bool(value.strip()), where, f"'{key}' must be a text")
    return " ".join(str(value).split())


def _entry(raw: object, file: str, number: int) -> Entry:
    where = f"{file}: entry {number}"
    _require(isinstance(raw, dict), where, "must be a mapping")
    assert isinstance(raw, dict)
    entry_id = raw.get("id")
    _require(isinstance(entry_id, str) and bool(_ID.match(entry_id)), where, "bad or missing id")
    where = f"{file}: entry {entry_id}"
    unknown = set(raw) - {"id", "title", "title_en", "answer", "answer_en", "source", "questions"}
    _require(not unknown, where, f"unknown keys {sorted(unknown)}")
    answer = _text(raw, "answer", where)
    assert answer is not None
    sentences = len(_SENTENCE_END.findall(answer + " "))
    _require(
        1 <= sentences <= MAX_SENTENCES, where, f"answer has {sentences} sentences (at most 4)"
    )
    questions = raw.get("questions")
    _require(
        isinstance(questions, list)
        and len(questions) >= MIN_QUESTIONS
        and all(isinstance(q, str) and q.strip() for q in questions),
        where,
        f"'questions' must list at least {MIN_QUESTIONS} phrasings",
    )
    assert isinstance(questions, list)
    return Entry(
        id=str(entry_id),
        title=_text(raw, "title", where) or "",
        answer=answer,
        source=_text(raw, "source", where) or "",
        questions=tuple(" ".join(q.split()) for q in questions),
        file=file,
        title_en=_text(raw, "title_en", where, required=False),
        answer_en=_text(raw, "answer_en", where, required=False),
    )


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as error:
        raise KnowledgeError(f"{path.name}: not valid YAML: {error}") from None


def _settings(raw: dict[str, Any], where: str) -> Settings:
    try:
        settings = Settings(
            threshold=float(raw["threshold"]),
            fuzzy_weight=float(raw["fuzzy_weight"]),
            bigram_weight=float(raw["bigram_weight"]),
            unseen_weight=float(raw["unseen_weight"]),
            typo_cutoff=float(raw["typo_cutoff"]),
            typo_min_length=int(raw["typo_min_length"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise KnowledgeError(f"{where}: bad matching settings ({error})") from None
    _require(0 < settings.threshold < 1, where, "threshold must be between 0 and 1")
    return settings


class KnowledgeBase:
    """Entries and their index; build once, ask many times (no I/O after loading)."""

    def __init__(
        self,
        entries: Sequence[Entry],
        normaliser: Normaliser,
        settings: Settings,
    ) -> None:
        self.entries = list(entries)
        self.by_id = {e.id: e for e in self.entries}
        self.normaliser = normaliser
        self.settings = settings
        # One BM25 document per entry: its title and every phrasing, as syllables + bigrams.
        entry_terms: list[list[str]] = []
        self._phrasings: list[str] = []
        self._phrasing_entry: list[int] = []
        for number, entry in enumerate(self.entries):
            terms: list[str] = []
            for phrasing in (entry.title, *entry.questions):
                syllables = normaliser.syllables(phrasing)
                terms.extend(normaliser.terms_of(syllables))
                if syllables:
                    self._phrasings.append(" ".join(syllables))
                    self._phrasing_entry.append(number)
            entry_terms.append(terms)
        self.index = BM25(entry_terms, list(range(len(self.entries))))
        self._entry_vocab = [frozenset(terms) for terms in entry_terms]
        self.vocabulary = sorted({t for t in self.index.idf if "_" not in t})
        self._known = frozenset(self.vocabulary)
        self._repair = lru_cache(maxsize=4096)(self._closest)

    # --- loading ------------------------------------------------------------------------

    @classmethod
    def load(cls, directory: Path = KNOWLEDGE_DIR) -> KnowledgeBase:
        files = sorted(directory.glob("*.yaml"))
        settings_files = [p for p in files if p.name.startswith("_")]
        _require(
            any(p.name == "_matching.yaml" for p in settings_files),
            str(directory),
            "no _matching.yaml",
        )
        matching = _load_yaml(directory / "_matching.yaml")
        _require(isinstance(matching, dict), "_matching.yaml", "must be a mapping")
        normaliser = Normaliser(
            abbreviations={
                str(k): str(v) for k, v in (matching.get("abbreviations") or {}).items()
            },
            stopwords=[str(w) for w in matching.get("stopwords") or []],
            fillers=[str(f) for f in matching.get("fillers") or []],
        )
        entries: list[Entry] = []
        for path in files:
            if path.name.startswith("_"):
                continue
            raw = _load_yaml(path)
            _require(
                isinstance(raw, dict) and isinstance(raw.get("entries"), list),
                path.name,
                "must have a list 'entries'",
            )
            for number, item in enumerate(raw["entries"], 1):
                entries.append(_entry(item, path.name, number))
        seen: dict[str, str] = {}
        for entry in entries:
            _require(
                entry.id not in seen,
                entry.file,
                f"entry {entry.id} is also in {seen.get(entry.id)}",
            )
            seen[entry.id] = entry.file
        _require(bool(entries), str(directory), "no entries")
        return cls(entries, normaliser, _settings(matching, "_matching.yaml"))

    # --- answering ----------------------------------------------------------------------

    def _closest(self, word: str) -> str:
        found = process.extractOne(
            word, self.vocabulary, scorer=fuzz.ratio, score_cutoff=self.settings.typo_cutoff
        )
        return str(found[0]) if found else word

    def repair(self, syllables: Iterable[str]) -> list[str]:
        """Replace unknown words by the closest known one ("nghoe" → "ngheo")."""
        out = []
        for word in syllables:
            if (
                word in self._known
                or len(word) < self.settings.typo_min_length
                or any(ch.isdigit() for ch in word)
            ):
                out.append(word)
            else:
                out.append(self._repair(word))
        return out

    def _coverage_weight(self, term: str) -> float:
        s = self.settings
        idf = self.index.idf.get(term)
        weight = self.index.unseen_idf * s.unseen_weight if idf is None else idf
        return weight * (s.bigram_weight if "_" in term else 1.0)

    def coverage(self, terms: Iterable[str], entry_number: int) -> float:
        """The share of the question's weight that the entry's phrasings contain (0..1)."""
        wanted = set(terms)
        total = sum(self._coverage_weight(t) for t in wanted)
        vocab = self._entry_vocab[entry_number]
        found = sum(self._coverage_weight(t) for t in wanted if t in vocab)
        return found / total if total else 0.0

    def ask(self, question: str, threshold: float | None = None) -> Result:
        """Rank every entry for ``question``; the best one's coverage is the confidence."""
        limit = self.settings.threshold if threshold is None else threshold
        syllables = self.repair(self.normaliser.syllables(question))
        terms = self.normaliser.terms_of(syllables)
        if not terms:
            return Result(question, (), limit)
        total = sum(self.index.weight(t) for t in terms)
        bm25 = {entry: score / total for entry, score in self.index.scores(terms).items()}
        fuzzy: dict[int, float] = {}
        for _, score, number in process.extract(
            " ".join(syllables), self._phrasings, scorer=fuzz.token_sort_ratio, limit=None
        ):
            entry = self._phrasing_entry[number]
            fuzzy[entry] = max(fuzzy.get(entry, 0.0), score / 100)
        weight = self.settings.fuzzy_weight
        ranked = sorted(bm25, key=lambda e: (-(bm25[e] + weight * fuzzy.get(e, 0.0)), e))
        matches = tuple(
            Match(
                self.entries[e],
                round(self.coverage(terms, e), 4),
                round(bm25[e], 4),
                round(fuzzy.get(e, 0.0), 4),
            )
            for e in ranked
        )
        return Result(question, matches, limit, tuple(terms))


@lru_cache(maxsize=1)
def default_knowledge_base() -> KnowledgeBase:
    """The project's knowledge base, loaded once per process."""
    return KnowledgeBase.load()
