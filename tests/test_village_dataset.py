"""The village data set file and the form the one engine runs from it: every kind of validation
rule (type, bound, bound from another answer, relevance, optional, cross-field error,
warning against last month, warning against the history), last month's values kept with
"=", quick entry as heads type it, and a broken file named with its field at load."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.messages import Incoming
from bot.datasets import (
    DATASETS_DIR,
    DataSet,
    DataSetError,
    check_values,
    dataset_forms,
    load_dataset,
    parse_quick_entry,
)
from bot.forms.context import FormContext
from bot.forms.engine import Step, handle, resume, start
from bot.i18n import Translator, compile_catalogs
from rules.periods import Month

compile_catalogs()
T = Translator("vi")
TODAY = date(2026, 11, 10)
FILE = DATASETS_DIR / "village_monthly.yaml"
HIDDEN = {"_unit": "25000-03", "_period": "2026-10"}
LAST_MONTH = {
    "total": 400,
    "poor": 14,
    "near_poor": 10,
    "ethnic_poor": 3,
    "exited": 0,
    "newly_poor": 0,
    "fallen_back": 0,
    "registrations": 1,
    "loans": 0,
    "support_housing": 0,
    "support_livelihood": 0,
    "support_jobs": 0,
    "support_health": 0,
    "notes": None,
}


@pytest.fixture(scope="module")
def dataset() -> DataSet:
    return load_dataset(FILE)


@pytest.fixture
def ctx() -> FormContext:
    return FormContext(t=T, today=TODAY)


class Report:
    """One head filling the monthly form; the state goes through JSON between messages."""

    def __init__(
        self,
        dataset: DataSet,
        ctx: FormContext,
        *,
        previous: dict[str, Any] | None = None,
        history: dict[str, dict[str, Any]] | None = None,
        prefill: dict[str, Any] | None = None,
    ) -> None:
        self.form = dataset.form
        self.ctx = ctx
        self.count = 0
        self.step = start(
            self.form, ctx, {**HIDDEN, **(prefill or {})}, previous=previous, history=history
        )

    def send(self, text: str | None = None, payload: str | None = None) -> Step:
        assert self.step.state is not None
        state = json.loads(json.dumps(self.step.state))
        self.count += 1
        incoming = Incoming("test", "u", f"u{self.count}", text=text, payload=payload)
        self.step = handle(self.form, state, incoming, self.ctx)
        return self.step

    def answer(self, *texts: str) -> Step:
        for text in texts:
            self.send(text)
        return self.step

    @property
    def said(self) -> str:
        return "\n".join(reply.text for reply in self.step.replies)

    @property
    def pending(self) -> str | None:
        assert self.step.state is not None
        return self.step.state.get("pending")

    @property
    def phase(self) -> str:
        assert self.step.state is not None
        return str(self.step.state["phase"])

    def press(self, title: str) -> Step:
        buttons = [b for r in self.step.replies for b in r.buttons if b.title.startswith(title)]
        assert buttons, [b.title for r in self.step.replies for b in r.buttons]
        return self.send(payload=buttons[-1].payload)


def q(key: str) -> str:
    return T(f"village.{key}")


# --- the file --------------------------------------------------------------------------------


def test_the_data_set_derives_the_form_the_engine_runs(dataset: DataSet) -> None:
    form = dataset.form
    assert form.id == "village_monthly" and form.title == "village.form.title"
    assert [f.id for f in form.fields] == [f.id for f in dataset.fields]
    assert form.field("loan_amount").type == "money"
    assert form.field("loan_amount").relevant == "${loans} > 0"
    assert {c.key: c.level for c in form.checks}["poor_balance"] == "warning"
    assert dataset.aliases["ngheo"] == "poor" and dataset.aliases["nearpoor"] == "near_poor"
    assert dataset.org_unit_level == "village" and dataset.period_type == "monthly"
    assert dataset.baseline.months == (Month(2021, 1), Month(2022, 12))
    # The registry the dispatcher runs forms from has it, beside the rules/forms files.
    assert dataset_forms()["village_monthly"] == form
    assert dataset.natural_key("25000-03", Month(2026, 10)) == "village_monthly/2026-10/25000-03"
    assert DataSet.split_key("village_monthly/2026-10/25000-03") == (Month(2026, 10), "25000-03")
    low, high = dataset.key_range(Month(2026, 1), Month(2026, 10))
    assert low <= dataset.natural_key("x", Month(2026, 1)) < high
    assert not low <= dataset.natural_key("x", Month(2026, 11)) < high


def test_every_text_of_the_data_set_is_in_both_catalogs(dataset: DataSet) -> None:
    from bot.i18n_extract import dataset_keys

    keys = list(dataset_keys(yaml.safe_load(FILE.read_text(encoding="utf-8"))))
    assert "village.poor.label" in keys and "village.ind.poverty_rate" in keys
    for language in ("vi", "en"):
        translator = Translator(language)
        assert [k for k in keys if not translator.has(k)] == []


def _broken(tmp_path: Path, change: Any) -> Path:
    raw = yaml.safe_load(FILE.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _field(raw: dict[str, Any], field_id: str) -> dict[str, Any]:
    return next(f for f in raw["fields"] if f["id"] == field_id)


BROKEN = {
    "alias used twice": (
        lambda raw: _field(raw, "poor")["aliases"].append("tong"),
        "field 'poor': alias 'tong' already names 'total'",
    ),
    "alias of two words": (
        lambda raw: _field(raw, "poor").update(aliases=["ho ngheo"]),
        "field 'poor'",
    ),
    "rule reading an unknown name": (
        lambda raw: raw["checks"].append({"rule": "${rich} < 3", "message": "x.y"}),
        "unknown name(s) rich",
    ),
    "indicator over a text field": (
        lambda raw: raw["indicators"].append(
            {"id": "bad", "label": "x.y", "numerator": "notes", "denominator": "total"}
        ),
        "indicator 'bad': not a number field: notes",
    ),
    "criterion on an unknown indicator": (
        lambda raw: raw["criteria"]["reduction"].update(indicator="nothing"),
        "criteria.reduction: unknown indicator 'nothing'",
    ),
    "a field type a data set cannot have": (
        lambda raw: raw["fields"].append({"id": "cccd", "type": "cccd", "prompt": "x.y"}),
        "field 'cccd': a data set field cannot be of type cccd",
    ),
    "bound from an unknown field": (
        lambda raw: _field(raw, "poor").update(max="${households}"),
        "field 'poor': unknown name(s) households",
    ),
    "two fields with one id": (
        lambda raw: raw["fields"].append({**_field(raw, "poor"), "aliases": []}),
        "field 'poor': duplicate id",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_data_set_stops_the_load_naming_file_and_field(case: str, tmp_path: Path) -> None:
    change, expected = BROKEN[case]
    path = _broken(tmp_path, change)
    with pytest.raises(DataSetError) as raised:
        load_dataset(path)
    assert str(raised.value).startswith(str(path))
    assert expected in str(raised.value)


def test_a_data_set_that_is_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("id: [unclosed", encoding="utf-8")
    with pytest.raises(DataSetError, match="not valid YAML"):
        load_dataset(path)


# --- the form: every kind of rule ----------------------------------------------------------------


def test_numbers_as_people_type_them(dataset: DataSet, ctx: FormContext) -> None:
    report = Report(dataset, ctx)
    assert q("total") in report.said and "(tháng trước:" not in report.said
    report.answer("abc")
    assert T("error.integer") in report.said and report.pending == "total"
    report.answer("1.200")
    assert report.pending == "poor"
    report.answer("mười hai")
    report.answer("12 hộ")
    assert report.step.state is not None
    assert report.step.state["answers"]["poor"] == 12
    assert report.step.state["answers"]["near_poor"] == 12


def test_fixed_bounds_and_bounds_from_another_answer(dataset: DataSet, ctx: FormContext) -> None:
    report = Report(dataset, ctx)
    report.answer("0")  # min 1
    assert "từ 1 đến 100.000" in report.said
    report.answer(str(10**12))
    assert "từ 1 đến 100.000" in report.said
    report.answer("-5")
    assert "từ 1 đến 100.000" in report.said and report.pending == "total"
    report.answer("400", "401")  # poor: max ${total}
    assert "từ 0 đến 400" in report.said and report.pending == "poor"
    report.answer("14", "10", "15")  # ethnic poor: max ${poor}
    assert "từ 0 đến 14" in report.said and report.pending == "ethnic_poor"


def test_a_question_asked_only_when_relevant(dataset: DataSet, ctx: FormContext) -> None:
    report = Report(dataset, ctx)
    report.answer("400", "14", "10", "3", "0", "0", "0", "1", "0")
    assert report.pending == "support_housing"  # no loans: no amount
    report.send("quay lai")
    assert report.pending == "loans"
    report.answer("2")
    assert report.pending == "loan_amount"
    report.answer("999")  # money, min 1.000 đồng
    assert "1.000 đồng" in report.said
    report.answer("1tr5")
    assert report.step.state is not None
    assert report.step.state["answers"]["loan_amount"] == 1_500_000


def _to_summary(report: Report, *head: str) -> None:
    """Households, poor, near-poor, ethnic-minority poor as given; the rest typed plainly."""
    report.answer(*head)
    report.answer("0", "0", "0", "1", "0")  # exited, newly poor, fallen back, registrations, loans
    report.answer("0", "0", "0", "0")  # the four kinds of support
    report.answer("bỏ qua")  # notes are optional


def test_cross_field_error_is_explained_with_the_figures(
    dataset: DataSet, ctx: FormContext
) -> None:
    report = Report(dataset, ctx)
    _to_summary(report, "400", "10", "395", "3")
    assert "Hộ nghèo (10) cộng hộ cận nghèo (395) nhiều hơn tổng số hộ (400)" in report.said
    assert report.pending == "near_poor"
    report.answer("90")
    assert report.phase == "summary"


def test_an_error_found_after_a_fix_asks_the_dependent_answer(
    dataset: DataSet, ctx: FormContext
) -> None:
    report = Report(dataset, ctx)
    _to_summary(report, "400", "14", "10", "10")
    assert report.phase == "summary"
    report.send("sua 2")
    report.answer("5")  # fewer poor than the ethnic-minority poor already given
    assert "Hộ nghèo DTTS (10) không thể nhiều hơn số hộ nghèo (5)" in report.said
    assert report.pending == "ethnic_poor"


def test_last_months_value_is_shown_and_kept(dataset: DataSet, ctx: FormContext) -> None:
    report = Report(dataset, ctx, previous=LAST_MONTH)
    assert "(tháng trước: 400" in report.said
    assert [b.title for b in report.step.replies[-1].buttons] == ["Như cũ: 400"]
    report.answer("=")
    assert report.pending == "poor" and "(tháng trước: 14" in report.said
    report.answer("như cũ")
    report.press("Như cũ")
    report.answer("nhu cu")
    assert report.step.state is not None
    answers = report.step.state["answers"]
    assert (answers["total"], answers["poor"], answers["near_poor"]) == (400, 14, 10)
    assert answers["ethnic_poor"] == 3


def test_last_months_value_is_checked_against_this_months_bounds(
    dataset: DataSet, ctx: FormContext
) -> None:
    report = Report(dataset, ctx, previous=LAST_MONTH)
    report.answer("10", "=")  # 14 poor last month, but only 10 households now
    assert "từ 0 đến 10" in report.said and report.pending == "poor"


def test_same_without_a_last_month(dataset: DataSet, ctx: FormContext) -> None:
    report = Report(dataset, ctx, previous={"total": 400})
    report.answer("=", "=")
    assert T("form.previous.none") in report.said and report.pending == "poor"
    # With no last month at all, "=" is only an unreadable number.
    plain = Report(dataset, ctx)
    plain.answer("=")
    assert T("error.integer") in plain.said


def _balance_warning(dataset: DataSet, ctx: FormContext) -> Report:
    report = Report(dataset, ctx, previous=LAST_MONTH)
    report.answer("=", "=", "=", "=", "3", "1", "0", "=", "0", "=", "=", "=", "=", "bỏ qua")
    return report


def test_a_warning_against_last_month_is_kept_with_a_comment(
    dataset: DataSet, ctx: FormContext
) -> None:
    report = _balance_warning(dataset, ctx)
    assert report.phase == "warn"
    assert "tháng trước 14 hộ, thoát nghèo 3, phát sinh 1, tái nghèo 0" in report.said
    assert "bạn gõ 14 hộ" in report.said
    report.answer("ok")
    assert T("form.warning.short") in report.said and report.phase == "warn"
    # A restart in the middle says the warning again.
    assert report.step.state is not None
    again = resume(dataset.form, json.loads(json.dumps(report.step.state)), ctx)
    assert "Số hộ nghèo chưa khớp" in again.replies[0].text
    report.answer("2 hộ mới tách khẩu")
    assert report.phase == "summary" and "Ghi chú: 2 hộ mới tách khẩu" in report.said
    report.press(T("form.confirm"))
    assert report.step.submitted is not None
    assert report.step.submitted["_comments"] == {"poor_balance": "2 hộ mới tách khẩu"}
    assert report.step.submitted["_unit"] == "25000-03"
    assert report.step.submitted["_period"] == "2026-10"


def test_fixing_the_figure_clears_the_warning_and_its_comment(
    dataset: DataSet, ctx: FormContext
) -> None:
    report = _balance_warning(dataset, ctx)
    report.answer("chuyển đến 2 hộ")
    report.send("sua 2")
    report.answer("12")  # 14 - 3 + 1 + 0
    assert report.phase == "summary" and "Ghi chú" not in report.said
    assert report.step.state is not None
    assert "_comments" not in report.step.state["answers"]


def test_the_warnings_fix_button_goes_to_the_field(dataset: DataSet, ctx: FormContext) -> None:
    report = _balance_warning(dataset, ctx)
    report.press(T("form.warning.fix"))
    assert report.pending == "poor"
    report.answer("12")
    assert report.phase == "summary"


def test_a_warning_from_the_history_min_and_max(dataset: DataSet, ctx: FormContext) -> None:
    history = {"min": {"total": 400}, "max": {"total": 410}}
    far = Report(dataset, ctx, history=history)
    _to_summary(far, "600", "14", "10", "3")
    assert far.phase == "warn" and "Tổng số hộ (600) khác nhiều" in far.said
    near = Report(dataset, ctx, history=history)
    _to_summary(near, "440", "14", "10", "3")  # within 410 + 10 %
    assert near.phase == "summary"


def test_no_warning_without_last_month_or_history(dataset: DataSet, ctx: FormContext) -> None:
    report = Report(dataset, ctx)
    _to_summary(report, "400", "14", "10", "3")
    assert report.phase == "summary"


def test_hidden_answers_survive_a_fix_and_are_never_shown(
    dataset: DataSet, ctx: FormContext
) -> None:
    report = Report(dataset, ctx, prefill={k: v for k, v in LAST_MONTH.items()})
    assert report.phase == "summary" and "25000-03" not in report.said
    report.send("sua 5")
    report.answer("0")
    report.press(T("form.confirm"))
    assert report.step.submitted is not None
    assert {k: report.step.submitted[k] for k in HIDDEN} == HIDDEN


# --- quick entry ---------------------------------------------------------------------------------


def test_quick_entry_reads_the_example(dataset: DataSet, ctx: FormContext) -> None:
    entry = parse_quick_entry(dataset, "10/2026 tong 412 ngheo 12 can 9 thoat 2", ctx)
    assert entry.period == (2026, 10) and entry.problems == []
    assert entry.values == {"total": 412, "poor": 12, "near_poor": 9, "exited": 2}


def test_quick_entry_as_people_type_it(dataset: DataSet, ctx: FormContext) -> None:
    entry = parse_quick_entry(
        dataset, "T10/26 Tong=412, NGHÈO: mười hai; cận 12 hộ dtts = ghichu Có 2 hộ chuyển đi", ctx
    )
    assert entry.period == (2026, 10)
    assert entry.values == {
        "total": 412,
        "poor": 12,
        "near_poor": 12,
        "notes": "Có 2 hộ chuyển đi",
    }
    assert entry.same == ["ethnic_poor"]
    assert parse_quick_entry(dataset, "thang 9 tong 5", ctx).period == (2026, 9)
    assert parse_quick_entry(dataset, "tong 5", ctx).period is None


def test_quick_entry_problems_are_named(dataset: DataSet, ctx: FormContext) -> None:
    unknown = parse_quick_entry(dataset, "xyz tong 5", ctx)
    assert unknown.period is None
    assert [(p.field_id, p.key) for p in unknown.problems] == [(None, "village.quick.unknown")]
    entry = parse_quick_entry(dataset, "tong ngheo 10^12 can mười", ctx)
    assert [(p.field_id, p.key) for p in entry.problems] == [
        ("total", "village.quick.no_value"),
        ("poor", "error.integer"),
    ]
    assert entry.values == {"near_poor": 10}


def test_values_from_quick_entry_are_checked_like_typed_ones(
    dataset: DataSet, ctx: FormContext
) -> None:
    kept, problems = check_values(
        dataset,
        {
            "total": 400,
            "poor": 500,
            "near_poor": -1,
            "loans": 0,
            "loan_amount": 5000,
            "notes": None,
        },
        ctx,
    )
    assert kept == {"total": 400, "loans": 0, "notes": None}
    assert [(p.field_id, p.key) for p in problems] == [
        ("poor", "error.integer.range"),
        ("near_poor", "error.integer.range"),
    ]
    assert problems[0].params == {"min": "0", "max": "400"}
    _, huge = check_values(dataset, {"total": 10**12}, ctx)
    assert huge[0].params["max"] == "100.000"
