"""The form file format: good files load, and a broken file says which file and which field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.forms.context import FormContext
from bot.forms.engine import start
from bot.forms.model import FormDef, FormFileError, load_form, load_forms
from tests.forms.conftest import FORMS_DIR

RULES_FORMS = Path(__file__).resolve().parent.parent.parent / "rules" / "forms"

# A small valid form that each broken case below changes in one place.
VALID: dict[str, Any] = {
    "id": "sample",
    "version": 1,
    "title": "sample.title",
    "fields": [
        {"id": "head_name", "type": "text", "prompt": "sample.head_name", "max_length": 80},
        {"id": "household_size", "type": "integer", "prompt": "sample.size", "min": 1, "max": 30},
        {"id": "status", "type": "choice", "prompt": "sample.status", "choices": ["poor"]},
        {
            "id": "support",
            "type": "multi_choice",
            "prompt": "sample.support",
            "choices": ["loan", "other"],
        },
        {
            "id": "support_other",
            "type": "text",
            "prompt": "sample.support_other",
            "relevant": '"other" in ${support}',
        },
        {
            "id": "exit_year",
            "type": "integer",
            "prompt": "sample.exit_year",
            "min": "${today.year}",
            "max": "${today.year + 5}",
        },
        {
            "id": "cccd",
            "type": "cccd",
            "prompt": "sample.cccd",
            "required": False,
            "store": "encrypted",
        },
    ],
    "checks": [
        {
            "rule": "${exit_year} >= ${today.year}",
            "message": "sample.check",
            "fields": ["exit_year"],
        }
    ],
}


def write(tmp_path: Path, data: Any, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def field(data: dict[str, Any], field_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in data["fields"] if f["id"] == field_id)
    return found


def broken_message(path: Path) -> str:
    with pytest.raises(FormFileError) as caught:
        load_form(path)
    return str(caught.value)


# --- Good files ------------------------------------------------------------------------


def test_the_sample_loads(tmp_path: Path) -> None:
    form = load_form(write(tmp_path, VALID, "sample.yaml"))
    assert form.id == "sample"
    assert [f.id for f in form.fields] == [
        "head_name",
        "household_size",
        "status",
        "support",
        "support_other",
        "exit_year",
        "cccd",
    ]
    assert form.field("status").choices == ("poor",)
    assert form.field("exit_year").min == "${today.year}"
    assert form.field("household_size").min == 1
    assert form.field("cccd").store == "encrypted"
    assert not form.field("cccd").required
    assert form.field("head_name").required  # required unless said otherwise
    assert form.field("head_name").label_key == "sample.head_name.label"
    assert form.index("support_other") == 4
    assert form.summary  # a summary unless said otherwise
    assert form.checks[0].fields == ("exit_year",)


def test_an_expression_may_read_a_later_field_and_the_builtins(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    field(data, "head_name")["relevant"] = "${household_size} is None or len(${support}) > 0"
    load_form(write(tmp_path, data))


@pytest.mark.parametrize("path", sorted(FORMS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_test_form_loads(path: Path) -> None:
    assert isinstance(load_form(path), FormDef)


def test_the_rules_forms_directory_is_not_empty() -> None:
    assert sorted(RULES_FORMS.glob("*.yaml"))


@pytest.mark.parametrize("path", sorted(RULES_FORMS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_form_under_rules_forms_loads_and_starts(path: Path, ctx: FormContext) -> None:
    form = load_form(path)
    step = start(form, ctx)
    assert step.state is not None
    assert step.state["form"] == form.id
    assert step.replies  # the first question is asked


def test_load_forms_reads_the_whole_directory() -> None:
    forms = load_forms(RULES_FORMS)
    assert len(forms) == len(list(RULES_FORMS.glob("*.yaml")))
    assert all(form_id == form.id for form_id, form in forms.items())


def test_load_forms_refuses_the_same_form_id_twice(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.yaml")
    second = write(tmp_path, VALID, "b.yaml")
    with pytest.raises(FormFileError) as caught:
        load_forms(tmp_path)
    assert str(second) in str(caught.value)
    assert "'sample'" in str(caught.value)


def test_load_forms_stops_at_the_first_broken_file(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.yaml")
    broken = copy.deepcopy(VALID)
    broken["id"] = "other"
    field(broken, "status")["type"] = "dropdown"
    path = write(tmp_path, broken, "b.yaml")
    with pytest.raises(FormFileError) as caught:
        load_forms(tmp_path)
    assert str(path) in str(caught.value)
    assert "field 'status'" in str(caught.value)


# --- Broken files: the message names the file and the field ----------------------------


Change = Callable[[dict[str, Any]], None]


def _set(field_id: str, key: str, value: Any) -> Change:
    def change(data: dict[str, Any]) -> None:
        field(data, field_id)[key] = value

    return change


def _drop(field_id: str, key: str) -> Change:
    def change(data: dict[str, Any]) -> None:
        del field(data, field_id)[key]

    return change


def _duplicate(field_id: str) -> Change:
    def change(data: dict[str, Any]) -> None:
        data["fields"].append(copy.deepcopy(field(data, field_id)))

    return change


def _check(**values: Any) -> Change:
    def change(data: dict[str, Any]) -> None:
        data["checks"][0].update(values)

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(_set("exit_year", "type", "year"), ["field 'exit_year'", "type"], id="type"),
        pytest.param(_duplicate("status"), ["field 'status'", "duplicate"], id="duplicate-id"),
        pytest.param(_drop("status", "choices"), ["field 'status'", "choices"], id="no-choices"),
        pytest.param(
            _set("support", "choices", []), ["field 'support'", "choices"], id="empty-choices"
        ),
        pytest.param(
            _set("head_name", "choices", ["a"]), ["field 'head_name'", "choices"], id="text-choices"
        ),
        pytest.param(
            _set("support_other", "relevant", '"other" in ${suport}'),
            ["field 'support_other'", "suport"],
            id="relevant-unknown-name",
        ),
        pytest.param(
            _set("exit_year", "min", "${todya.year}"),
            ["field 'exit_year'", "todya"],
            id="min-unknown-name",
        ),
        pytest.param(
            _set("exit_year", "max", "${household_sise} + 5"),
            ["field 'exit_year'", "household_sise"],
            id="max-unknown-name",
        ),
        pytest.param(
            _set("support_other", "relevant", '${support} contains "other"'),
            ["field 'support_other'", "cannot parse"],
            id="relevant-syntax",
        ),
        pytest.param(
            _check(rule="${exit_yaer} >= ${today.year}"),
            ["check", "exit_yaer"],
            id="check-unknown-name",
        ),
        pytest.param(
            _check(fields=["exit_yaer"]), ["check", "unknown field 'exit_yaer'"], id="check-field"
        ),
        pytest.param(_check(rule="${exit_year} >="), ["check", "cannot parse"], id="check-syntax"),
        pytest.param(_drop("head_name", "prompt"), ["field 'head_name'", "prompt"], id="no-prompt"),
        pytest.param(
            _set("head_name", "promt", "x"), ["field 'head_name'", "promt"], id="misspelt-key"
        ),
        pytest.param(
            _set("household_size", "min", 40), ["field 'household_size'", "min"], id="min>max"
        ),
        pytest.param(
            _set("head_name", "min_length", 100),
            ["field 'head_name'", "min_length"],
            id="min_length>max_length",
        ),
        pytest.param(
            _set("head_name", "store", "encrypted"),
            ["field 'head_name'", "cccd"],
            id="store-on-text",
        ),
        pytest.param(_set("cccd", "store", "secret"), ["field 'cccd'", "store"], id="store-value"),
        pytest.param(
            _set("head_name", "accept", ["video"]), ["field 'head_name'", "accept"], id="accept"
        ),
        pytest.param(_set("status", "id", "Trạng thái"), ["field 'Trạng thái'", "id"], id="bad-id"),
        pytest.param(
            _set("household_size", "required", "maybe"),
            ["field 'household_size'", "required"],
            id="required-not-bool",
        ),
    ],
)
def test_a_broken_field_names_the_file_and_the_field(
    tmp_path: Path, change: Change, expected: list[str]
) -> None:
    data = copy.deepcopy(VALID)
    change(data)
    path = write(tmp_path, data)
    message = broken_message(path)
    assert message.startswith(f"{path}: ")
    for part in expected:
        assert part in message


def test_a_field_that_is_not_a_mapping_is_named_by_its_position(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    data["fields"].insert(1, "household_size")
    path = write(tmp_path, data)
    message = broken_message(path)
    assert message.startswith(f"{path}: field '#2'")


def test_a_field_without_an_id_is_named_by_its_position(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    del data["fields"][2]["id"]
    path = write(tmp_path, data)
    message = broken_message(path)
    assert message.startswith(f"{path}: field '#3'")
    assert "id" in message


def test_bad_yaml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "id: sample\nversion: 1\ntitle: t\nfields:\n  - id: head_name\n    type: [text\n",
        encoding="utf-8",
    )
    message = broken_message(path)
    assert message.startswith(f"{path}: not valid YAML")
    assert "line" in message


def test_tab_indented_yaml_is_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: sample\nfields:\n\t- id: head_name\n", encoding="utf-8")
    assert broken_message(path).startswith(f"{path}: not valid YAML")


def test_a_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_bytes("id: sample\ntitle: Hà Nội\n".encode("latin-1", errors="replace"))
    assert broken_message(path).startswith(f"{path}: not UTF-8")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(None, "valid dictionary", id="empty-file"),
        pytest.param(["a", "b"], "valid dictionary", id="a-list"),
        pytest.param({**VALID, "fields": []}, "fields", id="no-fields"),
        pytest.param({**VALID, "version": 0}, "version", id="version-0"),
        pytest.param({**VALID, "id": "Sample Form"}, "id", id="bad-form-id"),
        pytest.param({**VALID, "on_sumbit": "x"}, "on_sumbit", id="misspelt-form-key"),
        pytest.param({k: v for k, v in VALID.items() if k != "title"}, "title", id="no-title"),
    ],
)
def test_a_broken_form_names_the_file_and_what_is_wrong(
    tmp_path: Path, data: Any, expected: str
) -> None:
    path = write(tmp_path, data)
    message = broken_message(path)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_a_missing_choices_key_in_a_real_looking_form(tmp_path: Path) -> None:
    path = tmp_path / "household_exit_registration.yaml"
    path.write_text(
        """\
id: household_exit_registration
version: 3
title: registration.title
fields:
  - id: head_name
    type: text
    prompt: registration.head_name
  - id: status
    type: choice
    prompt: registration.status
""",
        encoding="utf-8",
    )
    assert broken_message(path) == (f"{path}: field 'status': a choice field needs 'choices'")
