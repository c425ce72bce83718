"""Measuring the knowledge base on a labelled question set, and choosing the threshold.

A labelled question is (text, expected entry id or None for "not covered"). With a threshold,
each question lands in one of four outcomes: answered right, answered wrong (a wrong entry,
or any entry for an uncovered question), not sure about a covered question, not sure about
an uncovered one (right). "Accuracy" counts the right outcomes: a covered question answered
with its entry and an uncovered one met with "not sure".
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from rules.qa.kb import KnowledgeBase

__all__ = ["Labelled", "Outcome", "Report", "choose_threshold", "load_questions", "score"]

# A wrong confident answer (about an award or a deadline) is worse than "not sure".
WRONG_COST = 2.0


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    expected: str | None
    part: str


@dataclass(frozen=True, slots=True)
class Outcome:
    question: Labelled
    got: str | None
    confidence: float
    seconds: float

    def right(self, threshold: float) -> bool:
        if self.question.expected is None:
            return self.confidence < threshold
        return self.got == self.question.expected and self.confidence >= threshold

    def wrong(self, threshold: float) -> bool:
        return self.confidence >= threshold and self.got != self.question.expected


@dataclass
class Report:
    threshold: float
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        right = sum(o.right(self.threshold) for o in self.outcomes)
        return right / len(self.outcomes) if self.outcomes else 0.0

    @property
    def top1(self) -> float:
        covered = [o for o in self.outcomes if o.question.expected is not None]
        hits = sum(o.got == o.question.expected for o in covered)
        return hits / len(covered) if covered else 0.0

    def wrong_confident(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.wrong(self.threshold)]

    def unsure_covered(self) -> list[Outcome]:
        return [
            o
            for o in self.outcomes
            if o.question.expected is not None and o.confidence < self.threshold
        ]

    def part(self, name: str) -> Report:
        return Report(self.threshold, [o for o in self.outcomes if o.question.part == name])


def load_questions(path: Path) -> list[Labelled]:
    raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for part, rows in raw.items():
        for text, expected in rows:
            out.append(Labelled(str(text), None if expected is None else str(expected), part))
    return out


def score(kb: KnowledgeBase, questions: Sequence[Labelled], threshold: float) -> Report:
    report = Report(threshold)
    for question in questions:
        started = time.perf_counter()
        result = kb.ask(question.text, threshold)
        elapsed = time.perf_counter() - started
        best = result.best
        report.outcomes.append(
            Outcome(
                question,
                best.entry.id if best else None,
                best.confidence if best else 0.0,
                elapsed,
            )
        )
    return report


def _utility(outcomes: Sequence[Outcome], threshold: float) -> float:
    total = 0.0
    for outcome in outcomes:
        if outcome.wrong(threshold):
            total -= WRONG_COST
        elif outcome.right(threshold):
            total += 1
    return total


def choose_threshold(
    kb: KnowledgeBase, questions: Sequence[Labelled]
) -> tuple[float, float, float]:
    """The threshold with the best utility on ``questions``: +1 per right outcome, -2 per
    wrong confident answer, 0 for "not sure" about a covered question.

    Every threshold in a gap (low, high] between two neighbouring confidences scores the
    same. Of the best gap the strictest value is taken (``high``, rounded down to three
    decimals but kept above ``low``): among equally good thresholds, the one least likely to
    answer an unseen question wrongly. Returns (threshold, low, high).
    """
    outcomes = score(kb, questions, 1.0).outcomes
    levels = sorted({o.confidence for o in outcomes} | {0.0, 1.0})
    best: tuple[float, float] | None = None
    best_utility = float("-inf")
    for low, high in pairwise(levels):
        utility = _utility(outcomes, high)  # any t in (low, high] behaves as t = high
        if utility > best_utility:
            best_utility, best = utility, (low, high)
    assert best is not None
    low, high = best
    chosen = math.floor(high * 1000) / 1000
    return (chosen if chosen > low else high), low, high
