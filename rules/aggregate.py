"""Village figures summed up the tree, with rates, completeness and change since a baseline.

Pure functions over plain values, in the spirit of DHIS2's analytics:

- *aggregation*: a unit's value is the sum of what every unit in its subtree reported
  (village -> commune -> district, when the tree has one -> province);
- *indicators*: numerator / denominator x factor, both expressions over the sums
  (the poverty rate is ``poor / total x 100``);
- *completeness*: expected reports are the units of the data set's level in the subtree;
  reporting rate = actual / expected x 100; on-time rate = reports first sent by the due
  moment / expected x 100 (a later revision does not change when a report came in);
- *baseline* ("đầu kỳ", the start of the movement's period) and the movement's criteria:
  "poor + near-poor down by more than 50 %" (strictly more) and "poverty rate down at least
  4 points a year for 3 consecutive years" (every one of the three years).

Nothing here reads the database or the bot; callers pass units, values and dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from rules.expr import ExpressionError, evaluate
from rules.periods import Month

__all__ = [
    "Baseline",
    "Change",
    "Completeness",
    "Indicator",
    "Tree",
    "Unit",
    "baselines",
    "change",
    "completeness",
    "consecutive_drops",
    "indicator_values",
    "reduced_by_more_than",
    "sum_up",
    "year_end",
]

Number = int | Decimal
Numeric = int | float | Decimal
Values = Mapping[str, Any]


def _dec(value: Numeric) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _number(value: Any) -> Number | None:
    """A stored value as a number to add: ints stay ints, decimals and floats exact."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return _dec(value) if isinstance(value, float | Decimal) else Decimal(str(value))


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    parent: str | None
    level: str
    name: str = ""


class Tree:
    """Parent and child links over a list of units; a unit whose parent is unknown is a root."""

    def __init__(self, units: Iterable[Unit]) -> None:
        self.units: dict[str, Unit] = {u.code: u for u in units}
        self.children: dict[str | None, list[str]] = {}
        for unit in self.units.values():
            parent = unit.parent if unit.parent in self.units else None
            self.children.setdefault(parent, []).append(unit.code)

    def ancestors(self, code: str) -> list[str]:
        """The unit itself, then its parent, up to the root."""
        chain: list[str] = []
        current: str | None = code
        while current is not None and current in self.units and current not in chain:
            chain.append(current)
            current = self.units[current].parent
        return chain

    def subtree(self, code: str) -> list[str]:
        found, stack = [], [code]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(reversed(self.children.get(current, [])))
        return found

    def at_level(self, code: str, level: str) -> list[str]:
        return [c for c in self.subtree(code) if self.units[c].level == level]


@dataclass(frozen=True, slots=True)
class Totals:
    values: dict[str, Number]
    reports: int


def sum_up(tree: Tree, reported: Mapping[str, Values], fields: Sequence[str]) -> dict[str, Totals]:
    """Every unit's sums over its subtree; a field nobody in the subtree gave is absent."""
    sums: dict[str, dict[str, Number]] = {code: {} for code in tree.units}
    counts: dict[str, int] = dict.fromkeys(tree.units, 0)
    for code, values in reported.items():
        if code not in tree.units:
            continue
        for ancestor in tree.ancestors(code):
            counts[ancestor] += 1
            target = sums[ancestor]
            for name in fields:
                number = _number(values.get(name))
                if number is not None:
                    target[name] = target.get(name, 0) + number
    return {code: Totals(sums[code], counts[code]) for code in tree.units}


@dataclass(frozen=True, slots=True)
class Indicator:
    id: str
    numerator: str
    denominator: str = "1"
    factor: float = 100.0


def indicator_values(indicators: Sequence[Indicator], values: Values) -> dict[str, float | None]:
    """Each indicator over one unit's sums; None when a value is missing or the denominator 0."""
    names = {k: (float(v) if isinstance(v, Decimal) else v) for k, v in values.items()}
    out: dict[str, float | None] = {}
    for indicator in indicators:
        try:
            top = evaluate(indicator.numerator, names)
            bottom = evaluate(indicator.denominator, names)
        except ExpressionError:
            out[indicator.id] = None
            continue
        out[indicator.id] = None if not bottom else float(top) / float(bottom) * indicator.factor
    return out


@dataclass(frozen=True, slots=True)
class Completeness:
    expected: int
    on_time: int
    late: int
    missing: tuple[str, ...] = ()
    # Reports from units the data set does not expect (not of its level): counted, not rated.
    extra: int = 0

    @property
    def submitted(self) -> int:
        return self.on_time + self.late

    @property
    def reporting_rate(self) -> float | None:
        return self.submitted / self.expected * 100 if self.expected else None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.expected * 100 if self.expected else None


