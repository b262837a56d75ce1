"""Forms for suspensions: from a suspension's data to a JSON schema, a Pydantic model, errors.

A suspension describes what it asks in one of three ways, in this order:

1. ``data["_schema"]`` (or ``data["_form"]["schema"]``): a JSON schema, e.g.
   ``Review.model_json_schema()`` — see :func:`approval_form`;
2. ``data["_form"]["fields"]``: the upstream Polos convention, a list of fields with
   ``key`` (or ``name``), ``type`` (``text|textarea|number|integer|boolean|select|email|url``),
   ``label``, ``description``, ``required`` (only ``true`` makes a field required, as on
   upstream's approval page), ``options``, ``default``;
3. nothing: a yes/no approval (``approved`` + optional ``feedback``).

The same schema drives the widget's form (rendered in JavaScript) and the validation of
every answer in Python (:func:`validate_answer`), whichever way the answer arrives.
This module imports neither IPython nor widgets: scripts use it too.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from polos_nb.contracts import FormSpec

__all__ = [
    "FormSpec",
    "approval_form",
    "form_spec",
    "model_from_schema",
    "schema_from_fields",
    "validate_answer",
]


_FIELD_TYPES = {
    "text",
    "textarea",
    "number",
    "integer",
    "boolean",
    "select",
    "email",
    "url",
    "checkbox",
}
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_URL = r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$"
DEFAULT_APPROVAL_FIELDS: list[dict[str, Any]] = [
    {"key": "approved", "type": "boolean", "label": "Approve", "required": True},
    {"key": "feedback", "type": "textarea", "label": "Feedback", "required": False},
]


def approval_form(
    schema: type[BaseModel] | dict[str, Any],
    *,
    title: str | None = None,
    description: str | None = None,
    context: Any = None,
) -> dict[str, Any]:
    """Suspension data whose form is a Pydantic model (or a JSON schema).

    ```python
    class Review(BaseModel):
        approved: bool
        amount: float = Field(ge=0)
        reason: str | None = None

    decision = await ctx.step.suspend("review", data=approval_form(Review, title="Refund?"))
    ```
    """
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        json_schema = schema.model_json_schema()
    elif isinstance(schema, dict):
        json_schema = schema
    else:
        raise TypeError(
            f"approval_form takes a Pydantic model class or a JSON schema dict, got {schema!r}."
        )
    form: dict[str, Any] = {
        "title": title or json_schema.get("title") or "Input needed",
        "schema": json_schema,
    }
    if description:
        form["description"] = description
    if context is not None:
        form["context"] = context
    return {"_form": form}


def schema_from_fields(fields: list[dict[str, Any]]) -> dict[str, Any]:
    """A JSON schema for an upstream-style field list (see the module docstring)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for i, raw in enumerate(fields):
        if not isinstance(raw, dict):
            raise ValueError(f"form field {i} must be a dict, got {raw!r}")
        key = raw.get("key") or raw.get("name")
        if not key or not isinstance(key, str):
            raise ValueError(f"form field {i} has no 'key' (or 'name'): {raw!r}")
        kind = str(raw.get("type") or "text")
        if kind not in _FIELD_TYPES:
            raise ValueError(
                f"form field {key!r} has unknown type {kind!r}; use one of {sorted(_FIELD_TYPES)}"
            )
        prop: dict[str, Any]
        if kind in ("number", "integer"):
            prop = {"type": kind}
            for src, dst in (
                ("min", "minimum"),
                ("max", "maximum"),
                ("minimum", "minimum"),
                ("maximum", "maximum"),
            ):
                if raw.get(src) is not None:
                    prop[dst] = raw[src]
        elif kind in ("boolean", "checkbox"):
            prop = {"type": "boolean"}
        elif kind == "select":
            options = raw.get("options") or []
            values = [o.get("value") if isinstance(o, dict) else o for o in options]
            labels = [
                str(o.get("label", o.get("value"))) if isinstance(o, dict) else str(o)
                for o in options
            ]
            prop = {"type": "string", "enum": values, "x-enumNames": labels}
        else:
            prop = {"type": "string"}
            if kind == "textarea":
                prop["x-widget"] = "textarea"
            elif kind == "email":
                prop["format"] = "email"
            elif kind == "url":
                prop["format"] = "uri"
        prop["title"] = str(raw.get("label") or key)
        if raw.get("description"):
            prop["description"] = str(raw["description"])
        if "default" in raw:
            prop["default"] = raw["default"]
        # As upstream's approval page: a field is required only when it says so
        # (``"required": true``); upstream's ask_user leaves it out for optional fields.
        is_required = bool(raw.get("required"))
        if is_required and "default" not in raw:
            required.append(key)
        elif not is_required and ("required" in raw or "default" not in raw):
            prop = {
                "anyOf": [prop, {"type": "null"}],
                "title": prop["title"],
                "default": raw.get("default"),
            }
        properties[key] = prop
    return {"type": "object", "properties": properties, "required": required}


