"""Table and property tests for reading typed form answers in bot/forms/parsing.py."""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.forms.parsing import (
    ParseError,
    mask_cccd,
    mask_phone,
    parse_cccd,
    parse_date,
    parse_decimal,
    parse_integer,
    parse_money,
    parse_month,
    parse_phone,
    parse_yes_no,
)

TODAY = date(2026, 5, 20)

_PROVINCE_CODES_TEXT = (
    "001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 "
    "034 035 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 "
    "067 068 070 072 074 075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096"
)
PROVINCE_CODES = tuple(_PROVINCE_CODES_TEXT.split())


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").replace("đ", "d")


_UNITS = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]


def _say(n: int) -> str:
    """How a Vietnamese reader says 0..999; written independently of the parser as an oracle."""
    if n == 0:
        return "không"
    hundreds, rest = divmod(n, 100)
    words = [_UNITS[hundreds], "trăm"] if hundreds else []
    tens, units = divmod(rest, 10)
    if rest == 0:
        pass
    elif tens == 0:
        words += ["linh", _UNITS[units]] if hundreds else [_UNITS[units]]
    elif tens == 1:
        words += ["mười"] + ([{5: "lăm"}.get(units, _UNITS[units])] if units else [])
    else:
        words += [_UNITS[tens], "mươi"]
        if units:
            words.append({1: "mốt", 5: "lăm"}.get(units, _UNITS[units]))
    return " ".join(words)


def _raises(key: str, func: Callable[[], object], **params: object) -> None:
    with pytest.raises(ParseError) as caught:
        func()
    assert caught.value.key == key
    assert caught.value.params == params


# ---------------------------------------------------------------------------------------------
# ParseError


def test_parse_error_carries_key_and_params() -> None:
    error = ParseError("error.cccd.length", got=9)
    assert isinstance(error, ValueError)
    assert error.key == "error.cccd.length"
    assert error.params == {"got": 9}
    assert "error.cccd.length" in repr(error)


# ---------------------------------------------------------------------------------------------
# parse_integer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        (" 12 ", 12),
        ("0", 0),
        ("007", 7),
        ("1.200", 1200),
        ("1 200", 1200),
        ("1,200", 1200),
        ("1.000.000", 1_000_000),
        ("1,000,000", 1_000_000),
        ("1 000 000", 1_000_000),
        ("12 hộ", 12),
        ("12 ho", 12),
        ("12 người", 12),
        ("12 Hộ Nghèo", 12),
        ("12 người ạ", 12),
        ("12 năm", 12),
        ("12.", 12),
        ("-3", -3),
        ("−3", -3),
        ("-1.200", -1200),
        ("không", 0),
        ("một", 1),
        ("hai", 2),
        ("mười", 10),
        ("mười hai", 12),
        ("mười một", 11),
        ("mười lăm", 15),
        ("mười bốn", 14),
        ("mười tư", 14),
        ("hai mươi", 20),
        ("hai mươi mốt", 21),
        ("hai mươi tư", 24),
        ("hai mươi lăm", 25),
        ("chín mươi chín", 99),
        ("một trăm", 100),
        ("một trăm linh năm", 105),
        ("một trăm lẻ năm", 105),
        ("một trăm mười", 110),
        ("một trăm hai mươi", 120),
        ("chín trăm chín mươi chín", 999),
        ("muoi hai", 12),
        ("MƯỜI HAI", 12),
        ("hai muoi lam", 25),
        ("mot tram linh nam", 105),
        ("ba chục", 30),
        ("hai mươi hộ", 20),
        ("không có", 0),
        ("hai nghìn", 2000),
        ("một nghìn không trăm linh năm", 1005),
        ("2 nghìn", 2000),
        ("5 trăm", 500),
    ],
)
def test_parse_integer_reads(text: str, expected: int) -> None:
    assert parse_integer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "",
        "   ",
        "1.2.3x",
        "1.2.3",
        "12 13",
        "12abc",
        "1,5",
        "1.5",
        "1.20",
        "1.2000",
        "12.000.00",
        "01.200",
        "1.200,5",
        "1,200.000",
        "1 20",
        "- 3",
        "+3",
        "-hai",
        "1e5",
        "½",
        "١٢",  # Arabic-Indic digits: int() would take them, a form must not
        "khoảng 12",
        "12 lẻ",
        "12 hai",
        "hai ba",  # "two or three"
        "hai mươi năm",  # 25, or "twenty years"?
        "một trăm hai",  # 120 to some, 102 to others
        "mười năm",
        "linh năm",
        "không trăm linh năm",
        "trăm",
        "triệu",
        "12 tram",
        "1" * 150,
    ],
)
def test_parse_integer_asks_again(text: str) -> None:
    _raises("error.integer", lambda: parse_integer(text))


