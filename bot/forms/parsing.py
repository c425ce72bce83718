"""Read the answers people type into a form, or say what to type instead."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

__all__ = [
    "ParseError",
    "mask_cccd",
    "mask_phone",
    "parse_cccd",
    "parse_date",
    "parse_decimal",
    "parse_integer",
    "parse_money",
    "parse_month",
    "parse_phone",
    "parse_yes_no",
]


class ParseError(ValueError):
    """The answer could not be read; ``key`` is the gettext message that says what to type."""

    key: str
    params: dict[str, object]

    def __init__(self, key: str, **params: object) -> None:
        # Never pass what the user typed as a param: a CCCD or phone number must not reach logs.
        super().__init__(key)
        self.key = key
        self.params = dict(params)

    def __repr__(self) -> str:
        return f"ParseError({self.key!r}, **{self.params!r})"


class _Garbage(Exception):
    """Raised deep inside the number reader; each public function maps it to its own key."""


# Nobody types a 100-character number; the cap also keeps int() far from its digit limit.
_MAX_NUMBER_TEXT = 100
_SPACES = re.compile(r"\s+")
_DASHES = str.maketrans({"−": "-", "–": "-", "—": "-"})
# "1 200 000": spaces between 3-digit groups are thousands separators, "12 13" is two numbers.
_SPACE_GROUPS = re.compile(r"(?<![0-9.,])[0-9]{1,3}(?: [0-9]{3})+(?![0-9])")
_TOKEN = re.compile(
    r"(?P<num>[0-9](?:[0-9.,]*[0-9])?)|(?P<word>[a-z]+)|(?P<space>\s+)|(?P<other>.)", re.DOTALL
)


def _fold(text: str) -> str:
    """Lower case without diacritics, so "Mười Hai" and "muoi hai" read the same."""
    lowered = unicodedata.normalize("NFC", text).lower()
    decomposed = unicodedata.normalize("NFD", lowered)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return _SPACES.sub(" ", stripped.replace("đ", "d")).strip()


def _prepare_number(text: str) -> str:
    if len(text) > _MAX_NUMBER_TEXT:
        raise _Garbage
    # A full stop ends the sentence ("12."); a trailing comma may be a cut-off "1,5".
    folded = _fold(text).translate(_DASHES).rstrip(".!? ")
    return _SPACE_GROUPS.sub(lambda m: m.group().replace(" ", ""), folded)


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    is_number: bool
    spaced: bool  # whitespace (or the start of the text) comes before it


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    spaced = True
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "space":
            spaced = True
            continue
        if kind == "other":
            raise _Garbage
        tokens.append(_Token(match.group(), kind == "num", spaced))
        spaced = False
    return tokens


def _split_sign(text: str) -> tuple[bool, str]:
    if not text.startswith("-"):
        return False, text
    rest = text[1:]
    if not rest[:1].isascii() or not rest[:1].isdigit():
        raise _Garbage
    return True, rest


# How a digit token can be read. "dot3" ("1.500") and "comma3" ("1,500") are thousands in a
# whole number, but next to "triệu" or in a decimal they could just as well mean 1,5.
_NumberKind = Literal["int", "dec", "dot3", "comma3"]
_GROUP = r"[1-9][0-9]{0,2}"
_NUMBER_FORMS: tuple[tuple[re.Pattern[str], _NumberKind], ...] = (
    (re.compile(r"[0-9]+"), "int"),
    (re.compile(rf"{_GROUP}\.[0-9]{{3}}"), "dot3"),
    (re.compile(rf"{_GROUP},[0-9]{{3}}"), "comma3"),
    (re.compile(rf"{_GROUP}(?:\.[0-9]{{3}}){{2,}}"), "int"),
    (re.compile(rf"{_GROUP}(?:,[0-9]{{3}}){{2,}}"), "int"),
    (re.compile(rf"{_GROUP}(?:\.[0-9]{{3}})+,[0-9]+"), "dec"),
    (re.compile(rf"{_GROUP}(?:,[0-9]{{3}})+\.[0-9]+"), "dec"),
)
_SINGLE_SEPARATOR = re.compile(r"([0-9]+)[.,]([0-9]+)")


def _read_number(text: str) -> tuple[Decimal, _NumberKind]:
    for pattern, kind in _NUMBER_FORMS:
        if pattern.fullmatch(text):
            if kind == "dec":
                # The separator that comes last is the decimal one; the other groups thousands.
                point = max(text.rfind("."), text.rfind(","))
                whole = text[:point].replace(".", "").replace(",", "")
                return Decimal(f"{whole}.{text[point + 1 :]}"), kind
            return Decimal(text.replace(".", "").replace(",", "")), kind
    single = _SINGLE_SEPARATOR.fullmatch(text)
    if single is None:
        raise _Garbage
    whole, fraction = single.groups()
    # "1200.000" or "01.500": not a thousands group, and too odd to trust as a decimal.
    if len(fraction) == 3 and whole != "0":
        raise _Garbage
    return Decimal(f"{whole}.{fraction}"), "dec"


_DIGIT_WORDS = {
    "khong": 0,
    "mot": 1,
    "hai": 2,
    "ba": 3,
    "bon": 4,
    "nam": 5,
    "sau": 6,
    "bay": 7,
    "tam": 8,
    "chin": 9,
}
# After "mươi" the units change name: 1 is "mốt", 4 may be "tư", 5 is "lăm" or "nhăm".
# "năm" is left out on purpose: "hai mươi năm" may mean "twenty years", so we ask again.
_UNITS_AFTER_TENS = {
    "mot": 1,
    "hai": 2,
    "ba": 3,
    "bon": 4,
    "tu": 4,
    "lam": 5,
    "nham": 5,
    "sau": 6,
    "bay": 7,
    "tam": 8,
    "chin": 9,
}
_UNITS_AFTER_LINH = {**{w: v for w, v in _DIGIT_WORDS.items() if v}, "tu": 4}
_NUMBER_WORDS = frozenset({*_DIGIT_WORDS, *_UNITS_AFTER_TENS, "muoi", "chuc", "tram", "linh", "le"})
_MULTIPLIERS = {"tram": 100, "chuc": 10}
_INT_SCALES = {
    "k": 1_000,
    "nghin": 1_000,
    "ngan": 1_000,
    "tr": 1_000_000,
    "trieu": 1_000_000,
    "ty": 1_000_000_000,
    "ti": 1_000_000_000,
}
# "củ" is slang for a million in money talk only; "5 củ khoai" is five sweet potatoes.
_MONEY_SCALES = {**_INT_SCALES, "cu": 1_000_000}
# Words that may not follow a number as its unit: they would change or muddle its value.
# "năm" stays allowed because "12 năm" (twelve years) is a plain answer.
_NUMBERISH = (_NUMBER_WORDS - {"nam"}) | set(_MONEY_SCALES) | {"ruoi"}
_CURRENCY = frozenset({"d", "dong", "vnd"})
_GLUED_CURRENCY = re.compile(r"(?<=[0-9])(k|tr)d\b")
_POLITE = frozenset({"a", "nhe", "nha", "nhen", "ak"})


def _words_below_thousand(words: list[str], *, leading: bool) -> int | None:
    """Vietnamese number words for 0..999, strictly; None when the words are not such a number."""
    if words == ["khong"]:
        return 0
    hundreds: int | None = None
    rest = words
    if len(words) >= 2 and words[1] == "tram":
        digit = _DIGIT_WORDS.get(words[0])
        # "không trăm" only makes sense inside a bigger number: "một nghìn không trăm linh năm".
        if digit is None or (digit == 0 and leading):
            return None
        hundreds, rest = digit * 100, words[2:]
    base = hundreds or 0
    if not rest:
        return hundreds
    if rest[0] in ("linh", "le"):
        unit = _UNITS_AFTER_LINH.get(rest[1]) if len(rest) == 2 else None
        return None if hundreds is None or unit is None else base + unit
    if rest[0] == "muoi":
        tens, units = 10, rest[1:]
    elif len(rest) >= 2 and rest[1] in ("muoi", "chuc"):
        digit = _DIGIT_WORDS.get(rest[0])
        lowest = 1 if rest[1] == "chuc" else 2
        if digit is None or digit < lowest or (rest[1] == "chuc" and len(rest) > 2):
            return None
        tens, units = digit * 10, rest[2:]
    elif len(rest) == 1 and hundreds is None:
        return _DIGIT_WORDS.get(rest[0])
    else:
        # "một trăm hai" is 120 to some people and 102 to others: ask again.
        return None
    if not units:
        return base + tens
    if len(units) == 1 and units[0] in _UNITS_AFTER_TENS:
        return base + tens + _UNITS_AFTER_TENS[units[0]]
    return None


# How a quantity standing after a scale word adds to it: "1tr5" and "1tr250" are digits after
# the point, "một triệu hai" is 1,2 triệu, "một triệu năm trăm" leaves out "nghìn".
_TrailMode = Literal["digits", "tenth", "lower", "none"]


@dataclass(frozen=True, slots=True)
class _Quantity:
    value: Decimal
    kind: _NumberKind
    trail: _TrailMode
    text: str


def _read_quantity(tokens: list[_Token], i: int, *, leading: bool) -> tuple[_Quantity, int] | None:
    token = tokens[i]
    if token.is_number:
        value, kind = _read_number(token.text)
        j = i + 1
        trail: _TrailMode = "digits" if re.fullmatch(r"[0-9]{1,3}", token.text) else "none"
        if j < len(tokens) and tokens[j].text in _MULTIPLIERS:
            if kind != "int" or not 1 <= value <= 9:
                raise _Garbage
            value *= _MULTIPLIERS[tokens[j].text]
            j, trail = j + 1, "lower"
        return _Quantity(value, kind, trail, token.text), j
    j = i
    while j < len(tokens) and not tokens[j].is_number and tokens[j].text in _NUMBER_WORDS:
        j += 1
    if j == i:
        return None
    number = _words_below_thousand([t.text for t in tokens[i:j]], leading=leading)
    if number is None:
        raise _Garbage
    trail = "tenth" if j - i == 1 and 1 <= number <= 9 else "lower"
    return _Quantity(Decimal(number), "int", trail, ""), j


def _scale_at(tokens: list[_Token], i: int, scales: dict[str, int]) -> int | None:
    if i >= len(tokens) or tokens[i].is_number:
        return None
    return scales.get(tokens[i].text)


def _read_amount(tokens: list[_Token], scales: dict[str, int]) -> tuple[Decimal, int]:
    """Read "1.500.000", "1tr5", "1,5 triệu", "hai triệu rưỡi"...; value and tokens used."""
    total = Decimal(0)
    i = 0
    scale: int | None = None
    has_decimal = False
    while i < len(tokens):
        if scale is not None and tokens[i].text == "ruoi" and not has_decimal:
            return total + Decimal(scale) / 2, i + 1
        read = _read_quantity(tokens, i, leading=scale is None)
        if read is None:
            break
        quantity, j = read
        next_scale = _scale_at(tokens, j, scales)
        if next_scale is not None:
            # Scales must go down ("1 tỷ 200 triệu") and a decimal may only end the amount.
            if scale is not None and (next_scale >= scale or quantity.value >= 1000):
                raise _Garbage
            if has_decimal or quantity.kind in ("dot3", "comma3"):
                raise _Garbage
            has_decimal = quantity.kind == "dec"
            total += quantity.value * next_scale
            scale, i = next_scale, j + 1
            continue
        if scale is None:
            if quantity.kind == "dec":
                raise _Garbage
            return quantity.value, j
        if has_decimal:
            raise _Garbage
        if quantity.trail == "digits":
            total += Decimal(f"0.{quantity.text}") * scale
        elif quantity.trail == "tenth":
            total += quantity.value * scale / 10
        elif quantity.trail == "lower" and quantity.value > 0:
            total += quantity.value * scale / 1000
        else:
            raise _Garbage
        return total, j
    if i == 0:
        raise _Garbage
    return total, i


def _check_unit_words(tail: list[_Token]) -> None:
    """Allow unit words after a number ("12 hộ", "12 người ạ"), but not "12 13" or "12 lẻ"."""
    if tail and not tail[0].spaced:
        raise _Garbage
    for token in tail:
        if token.is_number or token.text in _NUMBERISH:
            raise _Garbage


def _as_int(value: Decimal) -> int:
    if value != value.to_integral_value():
        raise _Garbage
    return int(value)


def parse_integer(text: str) -> int:
    """A whole number from digits ("1.200", "1 200"), words ("hai mươi lăm") or "12 hộ"."""
    try:
        negative, rest = _split_sign(_prepare_number(text))
        tokens = _tokenize(rest)
        value, used = _read_amount(tokens, _INT_SCALES)
        _check_unit_words(tokens[used:])
        number = _as_int(value)
    except _Garbage:
        raise ParseError("error.integer") from None
    return -number if negative else number


def parse_decimal(text: str) -> Decimal:
    """A decimal with the Vietnamese comma ("1,5"), or a dot ("1.5") when it cannot be thousands."""
    try:
        negative, rest = _split_sign(_prepare_number(text))
        tokens = _tokenize(rest)
        if not tokens:
            raise _Garbage
        followed_by_scale = len(tokens) > 1 and (
            tokens[1].text in _MULTIPLIERS or _scale_at(tokens, 1, _INT_SCALES) is not None
        )
        if tokens[0].is_number and not followed_by_scale:
            value, kind = _read_number(tokens[0].text)
            # "1,500" is 1,5 to a Vietnamese reader and 1500 to a spreadsheet: ask again.
            if kind == "comma3":
                raise _Garbage
            used = 1
        else:
            value, used = _read_amount(tokens, _INT_SCALES)
        _check_unit_words(tokens[used:])
    except _Garbage:
        raise ParseError("error.decimal") from None
    return Decimal(0) - value if negative else value


def parse_money(text: str) -> int:
    """An amount of dong from "1.500.000đ", "1tr5", "1,5 triệu", "500k", "mot trieu"..."""
    try:
        prepared = _prepare_number(text.replace("₫", " đ"))
        # "500kđ" glues the unit to the currency sign.
        prepared = _GLUED_CURRENCY.sub(r"\1 d", prepared)
        if "-" in prepared:
            raise _Garbage
        tokens = _tokenize(prepared)
        value, used = _read_amount(tokens, _MONEY_SCALES)
        tail = tokens[used:]
        if any(t.is_number for t in tail):
            raise _Garbage
        words = [t.text for t in tail]
        if words and words[0] in _CURRENCY:
            words = words[1:]
        if any(w not in _POLITE for w in words):
            raise _Garbage
        amount = _as_int(value)
    except _Garbage:
        raise ParseError("error.money") from None
    return amount


_YES = frozenset(
    {
        "co",
        "c",
        "yes",
        "y",
        "u",
        "uh",
        "uhm",
        "um",
        "uk",
        "o",
        "ok",
        "oke",
        "okay",
        "oki",
        "dung",
        "dung roi",
        "dong y",
        "roi",
        "co roi",
        "vang",
        "da",
        "duoc",
        "dc",
        "cung duoc",
    }
)
_NO = frozenset(
    {
        "khong",
        "ko",
        "k",
        "kg",
        "khg",
        "kh",
        "hong",
        "hok",
        "hem",
        "khum",
        "no",
        "n",
        "chua",
        "chua co",
        "khong co",
        "ko co",
        "k co",
        "kg co",
        "hong co",
        "khong phai",
        "ko phai",
        "k phai",
        "sai",
        "khong dong y",
        "ko dong y",
        "khong duoc",
        "ko duoc",
        "k duoc",
        "ko dc",
        "k dc",
    }
)
# "Dạ" in front is politeness ("dạ không" is a no); the particles at the end add nothing.
_LEADING_POLITE = frozenset({"da", "vang"})
_TRAILING_POLITE = frozenset({"a", "nhe", "nha", "nhen", "ak", "chu"})


def parse_yes_no(text: str) -> bool:
    """True for "có", "ừ", "ok", "dạ có"...; False for "không", "ko", "chưa"..."""
    words = re.findall(r"[a-z0-9]+", _fold(text))
    while len(words) > 1 and words[-1] in _TRAILING_POLITE:
        words.pop()
    if len(words) > 1 and words[0] in _LEADING_POLITE:
        words = words[1:]
    answer = " ".join(words)
    if answer in _YES:
        return True
    if answer in _NO:
        return False
    raise ParseError("error.yes_no")


_RELATIVE_DAYS = {
    "hom nay": 0,
    "hom qua": -1,
    "hom kia": -2,
    "mai": 1,
    "ngay mai": 1,
    "ngay kia": 2,
}
_DAY_FIRST = re.compile(
    r"(?:ngay\s*)?([0-9]{1,2})\s*([/.-])\s*([0-9]{1,2})(?:\s*\2\s*([0-9]{4}|[0-9]{2}))?"
)
_YEAR_FIRST = re.compile(r"([0-9]{4})\s*([/.-])\s*([0-9]{1,2})\s*\2\s*([0-9]{1,2})")
_DATE_WORDS = re.compile(
    r"(?:ngay\s*)?([0-9]{1,2})\s*thang\s*([0-9]{1,2})(?:\s*,?\s*nam\s*([0-9]{4}|[0-9]{2}))?"
)
# Years outside this range are typos ("0026"), not dates anybody means in this movement.
_FIRST_YEAR, _LAST_YEAR = 1900, 2100


def _year(text: str | None, today: date) -> int:
    if text is None:
        return today.year
    year = 2000 + int(text) if len(text) == 2 else int(text)
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise _Garbage
    return year


def parse_date(text: str, today: date) -> date:
    """A day-first date: "5/3/2026", "05/03/26", "ngày 5 tháng 3 năm 2026", "5/3", "2026-03-05"."""
    folded = _fold(text).rstrip(".!?,;: ")
    if folded in _RELATIVE_DAYS:
        return today + timedelta(days=_RELATIVE_DAYS[folded])
    try:
        if match := _YEAR_FIRST.fullmatch(folded):
            year_text, _, month_text, day_text = match.groups()
        elif match := _DAY_FIRST.fullmatch(folded):
            day_text, _, month_text, year_text = match.groups()
        elif match := _DATE_WORDS.fullmatch(folded):
            day_text, month_text, year_text = match.groups()
        else:
            raise _Garbage
        return date(_year(year_text, today), int(month_text), int(day_text))
    except (_Garbage, ValueError):
        raise ParseError("error.date") from None


_MONTH_FIRST = re.compile(r"(?:thang|t)?\s*([0-9]{1,2})(?:\s*(?:[/.-]|nam)\s*([0-9]{4}|[0-9]{2}))?")
_MONTH_YEAR_FIRST = re.compile(r"([0-9]{4})\s*[/.-]\s*([0-9]{1,2})")
_RELATIVE_MONTHS = {"thang nay": 0, "thang truoc": -1, "thang sau": 1, "thang toi": 1}


def parse_month(text: str, today: date) -> tuple[int, int]:
    """(year, month) from "10/2026", "tháng 10 năm 2026", "T10/26", "2026-10" or "10"."""
    folded = _fold(text).rstrip(".!?,;: ")
    if folded in _RELATIVE_MONTHS:
        index = today.year * 12 + today.month - 1 + _RELATIVE_MONTHS[folded]
        return index // 12, index % 12 + 1
    try:
        if match := _MONTH_YEAR_FIRST.fullmatch(folded):
            year_text, month_text = match.groups()
        elif match := _MONTH_FIRST.fullmatch(folded):
            month_text, year_text = match.groups()
        else:
            raise _Garbage
        year, month = _year(year_text, today), int(month_text)
    except _Garbage:
        raise ParseError("error.month") from None
    if not 1 <= month <= 12:
        raise ParseError("error.month")
    return year, month


_PHONE_NOISE = re.compile(r"[\s.\-()]")
_MOBILE = re.compile(r"0[35789][0-9]{8}")
_LANDLINE = re.compile(r"02[0-9]{9}")


def parse_phone(text: str) -> str:
    """A Vietnamese mobile or landline number in E.164 form, "+84912345678"."""
    compact = _PHONE_NOISE.sub("", unicodedata.normalize("NFC", text))
    if not re.fullmatch(r"\+?[0-9]+", compact):
        raise ParseError("error.phone")
    international: str | None = None
    if compact.startswith("+"):
        if not compact.startswith("+84"):
            raise ParseError("error.phone")
        international = compact[3:]
    elif compact.startswith("0084"):
        international = compact[4:]
    elif compact.startswith("84"):
        international = compact[2:]
    # People often keep the trunk 0 after the country code: "+84 0912 345 678".
    national = compact if international is None else "0" + international.removeprefix("0")
    if not (_MOBILE.fullmatch(national) or _LANDLINE.fullmatch(national)):
        raise ParseError("error.phone")
    return "+84" + national[1:]


# Province codes of the 63-province CCCD scheme; any other first three digits is a typo.
_PROVINCE_CODES = frozenset(
    (
        "001",
        "002",
        "004",
        "006",
        "008",
        "010",
        "011",
        "012",
        "014",
        "015",
        "017",
        "019",
        "020",
        "022",
        "024",
        "025",
        "026",
        "027",
        "030",
        "031",
        "033",
        "034",
        "035",
        "036",
        "037",
        "038",
        "040",
        "042",
        "044",
        "045",
        "046",
        "048",
        "049",
        "051",
        "052",
        "054",
        "056",
        "058",
        "060",
        "062",
        "064",
        "066",
        "067",
        "068",
        "070",
        "072",
        "074",
        "075",
        "077",
        "079",
        "080",
        "082",
        "083",
        "084",
        "086",
        "087",
        "089",
        "091",
        "092",
        "093",
        "094",
        "095",
        "096",
    )
)
_CCCD_NOISE = re.compile(r"[\s.\-]")


def parse_cccd(text: str) -> str:
    """A 12-digit citizen ID ("079 203 001 234" -> "079203001234") with a real province code."""
    compact = _CCCD_NOISE.sub("", unicodedata.normalize("NFC", text))
    if not re.fullmatch(r"[0-9]{12}", compact):
        digits = sum(ch in "0123456789" for ch in compact)
        raise ParseError("error.cccd.length", got=digits)
    if compact[:3] not in _PROVINCE_CODES:
        raise ParseError("error.cccd.province", code=compact[:3])
    return compact


def mask_cccd(cccd: str) -> str:
    """Show only the first 3 and last 2 digits: "079*******34"; anything odd is fully masked."""
    compact = _CCCD_NOISE.sub("", cccd)
    if not re.fullmatch(r"[0-9]{12}", compact):
        return "*" * len(cccd)
    return compact[:3] + "*" * 7 + compact[-2:]


def mask_phone(phone: str) -> str:
    """Keep "+84", the first 2 and last 2 national digits: "+84 91* *** *78"."""
    try:
        national = parse_phone(phone)[3:]
    except ParseError:
        return "*" * len(phone)
    masked = national[:2] + "*" * (len(national) - 4) + national[-2:]
    groups = [masked[i : i + 3] for i in range(0, len(masked), 3)]
    if len(groups[-1]) == 1:
        last = groups.pop()
        groups[-1] += last
    return "+84 " + " ".join(groups)
