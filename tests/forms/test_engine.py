"""The form engine as a person filling a form notices it: questions, answers, re-asks, summary.

Every test drives the pure engine (start/handle/resume/cancel) with `Incoming` values as a
channel would send them. Between two messages the state is stored as JSON and read back, the
way the dispatcher keeps it in the database, so every step also proves the state is JSON-safe.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from bot.core.messages import Attachment, Button, Contact, Incoming, Reply
from bot.crypto import SecretVault
from bot.forms.context import FormContext
from bot.forms.engine import Step, cancel, handle, resume, start
from bot.forms.model import FormDef
from bot.i18n import Translator
from bot.orgtree import OrgTree
from tests.forms.conftest import (
    TODAY,
    UNITS,
    VAULT_SECRET,
    TestTranslator,
    build_tree,
)

CCCD = "079203001234"
CCCD_TYPED = "079 203 001 234"
PHOTO = Attachment(filename="nha.jpg", mime_type="image/jpeg", file_ref="tg:photo-1", kind="photo")

# Vietnamese texts from the real catalog that the person sees.
T = Translator("vi")
SKIP = T("form.skip")
BACK = T("form.back")
SEND = T("form.confirm")
FIX = T("form.fix")
CANCEL = T("form.cancel")
CANCEL_YES = T("form.cancel.yes")
CANCEL_NO = T("form.cancel.no")
DONE = T("form.multi.done")
MORE = T("form.unit.more")
PREV = T("form.unit.prev")
UP = T("form.unit.back")
STALE = T("error.stale_button")


class Chat:
    """One person filling one form; the state goes through JSON between two messages."""

    def __init__(
        self,
        form: FormDef,
        ctx: FormContext,
        *,
        roundtrip: bool = True,
        prefill: dict[str, Any] | None = None,
    ) -> None:
        self.form = form
        self.ctx = ctx
        self.roundtrip = roundtrip
        self.stored: list[str] = []  # every state as it would be written to the database
        self.said: list[str] = []  # every text the bot sent
        self._count = 0
        self._record(start(form, ctx, prefill))

    def _record(self, step: Step) -> Step:
        if step.state is not None:
            encoded = json.dumps(step.state, ensure_ascii=False)
            assert json.loads(encoded) == step.state, "the state changes through JSON"
            self.stored.append(encoded)
        self.said.extend(reply.text for reply in step.replies)
        self.step = step
        return step

    def send(
        self,
        text: str | None = None,
        *,
        payload: str | None = None,
        attachment: Attachment | None = None,
        contact: Contact | None = None,
    ) -> Step:
        assert self.step.state is not None, "the form has already ended"
        state = json.loads(self.stored[-1]) if self.roundtrip else self.step.state
        self._count += 1
        incoming = Incoming(
            channel="test",
            sender_id="u1",
            update_key=f"u{self._count}",
            text=text,
            payload=payload,
            attachment=attachment,
            contact=contact,
        )
        return self._record(handle(self.form, state, incoming, self.ctx))

    def answer(self, *texts: str) -> Step:
        for text in texts:
            self.send(text)
        return self.step

    def press(self, title: str) -> Step:
        """Press the button of the last reply whose title is ``title``."""
        found = [b for b in self.buttons if b.title == title]
        assert len(found) == 1, f"no single button {title!r} in {[b.title for b in self.buttons]}"
        return self.send(payload=found[0].payload)

    @property
    def replies(self) -> list[Reply]:
        return self.step.replies

    @property
    def texts(self) -> list[str]:
        return [reply.text for reply in self.step.replies]

    @property
    def question(self) -> str:
        """The first line of the last reply: the question (or the summary title)."""
        return self.step.replies[-1].text.splitlines()[0]

    @property
    def buttons(self) -> tuple[Button, ...]:
        return self.step.replies[-1].buttons

    @property
    def titles(self) -> list[str]:
        return [b.title for b in self.buttons]

    @property
    def state(self) -> dict[str, Any]:
        assert self.step.state is not None
        return self.step.state

    @property
    def answers(self) -> dict[str, Any]:
        return dict(self.state["answers"])


def q(field: str) -> str:
    """The prompt of a field of the exit form, as shown (a test key falls back to itself)."""
    return f"test.exit.{field}"


def shows_summary(chat: Chat) -> bool:
    """The last thing the bot said is the summary with its Send / Fix / Cancel buttons."""
    title = T("form.summary.title", title="test.exit.title").split("«")[0]
    return chat.question.startswith(title) and chat.titles == [SEND, FIX, CANCEL]


def summary_lines(chat: Chat) -> list[str]:
    return chat.step.replies[-1].text.splitlines()


# What a household types for every question of the exit form, in order, as people type it.
TYPED_UP_TO_HOME: list[str] = [
    "Nguyễn Văn An",  # head_name
    "5 người",  # household_size
    "2",  # workers
    "1,5",  # land_area
    "12 triệu",  # income
    "ho ngheo",  # status, typed without diacritics
    "1, 7",  # support: loan, other
    "1tr5",  # loan_amount
    "Xin bò giống",  # support_other
    "ko",  # has_insurance
    "05/03/2026",  # visit_date
    "0912 345 678",  # phone
    CCCD_TYPED,  # cccd
    "2027",  # exit_year
]


def fill_to_summary(chat: Chat) -> None:
    chat.answer(*TYPED_UP_TO_HOME)
    chat.answer("thon hoa an")
    chat.send(attachment=PHOTO)
    assert shows_summary(chat)


@pytest.fixture
def chat(exit_form: FormDef, ctx: FormContext) -> Chat:
    return Chat(exit_form, ctx)


@pytest.fixture
def at_summary(chat: Chat) -> Chat:
    fill_to_summary(chat)
    return chat


# --- A full run -------------------------------------------------------------------------


def test_full_run_through_every_field_type(chat: Chat, vault: SecretVault) -> None:
    assert chat.texts == ["test.exit.intro", q("head_name")]
    assert BACK not in chat.titles  # nothing to go back to on the first question

    chat.answer("Nguyễn Văn An")
    assert chat.question == q("household_size")
    assert BACK in chat.titles
    chat.answer("5 người", "2", "1,5", "12 triệu")
    assert chat.question == q("status")
    assert chat.titles[:2] == ["Hộ nghèo", "Hộ cận nghèo"]
    assert chat.buttons[0].payload == "f:status=poor"
    chat.press("Hộ nghèo")
    assert chat.question == q("support")
    chat.press("Vay vốn")
    chat.press("Khác")
    chat.press(DONE)
    assert chat.question == q("loan_amount")
    chat.answer("1tr5", "Xin bò giống")
    assert chat.question == q("has_insurance")
    assert chat.titles[:2] == ["Có", "Không"]
    chat.answer("ko", "05/03/2026")
    assert chat.question == q("phone")
    assert chat.replies[-1].extra == {"request_contact": T("form.share_phone")}
    chat.answer("0912 345 678")
    assert chat.question == q("cccd")
    assert SKIP in chat.titles  # optional
    chat.answer(CCCD_TYPED, "2027")
    assert chat.question == q("home")
    chat.answer("thon hoa an")
    assert chat.question == q("photo")
    chat.send(attachment=PHOTO)

    lines = summary_lines(chat)
    assert lines[0] == "Kiểm tra lại «test.exit.title»:"
    assert lines[-1] == T("form.summary.help")
    answers = lines[1:-1]
    assert answers[:13] == [
        "1. test.exit.head_name.label: Nguyễn Văn An",
        "2. test.exit.household_size.label: 5",
        "3. test.exit.workers.label: 2",
        "4. test.exit.land_area.label: 1,5",
        "5. test.exit.income.label: 12.000.000 đồng",
        "6. test.exit.status.label: Hộ nghèo",
        "7. test.exit.support.label: Vay vốn, Khác",
        "8. test.exit.loan_amount.label: 1.500.000 đồng",
        "9. test.exit.support_other.label: Xin bò giống",
        "10. test.exit.has_insurance.label: Không",
        "11. test.exit.visit_date.label: 05/03/2026",
        "12. test.exit.phone.label: +84912345678",
        "13. test.exit.cccd.label: 079*******34",
    ]
    # 14 is the exit year; how a year is shown is its own test below.
    assert answers[13].startswith("14. test.exit.exit_year.label: ")
    assert answers[14:] == [
        "15. test.exit.home.label: Thôn Hòa An, Xã Đức Trọng, Tỉnh Lâm Đồng",
        "16. test.exit.photo.label: Đã nhận tệp nha.jpg",
    ]
    assert chat.titles == [SEND, FIX, CANCEL]

    chat.press(SEND)
    assert chat.step.state is None
    assert not chat.step.cancelled
    submitted = chat.step.submitted
    assert submitted is not None
    cccd = submitted.pop("cccd")
    assert submitted == {
        "head_name": "Nguyễn Văn An",
        "household_size": 5,
        "workers": 2,
        "land_area": "1.5",
        "income": 12_000_000,
        "status": "poor",
        "support": ["loan", "other"],
        "loan_amount": 1_500_000,
        "support_other": "Xin bò giống",
        "has_insurance": False,
        "visit_date": "2026-03-05",
        "phone": "+84912345678",
        "exit_year": 2027,
        "home": {"code": "C01-2", "name": "Thôn Hòa An, Xã Đức Trọng, Tỉnh Lâm Đồng"},
        "photo": {
            "file_ref": "tg:photo-1",
            "filename": "nha.jpg",
            "mime_type": "image/jpeg",
            "kind": "photo",
        },
    }
    assert set(cccd) == {"masked", "hash", "enc"}
    assert cccd["masked"] == "079*******34"
    assert cccd["hash"] == vault.keyed_hash(CCCD)
    assert vault.decrypt(cccd["enc"]) == CCCD


def test_a_year_is_shown_as_people_write_it(at_summary: Chat) -> None:
    assert "14. test.exit.exit_year.label: 2027" in summary_lines(at_summary)


def test_cccd_stored_encrypted_never_appears_in_state_or_replies(
    at_summary: Chat, vault: SecretVault
) -> None:
    stored = at_summary.answers["cccd"]
    assert set(stored) == {"masked", "hash", "enc"}
    assert stored["masked"] == "079*******34"
    assert CCCD not in stored["enc"]
    assert vault.decrypt(stored["enc"]) == CCCD
    # Neither the state at any step nor anything the bot said holds the plain number.
    for seen in [*at_summary.stored, *at_summary.said]:
        assert CCCD not in seen
        assert CCCD_TYPED not in seen
    assert "13. test.exit.cccd.label: 079*******34" in summary_lines(at_summary)


def test_cccd_stored_hashed_keeps_only_mask_and_hash(ctx: FormContext, vault: SecretVault) -> None:
    form = FormDef.model_validate(
        {
            "id": "hashed",
            "version": 1,
            "title": "t",
            "fields": [{"id": "cccd", "type": "cccd", "prompt": "p", "store": "hashed"}],
        }
    )
    chat = Chat(form, ctx)
    chat.answer("079.203.001.234")
    assert chat.answers["cccd"] == {"masked": "079*******34", "hash": vault.keyed_hash(CCCD)}
    assert all(CCCD not in seen for seen in chat.stored)


def test_the_same_cccd_gives_the_same_hash_but_a_fresh_ciphertext(
    exit_form: FormDef, ctx: FormContext
) -> None:
    first, second = Chat(exit_form, ctx), Chat(exit_form, ctx)
    for chat in (first, second):
        chat.answer(*TYPED_UP_TO_HOME)
    one, two = first.answers["cccd"], second.answers["cccd"]
    assert one["hash"] == two["hash"]  # duplicates can be found
    assert one["enc"] != two["enc"]  # but the ciphertext gives nothing away


def test_phone_from_a_shared_contact(chat: Chat) -> None:
    chat.answer(*TYPED_UP_TO_HOME[:11])
    assert chat.question == q("phone")
    chat.send(contact=Contact("84912345678"))
    assert chat.answers["phone"] == "+84912345678"
    assert chat.question == q("cccd")


@pytest.mark.parametrize(
    ("field", "typed", "stored"),
    [
        ("household_size", "năm", 5),
        ("household_size", "mười hai", 12),
        ("land_area", "0,25", "0.25"),
        ("land_area", "2", "2"),
        ("income", "1.500.000đ", 1_500_000),
        ("income", "500k", 500_000),
        ("income", "2 triệu rưỡi", 2_500_000),
        ("status", "2", "near_poor"),
        ("status", "Hộ Cận Nghèo", "near_poor"),
        ("status", "can ngheo", "near_poor"),
        ("status", "HO NGHEO", "poor"),
        ("has_insurance", "có", True),
        ("has_insurance", "dạ không", False),
        ("has_insurance", "ok", True),
        ("visit_date", "5/3", "2026-03-05"),
        ("visit_date", "ngay 5 thang 3 nam 2026", "2026-03-05"),
        ("visit_date", "hom qua", "2026-05-19"),
        ("phone", "+84 912.345.678", "+84912345678"),
        ("phone", "0263 3822 123", "+842633822123"),
    ],
)
def test_answers_typed_the_way_people_type(
    chat: Chat, field: str, typed: str, stored: object
) -> None:
    order = [f.id for f in chat.form.fields]
    before = TYPED_UP_TO_HOME[: order.index(field)]
    chat.answer(*before)
    assert chat.question == q(field)
    chat.answer(typed)
    assert chat.answers[field] == stored
    assert chat.question != q(field)


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("nguyen van an", "Nguyen Van An"),
        ("NGUYỄN   VĂN ÂN", "Nguyễn Văn Ân"),
        ("k'brếu", "K'Brếu"),  # a K'Ho name: the letter after the apostrophe is a capital
        ("Nguyễn văn An", "Nguyễn văn An"),  # typed with its own capitals: kept
    ],
)
def test_a_name_is_written_as_names_are(chat: Chat, typed: str, kept: str) -> None:
    chat.answer(typed)
    assert chat.answers["head_name"] == kept


# --- Wrong answers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "typed", "reason"),
    [
        # The phone number typed a question early is no name.
        ("head_name", "0912 345 678", T("error.person_name.digits")),
        ("head_name", "Nguyễn Văn 2", T("error.person_name.digits")),
        ("head_name", "...", T("error.person_name.letters")),
        ("household_size", "nhiều lắm", T("error.integer")),
        ("household_size", "0", T("error.integer.range", min="1", max="30")),
        ("household_size", "31", T("error.integer.range", min="1", max="30")),
        ("workers", "6", T("error.integer.range", min="0", max="5")),  # max: ${household_size}
        ("land_area", "ít thôi", T("error.decimal")),
        ("land_area", "51", T("error.decimal.range", min="0", max="50")),
        ("income", "nhiều", T("error.money")),
        ("status", "3", "Chưa rõ bạn chọn mục nào"),
        ("status", "ngheo", "1. Hộ nghèo, 2. Hộ cận nghèo"),  # both labels contain it
        ("support", "8", "7. Khác"),
        ("has_insurance", "chắc vậy", T("error.yes_no")),
        ("visit_date", "32/13/2026", T("error.date")),
        ("visit_date", "21/05/2026", T("error.date.range", min="", max="20/05/2026")),
        ("phone", "12345", T("error.phone")),
        ("cccd", "12345", T("error.cccd.length", got=5)),
        ("cccd", "999 203 001 234", T("error.cccd.province", code="999")),
        ("exit_year", "2025", T("error.integer.range", min="2026", max="2031")),
        ("exit_year", "2032", T("error.integer.range", min="2026", max="2031")),
        (
            "home",
            "Thôn Không Có Thật",
            T("error.unit.not_found", typed="Thôn Không Có Thật", example="Xuan Huong"),
        ),
    ],
)
def test_a_wrong_answer_is_asked_again_with_the_reason_and_earlier_answers_kept(
    chat: Chat, field: str, typed: str, reason: str
) -> None:
    order = [f.id for f in chat.form.fields]
    chat.answer(*TYPED_UP_TO_HOME[: order.index(field)])
    assert chat.question == q(field)
    before = chat.answers
    question = chat.replies[-1]

    chat.answer(typed)

    assert len(chat.replies) == 2
    assert reason in chat.texts[0]
    assert chat.replies[-1] == question  # the same question, the same buttons
    assert chat.answers == before
    # And the next, right answer goes on from there.
    right = "thon hoa an" if field == "home" else TYPED_UP_TO_HOME[order.index(field)]
    chat.answer(right)
    assert field in chat.answers
    assert {k: v for k, v in chat.answers.items() if k != field} == before


def test_too_short_and_too_long_text_are_asked_again(chat: Chat) -> None:
    chat.answer("A")
    assert chat.texts[0] == T("error.text.too_short", min=2)
    chat.answer("A" * 81)
    assert chat.texts[0] == T("error.text.too_long", max=80, got=81)
    assert chat.answers == {}
    assert chat.question == q("head_name")


def test_attachment_question_wants_a_photo(chat: Chat) -> None:
    chat.answer(*TYPED_UP_TO_HOME, "thon hoa an")
    assert chat.question == q("photo")
    chat.answer("ảnh đây")
    assert chat.texts[0] == T("error.attachment", kinds=T("attachment.photo"))
    document = Attachment(filename="a.pdf", mime_type="application/pdf", file_ref="x")
    chat.send(attachment=document)
    assert chat.texts[0] == T("error.attachment", kinds=T("attachment.photo"))
    assert "photo" not in chat.answers
    chat.send(attachment=PHOTO)
    assert shows_summary(chat)


def test_a_button_instead_of_a_typed_number_says_what_to_type(chat: Chat) -> None:
    chat.answer("Nguyễn Văn An")
    chat.send(attachment=PHOTO)
    assert chat.texts[0] == T("error.expected_text")
    assert chat.question == q("household_size")


# --- Buttons ---------------------------------------------------------------------------


def test_a_stale_button_for_another_field_is_answered_politely(chat: Chat) -> None:
    chat.answer("Nguyễn Văn An", "5")
    assert chat.question == q("workers")
    before = chat.answers
    chat.send(payload="f:status=poor")  # a button from an old message
    assert chat.texts == [STALE, q("workers")]
    assert chat.answers == before
    chat.send(payload="f!ok")  # the "Send" of a summary long gone
    assert chat.texts == [STALE, q("workers")]
    chat.send(payload="f!skip")  # a required question cannot be skipped
    assert chat.texts == [STALE, q("workers")]
    assert chat.answers == before
    chat.answer("2")
    assert chat.answers["workers"] == 2


def test_a_button_with_a_value_that_is_not_a_choice_is_refused(chat: Chat) -> None:
    chat.answer(*TYPED_UP_TO_HOME[:5])
    chat.send(payload="f:status=rich")
    assert "Chưa rõ bạn chọn mục nào" in chat.texts[0]
    assert "status" not in chat.answers


def test_yes_no_buttons(chat: Chat) -> None:
    chat.answer(*TYPED_UP_TO_HOME[:9])
    assert chat.question == q("has_insurance")
    chat.press("Có")
    assert chat.answers["has_insurance"] is True


# --- Multi choice ----------------------------------------------------------------------


def test_multi_choice_toggles_with_buttons(chat: Chat) -> None:
    chat.answer(*TYPED_UP_TO_HOME[:6])
    assert chat.question == q("support")
    assert chat.titles[-2:] == [DONE, BACK]
    chat.press(DONE)  # nothing picked yet
    assert chat.texts[0] == T("error.multi.empty")
    chat.press("Vay vốn")
    chat.press("Nhà ở")
    assert "✓ Vay vốn" in chat.titles
    assert "✓ Nhà ở" in chat.titles
    chat.press("✓ Vay vốn")  # pressed again: unpicked
    assert "Vay vốn" in chat.titles
    assert "✓ Vay vốn" not in chat.titles
    assert "support" not in chat.answers  # toggling is not answering
    chat.press("Tập huấn")
    chat.press(DONE)
    assert chat.answers["support"] == ["training", "housing"]  # in the form's order
    assert chat.question == q("has_insurance")  # neither loan nor other: both skipped


def test_multi_choice_picks_survive_a_wrong_answer_and_a_restart(chat: Chat) -> None:
    chat.answer(*TYPED_UP_TO_HOME[:6])
    chat.press("Bảo hiểm y tế")
    chat.send(attachment=PHOTO)  # not an answer
    assert "✓ Bảo hiểm y tế" in chat.titles
    restarted = resume(chat.form, json.loads(chat.stored[-1]), chat.ctx)
    assert "✓ Bảo hiểm y tế" in [b.title for b in restarted.replies[-1].buttons]
    chat.press(DONE)
    assert chat.answers["support"] == ["health_insurance"]


@pytest.mark.parametrize(
    ("typed", "picked"),
    [
        ("1, 3", ["loan", "seeds_livestock"]),
        ("1 3", ["loan", "seeds_livestock"]),
        ("3;1", ["loan", "seeds_livestock"]),
        ("1 va 3", ["loan", "seeds_livestock"]),
        ("1 và 3", ["loan", "seeds_livestock"]),
        ("vay von, tap huan", ["loan", "training"]),
        ("Vay vốn và Nhà ở", ["loan", "housing"]),
        ("bao hiem y te", ["health_insurance"]),
        ("6", ["health_insurance"]),
    ],
)
def test_multi_choice_typed(chat: Chat, typed: str, picked: list[str]) -> None:
    chat.answer(*TYPED_UP_TO_HOME[:6])
    chat.answer(typed)
    assert chat.answers["support"] == picked


# --- Relevance -------------------------------------------------------------------------


def test_irrelevant_questions_are_not_asked(chat: Chat) -> None:
    chat.answer(*TYPED_UP_TO_HOME[:6])
    chat.answer("2")  # training only
    assert chat.question == q("has_insurance")
    chat.answer("ko", "05/03/2026", "0912345678", "bo qua", "2027", "thon hoa an")
    chat.press(SKIP)
    text = chat.replies[-1].text
    assert "loan_amount" not in text
    assert "support_other" not in text
    assert set(chat.answers) >= {"support", "has_insurance"}
    assert "loan_amount" not in chat.answers
    assert "support_other" not in chat.answers


def test_a_fix_that_makes_questions_irrelevant_drops_their_answers(at_summary: Chat) -> None:
    chat = at_summary
    assert chat.answers["loan_amount"] == 1_500_000
    chat.answer("sua 7")
    assert chat.question == q("support")
    chat.answer("2")  # now training only
    assert shows_summary(chat)
    assert "loan_amount" not in chat.answers
    assert "support_other" not in chat.answers
    lines = summary_lines(chat)
    assert "7. test.exit.support.label: Tập huấn" in lines
    assert "8. test.exit.has_insurance.label: Không" in lines  # numbering closes up
    chat.press(SEND)
    assert chat.step.submitted is not None
    assert "loan_amount" not in chat.step.submitted
    assert "support_other" not in chat.step.submitted


def test_a_fix_that_makes_a_question_relevant_asks_it_then_returns_to_the_summary(
    exit_form: FormDef, ctx: FormContext
) -> None:
    chat = Chat(exit_form, ctx)
    chat.answer(*TYPED_UP_TO_HOME[:6], "2")  # training: nothing extra asked
    chat.answer("ko", "05/03/2026", "0912345678", "bo qua", "2027", "thon hoa an")
    chat.press(SKIP)
    assert shows_summary(chat)
    chat.answer("sua 7")
    chat.answer("2, 7")  # training and other
    assert chat.question == q("support_other")  # newly relevant, asked
    chat.answer("Sửa mái nhà")
    assert shows_summary(chat)  # and back, without asking the rest again
    assert chat.answers["support_other"] == "Sửa mái nhà"


def test_dropping_an_answer_drops_the_answers_that_depended_on_it(
    branching_form: FormDef, ctx: FormContext
) -> None:
    chat = Chat(branching_form, ctx)
    chat.answer("co", "5")  # has livestock, five cattle
    assert chat.question == "test.branch.cattle_insured"  # relevant: ${cattle} >= 3
    chat.answer("co", "bo qua", "0,15", "01/05/2026", "10/05/2026", "bo qua", "2", "-")
    assert shows_summary(chat)
    assert chat.answers["cattle_insured"] is True

    chat.answer("sua 1")
    chat.answer("khong")  # no livestock after all
    assert shows_summary(chat)
    # cattle is no longer asked, so cattle_insured (which depends on cattle) goes too.
    assert "cattle" not in chat.answers
    assert "cattle_insured" not in chat.answers
    assert "cattle" not in chat.replies[-1].text

    chat.answer("sua 1")
    chat.answer("co")  # yes again: both are asked again, then back to the summary
    assert chat.question == "test.branch.cattle"
    chat.answer("4")
    assert chat.question == "test.branch.cattle_insured"
    chat.answer("ko")
    assert shows_summary(chat)


def test_relevance_and_bounds_on_decimal_and_date_answers(
    branching_form: FormDef, ctx: FormContext
) -> None:
    chat = Chat(branching_form, ctx)
    chat.answer("ko", "ko")
    assert chat.question == "test.branch.rice_area"  # min: 0.1, max: 0.3
    chat.answer("0,09")
    assert chat.texts[0] == T("error.decimal.range", min="0,1", max="0,3")
    chat.answer("0,31")
    assert chat.texts[0] == T("error.decimal.range", min="0,1", max="0,3")
    chat.answer("0,3")  # the bound itself is inside
    assert chat.answers["rice_area"] == "0.3"
    assert chat.question == "test.branch.irrigated"  # relevant: ${rice_area} >= 0.2
    chat.answer("co")
    chat.answer("01/05/2026")
    assert chat.question == "test.branch.end_date"  # min: ${start_date}, max: ${today.date}
    chat.answer("30/04/2026")
    assert chat.texts[0] == T("error.date.range", min="01/05/2026", max="20/05/2026")
    chat.answer("21/05/2026")
    assert chat.texts[0] == T("error.date.range", min="01/05/2026", max="20/05/2026")
    chat.answer("01/05/2026")
    assert chat.answers["end_date"] == "2026-05-01"
    chat.answer("bo qua", "2", "-")
    # The check ${end_date} <= ${today.date} holds, so the form reaches its summary.
    assert shows_summary(chat)


def test_a_decimal_below_a_threshold_skips_its_follow_up(
    branching_form: FormDef, ctx: FormContext
) -> None:
    chat = Chat(branching_form, ctx)
    chat.answer("ko", "ko", "0,1")
    assert chat.answers["rice_area"] == "0.1"  # the lower bound itself is inside
    assert chat.question == "test.branch.start_date"  # irrigated not asked: 0,1 < 0,2


def test_optional_yes_no_answered_khong_co_is_a_no_not_a_skip(
    branching_form: FormDef, ctx: FormContext
) -> None:
    chat = Chat(branching_form, ctx)
    chat.answer("ko")
    assert chat.question == "test.branch.has_motorbike"
    assert SKIP in chat.titles
    chat.answer("không có")
    assert chat.answers["has_motorbike"] is False


def test_a_bound_on_a_skipped_answer_is_no_bound(branching_form: FormDef, ctx: FormContext) -> None:
    chat = Chat(branching_form, ctx)
    chat.answer("ko", "ko", "0,1", "01/05/2026", "02/05/2026")
    assert chat.question == "test.branch.household_size"
    chat.answer("bo qua")
    assert chat.question == "test.branch.children"  # max: ${household_size} - 1
    chat.answer("7")
    assert chat.answers["children"] == 7


def test_a_bound_from_an_earlier_answer(branching_form: FormDef, ctx: FormContext) -> None:
    chat = Chat(branching_form, ctx)
    chat.answer("ko", "ko", "0,1", "01/05/2026", "02/05/2026", "4")
    assert chat.question == "test.branch.children"
    chat.answer("4")
    assert chat.texts[0] == T("error.integer.range", min="0", max="3")
    chat.answer("3")
    assert chat.answers["children"] == 3


@pytest.mark.parametrize("today", [date(2026, 1, 1), date(2031, 12, 31)])
def test_bounds_from_today_follow_the_calendar(
    exit_form: FormDef, tree: OrgTree, vault: SecretVault, today: date
) -> None:
    ctx = FormContext(t=TestTranslator("vi"), today=today, units=tree, vault=vault)
    chat = Chat(exit_form, ctx)
    typed = list(TYPED_UP_TO_HOME[:13])
    typed[10] = f"1/1/{today.year}"  # the visit date may not lie in the future
    chat.answer(*typed)
    assert chat.question == q("exit_year")
    chat.answer(str(today.year - 1))
    assert "nằm ngoài khoảng" in chat.texts[0]
    chat.answer(str(today.year + 6))
    assert "nằm ngoài khoảng" in chat.texts[0]
    chat.answer(str(today.year + 5))
    assert chat.answers["exit_year"] == today.year + 5


# --- Cross-field checks ----------------------------------------------------------------


def test_a_failed_check_asks_the_named_field_again_with_the_check_message(
    chat: Chat,
) -> None:
    typed = list(TYPED_UP_TO_HOME)
    typed[4] = "8 triệu"  # 8.000.000 for 5 people: below 2.000.000 a head
    chat.answer(*typed, "thon hoa an")
    chat.send(attachment=PHOTO)
    assert chat.texts == ["test.check.income_per_person", q("income")]
    assert "income" not in chat.answers
    assert len(chat.answers) == 15  # everything else is kept
    chat.answer("12 triệu")
    assert shows_summary(chat)  # nothing else asked again
    assert chat.answers["income"] == 12_000_000


def test_a_fix_that_breaks_a_check_asks_the_field_the_check_names(at_summary: Chat) -> None:
    chat = at_summary
    chat.answer("sua 2")
    assert chat.question == q("household_size")
    chat.answer("1")  # one person, but two workers were given
    assert chat.texts == ["test.check.workers", q("workers")]
    chat.answer("2")  # max: ${household_size} is 1 now
    assert chat.texts[0] == T("error.integer.range", min="0", max="1")
    chat.answer("1")
    assert shows_summary(chat)
    assert (chat.answers["household_size"], chat.answers["workers"]) == (1, 1)


def test_a_check_without_fields_asks_the_last_field_again(
    quick_form: FormDef, ctx: FormContext
) -> None:
    chat = Chat(quick_form, ctx)
    chat.answer("thon hoa an", "0")
    assert chat.texts == ["test.check.members", "test.quick.members"]
    assert chat.step.submitted is None
    chat.answer("3")
    assert chat.step.state is None
    assert chat.step.submitted == {
        "place": {"code": "C01-2", "name": "Thôn Hòa An, Xã Đức Trọng, Tỉnh Lâm Đồng"},
        "members": 3,
    }


# --- Optional questions ----------------------------------------------------------------


@pytest.mark.parametrize("skip", ["bo qua", "Bỏ qua", "skip", "-", "không có", "ko co"])
def test_an_optional_question_can_be_skipped_by_typing(chat: Chat, skip: str) -> None:
    chat.answer(*TYPED_UP_TO_HOME[:12])
    assert chat.question == q("cccd")
    chat.answer(skip)
    assert chat.answers["cccd"] is None
    assert chat.question == q("exit_year")


def test_skipped_optional_answers_are_left_out_of_the_summary(chat: Chat) -> None:
    chat.answer(*TYPED_UP_TO_HOME[:12])
    chat.press(SKIP)
    chat.answer("2027", "thon hoa an")
    assert SKIP in chat.titles
    chat.press(SKIP)
    lines = summary_lines(chat)
    assert not any("cccd" in line or "photo" in line for line in lines)
    assert lines[-2].startswith("14. test.exit.home.label")
    chat.press(SEND)
    assert chat.step.submitted is not None
    assert chat.step.submitted["cccd"] is None
    assert chat.step.submitted["photo"] is None


def test_required_questions_have_no_skip_button(chat: Chat) -> None:
    for typed in TYPED_UP_TO_HOME:
        required = chat.form.field(chat.state["pending"]).required
        assert (SKIP in chat.titles) == (not required)
        chat.answer(typed)


# --- Going back ------------------------------------------------------------------------


@pytest.mark.parametrize("back", ["quay lai", "Quay lại", "trở lại", "back", None])
def test_back_asks_the_previous_question_and_keeps_its_answer(chat: Chat, back: str | None) -> None:
    chat.answer("Nguyễn Văn An", "5", "2")
    assert chat.question == q("land_area")
    if back is None:
        chat.press(BACK)
    else:
        chat.answer(back)
    assert chat.question == q("workers")
    assert chat.answers == {"head_name": "Nguyễn Văn An", "household_size": 5, "workers": 2}
    chat.answer("3")  # replaced
    assert chat.answers["workers"] == 3
    assert chat.question == q("land_area")


def test_back_twice_then_answering_goes_on_with_the_first_unanswered(chat: Chat) -> None:
    chat.answer("Nguyễn Văn An", "5", "2")
    chat.answer("quay lai")
    chat.answer("quay lai")
    assert chat.question == q("household_size")
    chat.answer("quay lai")
    assert chat.question == q("head_name")
    assert BACK not in chat.titles  # nothing before the first question
    chat.answer("quay lai")
    assert chat.question == q("head_name")
    assert len(chat.answers) == 3  # nothing was lost on the way back
    chat.answer("Trần Thị Bình")
    assert chat.answers["head_name"] == "Trần Thị Bình"
    assert chat.answers["household_size"] == 5  # kept, so not asked again
    assert chat.question == q("land_area")


def test_back_skips_questions_that_were_not_asked(chat: Chat) -> None:
    chat.answer(*TYPED_UP_TO_HOME[:6], "2")  # training: loan_amount, support_other skipped
    assert chat.question == q("has_insurance")
    chat.press(BACK)
    assert chat.question == q("support")


def test_back_from_a_unit_menu(quick_form: FormDef, ctx: FormContext) -> None:
    chat = Chat(quick_form, ctx)
    chat.answer("thon hoa an")
    chat.press(BACK)
    assert chat.question == "test.quick.place"
    assert chat.answers["place"]["code"] == "C01-2"


# --- Summary and fixing ------------------------------------------------------------------


def test_summary_numbers_the_answers_and_fix_by_typing_sua(at_summary: Chat) -> None:
    chat = at_summary
    lines = summary_lines(chat)
    numbers = [int(line.split(".", 1)[0]) for line in lines[1:-1]]
    assert numbers == list(range(1, 17))
    chat.answer("sửa 2")
    assert chat.texts == [q("household_size")]
    chat.answer("6")
    assert shows_summary(chat)  # straight back: nothing else asked again
    assert "2. test.exit.household_size.label: 6" in summary_lines(chat)
    assert chat.answers["workers"] == 2


def test_fix_with_the_buttons(at_summary: Chat) -> None:
    chat = at_summary
    chat.press(FIX)
    assert chat.texts == [T("form.fix.which")]
    assert chat.titles[0] == "1. test.exit.head_name.label"
    assert chat.titles[5] == "6. test.exit.status.label"
    assert len(chat.titles) == 16
    chat.press("6. test.exit.status.label")
    assert chat.question == q("status")
    chat.press("Hộ cận nghèo")
    assert "6. test.exit.status.label: Hộ cận nghèo" in summary_lines(chat)
    chat.press(SEND)
    assert chat.step.submitted is not None
    assert chat.step.submitted["status"] == "near_poor"


def test_the_fixed_question_keeps_its_answer_until_replaced(at_summary: Chat) -> None:
    chat = at_summary
    chat.answer("sua 5")
    assert chat.question == q("income")
    assert chat.answers["income"] == 12_000_000
    chat.answer("nhiều")  # wrong: asked again, the old answer still there
    assert chat.answers["income"] == 12_000_000
    chat.answer("15tr")
    assert chat.answers["income"] == 15_000_000


def test_fix_menu_by_number_and_unclear_numbers(at_summary: Chat) -> None:
    chat = at_summary
    chat.answer("sua")
    assert chat.texts == [T("form.fix.which")]
    chat.answer("17")
    assert chat.texts[0] == T("form.fix.unclear", max=16)
    assert chat.state["phase"] == "fix"
    chat.answer("1")
    assert chat.question == q("head_name")
    chat.answer("Nguyễn Văn Ân")
    assert "1. test.exit.head_name.label: Nguyễn Văn Ân" in summary_lines(chat)
    chat.answer("sua 99")
    assert chat.texts[0] == T("form.fix.unclear", max=16)


def test_fixing_an_org_unit_uses_the_menu_again(at_summary: Chat) -> None:
    chat = at_summary
    chat.answer("sua 15")
    assert chat.question == q("home")
    chat.press("Xã Di Linh")
    chat.press("Thôn 2")
    assert "15. test.exit.home.label: Thôn 2, Xã Di Linh, Tỉnh Lâm Đồng" in summary_lines(chat)


@pytest.mark.parametrize("confirm", ["ok", "Gửi", "đồng ý", "xac nhan", "có", None])
def test_confirm_submits_the_answers(at_summary: Chat, confirm: str | None) -> None:
    answers = at_summary.answers
    if confirm is None:
        at_summary.press(SEND)
    else:
        at_summary.answer(confirm)
    assert at_summary.step.state is None
    assert at_summary.step.submitted == answers
    assert not at_summary.step.cancelled


def test_something_else_at_the_summary_shows_it_again(at_summary: Chat) -> None:
    summary = at_summary.replies[-1]
    at_summary.answer("hả?")
    assert at_summary.texts[0] == T("form.summary.unclear")
    assert at_summary.replies[-1] == summary
    at_summary.send(payload="f:status=poor")  # a stale button
    assert at_summary.replies[-1] == summary
    assert at_summary.step.submitted is None


# --- Cancelling ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["huy", "Huỷ", "hủy", "thôi", "cancel", None])
def test_cancel_asks_first_and_continue_resumes_where_it_was(chat: Chat, how: str | None) -> None:
    chat.answer(*TYPED_UP_TO_HOME[:6])
    chat.press("Vay vốn")  # a half-made multi choice
    answers = chat.answers
    if how is None:
        chat.send(payload="f!cancel")
    else:
        chat.answer(how)
    assert chat.texts == [T("form.cancel.confirm")]
    assert chat.titles == [CANCEL_YES, CANCEL_NO]
    assert chat.step.state is not None
    chat.press(CANCEL_NO)
    assert chat.question == q("support")
    assert "✓ Vay vốn" in chat.titles  # the picks are still there
    assert chat.answers == answers
    chat.press(DONE)
    assert chat.answers["support"] == ["loan"]


@pytest.mark.parametrize("typed", ["Tiếp tục điền", "tiep tuc", "không", "ko"])
def test_continue_typed(chat: Chat, typed: str) -> None:
    chat.answer("Nguyễn Văn An")
    chat.answer("huy")
    chat.answer(typed)
    assert chat.texts == [q("household_size")]
    assert chat.answers == {"head_name": "Nguyễn Văn An"}


@pytest.mark.parametrize("typed", ["Huỷ biểu mẫu", "có", "huy", "dong y", None])
def test_confirming_the_cancel_ends_the_form(chat: Chat, typed: str | None) -> None:
    chat.answer("Nguyễn Văn An")
    chat.answer("huy")
    if typed is None:
        chat.press(CANCEL_YES)
    else:
        chat.answer(typed)
    assert chat.step.state is None
    assert chat.step.cancelled
    assert chat.step.submitted is None
    assert chat.texts == [T("form.cancelled")]


def test_an_unclear_answer_to_cancel_asks_again(chat: Chat) -> None:
    chat.answer("Nguyễn Văn An", "huy", "để tôi nghĩ")
    assert chat.texts == [T("form.cancel.unclear"), T("form.cancel.confirm")]
    chat.press(CANCEL_NO)
    assert chat.question == q("household_size")


def test_cancel_from_the_summary_and_the_fix_menu_comes_back_there(at_summary: Chat) -> None:
    chat = at_summary
    summary = chat.replies[-1]
    chat.press(CANCEL)
    assert chat.texts == [T("form.cancel.confirm")]
    chat.press(CANCEL_NO)
    assert chat.replies == [summary]
    chat.press(FIX)
    menu = chat.replies[-1]
    assert menu.text == T("form.fix.which")
    chat.answer("huy")
    assert chat.texts == [T("form.cancel.confirm")]
    chat.press(CANCEL_NO)
    assert chat.replies == [menu]
    chat.answer("huy")
    chat.answer("huy")  # "huy" again at the prompt confirms
    assert chat.step.cancelled
    assert chat.step.submitted is None


def test_cancel_from_outside_the_conversation(chat: Chat) -> None:
    chat.answer("Nguyễn Văn An", "5")
    step = cancel(json.loads(chat.stored[-1]), chat.ctx)  # e.g. the /cancel command
    assert [r.text for r in step.replies] == [T("form.cancel.confirm")]
    chat._record(step)
    chat.press(CANCEL_NO)
    assert chat.question == q("workers")


# --- Org units -------------------------------------------------------------------------


@pytest.fixture
def place(quick_form: FormDef, ctx: FormContext) -> Chat:
    return Chat(quick_form, ctx)


COMMUNES_PAGE_1 = [
    "Phường Xuân Hương",
    "Xã Bảo Lâm",
    "Xã Cát Tiên",
    "Xã Đam Rông",
    "Xã Di Linh",
    "Xã Đức Trọng",
    "Xã Lạc Dương",
    "Xã Ninh Gia",
]


def test_a_single_province_opens_on_its_communes_with_paging(place: Chat) -> None:
    assert place.texts == [f"test.quick.place\n{T('form.unit.or_type')}"]
    assert place.titles == [*COMMUNES_PAGE_1, MORE]  # no "up" above the only province
    assert all(b.payload.startswith("f:place@C") for b in place.buttons[:-1])
    place.press(MORE)
    assert place.question == T("form.unit.pick_in", place="Tỉnh Lâm Đồng")
    assert place.titles == ["Xã Phú Long", "Xã Tà Hine", PREV]
    place.press(PREV)
    assert place.titles == [*COMMUNES_PAGE_1, MORE]
    place.press(MORE)
    place.press("Xã Tà Hine")
    assert place.question == T("form.unit.pick_in", place="Xã Tà Hine, Tỉnh Lâm Đồng")
    assert place.titles == ["Thôn Chí Linh", UP]
    assert "place" not in place.answers
    place.press("Thôn Chí Linh")
    assert place.answers["place"] == {
        "code": "C05-1",
        "name": "Thôn Chí Linh, Xã Tà Hine, Tỉnh Lâm Đồng",
    }
    assert place.question == "test.quick.members"


def test_up_one_level(place: Chat) -> None:
    place.press("Xã Đức Trọng")
    assert place.titles == ["Thôn Bình An", "Thôn Hòa An", "Thôn Thanh Bình", UP]
    place.press(UP)
    assert place.titles == [*COMMUNES_PAGE_1, MORE]


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("thon hoa an", "C01-2"),
        ("Thôn Hòa An", "C01-2"),
        ("hoa an", "C01-2"),
        ("THON CHI LINH", "C05-1"),
        ("thon binh an, di linh", "C02-3"),
        ("Thôn Bình An, Xã Đức Trọng", "C01-3"),
        # The comma left out, as most people type it.
        ("thon binh an di linh", "C02-3"),
        ("binh an duc trong", "C01-3"),
        ("thon 1 di linh", "C02-1"),
        ("Khu phố 2 Xuân Hương", "C03-2"),
    ],
)
def test_typing_a_village_name_without_diacritics(place: Chat, typed: str, code: str) -> None:
    place.answer(typed)
    assert place.answers["place"]["code"] == code


def test_a_place_named_in_a_commune_that_has_none_is_not_found_elsewhere(place: Chat) -> None:
    """Xã Phú Long has no Thôn Bình An: the two others are not taken for it."""
    place.answer("thon binh an phu long")
    assert place.texts[0].startswith("Không tìm thấy nơi nào tên «thon binh an phu long»")
    assert "place" not in place.answers


def test_typing_a_commune_name_opens_it(place: Chat) -> None:
    place.answer("duc trong")
    assert place.question == T("form.unit.pick_in", place="Xã Đức Trọng, Tỉnh Lâm Đồng")
    assert "Thôn Hòa An" in place.titles
    place.answer("1")  # the first village in the list
    assert place.answers["place"]["code"] == "C01-3"  # Thôn Bình An, sorted first


def test_an_ambiguous_name_offers_the_choices(place: Chat) -> None:
    place.answer("thon binh an")
    assert place.question == T("form.unit.matches")
    assert place.titles == ["Thôn Bình An (Xã Đức Trọng)", "Thôn Bình An (Xã Di Linh)", UP]
    assert "place" not in place.answers
    place.press("Thôn Bình An (Xã Di Linh)")
    assert place.answers["place"] == {
        "code": "C02-3",
        "name": "Thôn Bình An, Xã Di Linh, Tỉnh Lâm Đồng",
    }


def test_going_up_from_ambiguous_choices_shows_the_menu_again(place: Chat) -> None:
    place.answer("thon binh an")
    place.press(UP)
    assert place.titles == [*COMMUNES_PAGE_1, MORE]


def test_inside_a_commune_a_name_is_looked_up_there_first(place: Chat) -> None:
    place.press("Xã Di Linh")
    place.answer("binh an")
    assert place.answers["place"]["code"] == "C02-3"


@pytest.mark.parametrize(
    ("commune", "example", "code"),
    [("Xã Di Linh", "Binh An", "C02-3"), ("Phường Xuân Hương", "Khu Pho 1", "C03-1")],
)
def test_a_place_not_found_is_answered_with_a_name_of_the_list_as_it_may_be_typed(
    place: Chat, commune: str, example: str, code: str
) -> None:
    """The example is one the person sees and can type: no diacritics, no kind, and not a
    bare number (typed, a number picks by position)."""
    place.press(commune)
    place.answer("Thôn Không Có")
    assert place.texts[0] == T("error.unit.not_found", typed="Thôn Không Có", example=example)
    place.answer(example)
    assert place.answers["place"]["code"] == code


def test_with_no_place_at_all_a_name_not_found_gives_no_example(
    quick_form: FormDef, vault: SecretVault
) -> None:
    empty = FormContext(t=TestTranslator("vi"), today=TODAY, units=build_tree([]), vault=vault)
    chat = Chat(quick_form, empty)
    chat.answer("Thôn Không Có")
    assert chat.texts[0] == T("error.unit.not_found_plain", typed="Thôn Không Có")


def test_a_unit_that_no_longer_exists(place: Chat) -> None:
    place.send(payload="f:place=C99-1")
    assert place.texts[0] == T("error.unit.unknown")
    place.send(payload="f:place@C99")
    assert place.texts[0] == T("error.unit.unknown")
    place.send(payload="f:place=C01")  # a commune is not a place to live in
    assert place.texts[0] == T("error.unit.unknown")
    assert "place" not in place.answers


def test_several_provinces_start_at_the_top(vault: SecretVault, quick_form: FormDef) -> None:
    units = [
        *UNITS,
        ("60", "Tỉnh Bình Thuận", "province", None),
        ("B1", "Xã Hòa Thắng", "commune", "60"),
        ("B1-1", "Thôn 1", "village", "B1"),
    ]
    ctx = FormContext(t=TestTranslator("vi"), today=TODAY, units=build_tree(units), vault=vault)
    chat = Chat(quick_form, ctx)
    assert chat.titles == ["Tỉnh Bình Thuận", "Tỉnh Lâm Đồng"]
    chat.press("Tỉnh Bình Thuận")
    assert chat.titles == ["Xã Hòa Thắng", UP]
    chat.press(UP)
    assert chat.titles == ["Tỉnh Bình Thuận", "Tỉnh Lâm Đồng"]
    chat.answer("hoa thang")
    assert chat.question == T("form.unit.pick_in", place="Xã Hòa Thắng, Tỉnh Bình Thuận")
    chat.answer("thon 1")
    assert chat.answers["place"]["code"] == "B1-1"


# --- State: JSON, restarts, resume -------------------------------------------------------

FULL_SCRIPT: list[dict[str, Any]] = [
    {"text": "Nguyễn Văn An"},
    {"text": "ba mươi mốt"},  # 31: out of range, asked again
    {"text": "5 người"},
    {"text": "2"},
    {"text": "quay lai"},
    {"text": "3"},
    {"text": "1,5"},
    {"text": "huy"},
    {"payload": "f!cancel:no"},
    {"text": "12 triệu"},
    {"payload": "f:status=near_poor"},
    {"payload": "f:support+loan"},
    {"payload": "f:support+other"},
    {"payload": "f:support+job"},
    {"payload": "f:support+job"},
    {"payload": "f:support=!done"},
    {"text": "1tr5"},
    {"text": "Xin bò giống"},
    {"text": "ko"},
    {"text": "05/03/2026"},
    {"text": "0912 345 678"},
    {"text": CCCD_TYPED},
    {"text": "2027"},
    {"payload": "f:home@68#1"},
    {"payload": "f:home@C04"},
    {"payload": "f:home=C04-1"},
    {"attachment": PHOTO},
    {"text": "sua 6"},
    {"text": "1"},
    {"payload": "f!fix"},
    {"payload": "f!fix:land_area"},
    {"text": "2,25"},
    {"payload": "f!ok"},
]


def _run(form: FormDef, ctx: FormContext, *, roundtrip: bool) -> Iterator[Step]:
    chat = Chat(form, ctx, roundtrip=roundtrip)
    yield chat.step
    for message in FULL_SCRIPT:
        yield chat.send(**message)


def _comparable(step: Step, vault: SecretVault) -> Any:
    """A step with the CCCD ciphertext (fresh randomness each time) replaced by its plaintext."""
    text = json.dumps(
        [step.state, [r.to_json() for r in step.replies], step.submitted, step.cancelled]
    )
    data = json.loads(text)
    for holder in (data[0] and data[0]["answers"], data[2]):
        if holder and isinstance(holder.get("cccd"), dict) and "enc" in holder["cccd"]:
            holder["cccd"]["enc"] = "decrypted:" + vault.decrypt(holder["cccd"]["enc"])
    return data


def test_a_json_round_trip_at_every_step_changes_nothing(
    exit_form: FormDef, ctx: FormContext, vault: SecretVault
) -> None:
    live = list(_run(exit_form, ctx, roundtrip=False))
    stored = list(_run(exit_form, ctx, roundtrip=True))
    assert len(live) == len(stored) == len(FULL_SCRIPT) + 1
    for one, two in zip(live, stored, strict=True):
        assert _comparable(one, vault) == _comparable(two, vault)
    submitted = live[-1].submitted
    assert submitted is not None
    assert submitted["workers"] == 3
    assert submitted["status"] == "poor"
    assert submitted["land_area"] == "2.25"
    assert submitted["support"] == ["loan", "other"]
    assert submitted["home"]["code"] == "C04-1"


@pytest.mark.parametrize("stop_after", [0, 2, 4, 7, 8, 13, 24, 27, 29, 30, 32])
def test_a_restart_mid_form_continues_identically(
    exit_form: FormDef, ctx: FormContext, vault: SecretVault, stop_after: int
) -> None:
    uninterrupted = list(_run(exit_form, ctx, roundtrip=True))

    chat = Chat(exit_form, ctx)
    for message in FULL_SCRIPT[:stop_after]:
        chat.send(**message)
    saved = chat.stored[-1]
    last_replies = chat.replies

    # The process restarts: new translator, new tree, new vault object with the same secret.
    fresh = FormContext(
        t=TestTranslator("vi"),
        today=TODAY,
        units=build_tree(UNITS),
        vault=SecretVault(VAULT_SECRET),
    )
    again = resume(exit_form, json.loads(saved), fresh)
    assert again.state == json.loads(saved)
    assert again.replies[-1] == last_replies[-1]  # the same question, the same buttons

    restarted = Chat(exit_form, fresh)
    restarted._record(again)
    for index, message in enumerate(FULL_SCRIPT[stop_after:], stop_after + 1):
        step = restarted.send(**message)
        assert _comparable(step, vault) == _comparable(uninterrupted[index], vault)


def test_resume_in_every_phase_says_again_what_is_awaited(at_summary: Chat) -> None:
    chat = at_summary
    form, ctx = chat.form, chat.ctx

    def resumed() -> list[Reply]:
        return resume(form, json.loads(chat.stored[-1]), ctx).replies

    assert resumed() == chat.replies  # the summary
    chat.press(FIX)
    assert resumed() == chat.replies  # the fix menu
    chat.answer("huy")
    assert resumed() == chat.replies  # the cancel question
    chat.press(CANCEL_NO)
    chat.press("3. test.exit.workers.label")
    assert resumed() == chat.replies  # the question being fixed
    assert chat.replies[-1].text == q("workers")


def test_start_with_answers_already_known(exit_form: FormDef, ctx: FormContext) -> None:
    chat = Chat(exit_form, ctx, prefill={"head_name": "Nguyễn Văn An", "household_size": 4})
    assert chat.texts == ["test.exit.intro", q("workers")]
    chat.answer("5")
    assert chat.texts[0] == T("error.integer.range", min="0", max="4")