@given(st.integers(min_value=0, max_value=10**9))
def test_parse_integer_round_trips_thousands_separators(n: int) -> None:
    grouped = f"{n:,}"
    assert parse_integer(grouped.replace(",", ".")) == n
    assert parse_integer(grouped) == n
    assert parse_integer(grouped.replace(",", " ")) == n
    assert parse_integer(str(n)) == n
    assert parse_integer(f"-{grouped.replace(',', '.')}") == -n


@given(st.integers(min_value=0, max_value=999))
def test_parse_integer_reads_vietnamese_number_words(n: int) -> None:
    spoken = _say(n)
    assert parse_integer(spoken) == n
    assert parse_integer(_fold(spoken)) == n
    assert parse_integer(spoken.upper()) == n


# ---------------------------------------------------------------------------------------------
# parse_decimal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,5", Decimal("1.5")),
        ("1.5", Decimal("1.5")),
        ("1.200", Decimal(1200)),
        ("1.200,5", Decimal("1200.5")),
        ("1.200.000,25", Decimal("1200000.25")),
        ("1,200.5", Decimal("1200.5")),
        ("0,250", Decimal("0.25")),
        ("0.500", Decimal("0.5")),
        ("12", Decimal(12)),
        ("-1,5", Decimal("-1.5")),
        ("1,5 ha", Decimal("1.5")),
        ("2,75 tấn", Decimal("2.75")),
        ("hai", Decimal(2)),
        ("1,5 nghìn", Decimal(1500)),
        ("1 200,5", Decimal("1200.5")),
    ],
)
def test_parse_decimal_reads(text: str, expected: Decimal) -> None:
    assert parse_decimal(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "",
        "1,200",  # 1,2 to a Vietnamese reader, 1200 to a spreadsheet
        "1.2.3",
        "1,5.3",
        "1200.000",
        ",5",
        "1,",
        "1,5,5",
        "1,5 2",
        "1,5abc",
        "1,5 triệu mốt",
    ],
)
def test_parse_decimal_asks_again(text: str) -> None:
    _raises("error.decimal", lambda: parse_decimal(text))


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=99))
def test_parse_decimal_reads_the_vietnamese_comma(whole: int, fraction: int) -> None:
    text = f"{whole},{fraction:02d}"
    assert parse_decimal(text) == Decimal(f"{whole}.{fraction:02d}")


# ---------------------------------------------------------------------------------------------
# parse_money


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1500000", 1_500_000),
        ("1.500.000", 1_500_000),
        ("1,500,000", 1_500_000),
        ("1 500 000", 1_500_000),
        ("1.500.000đ", 1_500_000),
        ("1.500.000 đ", 1_500_000),
        ("1.500.000 đồng", 1_500_000),
        ("1.500.000 dong", 1_500_000),
        ("1500000 vnd", 1_500_000),
        ("1500000 VNĐ", 1_500_000),
        ("1.500.000 ₫", 1_500_000),
        ("1tr5", 1_500_000),
        ("1tr2", 1_200_000),
        ("1tr25", 1_250_000),
        ("1tr250", 1_250_000),
        ("1tr05", 1_050_000),
        ("1 triệu 5", 1_500_000),
        ("2tr", 2_000_000),
        ("2 tr", 2_000_000),
        ("2 triệu", 2_000_000),
        ("2 trieu", 2_000_000),
        ("2TR", 2_000_000),
        ("1,5 triệu", 1_500_000),
        ("1.5tr", 1_500_000),
        ("0,5 triệu", 500_000),
        ("1,25tr", 1_250_000),
        ("500k", 500_000),
        ("500K", 500_000),
        ("500 nghìn", 500_000),
        ("500 ngàn", 500_000),
        ("500 ngan", 500_000),
        ("500 nghin", 500_000),
        ("500 nghìn đồng", 500_000),
        ("500kđ", 500_000),
        ("1tr5đ", 1_500_000),
        ("1,5k", 1_500),
        ("1 tỷ", 1_000_000_000),
        ("1 tỉ", 1_000_000_000),
        ("1 ty", 1_000_000_000),
        ("1ty2", 1_200_000_000),
        ("1 tỷ 200 triệu", 1_200_000_000),
        ("1 triệu 500 nghìn", 1_500_000),
        ("1tr500k", 1_500_000),
        ("5 trăm nghìn", 500_000),
        ("5 củ", 5_000_000),
        ("mot trieu", 1_000_000),
        ("một triệu", 1_000_000),
        ("hai triệu rưỡi", 2_500_000),
        ("2tr rưỡi", 2_500_000),
        ("một triệu hai", 1_200_000),
        ("một triệu mốt", 1_100_000),
        ("một triệu năm trăm", 1_500_000),
        ("hai triệu năm trăm nghìn", 2_500_000),
        ("năm trăm k", 500_000),
        ("ba trăm nghìn đồng", 300_000),
        ("0", 0),
        ("1,500", 1_500),
        ("500k ạ", 500_000),
    ],
)
def test_parse_money_reads(text: str, expected: int) -> None:
    assert parse_money(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "",
        "-500000",
        "-1tr",
        "− 500k",
        "1.5",  # not a whole number of dong
        "1,5",
        "1,2345k",
        "1.500k",  # 1,5 nghìn or 1500 nghìn?
        "1,500 triệu",
        "1tr2500",  # 1,25 triệu or 1 triệu 2500 đồng?
        "1 tỷ 200000",
        "1 triệu 2 tỷ",
        "1 triệu 1500 nghìn",
        "1,5 tỷ 200 triệu",
        "500k/tháng",
        "2 triệu một tháng",
        "khoảng 2 triệu",
        "2 triệu 3 triệu",
        "đ",
        "triệu",
        "1tr5đ2",
        "1 triệu không",
        "500 đồng đồng",
        "1" * 150,
    ],
)
def test_parse_money_asks_again(text: str) -> None:
    _raises("error.money", lambda: parse_money(text))