def completeness(
    tree: Tree, level: str, first_sent: Mapping[str, datetime], due: datetime
) -> dict[str, Completeness]:
    """For every unit: expected, on time, late and missing reports for one period."""
    out: dict[str, Completeness] = {}
    for code in tree.units:
        expected = tree.at_level(code, level)
        on_time = sum(1 for c in expected if c in first_sent and first_sent[c] <= due)
        late = sum(1 for c in expected if c in first_sent and first_sent[c] > due)
        missing = tuple(c for c in expected if c not in first_sent)
        wanted = set(expected)
        extra = sum(1 for c in tree.subtree(code) if c in first_sent and c not in wanted)
        out[code] = Completeness(len(expected), on_time, late, missing, extra)
    return out


@dataclass(frozen=True, slots=True)
class Baseline:
    values: dict[str, Number]
    # How many units of the data set's level the figures cover, out of how many expected.
    covered: int
    expected: int

    @property
    def complete(self) -> bool:
        return self.covered == self.expected


def baselines(
    tree: Tree,
    level: str,
    fields: Sequence[str],
    explicit: Mapping[str, Values],
    first_reports: Mapping[str, Values],
) -> dict[str, Baseline | None]:
    """The start-of-period figures of every unit.

    A baseline an official set for a unit wins for that unit's whole subtree; otherwise a
    unit of the data set's level uses its first report of the baseline window, and a unit
    above sums its children's baselines.
    """
    memo: dict[str, Baseline | None] = {}

    def of(code: str) -> Baseline | None:
        if code in memo:
            return memo[code]
        expected = len(tree.at_level(code, level))
        result: Baseline | None
        if code in explicit:
            result = Baseline(_numbers(explicit[code], fields), expected, expected)
        elif tree.units[code].level == level:
            found = first_reports.get(code)
            result = Baseline(_numbers(found, fields), 1, 1) if found is not None else None
        else:
            parts = [b for b in (of(child) for child in tree.children.get(code, [])) if b]
            if not parts:
                result = None
            else:
                values: dict[str, Number] = {}
                for part in parts:
                    for name, value in part.values.items():
                        values[name] = values.get(name, 0) + value
                result = Baseline(values, sum(p.covered for p in parts), expected)
        memo[code] = result
        return result

    return {code: of(code) for code in tree.units}


def _numbers(values: Values, fields: Sequence[str]) -> dict[str, Number]:
    out: dict[str, Number] = {}
    for name in fields:
        number = _number(values.get(name))
        if number is not None:
            out[name] = number
    return out


@dataclass(frozen=True, slots=True)
class Change:
    baseline: Numeric | None
    current: Numeric | None
    absolute: float | None = field(default=None)
    percent: float | None = field(default=None)


def change(current: Numeric | None, baseline: Numeric | None) -> Change:
    """Current against baseline: the difference and the percentage (negative = down)."""
    if current is None or baseline is None:
        return Change(baseline, current)
    absolute = float(_dec(current) - _dec(baseline))
    percent = absolute / float(baseline) * 100 if baseline else None
    return Change(baseline, current, absolute, percent)


def reduced_by_more_than(
    current: Numeric | None, baseline: Numeric | None, percent: float = 50.0
) -> bool | None:
    """True when down by strictly more than ``percent`` of the baseline (50 % is not enough)."""
    if current is None or baseline is None or baseline <= 0:
        return None
    # In decimals, so exactly 50 % never slips through a binary float error.
    was, now = _dec(baseline), _dec(current)
    return (was - now) * 100 > _dec(percent) * was


def year_end(by_month: Mapping[Month, Any]) -> dict[int, Any]:
    """Each year's last reported value (December, or the latest month that has one)."""
    out: dict[int, tuple[Month, Any]] = {}
    for month, value in by_month.items():
        if value is None:
            continue
        if month.year not in out or month > out[month.year][0]:
            out[month.year] = (month, value)
    return {year: value for year, (_, value) in sorted(out.items())}


def consecutive_drops(
    rates_by_year: Mapping[int, float | None],
    points: float = 4.0,
    years: int = 3,
    ending: int | None = None,
) -> bool:
    """Did the rate fall at least ``points`` percentage points in each of ``years`` years in a row?

    A drop for year Y is rate(Y-1) - rate(Y); every year of the run needs its figure and the
    one before it. With ``ending`` only the run ending that year counts; otherwise any run.
    """
    candidates = [ending] if ending is not None else sorted(rates_by_year)
    for last in candidates:
        run = range(last - years + 1, last + 1)
        ok = True
        for year in run:
            before, now = rates_by_year.get(year - 1), rates_by_year.get(year)
            if before is None or now is None or before - now < points - 1e-9:
                ok = False
                break
        if ok:
            return True
    return False
