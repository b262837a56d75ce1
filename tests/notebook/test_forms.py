"""Forms: upstream ``_form`` fields, Pydantic / JSON schemas, validation with per-field errors."""

from __future__ import annotations

import time
from enum import Enum
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from polos_nb.notebook import approval_form, form_spec, model_from_schema
from polos_nb.notebook._forms import AnswerErrors, schema_from_fields, validate_answer


def test_upstream_fields_become_a_schema() -> None:
    spec = form_spec(
        {
            "_form": {
                "title": "Trip",
                "description": "Where?",
                "fields": [
                    {"key": "city", "type": "text", "label": "City", "required": True},
                    {
                        "name": "nights",
                        "type": "number",
                        "label": "Nights",
                        "min": 1,
                        "required": True,
                    },
                    {
                        "key": "kind",
                        "type": "select",
                        "label": "Kind",
                        "options": [{"label": "Hotel", "value": "h"}, "b&b"],
                        "required": True,
                    },
                    # no "required": optional, as on upstream's approval page
                    {"key": "note", "type": "textarea", "label": "Note"},
                    {"key": "mail", "type": "email", "label": "Mail", "required": False},
                    {"key": "site", "type": "url", "label": "Site", "required": False},
                    {"key": "ok", "type": "boolean", "label": "OK", "default": True},
                ],
            }
        },
        step_key="trip",
    )
    assert spec["title"] == "Trip" and spec["description"] == "Where?" and spec["key"] == "trip"
    assert spec["approval"] is False
    schema = spec["schema"]
    assert schema["required"] == ["city", "nights", "kind"]
    assert schema["properties"]["kind"]["enum"] == ["h", "b&b"]
    assert schema["properties"]["kind"]["x-enumNames"] == ["Hotel", "b&b"]
    assert schema["properties"]["note"]["anyOf"][0]["x-widget"] == "textarea"
    ok = validate_answer(spec, {"city": "Lisbon", "nights": 2, "kind": "h"})
    assert ok["city"] == "Lisbon" and ok["nights"] == 2 and ok["ok"] is True and ok["note"] is None
    with pytest.raises(AnswerErrors) as err:
        validate_answer(spec, {"nights": 0, "kind": "villa", "mail": "nope", "site": "x"})
    errors = err.value.errors
    assert errors["city"] == "this field is required"
    assert "greater than or equal to 1" in errors["nights"]
    assert (
        "kind" in errors
        and errors["mail"] == "not an email address"
        and errors["site"].startswith("not a URL")
    )


def test_no_form_is_a_yes_no_approval_with_context() -> None:
    spec = form_spec({"amount": 1500})
    assert spec["approval"] is True and spec["context"] == {"amount": 1500}
    assert validate_answer(spec, {"approved": True}) == {"approved": True, "feedback": None}
    with pytest.raises(AnswerErrors) as err:
        validate_answer(spec, {"approved": "perhaps"})
    assert "approved" in err.value.errors


class Color(str, Enum):
    red = "red"
    blue = "blue"


class Address(BaseModel):
    street: str
    zip: str = Field(pattern=r"^\d{5}$")


class Review(BaseModel):
    approved: bool
    amount: float = Field(ge=0, le=1000)
    count: int = 1
    color: Color = Color.red
    mode: Literal["fast", "slow"] = "fast"
    tags: list[str] = []
    address: Address | None = None
    reason: str | None = None


def test_pydantic_schema_with_nesting_enums_optionals_and_defaults() -> None:
    data = approval_form(Review, title="Refund?", context={"order": 7})
    spec = form_spec(data, step_key="review")
    assert (
        spec["title"] == "Refund?" and spec["approval"] is True and spec["context"] == {"order": 7}
    )
    ok = validate_answer(
        spec,
        {
            "approved": False,
            "amount": 12.5,
            "tags": ["a", "b"],
            "address": {"street": "Main", "zip": "12345"},
        },
    )
    assert (
        ok["count"] == 1
        and ok["color"] == "red"
        and ok["mode"] == "fast"
        and ok["address"]["zip"] == "12345"
    )
    assert Review.model_validate(ok).amount == 12.5
    with pytest.raises(AnswerErrors) as err:
        validate_answer(
            spec,
            {
                "approved": True,
                "amount": -1,
                "color": "green",
                "count": "x",
                "address": {"street": "Main", "zip": "12"},
            },
        )
    errors = err.value.errors
    assert set(errors) >= {"amount", "color", "count", "address.zip"}


