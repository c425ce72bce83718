"""The streaming XLSX writer used by the large exports, read back with openpyxl."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from bot.xlsx import ExcelDate, LocalDates, XlsxWriter


def test_values_of_every_kind_round_trip_through_openpyxl() -> None:
    buffer = io.BytesIO()
    local = LocalDates(ZoneInfo("Asia/Ho_Chi_Minh"))
    with XlsxWriter(buffer) as book:
        sheet = book.sheet_writer("Báo cáo: thôn/xã [1]", ["Mã", "Tên", "Số", "Khi", "Ngày"])
        sheet.append(
            [
                "A-1",
                "Hộ <nghèo> & cận nghèo",
                412,
                local(datetime(2026, 11, 3, 2, 5, tzinfo=UTC)),
                date(2026, 11, 5),
            ]
        )
        sheet.append([None, "", Decimal("1.5"), datetime(2026, 1, 2, 3, 4), True])
        sheet.append(["  cách  ", "ký tự\x01lạ", 10**12, 0.25, False])
        sheet.close()
        rows = book.sheet("Tổng hợp", ["a", "b"], [[1, "x"], [None, 2]])
    assert rows == 2
    workbook = load_workbook(io.BytesIO(buffer.getvalue()))
    assert workbook.sheetnames == ["Báo cáo  thôn xã  1 ", "Tổng hợp"]
    sheet = workbook.worksheets[0]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0] == ["Mã", "Tên", "Số", "Khi", "Ngày"]
    assert sheet["A1"].font.b  # the header is bold
    assert values[1][:3] == ["A-1", "Hộ <nghèo> & cận nghèo", 412]
    # 02:05 UTC is 09:05 in Vietnam; Excel has no time zones, so local time is written.
    assert values[1][3] == datetime(2026, 11, 3, 9, 5)
    assert values[1][4] == datetime(2026, 11, 5)
    assert sheet["D2"].number_format == "dd/mm/yyyy hh:mm"
    assert values[2] == [None, None, 1.5, datetime(2026, 1, 2, 3, 4), True]
    assert values[3] == ["  cách  ", "ký tựlạ", 10**12, 0.25, False]
    assert [list(r) for r in workbook.worksheets[1].iter_rows(values_only=True)] == [
        ["a", "b"],
        [1, "x"],
        [None, 2],
    ]


def test_rows_stream_into_the_zip_rather_than_memory() -> None:
    buffer = io.BytesIO()
    with XlsxWriter(buffer) as book:
        sheet = book.sheet_writer("x", ["n"])
        for number in range(5000):
            sheet.append([number])
            # Written in chunks as they come: nothing waits beyond the last few hundred rows.
            assert len(sheet._buffer) <= 500
        sheet.close()
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        assert "xl/worksheets/sheet1.xml" in archive.namelist()
        assert archive.testzip() is None
    assert load_workbook(io.BytesIO(buffer.getvalue())).active.max_row == 5001


def test_excel_dates_are_day_numbers() -> None:
    local = LocalDates(ZoneInfo("Asia/Ho_Chi_Minh"))
    value = local(datetime(2026, 1, 1, 17, 0, tzinfo=UTC))  # midnight on 2 January locally
    assert isinstance(value, ExcelDate) and value == 46024.0
