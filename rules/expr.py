"""A safe evaluator for the expressions in rules files (never Python's eval)."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

__all__ = ["ExpressionError", "evaluate", "names_in", "normalise"]

_PLACEHOLDER = re.compile(r"\$\{\s*([^}]+?)\s*\}")
_FUNCTIONS = {"len": len, "min": min, "max": max, "abs": abs, "round": round, "sum": sum}


class ExpressionError(ValueError):
    """An expression that does not parse or refers to something unknown."""


def normalise(expression: str) -> str:
    """Accept the ``${name}`` placeholder style of XLSForm/goflow as plain names."""
    return _PLACEHOLDER.sub(r"(\1)", expression).strip()


def names_in(expression: str) -> set[str]:
    """The top-level names an expression reads (``today.year`` reads ``today``)."""
    try:
        tree = ast.parse(normalise(expression), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"cannot parse {expression!r}: {error.msg}") from None
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    evaluator = EvalWithCompoundTypes(names=dict(names), functions=_FUNCTIONS)
    try:
        return evaluator.eval(normalise(expression))
    except (InvalidExpression, SyntaxError, TypeError, ArithmeticError) as error:
        raise ExpressionError(f"{expression!r}: {error}") from None
