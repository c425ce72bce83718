"""Does a unit meet the plan's criterion for its group? From figures, with the reasons.

The tests live in rules/criteria.yaml. Figures (a mapping, e.g. parsed JSON):

    group                      district | commune | village (or huyện, xã, thôn...)
    poverty_rate_by_year       {"2021": 16.5, "2022": 12.0, ...}  rates in %, district only
    poverty_rate_drop_by_year  {"2022": 4.5, ...}  falls in points, instead of (or besides) rates
    poor_start, near_poor_start, poor_now, near_poor_now   household counts
    nomination_year            optional: the 3 years are the 3 before it
    region                     optional, commune only: I, II or III

Arithmetic is exact (Decimal, Fraction): 4.0 points is "at least 4", 50 % is not "more than
50 %". Missing or contradictory figures raise FiguresError with a Vietnamese message; a
verdict is never guessed from incomplete figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from rules.qa.text import fold

__all__ = ["RULES_FILE", "CriteriaRules", "FiguresError", "Verdict", "evaluate", "load_rules"]

RULES_FILE = Path(__file__).resolve().parent / "criteria.yaml"
HOUSEHOLD_FIELDS = ("poor_start", "near_poor_start", "poor_now", "near_poor_now")
KNOWN_FIELDS = frozenset(
    {
        "group",
        "poverty_rate_by_year",
        "poverty_rate_drop_by_year",
        "nomination_year",
        "region",
        "unit",
        "name",
        *HOUSEHOLD_FIELDS,
    }
)
_REGIONS = {"i": "I", "1": "I", "ii": "II", "2": "II", "iii": "III", "3": "III"}
_TOLERANCE = Decimal("0.005")


class FiguresError(ValueError):
    """The figures cannot be judged; ``message`` says why, in Vietnamese."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Verdict:
    group: str
    eligible: bool
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"eligible": self.eligible, "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    label: str
    source: str
    aliases: frozenset[str]
    tests: tuple[tuple[str, dict[str, Any]], ...]
    regions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CriteriaRules:
    groups: dict[str, Group]

    def find(self, name: object) -> Group:
        if not isinstance(name, str) or not name.strip():
            raise FiguresError(
                "group", "Thiếu «group»: district (huyện), commune (xã) hoặc village (thôn)."
            )
        wanted = fold(name).strip()
        for group in self.groups.values():
            if wanted == group.id or wanted in group.aliases:
                return group
        names = ", ".join(self.groups)
        raise FiguresError("group", f"Không rõ nhóm «{name}»: chỉ nhận {names}.")


def load_rules(path: Path = RULES_FILE) -> CriteriaRules:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    groups: dict[str, Group] = {}
    for group_id, spec in raw["groups"].items():
        tests: list[tuple[str, dict[str, Any]]] = []
        for test in spec["any_of"]:
            ((kind, params),) = test.items()
            if kind not in ("rate_drop", "households_drop"):
                raise ValueError(f"{path.name}: {group_id}: unknown test {kind!r}")
            tests.append((kind, dict(params)))
        groups[group_id] = Group(
            id=group_id,
            label=str(spec["label"]),
            source=str(spec["source"]),
            aliases=frozenset(fold(str(a)) for a in spec.get("aliases", [])),
            tests=tuple(tests),
            regions=tuple(str(r) for r in spec.get("regions", [])),
        )
    return CriteriaRules(groups)


@lru_cache(maxsize=1)
def default_rules() -> CriteriaRules:
    return load_rules()


# --- reading figures ----------------------------------------------------------------------


def _decimal(value: object, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise FiguresError(field, f"«{field}» phải là một số.")
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise FiguresError(field, f"«{field}» phải là một số, không phải «{value}».") from None
    if not number.is_finite():
        raise FiguresError(field, f"«{field}» phải là một số.")
    return number


def _count(figures: Mapping[str, Any], field: str) -> int:
    number = _decimal(figures[field], field)
    if number != number.to_integral_value():
        raise FiguresError(
            field, f"«{field}» là số hộ nên phải là số nguyên, không phải {value_text(number)}."
        )
    if number < 0:
        raise FiguresError(field, f"«{field}» không thể âm ({value_text(number)}).")
    return int(number)


def _by_year(raw: object, field: str, *, rate: bool) -> dict[int, Decimal]:
    if not isinstance(raw, Mapping) or not raw:
        raise FiguresError(field, f'«{field}» phải là bảng năm → số, ví dụ {{"2023": 7.5}}.')
    out: dict[int, Decimal] = {}
    for key, value in raw.items():
        try:
            year = int(str(key).strip())
        except ValueError:
            raise FiguresError(field, f"«{field}»: «{key}» không phải là một năm.") from None
        if not 1990 <= year <= 2100:
            raise FiguresError(field, f"«{field}»: năm {key} không hợp lệ.")
        if year in out:
            raise FiguresError(field, f"«{field}»: năm {year} có hai giá trị.")
        number = _decimal(value, f"{field}.{year}")
        if rate and not 0 <= number <= 100:
            raise FiguresError(
                field,
                f"«{field}»: tỷ lệ năm {year} phải từ 0 đến 100 (%), "
                f"không phải {value_text(number)}.",
            )
        out[year] = number
    return out


# --- formatting (vi_VN: 1.234; 4,5) -------------------------------------------------------


def value_text(value: Decimal | int) -> str:
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    normal = value.normalize()
    if normal == normal.to_integral_value():
        return f"{int(normal):,}".replace(",", ".")
    return format(normal, "f").replace(".", ",")


def percent_text(value: Fraction, threshold: Fraction) -> str:
    """2 decimals, more when rounding would hide which side of the threshold it falls."""
    if value.denominator == 1:
        return f"{value.numerator}%"
    for places in (2, 4, 6, 10):
        shown = round(value, places)
        if shown != threshold:
            break
    text = f"{float(shown):.{places}f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") + "%"