@given(st.integers(min_value=0, max_value=10**12))
def test_parse_money_round_trips_written_amounts(n: int) -> None:
    assert parse_money(f"{n:,}".replace(",", ".") + "đ") == n
    assert parse_money(f"{n} đồng") == n


@given(st.integers(min_value=0, max_value=999), st.integers(min_value=0, max_value=9))
def test_parse_money_units(n: int, digit: int) -> None:
    assert parse_money(f"{n}k") == n * 1_000
    assert parse_money(f"{n} triệu") == n * 1_000_000
    assert parse_money(f"{n}tr{digit}") == n * 1_000_000 + digit * 100_000
    assert parse_money(f"{_say(n)} nghìn") == n * 1_000


# ---------------------------------------------------------------------------------------------
# parse_yes_no

YES = [
    "có",
    "co",
    "c",
    "yes",
    "y",
    "ừ",
    "u",
    "uh",
    "ok",
    "OK",
    "đúng",
    "dung",
    "đúng rồi",
    "đồng ý",
    "dong y",
    "rồi",
    "roi",
    "co a",
    "có ạ",
    "Có!",
    "có nhé",
    "có ạ.",
    "vâng",
    "vang",
    "vâng ạ",
    "dạ có",
    "dạ",
    "được",
    "dc",
]
NO = [
    "không",
    "khong",
    "KHÔNG",
    "ko",
    "k",
    "kg",
    "khg",
    "no",
    "n",
    "hong",
    "hông",
    "chưa",
    "chua",
    "không ạ",
    "ko co",
    "không có",
    "dạ không",
    "chưa có ạ",
    "không nhé!",
    "ko dc",
]


@pytest.mark.parametrize("text", YES)
def test_parse_yes_no_yes(text: str) -> None:
    assert parse_yes_no(text) is True


@pytest.mark.parametrize("text", NO)
def test_parse_yes_no_no(text: str) -> None:
    assert parse_yes_no(text) is False


@pytest.mark.parametrize(
    "text", ["", "ạ", "?", "có không", "có hả", "không biết", "maybe", "1", "có có có", "a a"]
)
def test_parse_yes_no_asks_again(text: str) -> None:
    _raises("error.yes_no", lambda: parse_yes_no(text))


