"""Okapi BM25 over short documents grouped by entry, in plain Python.

The knowledge base is small (a few hundred phrasings), so a dictionary of postings scores a
question in well under a millisecond; no numpy, no sparse matrices. One twist: a term's idf
counts the *entries* that use it, not the phrasings, so an entry written with many phrasings
does not make its own words look common.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["BM25"]


@dataclass(frozen=True, slots=True)
class _Posting:
    doc: int
    tf: int


class BM25:
    def __init__(
        self,
        docs: Sequence[Sequence[str]],
        groups: Sequence[int],
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        if len(docs) != len(groups):
            raise ValueError("one group per document")
        self.k1, self.b = k1, b
        self.groups = list(groups)
        self.lengths = [len(doc) for doc in docs]
        self.avgdl = (sum(self.lengths) / len(docs)) if docs else 1.0
        self.postings: dict[str, list[_Posting]] = {}
        group_terms: dict[int, set[str]] = {}
        for number, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                self.postings.setdefault(term, []).append(_Posting(number, tf))
            group_terms.setdefault(groups[number], set()).update(doc)
        self.n_groups = len(group_terms)
        df: Counter[str] = Counter()
        for terms in group_terms.values():
            df.update(terms)
        self.idf = {term: self._idf(count) for term, count in df.items()}
        # What a term never seen weighs: as much as the rarest term (used for coverage).
        self.unseen_idf = self._idf(1)

    def _idf(self, df: int) -> float:
        return math.log(1 + (self.n_groups - df + 0.5) / (df + 0.5))

    def weight(self, term: str) -> float:
        return self.idf.get(term, self.unseen_idf)

    def scores(self, query: Sequence[str]) -> dict[int, float]:
        """Score of every document that shares a term with the query."""
        out: dict[int, float] = {}
        for term in query:
            idf = self.idf.get(term)
            if idf is None:
                continue
            for posting in self.postings[term]:
                norm = self.k1 * (1 - self.b + self.b * self.lengths[posting.doc] / self.avgdl)
                part = idf * posting.tf * (self.k1 + 1) / (posting.tf + norm)
                out[posting.doc] = out.get(posting.doc, 0.0) + part
        return out