def form_spec(data: Any, *, step_key: str = "") -> FormSpec:
    """What the widget shows for a suspension, from its data (see the module docstring)."""
    data = data if isinstance(data, dict) else ({} if data is None else {"value": data})
    form = data.get("_form") if isinstance(data.get("_form"), dict) else {}
    schema = data.get("_schema") or form.get("schema")
    if not isinstance(schema, dict):
        fields = form.get("fields")
        schema = schema_from_fields(
            fields if isinstance(fields, list) and fields else DEFAULT_APPROVAL_FIELDS
        )
    context = form.get("context")
    if context is None:
        context = {k: v for k, v in data.items() if not k.startswith("_")} or None
    props = schema.get("properties") or {}
    approval = (
        isinstance(props.get("approved"), dict)
        and _base_type(schema, props["approved"]) == "boolean"
    )
    default_title = "Approve?" if approval else "Input needed"
    return {
        "key": step_key,
        "title": str(form.get("title") or schema.get("title") or default_title),
        "description": str(form.get("description") or schema.get("description") or ""),
        "context": context,
        "schema": schema,
        "approval": bool(approval),
        "tool": data.get("_tool"),
        "source": data.get("_source"),
    }


def _base_type(root: dict[str, Any], prop: dict[str, Any]) -> str | None:
    prop = _deref(root, prop)
    if "anyOf" in prop:
        non_null = [p for p in prop["anyOf"] if _deref(root, p).get("type") != "null"]
        if len(non_null) == 1:
            return _base_type(root, non_null[0])
    t = prop.get("type")
    return t if isinstance(t, str) else None


