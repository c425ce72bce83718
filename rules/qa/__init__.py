"""Questions in Vietnamese answered from the knowledge base in rules/knowledge/."""

from rules.qa.kb import (
    KNOWLEDGE_DIR,
    Entry,
    KnowledgeBase,
    KnowledgeError,
    Match,
    Result,
    default_knowledge_base,
)
from rules.qa.text import Normaliser, fold, looks_like_question

__all__ = [
    "KNOWLEDGE_DIR",
    "Entry",
    "KnowledgeBase",
    "KnowledgeError",
    "Match",
    "Normaliser",
    "Result",
    "default_knowledge_base",
    "fold",
    "looks_like_question",
]
