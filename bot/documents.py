"""Documents people print and sign: the request to be recognised as exited (Mẫu số 04)."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt

__all__ = ["exit_request_docx"]


def _centered(document: Any, text: str, *, bold: bool = False, size: int = 13) -> None:
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = paragraph.add_run(text)
    run.bold = bold
    run.font.size = Pt(size)


def exit_request_docx(
    answers: dict[str, Any],
    *,
    place: str,
    commune: str,
    receipt_code: str,
    today: date,
    status_label: str,
) -> bytes:
    """Mẫu số 04 (Decision 24/2021/QĐ-TTg), filled from a registration, ready to sign.

    The layout follows the official form; the wording is the form's own, in Vietnamese,
    because it is a legal document addressed to the commune chairman.
    """
    document = Document()
    style = document.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(13)
    _centered(document, "Mẫu số 04", size=11)
    _centered(document, "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True)
    _centered(document, "Độc lập - Tự do - Hạnh phúc", bold=True)
    _centered(document, "GIẤY ĐỀ NGHỊ", bold=True, size=14)
    _centered(document, "Công nhận hộ thoát nghèo, hộ thoát cận nghèo", bold=True)
    _centered(document, f"Kính gửi: Chủ tịch Ủy ban nhân dân {commune}")
    cccd = answers.get("cccd")
    masked = cccd.get("masked") if isinstance(cccd, dict) else None
    lines = [
        f"Họ và tên chủ hộ: {answers.get('head_name', '')}",
        f"Số định danh cá nhân (CCCD): {masked or '................................'}",
        f"Nơi cư trú: {place}",
        f"Số điện thoại: {answers.get('phone', '')}",
        f"Số nhân khẩu: {answers.get('household_size', '')}",
        f"Hiện là: {status_label}",
        "Tôi làm giấy này đề nghị Ủy ban nhân dân xem xét, công nhận hộ gia đình tôi "
        f"thoát nghèo / thoát cận nghèo trong năm {answers.get('exit_year', '')}.",
        f"Kế hoạch của gia đình: {answers.get('plan', '')}",
        "Tôi xin cam đoan những thông tin trên là đúng sự thật.",
        f"(Mã hồ sơ trên trợ lý giảm nghèo: {receipt_code})",
    ]
    for line in lines:
        document.add_paragraph(line)
    signature = document.add_paragraph(
        f"......, ngày {today.day:02d} tháng {today.month:02d} năm {today.year}\nNGƯỜI ĐỀ NGHỊ\n"
        "(Ký, ghi rõ họ tên)"
    )
    signature.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