# ---------------------------------------------------------------------------------------------
# parse_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("05/03/2026", date(2026, 3, 5)),
        ("5/3/2026", date(2026, 3, 5)),
        ("5-3-2026", date(2026, 3, 5)),
        ("5.3.2026", date(2026, 3, 5)),
        ("05/03/26", date(2026, 3, 5)),
        ("2026-03-05", date(2026, 3, 5)),
        ("2026/3/5", date(2026, 3, 5)),
        ("ngày 5 tháng 3 năm 2026", date(2026, 3, 5)),
        ("ngay 5 thang 3 nam 2026", date(2026, 3, 5)),
        ("Ngày 05 tháng 03 năm 2026.", date(2026, 3, 5)),
        ("5 tháng 3", date(2026, 3, 5)),
        ("ngày 5/3/2026", date(2026, 3, 5)),
        ("5/3", date(2026, 3, 5)),
        (" 5 / 3 / 2026 ", date(2026, 3, 5)),
        ("12/01/2026", date(2026, 1, 12)),  # day first, never January 12th read as December
        ("29/02/2028", date(2028, 2, 29)),
        ("31/12/2100", date(2100, 12, 31)),
        ("01/01/1900", date(1900, 1, 1)),
        ("hôm nay", TODAY),
        ("hom qua", date(2026, 5, 19)),
        ("ngày mai", date(2026, 5, 21)),
    ],
)
def test_parse_date_reads(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    "text",
    [
        "31/02/2026",
        "29/02/2026",
        "32/01/2026",
        "0/1/2026",
        "5/13/2026",
        "5/0/2026",
        "5/3-2026",
        "5/3/202",
        "5/3/20266",
        "05/03/0026",
        "31/12/1899",
        "1/1/2101",
        "",
        "abc",
        "mai kia",
        "2026-02-30",
        "5",
        "ngày 5",
        "5/3/2026 8:00",
    ],
)
def test_parse_date_asks_again(text: str) -> None:
    _raises("error.date", lambda: parse_date(text, TODAY))


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_parse_date_round_trips_day_first(day: date) -> None:
    assert parse_date(day.strftime("%d/%m/%Y"), TODAY) == day
    assert parse_date(f"{day.day}-{day.month}-{day.year}", TODAY) == day
    assert parse_date(day.isoformat(), TODAY) == day
    assert parse_date(f"ngày {day.day} tháng {day.month} năm {day.year}", TODAY) == day


# ---------------------------------------------------------------------------------------------
# parse_month


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/2026", (2026, 10)),
        ("10-2026", (2026, 10)),
        ("10.2026", (2026, 10)),
        ("thang 10/2026", (2026, 10)),
        ("tháng 10 năm 2026", (2026, 10)),
        ("Tháng 10/2026", (2026, 10)),
        ("T10/2026", (2026, 10)),
        ("2026-10", (2026, 10)),
        ("10/26", (2026, 10)),
        ("10", (2026, 10)),
        ("tháng 1", (2026, 1)),
        ("01/2027", (2027, 1)),
        ("12/2025", (2025, 12)),
        ("tháng này", (2026, 5)),
        ("tháng trước", (2026, 4)),
    ],
)
def test_parse_month_reads(text: str, expected: tuple[int, int]) -> None:
    assert parse_month(text, TODAY) == expected


def test_parse_month_last_month_crosses_the_year() -> None:
    assert parse_month("thang truoc", date(2026, 1, 15)) == (2025, 12)


@pytest.mark.parametrize(
    "text",
    [
        "13/2026",
        "0/2026",
        "00",
        "13",
        "5/3",
        "05/03/2026",
        "2026",
        "",
        "abc",
        "10/2026/1",
        "10/1899",
    ],
)
def test_parse_month_asks_again(text: str) -> None:
    _raises("error.month", lambda: parse_month(text, TODAY))


# ---------------------------------------------------------------------------------------------
# parse_phone, mask_phone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0912345678", "+84912345678"),
        ("0912 345 678", "+84912345678"),
        ("091.234.5678", "+84912345678"),
        ("091-234-5678", "+84912345678"),
        ("+84912345678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("+84 912 345 678", "+84912345678"),
        ("+84 0912 345 678", "+84912345678"),
        ("0084912345678", "+84912345678"),
        ("0312345678", "+84312345678"),
        ("0512345678", "+84512345678"),
        ("0712345678", "+84712345678"),
        ("0812345678", "+84812345678"),
        ("02838123456", "+842838123456"),
        ("(028) 3812 3456", "+842838123456"),
    ],
)
def test_parse_phone_reads(text: str, expected: str) -> None:
    assert parse_phone(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "091234567",  # 9 digits
        "09123456789",  # 11 digits, mobile prefix
        "0212345678",  # 10 digits, landline prefix
        "028381234567",  # 12 digits
        "0112345678",
        "0412345678",
        "0612345678",
        "1912345678",
        "+1 415 555 0100",
        "+44 20 7946 0958",
        "0912345678a",
        "09l2345678",
        "+84",
        "++84912345678",
        "0912345678/0987654321",
    ],
)
def test_parse_phone_asks_again(text: str) -> None:
    _raises("error.phone", lambda: parse_phone(text))