def _deref(root: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while isinstance(prop, dict) and "$ref" in prop and seen < 32:
        ref = str(prop["$ref"])
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref are supported in forms, got {ref!r}")
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ValueError(f"form schema $ref {ref!r} points nowhere")
        extra = {k: v for k, v in prop.items() if k != "$ref"}
        prop = {**node, **extra}
        seen += 1
    return prop


def model_from_schema(schema: dict[str, Any], name: str = "FormAnswer") -> type[BaseModel]:
    """A Pydantic model that validates answers to ``schema`` (objects, strings, enums,
    numbers, booleans, arrays, nested objects, ``$ref``, optional fields, defaults)."""
    return _object_model(schema, schema, name)


def _object_model(root: dict[str, Any], node: dict[str, Any], name: str) -> type[BaseModel]:
    node = _deref(root, node)
    props: dict[str, Any] = node.get("properties") or {}
    required = set(node.get("required") or [])
    fields: dict[str, Any] = {}
    for key, prop in props.items():
        annotation = _annotation(root, prop, f"{name}_{_ident(key)}")
        prop_d = _deref(root, prop) if isinstance(prop, dict) else {}
        if key in required and "default" not in prop_d:
            default: Any = ...
            if _base_type(root, prop_d) == "string" and "enum" not in prop_d:
                from typing import Annotated

                from pydantic import AfterValidator

                annotation = Annotated[annotation, AfterValidator(_not_blank)]
        else:
            default = prop_d.get("default")
            if default is None and key not in required:
                annotation = Optional[annotation]  # noqa: UP045 - built at run time
        fields[_ident(key)] = (
            annotation,
            Field(default, alias=key) if _ident(key) != key else Field(default),
        )
    config = ConfigDict(extra="allow", populate_by_name=True)
    return create_model(name, __config__=config, **fields)


def _not_blank(value: Any) -> Any:
    """A required text field needs some text: blanks are no answer."""
    from pydantic_core import PydanticCustomError

    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("blank", "this field is required")
    return value


def _ident(key: str) -> str:
    ident = re.sub(r"\W", "_", key)
    if (
        not ident
        or ident[0].isdigit()
        or ident.startswith("_")
        or ident in ("model_config", "model_fields")
    ):
        ident = f"f_{ident}"
    return ident


def _annotation(root: dict[str, Any], prop: Any, name: str) -> Any:
    from typing import Annotated

    if not isinstance(prop, dict):
        return Any
    prop = _deref(root, prop)
    for union in ("anyOf", "oneOf"):
        if union in prop:
            options = [_deref(root, p) for p in prop[union]]
            non_null = [p for p in options if p.get("type") != "null"]
            inner = [_annotation(root, p, f"{name}_{i}") for i, p in enumerate(non_null)]
            if not inner:
                return type(None)
            ann = inner[0]
            for other in inner[1:]:
                ann = ann | other
            return Optional[ann] if len(non_null) < len(options) else ann  # noqa: UP045
    if "enum" in prop:
        values = tuple(prop["enum"])
        return Literal[values] if values else Any
    if "const" in prop:
        return Literal[(prop["const"],)]
    kind = prop.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        single = _annotation(root, {**prop, "type": kinds[0]}, name) if kinds else type(None)
        return Optional[single] if "null" in kind else single  # noqa: UP045
    if kind == "string":
        pattern = prop.get("pattern")
        if prop.get("format") == "email":
            pattern = pattern or _EMAIL
        elif prop.get("format") in ("uri", "url"):
            pattern = pattern or _URL
        return Annotated[
            str,
            Field(
                min_length=prop.get("minLength"), max_length=prop.get("maxLength"), pattern=pattern
            ),
        ]
    if kind in ("number", "integer"):
        base: Any = int if kind == "integer" else (int | float)  # 3 stays 3, 2.5 stays 2.5
        return Annotated[
            base,
            Field(
                ge=prop.get("minimum"),
                le=prop.get("maximum"),
                gt=prop.get("exclusiveMinimum"),
                lt=prop.get("exclusiveMaximum"),
            ),
        ]
    if kind == "boolean":
        return bool
    if kind == "array":
        item = _annotation(root, prop.get("items") or {}, f"{name}_item")
        return Annotated[
            list[item],  # type: ignore[valid-type]  # the item type is built at run time
            Field(min_length=prop.get("minItems"), max_length=prop.get("maxItems")),
        ]
    if kind == "object" or "properties" in prop:
        if prop.get("properties"):
            return _object_model(root, prop, name)
        return dict[str, Any]
    return Any


def validate_answer(spec: FormSpec, data: Any) -> dict[str, Any]:
    """Validate an answer against a form spec; returns the cleaned data (defaults filled in).

    Raises ``ValueError`` subclass :class:`_AnswerErrors` with ``errors`` (field path →
    message); callers turn it into ``ApprovalValidationError``.
    """
    schema = spec["schema"]
    if not isinstance(data, dict):
        props = list(schema.get("properties") or {})
        if len(props) == 1:
            data = {props[0]: data}
        else:
            raise AnswerErrors(
                {"": f"expected an object with the fields {props}, got {type(data).__name__}"}
            )
    model = model_from_schema(schema)
    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            path = _field_path(schema, err.get("loc", ()))
            errors.setdefault(path, _message(err))
        raise AnswerErrors(errors) from None
    cleaned = value.model_dump(mode="json", by_alias=True)
    return cleaned


def _field_path(schema: dict[str, Any], loc: Any) -> str:
    """The form field an error is about: ``loc`` cut where it leaves the schema's fields
    (pydantic adds the union member it tried, e.g. ``amount.float``)."""
    parts: list[str] = []
    node: Any = schema
    for part in loc:
        node = _deref(schema, node) if isinstance(node, dict) else {}
        for union in ("anyOf", "oneOf"):
            options = [o for o in node.get(union) or [] if isinstance(o, dict)]
            objects = [
                _deref(schema, o) for o in options if _deref(schema, o).get("type") != "null"
            ]
            if len(objects) == 1:
                node = objects[0]
        if isinstance(part, int) and node.get("type") == "array":
            parts.append(str(part))
            node = node.get("items") or {}
            continue
        props = node.get("properties") if isinstance(node, dict) else None
        if isinstance(props, dict) and isinstance(part, str) and part in props:
            parts.append(part)
            node = props[part]
            continue
        break
    return ".".join(parts)


def _message(err: Any) -> str:
    kind = err.get("type", "")
    if kind in ("missing", "blank"):
        return "this field is required"
    if kind in ("int_parsing", "float_parsing", "int_type", "float_type", "int_from_float"):
        union_member = tuple(err.get("loc", ()))[-1:] in (("int",), ("float",))
        if kind.startswith("int") and not union_member:
            return "not a whole number"
        return "not a number"
    if kind == "string_pattern_mismatch":
        ctx = err.get("ctx") or {}
        if ctx.get("pattern") == _EMAIL:
            return "not an email address"
        if ctx.get("pattern") == _URL:
            return "not a URL (scheme://...)"
    return str(err.get("msg", "invalid value"))


class AnswerErrors(ValueError):
    """Validation failed; ``errors`` maps a field path (``""`` = the whole form) to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k or '(form)'}: {v}" for k, v in errors.items()))
