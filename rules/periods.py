"""Monthly reporting periods (DHIS2 "Monthly": the period is the month reported on)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["Month", "month_range"]

_ISO = re.compile(r"^([0-9]{4})-([0-9]{1,2})$")


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1900 <= self.year <= 2999:
            raise ValueError(f"not a month: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """ "2026-10" (the stored form) or "10/2026"."""
        text = text.strip()
        if match := _ISO.match(text):
            return cls(int(match.group(1)), int(match.group(2)))
        month, _, year = text.partition("/")
        if month.isdigit() and year.isdigit() and len(year) == 4:
            return cls(int(year), int(month))
        raise ValueError(f"not a month: {text!r}")

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @property
    def index(self) -> int:
        return self.year * 12 + self.month - 1

    @classmethod
    def from_index(cls, index: int) -> Month:
        return cls(index // 12, index % 12 + 1)

    def __add__(self, months: int) -> Month:
        return Month.from_index(self.index + months)

    def __sub__(self, months: int) -> Month:
        return Month.from_index(self.index - months)

    @property
    def start(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def end(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def after_end(self, days: int) -> date:
        """The last day of the period plus ``days`` (DHIS2's "days after period end")."""
        return self.end + timedelta(days=days)

    def iso(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def label(self) -> str:
        """How people write it: 10/2026."""
        return f"{self.month:02d}/{self.year}"

    def __str__(self) -> str:
        return self.iso()


def month_range(first: Month, last: Month) -> list[Month]:
    return [Month.from_index(i) for i in range(first.index, last.index + 1)]