PHONES = st.one_of(
    st.builds(
        lambda p, rest: f"0{p}{rest}",
        st.sampled_from("35789"),
        st.text("0123456789", min_size=8, max_size=8),
    ),
    st.builds(lambda rest: f"02{rest}", st.text("0123456789", min_size=9, max_size=9)),
)


@given(PHONES, st.sampled_from(["", " ", ".", "-"]))
def test_parse_phone_is_idempotent(national: str, separator: str) -> None:
    spaced = separator.join([national[:4], national[4:7], national[7:]])
    normalised = parse_phone(spaced)
    assert normalised == "+84" + national[1:]
    assert parse_phone(normalised) == normalised
    assert parse_phone("+84 " + national[1:]) == normalised


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+84912345678", "+84 91* *** *78"),
        ("0912345678", "+84 91* *** *78"),
        ("+842838123456", "+84 28* *** **56"),
        ("not a phone", "***********"),
        ("", ""),
    ],
)
def test_mask_phone(phone: str, expected: str) -> None:
    assert mask_phone(phone) == expected


@given(PHONES)
def test_mask_phone_reveals_at_most_four_national_digits(national: str) -> None:
    masked = mask_phone(parse_phone(national))
    assert masked.startswith("+84 ")
    shown = re.sub(r"[^0-9]", "", masked[4:])
    assert shown == national[1:3] + national[-2:]


# ---------------------------------------------------------------------------------------------
# parse_cccd, mask_cccd


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("079203001234", "079203001234"),
        ("079 203 001 234", "079203001234"),
        ("079.203.001.234", "079203001234"),
        (" 001095012345 ", "001095012345"),
        ("096300000001", "096300000001"),
    ],
)
def test_parse_cccd_reads(text: str, expected: str) -> None:
    assert parse_cccd(text) == expected


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("", 0),
        ("123456789", 9),  # an old 9-digit CMND
        ("07920300123", 11),
        ("0792030012345", 13),
        ("07920300123a", 11),
        ("079203001234x", 12),
        ("abc", 0),
        ("079/203/001/234", 12),
    ],
)
def test_parse_cccd_wrong_length(text: str, got: int) -> None:
    _raises("error.cccd.length", lambda: parse_cccd(text), got=got)


@pytest.mark.parametrize("code", ["000", "003", "005", "013", "050", "097", "099", "100", "999"])
def test_parse_cccd_unknown_province(code: str) -> None:
    _raises("error.cccd.province", lambda: parse_cccd(code + "203001234"), code=code)


@pytest.mark.parametrize("code", PROVINCE_CODES)
def test_parse_cccd_accepts_every_province(code: str) -> None:
    assert parse_cccd(code + "203001234") == code + "203001234"


def test_province_list_has_63_codes() -> None:
    assert len(set(PROVINCE_CODES)) == 63


@pytest.mark.parametrize(
    ("cccd", "expected"),
    [
        ("079203001234", "079*******34"),
        ("079 203 001 234", "079*******34"),
        ("12345", "*****"),
        ("", ""),
    ],
)
def test_mask_cccd(cccd: str, expected: str) -> None:
    assert mask_cccd(cccd) == expected


@given(st.text())
def test_mask_cccd_never_reveals_more_than_five_digits(text: str) -> None:
    assert sum(ch.isdigit() for ch in mask_cccd(text)) <= 5


@given(st.sampled_from(PROVINCE_CODES), st.text("0123456789", min_size=9, max_size=9))
def test_mask_cccd_shows_province_and_last_two(code: str, rest: str) -> None:
    cccd = parse_cccd(code + rest)
    assert mask_cccd(cccd) == code + "*******" + rest[-2:]


# ---------------------------------------------------------------------------------------------
# Robustness: whatever people type, the only failure is a ParseError.

NOISY_TEXT = st.one_of(
    st.text(max_size=40),
    st.text("0123456789 .,-/+kđtrieuyngàhmươốạ₫", max_size=25),
)
PARSERS: list[Callable[[str], object]] = [
    parse_integer,
    parse_decimal,
    parse_money,
    parse_yes_no,
    lambda t: parse_date(t, TODAY),
    lambda t: parse_month(t, TODAY),
    parse_phone,
    parse_cccd,
]


@given(NOISY_TEXT)
def test_parsers_fail_only_with_parse_error(text: str) -> None:
    for parse in PARSERS:
        try:
            parse(text)
        except ParseError as error:
            assert error.key.startswith("error.")


@given(NOISY_TEXT)
def test_money_is_never_negative(text: str) -> None:
    with contextlib.suppress(ParseError):
        assert parse_money(text) >= 0
