"""Builds the docxtpl templates of the award dossier (to_trinh.docx, bao_cao_thanh_tich.docx).

The .docx files next to this script are its output, committed so that the bot needs nothing
but docxtpl at run time; this script is what a reviewer reads and edits. Run it after a
change: ``python rules/templates/build.py`` (tests check the files are up to date).

Layout per Decree 30/2020/NĐ-CP on administrative documents: a two-column header (issuing
body with the number on the left; Quốc hiệu, motto and place/date on the right), the
document type and its subject, "Kính gửi", the body, then "Nơi nhận" on the left and the
signature block on the right. Times New Roman 13–14. Placeholders are Jinja (docxtpl):
``{{ name }}``, and ``{%p for line in lines %}`` paragraphs for lists.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt

HERE = Path(__file__).resolve().parent
CENTER = WD_ALIGN_PARAGRAPH.CENTER
JUSTIFY = WD_ALIGN_PARAGRAPH.JUSTIFY


def _document() -> Any:
    document = Document()
    section = document.sections[0]
    section.page_height, section.page_width = Cm(29.7), Cm(21)
    section.top_margin, section.bottom_margin = Cm(2), Cm(2)
    section.left_margin, section.right_margin = Cm(3), Cm(2)
    style = document.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(14)
    style.paragraph_format.space_after = Pt(3)
    document.core_properties.author = "giamngheo-bot"
    return document


def _line(
    container: Any,
    text: str,
    *,
    bold: bool = False,
    italic: bool = False,
    size: int = 14,
    align: Any = None,
    indent: bool = False,
    underline: bool = False,
) -> Any:
    paragraph = container.add_paragraph()
    if align is not None:
        paragraph.alignment = align
    if indent:
        paragraph.paragraph_format.first_line_indent = Cm(1)
    run = paragraph.add_run(text)
    run.bold, run.italic, run.underline = bold, italic, underline
    run.font.size = Pt(size)
    return paragraph


def _cell(table: Any, row: int, column: int) -> Any:
    cell = table.cell(row, column)
    # A new cell holds one empty paragraph: drop it so lines start at the top.
    for paragraph in list(cell.paragraphs):
        paragraph._element.getparent().remove(paragraph._element)
    return cell


def _header(document: Any, *, parent: str, unit: str, number: bool) -> None:
    """Issuing body (and number) on the left, Quốc hiệu and place/date on the right."""
    table = document.add_table(rows=1, cols=2)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    left, right = _cell(table, 0, 0), _cell(table, 0, 1)
    left.width, right.width = Cm(6.5), Cm(9.5)
    _line(left, f"{{{{ {parent} }}}}", size=13, align=CENTER)
    _line(left, f"{{{{ {unit} }}}}", bold=True, size=13, align=CENTER)
    if number:
        _line(left, "Số: {{ number }}", size=13, align=CENTER)
    _line(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True, size=13, align=CENTER)
    _line(right, "Độc lập - Tự do - Hạnh phúc", bold=True, align=CENTER, underline=True)
    _line(right, "{{ place }}, {{ date_text }}", italic=True, align=CENTER)


def _list(document: Any, name: str) -> None:
    _line(document, f"{{%p for line in {name} %}}")
    _line(document, "- {{ line }}", align=JUSTIFY, indent=True)
    _line(document, "{%p endfor %}")


Lines = list[tuple[str, dict[str, Any]]]
BOLD: dict[str, Any] = {"bold": True, "align": CENTER}
NOTE: dict[str, Any] = {"italic": True, "size": 13, "align": CENTER}
BLANK: tuple[str, dict[str, Any]] = ("", {})


def _signatures(document: Any, left: Lines, right: Lines) -> None:
    """Two columns under the body: "Nơi nhận" or a confirmation, and the signature."""
    table = document.add_table(rows=1, cols=2)
    first, second = _cell(table, 0, 0), _cell(table, 0, 1)
    for text, style in left:
        _line(first, text, **style)
    for text, style in right:
        _line(second, text, **style)


def submission_letter() -> Any:
    """Tờ trình đề nghị khen thưởng, from the presenting unit to the standing agency."""
    document = _document()
    _header(document, parent="issuer_parent", unit="issuer", number=True)
    _line(document, "")
    _line(document, "TỜ TRÌNH", bold=True, size=15, align=CENTER)
    _line(document, "V/v đề nghị tặng {{ award_name }} năm {{ year }}", bold=True, align=CENTER)
    _line(document, "")
    _line(document, "Kính gửi: {{ recipient }}.", align=CENTER)
    _line(document, "")
    _line(document, "Căn cứ {{ plan }};", align=JUSTIFY, indent=True)
    _line(
        document,
        "Căn cứ kết quả họp Hội đồng Thi đua - Khen thưởng {{ issuer_title }} "
        "ngày ....../....../{{ date_year }},",
        align=JUSTIFY,
        indent=True,
    )
    _line(
        document,
        "{{ issuer_title }} kính đề nghị {{ recipient }} xem xét, trình {{ decider }} tặng "
        "{{ award_name }} năm {{ year }} cho {{ group_name }}: {{ nominee }} "
        "({{ nominee_place }}), đã có thành tích xuất sắc, tiêu biểu trong {{ movement }}.",
        align=JUSTIFY,
        indent=True,
    )
    _line(document, "Thành tích chủ yếu:", align=JUSTIFY, indent=True)
    _list(document, "highlights")
    _line(
        document,
        "Hồ sơ kèm theo gồm: Báo cáo thành tích có xác nhận của cấp có thẩm quyền; Biên bản "
        "họp Hội đồng Thi đua - Khen thưởng {{ issuer_title }}.",
        align=JUSTIFY,
        indent=True,
    )
    _line(
        document,
        "Kính trình {{ recipient }} xem xét, quyết định./.",
        align=JUSTIFY,
        indent=True,
    )
    _line(document, "")
    _signatures(
        document,
        [
            ("Nơi nhận:", {"bold": True, "italic": True, "size": 12}),
            ("- Như trên;", {"size": 11}),
            ("- Lưu: VT.", {"size": 11}),
        ],
        [
            ("TM. {{ signer_body }}", BOLD),
            ("{{ signer_title }}", BOLD),
            ("(Ký tên, đóng dấu)", NOTE),
            BLANK,
            BLANK,
            BLANK,
        ],
    )
    _line(document, "")
    _line(document, "Mã hồ sơ trên trợ lý giảm nghèo: {{ code }}", italic=True, size=10)
    return document


def achievement_report() -> Any:
    """Báo cáo thành tích of the nominee, with the authority's confirmation block."""
    document = _document()
    # A report comes from the nominee's place: "XÃ DI LINH / THÔN BÌNH AN".
    _header(document, parent="place_parent", unit="place_unit", number=False)
    _line(document, "")
    _line(document, "BÁO CÁO THÀNH TÍCH", bold=True, size=15, align=CENTER)
    _line(document, "Đề nghị tặng {{ award_name }} năm {{ year }}", bold=True, align=CENTER)
    _line(document, "Của {{ group_name }}: {{ nominee }}", bold=True, align=CENTER)
    _line(document, "")
    _line(document, "I. SƠ LƯỢC", bold=True)
    _list(document, "profile")
    _line(document, "II. THÀNH TÍCH ĐẠT ĐƯỢC", bold=True)
    _list(document, "achievements")
    _line(document, "III. CÁC HÌNH THỨC KHEN THƯỞNG ĐÃ ĐƯỢC GHI NHẬN", bold=True)
    _list(document, "history")
    _line(document, "")
    _signatures(
        document,
        [("XÁC NHẬN CỦA {{ confirmer }}", {**BOLD, "size": 13}), ("(Ký tên, đóng dấu)", NOTE)],
        [
            ("{{ reporter_title }}", BOLD),
            ("(Ký, ghi rõ họ tên)", NOTE),
            BLANK,
            BLANK,
            BLANK,
            ("{{ reporter_name }}", BOLD),
        ],
    )
    _line(document, "")
    _line(document, "Mã hồ sơ trên trợ lý giảm nghèo: {{ code }}", italic=True, size=10)
    return document


TEMPLATES = {"to_trinh.docx": submission_letter, "bao_cao_thanh_tich.docx": achievement_report}


def build(directory: Path = HERE) -> list[Path]:
    written = []
    for name, make in TEMPLATES.items():
        path = directory / name
        make().save(path)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(f"written {path}")