# --- the two tests ------------------------------------------------------------------------


@dataclass
class _Outcome:
    met: bool | None  # None: the figures do not allow a verdict on this test
    reason: str
    missing: str | None = None


def _rate_drops(figures: Mapping[str, Any]) -> tuple[dict[int, Decimal], str]:
    """Yearly falls (year → points); also says where they came from."""
    rates_raw = figures.get("poverty_rate_by_year")
    drops_raw = figures.get("poverty_rate_drop_by_year")
    drops: dict[int, Decimal] = {}
    origin = ""
    if rates_raw is not None:
        rates = _by_year(rates_raw, "poverty_rate_by_year", rate=True)
        for year in sorted(rates):
            if year - 1 in rates:
                drops[year] = rates[year - 1] - rates[year]
        origin = "rates"
        if drops_raw is not None:
            given = _by_year(drops_raw, "poverty_rate_drop_by_year", rate=False)
            for year, value in given.items():
                if year in drops and abs(drops[year] - value) > _TOLERANCE:
                    raise FiguresError(
                        "poverty_rate_drop_by_year",
                        f"Số liệu mâu thuẫn: theo tỷ lệ, năm {year} giảm {value_text(drops[year])} "
                        f"điểm, nhưng «poverty_rate_drop_by_year» ghi {value_text(value)} điểm.",
                    )
                drops.setdefault(year, value)
            origin = "both"
    elif drops_raw is not None:
        drops = _by_year(drops_raw, "poverty_rate_drop_by_year", rate=False)
        origin = "drops"
    return drops, origin


def _window(drops: dict[int, Decimal], years: int, nomination: int | None) -> list[int] | None:
    if nomination is not None:
        wanted = list(range(nomination - years, nomination))
        return wanted if all(y in drops for y in wanted) else None
    ordered = sorted(drops)
    if len(ordered) < years:
        return None
    last = ordered[-years:]
    return last if last[-1] - last[0] == years - 1 else None


def _rate_test(figures: Mapping[str, Any], params: dict[str, Any]) -> _Outcome:
    min_points = Decimal(str(params["min_points"]))
    years = int(params["years"])
    nomination = figures.get("nomination_year")
    if nomination is not None:
        nomination = int(_decimal(nomination, "nomination_year"))
    drops, origin = _rate_drops(figures)
    given = figures.get("poverty_rate_by_year") or figures.get("poverty_rate_drop_by_year")
    if not origin:
        return _Outcome(
            None,
            "Tỷ lệ nghèo theo năm: chưa có số liệu.",
            missing="poverty_rate_by_year",
        )
    window = _window(drops, years, nomination)
    if window is None:
        scope = (
            f"các năm {nomination - years}–{nomination - 1} (trước năm trình khen {nomination})"
            if nomination is not None
            else f"{years} năm liên tục"
        )
        have = ", ".join(str(y) for y in sorted(given)) if isinstance(given, Mapping) else ""
        return _Outcome(
            None,
            f"Tỷ lệ nghèo: cần mức giảm của {scope}, tức tỷ lệ của {years + 1} năm liền nhau "
            f"(năm trước kỳ và {years} năm xét); mới có số liệu các năm {have}.",
            missing="poverty_rate_by_year",
        )
    parts = [
        f"{year - 1}→{year} giảm {value_text(drops[year])} điểm"
        if drops[year] >= 0
        else f"{year - 1}→{year} tăng {value_text(-drops[year])} điểm"
        for year in window
    ]
    short = [year for year in window if drops[year] < min_points]
    limit = value_text(min_points)
    if short:
        failed = ", ".join(str(y) for y in short)
        return _Outcome(
            False,
            f"Tỷ lệ nghèo đa chiều: {'; '.join(parts)}. Năm {failed} giảm dưới {limit} điểm, "
            f"nên chưa đạt tiêu chí giảm từ {limit} điểm/năm trong {years} năm liên tục.",
        )
    return _Outcome(
        True,
        f"Tỷ lệ nghèo đa chiều: {'; '.join(parts)}. Cả {years} năm đều giảm từ {limit} điểm "
        f"trở lên: đạt.",
    )