def test_json_schema_model_and_arrays() -> None:
    model = model_from_schema(
        {
            "type": "object",
            "properties": {
                "n": {"type": "integer", "minimum": 2},
                "xs": {"type": "array", "items": {"type": "number"}, "minItems": 1},
                "opt": {"type": ["string", "null"]},
            },
            "required": ["n", "xs"],
        }
    )
    assert model.model_validate({"n": 3, "xs": [1.5]}).n == 3
    with pytest.raises(ValidationError):
        model.model_validate({"n": 1, "xs": []})


def test_bad_field_specs_are_reported() -> None:
    with pytest.raises(ValueError, match="no 'key'"):
        schema_from_fields([{"type": "text"}])
    with pytest.raises(ValueError, match="unknown type"):
        schema_from_fields([{"key": "a", "type": "colour"}])


def test_scalar_answer_for_a_one_field_form() -> None:
    spec = form_spec({"_form": {"fields": [{"key": "response", "type": "textarea", "label": "A"}]}})
    assert validate_answer(spec, "Lisbon") == {"response": "Lisbon"}


def test_a_required_text_field_refuses_blanks() -> None:
    """Issue 11, item 5: whitespace is no answer to a required text field."""
    spec = form_spec(
        {
            "_form": {
                "fields": [
                    {"key": "name", "type": "text", "label": "Name", "required": True},
                    {"key": "note", "type": "textarea", "label": "Note", "required": False},
                ]
            }
        }
    )
    with pytest.raises(AnswerErrors) as caught:
        validate_answer(spec, {"name": "   "})
    assert caught.value.errors == {"name": "this field is required"}
    assert validate_answer(spec, {"name": "Ana", "note": "  "}) == {"name": "Ana", "note": "  "}

    class Address(BaseModel):
        street: str
        city: str

    nested = form_spec(approval_form(Address))
    with pytest.raises(AnswerErrors) as caught:
        validate_answer(nested, {"street": "", "city": "Paris"})
    assert caught.value.errors == {"street": "this field is required"}


def test_rejecting_an_approval_asks_only_for_feedback(tmp_path: Any) -> None:
    """Issue 11, item 4: the form's other required fields are for approving."""
    from polos_nb import PolosClient, WorkflowContext, workflow
    from polos_nb.notebook import approve
    from polos_nb.notebook._session import call

    @workflow(id="reject-only-feedback")
    async def refund(ctx: WorkflowContext, payload: Any) -> Any:
        answer = await ctx.step.suspend(
            "review",
            data={
                "_form": {
                    "fields": [
                        {"key": "approved", "type": "boolean", "label": "Approve"},
                        {"key": "amount", "type": "number", "label": "Amount", "min": 0},
                        {"key": "reason", "type": "text", "label": "Reason"},
                    ]
                }
            },
        )
        return answer["data"]

    client = PolosClient(journal=tmp_path / "reject.duckdb")
    try:
        handle = call(client, refund.invoke(client, {}))
        deadline = time.monotonic() + 30
        while call(client, client.get_execution(handle.id)).status != "waiting":
            assert time.monotonic() < deadline
        # what the widget's Reject button sends: the feedback (and the blank fields)
        delivered = approve(
            handle.id, "review", {"feedback": "wrong customer"}, reject=True, client=client
        )
        assert delivered == {"approved": False, "feedback": "wrong customer"}
        result = call(client, client.wait_for_result(handle.id, timeout=30))
        assert result == {"approved": False, "feedback": "wrong customer"}
    finally:
        client.close()
