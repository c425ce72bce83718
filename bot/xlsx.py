"""A streaming XLSX writer for large exports: rows go straight into the zip, constant memory.

openpyxl's write-only mode spends about 20 µs per cell (100,000 reports x 23 columns took
20 s); this writes the same SpreadsheetML (inline strings, numbers, dates with a date
format, a bold header) with string formatting, about 1 µs per cell. Sheets are written one
after the other; openpyxl, LibreOffice and Excel read the result.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from types import TracebackType
from typing import IO, Any

__all__ = ["ExcelDate", "LocalDates", "XlsxWriter"]

_EPOCH = datetime(1899, 12, 30)
_DAY = timedelta(days=1)
_UNIX_EPOCH_SERIAL = 25569  # 1970-01-01 in Excel's day numbers
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f]")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SHEET_NAME = re.compile(r"[\[\]:*?/\\]")
_CHUNK = 500
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{_MAIN}">
<numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy hh:mm"/></numFmts>
<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>\
<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill>\
<fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _escape(text: str) -> str:
    text = _ILLEGAL.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(value: str) -> str:
    if not value:
        return "<c/>"
    text = _escape(value) if _SPECIAL.search(value) else value
    space = ' xml:space="preserve"' if value[0] == " " or value[-1] == " " else ""
    return f'<c t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _other(value: Any) -> str:
    if isinstance(value, bool):
        return f'<c t="b"><v>{int(value)}</v></c>'
    if isinstance(value, ExcelDate):
        return f'<c s="1"><v>{float(value)!r}</v></c>'
    if isinstance(value, datetime):
        serial = (value.replace(tzinfo=None) - _EPOCH) / _DAY
        return f'<c s="1"><v>{serial!r}</v></c>'
    if isinstance(value, date):
        return f'<c s="1"><v>{(datetime(value.year, value.month, value.day) - _EPOCH).days}</v></c>'
    if isinstance(value, int | float | Decimal):
        return f"<c><v>{value}</v></c>"
    return _text(str(value))


class ExcelDate(float):
    """A moment as Excel's serial day number, written with the date format."""


class LocalDates:
    """Aware moments as ExcelDate in one time zone's local time; the zone's offset is
    looked up once an hour of time rather than once a value."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self._offsets: dict[int, float] = {}

    def __call__(self, moment: datetime) -> ExcelDate:
        stamp = moment.timestamp()
        hour = int(stamp // 3600)
        offset = self._offsets.get(hour)
        if offset is None:
            shift = moment.astimezone(self.zone).utcoffset() or timedelta(0)
            offset = self._offsets[hour] = shift.total_seconds()
        return ExcelDate((stamp + offset) / 86400 + _UNIX_EPOCH_SERIAL)


# The usual types by exact type, formatted by C-level str.format where possible.
_NUMBER = "<c><v>{}</v></c>".format
_FORMATS: dict[type, Callable[[Any], str]] = {
    int: _NUMBER,
    float: _NUMBER,
    Decimal: _NUMBER,
    str: _text,
    type(None): "<c/>".format,
    ExcelDate: '<c s="1"><v>{!r}</v></c>'.format,
}


class XlsxWriter:
    """``with XlsxWriter(file) as book: book.sheet(title, header, rows)`` ..."""

    def __init__(self, file: IO[bytes]) -> None:
        self._zip = zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self._titles: list[str] = []
        self._columns = [_column(i) for i in range(64)]

    def __enter__(self) -> XlsxWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def sheet(self, title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Write one sheet (the header in bold); returns how many rows it has under it."""
        return self.sheet_writer(title, header).write_all(rows)

    def sheet_writer(self, title: str, header: Sequence[str]) -> SheetWriter:
        """A sheet to append rows to; close it before the next one."""
        number = len(self._titles) + 1
        name = _SHEET_NAME.sub(" ", title)[:31] or f"Sheet{number}"
        self._titles.append(name)
        stream = self._zip.open(f"xl/worksheets/sheet{number}.xml", "w", force_zip64=True)
        return SheetWriter(self, stream, header)

    def close(self) -> None:
        if self._zip.fp is None:
            return
        sheets = "".join(
            f'<sheet name="{_escape(t)}" sheetId="{n}" r:id="rId{n}"/>'
            for n, t in enumerate(self._titles, 1)
        )
        rels = "".join(
            f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
            for n in range(1, len(self._titles) + 1)
        )
        styles_id = len(self._titles) + 1
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for n in range(1, len(self._titles) + 1)
        )
        head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        self._zip.writestr(
            "[Content_Types].xml",
            head + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            f"{overrides}</Types>",
        )
        self._zip.writestr(
            "_rels/.rels",
            head + f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
            f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        self._zip.writestr(
            "xl/workbook.xml",
            head + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>{sheets}</sheets>'
            "</workbook>",
        )
        self._zip.writestr(
            "xl/_rels/workbook.xml.rels",
            head + f'<Relationships xmlns="{_PKG}">{rels}<Relationship Id="rId{styles_id}" '
            f'Type="{_REL}/styles" Target="styles.xml"/></Relationships>',
        )
        self._zip.writestr("xl/styles.xml", _STYLES)
        self._zip.close()

    def column(self, index: int) -> str:
        while index >= len(self._columns):
            self._columns.append(_column(len(self._columns)))
        return self._columns[index]


class SheetWriter:
    """Rows appended one by one, buffered in small chunks into the sheet's zip entry."""

    def __init__(self, book: XlsxWriter, stream: IO[bytes], header: Sequence[str]) -> None:
        self.book = book
        self.stream = stream
        self.rows = 0
        self._buffer: list[str] = []
        # Texts repeat (places, periods, yes/no): their cells are made once.
        self._texts: dict[str, str] = {}
        self._formats: dict[type, Callable[[Any], str]] = {**_FORMATS, str: self._text}
        stream.write(
            (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<worksheet xmlns="{_MAIN}"><sheetData>'
            ).encode()
        )
        cells = "".join(
            f'<c r="{book.column(i)}1" s="2" t="inlineStr"><is><t>{_escape(str(v))}</t></is></c>'
            for i, v in enumerate(header)
        )
        self._buffer.append(f'<row r="1">{cells}</row>')

    def append(self, values: Sequence[Any]) -> None:
        # Cells carry no reference: each one is the next column, an empty one is <c/>.
        self.rows += 1
        get = self._formats.get
        cells = "".join([get(type(v), _other)(v) for v in values])
        self._buffer.append(f'<row r="{self.rows + 1}">{cells}</row>')
        if len(self._buffer) >= _CHUNK:
            self.flush()

    def _text(self, value: str) -> str:
        cell = self._texts.get(value)
        if cell is None:
            if len(self._texts) >= 50_000:
                self._texts.clear()
            cell = self._texts[value] = _text(value)
        return cell

    def write_all(self, rows: Iterable[Sequence[Any]]) -> int:
        for row in rows:
            self.append(row)
        self.close()
        return self.rows

    def flush(self) -> None:
        if self._buffer:
            self.stream.write("".join(self._buffer).encode())
            self._buffer.clear()

    def close(self) -> None:
        self.flush()
        self.stream.write(b"</sheetData></worksheet>")
        self.stream.close()