def _households_test(figures: Mapping[str, Any], params: dict[str, Any]) -> _Outcome:
    present = [f for f in HOUSEHOLD_FIELDS if figures.get(f) is not None]
    if not present:
        return _Outcome(
            None, "Số hộ nghèo, cận nghèo: chưa có số liệu.", missing=HOUSEHOLD_FIELDS[0]
        )
    absent = [f for f in HOUSEHOLD_FIELDS if f not in present]
    if absent:
        raise FiguresError(
            absent[0],
            "Thiếu số hộ: " + ", ".join(f"«{f}»" for f in absent) + " (cần đủ cả 4 số: hộ nghèo "
            "và cận nghèo đầu kỳ, hộ nghèo và cận nghèo hiện nay).",
        )
    poor_start, near_start, poor_now, near_now = (_count(figures, f) for f in HOUSEHOLD_FIELDS)
    start, now = poor_start + near_start, poor_now + near_now
    if start == 0:
        raise FiguresError(
            "poor_start",
            "Đầu kỳ không có hộ nghèo, cận nghèo nào (0 hộ) nên không tính được tỷ lệ giảm.",
        )
    threshold = Fraction(str(params["more_than_percent"]))
    fall = Fraction(start - now, start) * 100
    head = (
        f"Hộ nghèo và cận nghèo: đầu kỳ {value_text(start)} hộ ({value_text(poor_start)} nghèo, "
        f"{value_text(near_start)} cận nghèo), nay {value_text(now)} hộ ({value_text(poor_now)} "
        f"nghèo, {value_text(near_now)} cận nghèo)"
    )
    limit = percent_text(threshold, Fraction(-1))
    if now > start:
        return _Outcome(
            False,
            f"{head}: tăng {value_text(now - start)} hộ, nên chưa đạt (phải giảm trên {limit}).",
        )
    shown = percent_text(fall, threshold)
    if fall > threshold:
        return _Outcome(
            True, f"{head}: giảm {value_text(start - now)} hộ, tức {shown} — trên {limit}: đạt."
        )
    exact = " (đúng bằng, chưa phải «trên»)" if fall == threshold else ""
    return _Outcome(
        False,
        f"{head}: giảm {value_text(start - now)} hộ, tức {shown}{exact} — chưa trên {limit}: "
        "chưa đạt.",
    )


# --- the verdict --------------------------------------------------------------------------


def evaluate(figures: Mapping[str, Any], rules: CriteriaRules | None = None) -> Verdict:
    if not isinstance(figures, Mapping):
        raise FiguresError(
            "", 'Số liệu phải là một đối tượng JSON, ví dụ {"group": "commune", ...}.'
        )
    rules = rules or default_rules()
    unknown = sorted(set(figures) - KNOWN_FIELDS)
    if unknown:
        raise FiguresError(
            unknown[0],
            "Không rõ trường "
            + ", ".join(f"«{u}»" for u in unknown)
            + "; các trường dùng được: "
            + ", ".join(sorted(KNOWN_FIELDS))
            + ".",
        )
    group = rules.find(figures.get("group"))
    reasons: list[str] = []
    if figures.get("region") is not None:
        region = _REGIONS.get(fold(str(figures["region"])).replace("khu vuc", "").strip())
        if not group.regions:
            raise FiguresError(
                "region",
                f"«region» (khu vực I, II, III) chỉ dùng cho cấp xã, không cho {group.label}.",
            )
        if region not in group.regions:
            raise FiguresError(
                "region",
                f"Khu vực «{figures['region']}» không có tiêu chí trong kế hoạch: tiêu chí "
                f"{group.label} chỉ áp dụng cho xã khu vực {', '.join(group.regions)} vùng đồng "
                "bào dân tộc thiểu số và miền núi.",
            )
        reasons.append(f"Xã khu vực {region} vùng đồng bào dân tộc thiểu số và miền núi.")
    kinds = {kind for kind, _ in group.tests}
    if "rate_drop" not in kinds and (
        figures.get("poverty_rate_by_year") is not None
        or figures.get("poverty_rate_drop_by_year") is not None
    ):
        reasons.append(f"Tỷ lệ nghèo theo năm không dùng cho {group.label}; chỉ xét số hộ.")
    outcomes = [
        _rate_test(figures, params) if kind == "rate_drop" else _households_test(figures, params)
        for kind, params in group.tests
    ]
    assessed = [o for o in outcomes if o.met is not None]
    if not assessed or (not any(o.met for o in assessed) and len(assessed) < len(outcomes)):
        # Nothing met and something could not be judged: it might have been met.
        raise FiguresError(
            next((o.missing or "" for o in outcomes if o.met is None), ""),
            "Chưa đủ số liệu để kết luận. " + " ".join(o.reason for o in outcomes),
        )
    eligible = any(o.met for o in assessed)
    reasons.extend(o.reason for o in outcomes)
    verdict = "ĐẠT" if eligible else "CHƯA ĐẠT"
    either = "; chỉ cần đạt một trong hai điều kiện" if len(group.tests) > 1 else ""
    reasons.append(
        f"Kết luận: {group.label} {verdict} tiêu chí thi đua theo {group.source}{either}."
    )
    return Verdict(group.id, eligible, reasons)
